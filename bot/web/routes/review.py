"""The review queue, a post's page and every review action, behind the login."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from bot.accounts import resume
from bot.review import (
    PostView,
    approve,
    describe_record,
    edit_caption,
    get_post,
    move_slot,
    regenerate_media,
    reject,
    retry_failed,
    settle,
)
from bot.web import queries
from bot.web.state import (
    FORMATS,
    RowId,
    back,
    guard,
    local_path,
    log,
    page,
    this_page,
    vibot,
    who,
)
from content.errors import PostNotFoundError, UserError, VibotError
from storage.db import read_scope
from storage.models import Post

router = APIRouter(dependencies=[Depends(guard)])


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue", response_class=HTMLResponse)
def queue(
    request: Request,
    persona: str = "",
    format: str = "",
    after: str = "",
    before: str = "",
    done: str = "",
    post: int = 0,
) -> HTMLResponse:
    state = vibot(request)
    app = state.app
    if (persona and persona not in app.personas) or (format and format not in FORMATS):
        raise HTTPException(400, "There is no such persona or format to filter by.")
    try:
        found = queries.review_page(app, persona or None, format or None, after or None, before or None)
    except queries.BadCursorError:
        raise HTTPException(400, queries.BadCursorError.advice) from None
    return page(
        request,
        "queue.html",
        page=found,
        persona=persona,
        format=format,
        done=done,
        done_post=post,
        here=this_page(request, "persona", "format", "after", "before"),
    )


def load_view(request: Request, post_id: int) -> tuple[queries.Card, PostView]:
    state = vibot(request)
    app = state.app
    try:
        view = get_post(app, post_id)
    except PostNotFoundError:
        raise HTTPException(404, "There is no such post.") from None
    return queries.card_for(app, view.post, view.media, view.publications), view


def post_page(request: Request, post_id: int, error: str | None = None, status_code: int = 200) -> Response:
    state = vibot(request)
    app = state.app
    card, view = load_view(request, post_id)
    previous, following = queries.neighbours(app, card.post)
    return page(
        request,
        "post.html",
        status_code=status_code,
        card=card,
        view=view,
        error=error,
        record_lines=[
            line
            for n, r in enumerate(card.records, start=1)
            for line in describe_record(n, r, app.settings.personas_dir)
        ],
        previous=previous,
        following=following,
        done=request.query_params.get("done", ""),
    )


@router.get("/posts/{post_id}", response_class=HTMLResponse)
def show_post(request: Request, post_id: RowId) -> Response:
    return post_page(request, post_id)


@router.get("/posts/{post_id}/check")
def check_post(request: Request, post_id: RowId) -> JSONResponse:
    """Every disclosure layer of every media file, read back (slow the first time)."""
    state = vibot(request)
    card, _ = load_view(request, post_id)
    files = [
        {"asset": m.id, "kind": m.kind, "problems": state.checks.problems(m)}
        for m in card.media
        if m.kind != "cover"
    ]
    return JSONResponse(
        {
            "post": post_id,
            "caption_ok": card.caption_ok,
            "files": files,
            "ok": card.caption_ok and all(not f["problems"] for f in files),
        }
    )


def act(request: Request, post_id: int, action: Callable[[], Any], done: str, next: str) -> Response:
    """Run one review action; a refusal is shown on the post page with what to do."""
    try:
        action()
    except VibotError as err:
        return post_page(request, post_id, error=str(err), status_code=409)
    log.info("review action", action=done, post=post_id, by=who(request))
    return back(local_path(next, f"/posts/{post_id}"), done=done, post=post_id)


@router.post("/posts/{post_id}/approve")
def approve_post(request: Request, post_id: RowId, next: Annotated[str, Form()] = "") -> Response:
    state = vibot(request)
    app = state.app
    return act(request, post_id, lambda: approve(app, post_id, who(request)), "approved", next)


@router.post("/posts/{post_id}/reject")
def reject_post(
    request: Request,
    post_id: RowId,
    reason: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    state = vibot(request)
    app = state.app
    return act(request, post_id, lambda: reject(app, post_id, reason, who(request)), "rejected", next)


Platform = Annotated[str, Form(max_length=32)]  # a platform name; the action checks it


@router.post("/posts/{post_id}/caption")
def edit_post_caption(
    request: Request, post_id: RowId, caption: Annotated[str, Form()] = "", platform: Platform = ""
) -> Response:
    state = vibot(request)
    app = state.app
    return act(
        request,
        post_id,
        lambda: edit_caption(app, post_id, caption, who(request), platform or None),
        "saved",
        "",
    )


@router.post("/posts/{post_id}/regenerate")
def regenerate(request: Request, post_id: RowId, what: Annotated[str, Form()] = "caption") -> Response:
    state = vibot(request)
    app = state.app
    from bot.captioning import regenerate_caption

    if what == "caption":
        return act(
            request, post_id, lambda: regenerate_caption(app, post_id, who(request)), "new-caption", ""
        )
    if what != "media":
        raise HTTPException(400, "Regenerate 'caption' or 'media'.")

    def media() -> None:
        regenerate_media(app, post_id, who(request))
        state.wake()

    return act(request, post_id, media, "new-media", "/queue")


@router.post("/posts/{post_id}/move")
def move(
    request: Request,
    post_id: RowId,
    when: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    state = vibot(request)
    app = state.app

    def action() -> None:
        with read_scope(app.engine) as session:
            post = session.get(Post, post_id)
            if post is None:
                raise HTTPException(404, "There is no such post.")
            zone = app.persona(post.persona_id).zone
        try:
            local = datetime.fromisoformat(when)
        except ValueError:
            raise UserError(f"'{when}' is not a date and time — use YYYY-MM-DDTHH:MM") from None
        move_slot(app, post_id, local.replace(tzinfo=zone) if local.tzinfo is None else local, who(request))

    return act(request, post_id, action, "moved", next)


@router.post("/posts/{post_id}/retry")
def retry(request: Request, post_id: RowId, next: Annotated[str, Form()] = "") -> Response:
    state = vibot(request)
    app = state.app

    def action() -> None:
        retry_failed(app, post_id, who(request))
        state.wake()

    return act(request, post_id, action, "retried", next)


@router.post("/posts/{post_id}/settle")
def settle_post(
    request: Request,
    post_id: RowId,
    decision: Annotated[str, Form()] = "",
    permalink: Annotated[str, Form()] = "",
    platform: Platform = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    state = vibot(request)
    app = state.app
    return act(
        request,
        post_id,
        lambda: settle(app, post_id, decision, who(request), permalink.strip() or None, platform or None),
        f"settled-{decision}",
        next,
    )


@router.post("/accounts/{persona_id}/resume")
def resume_account(request: Request, persona_id: str, platform: Platform = "") -> Response:
    state = vibot(request)
    app = state.app
    if persona_id not in app.personas:
        raise HTTPException(404, "There is no such persona.")
    try:
        resume(app, persona_id, platform or None)
    except UserError:
        raise HTTPException(404, "This persona has no account there.") from None
    log.info("account resumed", persona=persona_id, platform=platform or "all", by=who(request))
    return back("/personas", done="resumed")

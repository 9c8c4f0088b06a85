"""The approval web UI: a FastAPI app with Jinja2 templates and plain forms.

Every page and action sits behind `guard`: no session → the login page (or 401 for a
form post); a state change without the session's CSRF token → 403. Media is found by
its database id, never by a path from the URL. The expiring public media URLs that the
Graph API fetches are the only files served without a login.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime
from hmac import compare_digest
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import quote, urlencode

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.accounts import resume
from bot.context import App
from bot.public_media import resolve
from bot.review import (
    PostView,
    approve,
    describe_record,
    edit_caption,
    get_post,
    media_problems,
    move_slot,
    regenerate_media,
    reject,
    retry_failed,
    settle,
    shown_path,
)
from bot.web import faces, queries
from bot.web.auth import (
    DEVICE_COOKIE_S,
    LoginLimiter,
    Reviewer,
    authenticate,
    device_cookie,
    end_session,
    known_device,
    login_token,
    login_token_ok,
    reviewer_for,
    start_session,
)
from bot.web.body import BodyLimit
from content.errors import NotFoundError, PostNotFoundError, UserError, VibotError
from content.plan import PostFormat
from storage.db import read_scope
from storage.models import MediaAsset, Post
from storage.status import PostStatus

log = structlog.get_logger(__name__)
HERE = Path(__file__).parent
COOKIE = "vibot_session"
LOGIN_COOKIE = "vibot_login"  # the login form's CSRF token, before there is a session
DEVICE_COOKIE = "vibot_device"  # a browser a reviewer logged in from (OWASP device cookies)
# Ids as the databases store them (signed 64-bit); a larger number names no row.
MAX_ID = 2**63 - 1
RowId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
NO_STORE = "private, no-store"
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2200, 12, 31)  # the calendar pages that exist
SECURITY_HEADERS = {
    # No inline scripts or styles anywhere: all of it is in /static.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
    "style-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
STATUS_NAMES = [str(s) for s in PostStatus]
FORMATS = get_args(PostFormat)
ERROR_TEXT = {
    400: "The request was malformed — go back and try again.",
    404: "There is nothing here.",
    405: "That does not work on this address.",
    413: "The request is larger than this server accepts.",
    500: "Something went wrong on the server; it has been logged. Try again, or see the health page.",
}


class NotLoggedInError(Exception):
    pass


def this_page(request: Request, *keep: str) -> str:
    """The page's own address to come back to after an action: its path and the parameters
    it understands (`keep`), without the last action's message (so addresses do not grow with
    every approval) and without anything else a link carried in."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k in keep]
    return request.url.path + (f"?{urlencode(kept)}" if kept else "")


def local_path(target: str | None, default: str = "/queue") -> str:
    """`target` if it is a path on this site, else `default` (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


class DisclosureChecks:
    """`vibot verify` per media file, remembered by content hash (a file with the same hash
    gives the same answer), so the queue asks once per file, not per page view."""

    def __init__(self, app: App, size: int = 4096) -> None:
        self.app, self.size = app, size
        self.results: OrderedDict[str, list[str]] = OrderedDict()

    def problems(self, asset: MediaAsset) -> list[str]:
        if asset.sha256 in self.results:
            self.results.move_to_end(asset.sha256)
            return self.results[asset.sha256]
        path = self.app.media.path(asset.path)
        found = media_problems(self.app, path) if path.exists() else [f"{path.name} is missing"]
        self.results[asset.sha256] = found
        while len(self.results) > self.size:
            self.results.popitem(last=False)
        return found


def create_web_app(app: App, wake_prepare: Callable[[], None] | None = None) -> FastAPI:
    """The whole web server: the UI, its static files and the public media URLs."""
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(statuses=STATUS_NAMES)
    templates.env.filters["fromjson"] = json.loads
    templates.env.filters["shown_path"] = lambda text: shown_path(text, app.settings.personas_dir)

    def error_page(status: int, detail: str) -> HTMLResponse:
        """Every error as the UI's own page, with the security headers; `detail` is vibot's
        own words, never the request's."""
        body = templates.get_template("error.html").render(status=status, detail=detail)
        return HTMLResponse(
            body, status_code=status, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"}
        )

    def refusal(status: int, detail: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        response = error_page(status, detail)
        return bytes(response.body), [(k.encode(), v.encode()) for k, v in response.headers.items()]

    web.add_middleware(BodyLimit, max_bytes=app.settings.web_max_body, refusal=refusal)
    wake = wake_prepare or (lambda: None)  # `vibot web` alone: the next prepare pass finds it
    limiter = LoginLimiter(app.settings.web_login_attempts)
    checks = DisclosureChecks(app)

    def secure(request: Request) -> bool:
        configured = app.settings.web_secure_cookies
        return configured if configured is not None else request.url.scheme == "https"

    @web.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith(("/static/", "/public/")):
            return response
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @web.exception_handler(NotLoggedInError)
    async def not_logged_in(request: Request, _err: NotLoggedInError) -> Response:
        if request.method in ("GET", "HEAD"):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return HTMLResponse(
            '<p>Your session has ended. <a href="/login">Log in again</a>.</p>', status_code=401
        )

    @web.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> Response:
        phrase = HTTPStatus(err.status_code).phrase
        own_words = err.detail and err.detail != phrase
        response = error_page(
            err.status_code, str(err.detail) if own_words else ERROR_TEXT.get(err.status_code, phrase)
        )
        response.headers.update(getattr(err, "headers", None) or {})
        return response

    @web.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, err: RequestValidationError) -> Response:
        """A malformed or out-of-range id in the path names nothing (404); anything else in
        the query or form is a bad request (400). FastAPI's own 422 would echo the input."""
        if any(error.get("loc", ("",))[0] == "path" for error in err.errors()):
            return error_page(404, ERROR_TEXT[404])
        return error_page(400, ERROR_TEXT[400])

    @web.exception_handler(Exception)
    async def server_error(request: Request, err: Exception) -> Response:
        log.error("web request failed", path=request.url.path, error=type(err).__name__)
        return error_page(500, ERROR_TEXT[500])

    async def guard(request: Request) -> Reviewer:
        token = request.cookies.get(COOKIE)
        reviewer = await run_in_threadpool(reviewer_for, app, token) if token else None
        if reviewer is None:
            raise NotLoggedInError
        if request.method not in ("GET", "HEAD"):
            form = await request.form()
            sent = form.get("csrf") or request.headers.get("x-csrf-token") or ""
            if not isinstance(sent, str) or not compare_digest(sent, reviewer.csrf_token):
                raise HTTPException(403, "The form's security token is missing or old — reload the page.")
        request.state.reviewer = reviewer
        return reviewer

    def who(request: Request) -> str:
        """The logged-in reviewer's name (the router's guard has put them on the request)."""
        reviewer: Reviewer = request.state.reviewer
        return reviewer.name

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        reviewer: Reviewer | None = getattr(request.state, "reviewer", None)
        return templates.TemplateResponse(
            request,
            name,
            {"reviewer": reviewer, "personas": sorted(app.personas), **context},
            status_code=status_code,
        )

    def back(target: str, **params: str | int) -> RedirectResponse:
        joiner = "&" if "?" in target else "?"
        return RedirectResponse(target + (joiner + urlencode(params) if params else ""), status_code=303)

    # -- without a login ----------------------------------------------------------------

    public = APIRouter()

    @public.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/queue") -> HTMLResponse:
        token = login_token(app)
        response = page(request, "login.html", csrf=token, next=local_path(next), error=None)
        response.set_cookie(
            LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=secure(request), path="/login"
        )
        return response

    @public.post("/login", response_class=HTMLResponse)
    def login(
        request: Request,
        name: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/queue",
    ) -> Response:
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not login_token_ok(app, csrf, expected):
            raise HTTPException(403, "The login form's security token is missing or old — reload the page.")
        client = request.client.host if request.client else "?"
        # A browser this reviewer logged in from before has its own count: strangers who lock
        # the name (or share the address) do not lock the reviewer out.
        device = known_device(app, request.cookies.get(DEVICE_COOKIE), name)
        keys = [f"device:{device}"] if device else [f"ip:{client}", f"name:{name.lower()}"]
        wait = limiter.attempt(keys)
        if wait > 0:
            log.warning("login refused: too many attempts", name=name, client=client)
            minutes = max(1, round(wait / 60))
            response = page(
                request,
                "login.html",
                status_code=429,
                csrf=expected,
                next=local_path(next),
                error=f"Too many failed attempts. Try again in {minutes} minute(s).",
            )
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        if not authenticate(app, name, password):
            log.warning("login failed", name=name, client=client, known_device=device is not None)
            return page(
                request,
                "login.html",
                status_code=401,
                csrf=expected,
                next=local_path(next),
                error="Wrong name or password.",
            )
        # The name and device are forgiven; the address keeps its failures (one valid account
        # unlocks nothing for the rest of a guessing run), only this attempt is taken back.
        limiter.succeeded(clear=keys[-1:], refund=keys[:-1])
        token = start_session(app, name)
        log.info("logged in", name=name, client=client)
        redirect = RedirectResponse(local_path(next), status_code=303)
        max_age = int(app.settings.web_session_hours * 3600)
        redirect.set_cookie(
            COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure(request), path="/"
        )
        redirect.delete_cookie(LOGIN_COOKIE, path="/login")
        if device is None:
            redirect.set_cookie(
                DEVICE_COOKIE,
                device_cookie(app, name),
                max_age=int(DEVICE_COOKIE_S),
                httponly=True,
                samesite="strict",
                secure=secure(request),
                path="/login",
            )
        return redirect

    @public.get("/healthz")
    def healthz() -> JSONResponse:
        """For a load balancer or uptime check: nothing but whether the database answers."""
        try:
            with read_scope(app.engine) as session:
                session.execute(sa.text("SELECT 1"))
        except Exception:
            return JSONResponse({"status": "database unreachable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @public.get("/public/media/{token}")
    def public_media(token: str) -> FileResponse:
        granted = resolve(app, token)
        if granted is None:
            raise HTTPException(404)
        path, mime = granted
        return FileResponse(path, media_type=mime, headers={"Cache-Control": "private, max-age=3600"})

    # -- behind the login ----------------------------------------------------------------

    ui = APIRouter(dependencies=[Depends(guard)])

    @ui.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/queue", status_code=303)

    @ui.get("/queue", response_class=HTMLResponse)
    def queue(
        request: Request,
        persona: str = "",
        format: str = "",
        after: str = "",
        before: str = "",
        done: str = "",
        post: int = 0,
    ) -> HTMLResponse:
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

    def load_view(post_id: int) -> tuple[queries.Card, PostView]:
        try:
            view = get_post(app, post_id)
        except PostNotFoundError:
            raise HTTPException(404, "There is no such post.") from None
        permalink = next((a.permalink for a in reversed(view.attempts) if a.permalink), None)
        return queries.card_for(app, view.post, view.media, permalink), view

    def post_page(
        request: Request, post_id: int, error: str | None = None, status_code: int = 200
    ) -> Response:
        card, view = load_view(post_id)
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

    @ui.get("/posts/{post_id}", response_class=HTMLResponse)
    def show_post(request: Request, post_id: RowId) -> Response:
        return post_page(request, post_id)

    @ui.get("/posts/{post_id}/check")
    def check_post(post_id: RowId) -> JSONResponse:
        """Every disclosure layer of every media file, read back (slow the first time)."""
        card, _ = load_view(post_id)
        files = [
            {"asset": m.id, "kind": m.kind, "problems": checks.problems(m)}
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
        reviewer: Reviewer = request.state.reviewer
        log.info("review action", action=done, post=post_id, by=reviewer.name)
        return back(local_path(next, f"/posts/{post_id}"), done=done, post=post_id)

    @ui.post("/posts/{post_id}/approve")
    def approve_post(request: Request, post_id: RowId, next: Annotated[str, Form()] = "") -> Response:

        return act(request, post_id, lambda: approve(app, post_id, who(request)), "approved", next)

    @ui.post("/posts/{post_id}/reject")
    def reject_post(
        request: Request,
        post_id: RowId,
        reason: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "",
    ) -> Response:

        return act(request, post_id, lambda: reject(app, post_id, reason, who(request)), "rejected", next)

    @ui.post("/posts/{post_id}/caption")
    def edit_post_caption(request: Request, post_id: RowId, caption: Annotated[str, Form()] = "") -> Response:

        return act(request, post_id, lambda: edit_caption(app, post_id, caption, who(request)), "saved", "")

    @ui.post("/posts/{post_id}/regenerate")
    def regenerate(request: Request, post_id: RowId, what: Annotated[str, Form()] = "caption") -> Response:
        from bot.captioning import regenerate_caption

        if what == "caption":
            return act(
                request, post_id, lambda: regenerate_caption(app, post_id, who(request)), "new-caption", ""
            )
        if what != "media":
            raise HTTPException(400, "Regenerate 'caption' or 'media'.")

        def media() -> None:
            regenerate_media(app, post_id, who(request))
            wake()

        return act(request, post_id, media, "new-media", "/queue")

    @ui.post("/posts/{post_id}/move")
    def move(
        request: Request,
        post_id: RowId,
        when: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "",
    ) -> Response:
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
            move_slot(
                app, post_id, local.replace(tzinfo=zone) if local.tzinfo is None else local, who(request)
            )

        return act(request, post_id, action, "moved", next)

    @ui.post("/posts/{post_id}/retry")
    def retry(request: Request, post_id: RowId, next: Annotated[str, Form()] = "") -> Response:

        def action() -> None:
            retry_failed(app, post_id, who(request))
            wake()

        return act(request, post_id, action, "retried", next)

    @ui.post("/posts/{post_id}/settle")
    def settle_post(
        request: Request,
        post_id: RowId,
        decision: Annotated[str, Form()] = "",
        permalink: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "",
    ) -> Response:

        return act(
            request,
            post_id,
            lambda: settle(app, post_id, decision, who(request), permalink.strip() or None),
            f"settled-{decision}",
            next,
        )

    @ui.post("/accounts/{persona_id}/resume")
    def resume_account(request: Request, persona_id: str) -> Response:
        if persona_id not in app.personas:
            raise HTTPException(404, "There is no such persona.")
        resume(app, persona_id)
        log.info("account resumed", persona=persona_id, by=who(request))
        return back("/personas", done="resumed")

    @ui.post("/logout")
    def logout(request: Request) -> Response:
        token = request.cookies.get(COOKIE)
        if token:
            end_session(app, token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @ui.get("/calendar", response_class=HTMLResponse)
    def calendar_home() -> RedirectResponse:
        if not app.personas:
            raise HTTPException(404, "There are no personas yet.")
        return RedirectResponse(f"/calendar/{sorted(app.personas)[0]}", status_code=303)

    @ui.get("/calendar/{persona_id}", response_class=HTMLResponse)
    def calendar(request: Request, persona_id: str, view: str = "week", start: str = "") -> HTMLResponse:
        if persona_id not in app.personas:
            raise HTTPException(404, "There is no such persona.")
        zone = app.persona(persona_id).zone
        try:
            first = date.fromisoformat(start) if start else datetime.now(zone).date()
        except ValueError:
            raise HTTPException(400, "That is not a date — use YYYY-MM-DD.") from None
        if not FIRST_DAY <= first <= LAST_DAY:
            raise HTTPException(404, "The calendar has no pages that far away.")
        view = "month" if view == "month" else "week"
        days, previous, following = queries.calendar_days(app, persona_id, view, first)
        return page(
            request,
            "calendar.html",
            persona_id=persona_id,
            view=view,
            days=days,
            start=first,
            previous=previous,
            following=following,
            today=datetime.now(zone).date(),
            movable={
                str(s)
                for s in (PostStatus.PLANNED, PostStatus.IN_REVIEW, PostStatus.APPROVED, PostStatus.FAILED)
            },
            here=this_page(request, "view", "start"),
            done=request.query_params.get("done", ""),
        )

    @ui.get("/history", response_class=HTMLResponse)
    def history(request: Request, show: str = "published", after: str = "", before: str = "") -> HTMLResponse:
        show = show if show in queries.HISTORY else "published"
        try:
            found = queries.history_page(app, show, after or None, before or None)
        except queries.BadCursorError:
            raise HTTPException(400, queries.BadCursorError.advice) from None
        return page(
            request,
            "history.html",
            page=found,
            show=show,
            kinds=list(queries.HISTORY),
            here=this_page(request, "show", "after", "before"),
            done=request.query_params.get("done", ""),
        )

    @ui.get("/personas", response_class=HTMLResponse)
    def personas(request: Request) -> HTMLResponse:
        return page(
            request,
            "personas.html",
            overview=queries.personas_overview(app),
            done=request.query_params.get("done", ""),
        )

    @ui.get("/health", response_class=HTMLResponse)
    def health_page(request: Request) -> HTMLResponse:
        found = queries.health(app)
        return page(request, "health.html", checks=found, ok=all(c.ok for c in found))

    def media_file(asset_id: int) -> tuple[MediaAsset, Path]:
        """A media file by its id; the path comes from the database and must lie in the store."""
        with read_scope(app.engine) as session:
            asset = session.get(MediaAsset, asset_id)
        if asset is None:
            raise HTTPException(404)
        try:
            path = app.media.path(asset.path).resolve()  # refuses a path that leaves the store
        except NotFoundError:
            raise HTTPException(404) from None
        if not path.is_relative_to(app.media.root.resolve()) or not path.is_file():
            raise HTTPException(404)
        return asset, path

    @ui.get("/media/{asset_id}")
    def media(asset_id: RowId) -> FileResponse:
        asset, path = media_file(asset_id)
        # no-store: a shared computer keeps no copy after the reviewer logs out.
        return FileResponse(path, media_type=asset.mime, headers={"Cache-Control": NO_STORE})

    @ui.get("/media/{asset_id}/face")
    def media_face(asset_id: RowId) -> Response:
        """The largest face in an image, cropped: what the identity score measured."""
        asset, path = media_file(asset_id)
        crop = faces.face_jpeg(path) if asset.mime.startswith("image/") else None
        if crop is None:
            raise HTTPException(404, "No face in this file.")
        return Response(crop, media_type="image/jpeg", headers={"Cache-Control": NO_STORE})

    @ui.get("/personas/{persona_id}/face")
    def persona_face(persona_id: str) -> Response:
        """The persona's reference face nearest its centroid, cropped."""
        if persona_id not in app.personas:
            raise HTTPException(404, "There is no such persona.")
        crop = faces.reference_face_jpeg(app.persona(persona_id))
        if crop is None:
            raise HTTPException(404, "This persona has no reference face.")
        return Response(crop, media_type="image/jpeg", headers={"Cache-Control": NO_STORE})

    web.include_router(public)
    web.include_router(ui)
    web.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return web

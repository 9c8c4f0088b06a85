"""The calendar, history, personas and health pages, and the media files, behind the login."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from bot.web import faces, queries
from bot.web.state import (
    FIRST_DAY,
    LAST_DAY,
    NO_STORE,
    RowId,
    guard,
    page,
    this_page,
    vibot,
)
from content.errors import NotFoundError
from storage.db import read_scope
from storage.models import MediaAsset
from storage.status import PostStatus

router = APIRouter(dependencies=[Depends(guard)])


@router.get("/calendar", response_class=HTMLResponse)
def calendar_home(request: Request) -> RedirectResponse:
    state = vibot(request)
    app = state.app
    if not app.personas:
        raise HTTPException(404, "There are no personas yet.")
    return RedirectResponse(f"/calendar/{sorted(app.personas)[0]}", status_code=303)


@router.get("/calendar/{persona_id}", response_class=HTMLResponse)
def calendar(request: Request, persona_id: str, view: str = "week", start: str = "") -> HTMLResponse:
    state = vibot(request)
    app = state.app
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
            str(s) for s in (PostStatus.PLANNED, PostStatus.IN_REVIEW, PostStatus.APPROVED, PostStatus.FAILED)
        },
        here=this_page(request, "view", "start"),
        done=request.query_params.get("done", ""),
    )


@router.get("/history", response_class=HTMLResponse)
def history(request: Request, show: str = "published", after: str = "", before: str = "") -> HTMLResponse:
    state = vibot(request)
    app = state.app
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


@router.get("/personas", response_class=HTMLResponse)
def personas(request: Request) -> HTMLResponse:
    state = vibot(request)
    app = state.app
    return page(
        request,
        "personas.html",
        overview=queries.personas_overview(app),
        done=request.query_params.get("done", ""),
    )


@router.get("/health", response_class=HTMLResponse)
def health_page(request: Request) -> HTMLResponse:
    state = vibot(request)
    app = state.app
    found = queries.health(app)
    return page(request, "health.html", checks=found, ok=all(c.ok for c in found))


def media_file(request: Request, asset_id: int) -> tuple[MediaAsset, Path]:
    """A media file by its id; the path comes from the database and must lie in the store."""
    state = vibot(request)
    app = state.app
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


@router.get("/media/{asset_id}")
def media(request: Request, asset_id: RowId) -> FileResponse:
    asset, path = media_file(request, asset_id)
    # no-store: a shared computer keeps no copy after the reviewer logs out.
    return FileResponse(path, media_type=asset.mime, headers={"Cache-Control": NO_STORE})


@router.get("/media/{asset_id}/face")
def media_face(request: Request, asset_id: RowId) -> Response:
    """The largest face in an image, cropped: what the identity score measured."""
    asset, path = media_file(request, asset_id)
    crop = faces.face_jpeg(path) if asset.mime.startswith("image/") else None
    if crop is None:
        raise HTTPException(404, "No face in this file.")
    return Response(crop, media_type="image/jpeg", headers={"Cache-Control": NO_STORE})


@router.get("/personas/{persona_id}/face")
def persona_face(request: Request, persona_id: str) -> Response:
    """The persona's reference face nearest its centroid, cropped."""
    state = vibot(request)
    app = state.app
    if persona_id not in app.personas:
        raise HTTPException(404, "There is no such persona.")
    crop = faces.reference_face_jpeg(app.persona(persona_id))
    if crop is None:
        raise HTTPException(404, "This persona has no reference face.")
    return Response(crop, media_type="image/jpeg", headers={"Cache-Control": NO_STORE})

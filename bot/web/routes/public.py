"""Without a login: the health check and the expiring public media URLs the platforms
fetch (signed per post, bot/public_media.py)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from bot.public_media import resolve
from bot.web.state import (
    vibot,
)
from storage.db import read_scope

router = APIRouter()


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    """For a load balancer or uptime check: nothing but whether the database answers."""
    state = vibot(request)
    app = state.app
    try:
        with read_scope(app.engine) as session:
            session.execute(sa.text("SELECT 1"))
    except Exception:
        return JSONResponse({"status": "database unreachable"}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/public/media/{token}")
def public_media(request: Request, token: str) -> FileResponse:
    state = vibot(request)
    app = state.app
    granted = resolve(app, token)
    if granted is None:
        raise HTTPException(404)
    path, mime = granted
    return FileResponse(path, media_type=mime, headers={"Cache-Control": "private, max-age=3600"})

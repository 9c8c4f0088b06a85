"""The public lookup, without a login: upload a copy of a post, or paste its permalink,
and see its disclosure — for a published post only (bot/lookup.py says how everything
else looks the same). `/verify` answers a page, `/verify.json` the same for tools.

An upload is streamed to a temporary file (Starlette spools a form's file to disk past
1 MiB) under its own size limit (`web_verify_max_bytes`, enforced in bot/web/body.py),
and every lookup counts against its address (`web_verify_per_minute`), before the body
is read at all."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import UploadFile

from bot.lookup import NOT_FOUND, PublicDisclosure, disclosure_for, disclosure_for_permalink, mark_in_upload
from bot.web.state import page, vibot

router = APIRouter()
UPLOAD_PATHS = ("/verify", "/verify.json")


@router.get("/verify", response_class=HTMLResponse)
def verify_form(request: Request) -> HTMLResponse:
    return page(request, "verify.html", searched=False, result=None)


@router.post("/verify", response_class=HTMLResponse)
async def verify_page(request: Request) -> Response:
    result = await _look_up(request)
    return page(request, "verify.html", searched=True, result=result)


@router.post("/verify.json")
async def verify_json(request: Request) -> JSONResponse:
    result = await _look_up(request)
    body: dict[str, Any] = result.as_dict() if result is not None else NOT_FOUND
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def _look_up(request: Request) -> PublicDisclosure | None:
    state = vibot(request)
    address = request.client.host if request.client else "?"
    wait = state.lookups.attempt([f"verify:{address}"])
    if wait:
        raise HTTPException(429, headers={"Retry-After": str(int(wait) + 1)})
    form = await request.form(max_files=1, max_fields=4)
    upload, permalink = form.get("file"), form.get("permalink")
    try:
        if isinstance(upload, UploadFile) and upload.filename:
            return await run_in_threadpool(_from_upload, state.app, upload)
        if isinstance(permalink, str) and permalink.strip():
            return await run_in_threadpool(disclosure_for_permalink, state.app, permalink)
    finally:
        await form.close()
    raise HTTPException(400, "Choose a picture or video, or paste a post's link.")


def _from_upload(app: Any, upload: UploadFile) -> PublicDisclosure | None:
    with tempfile.TemporaryDirectory(prefix="vibot-verify-") as workdir:
        copy = Path(workdir) / "upload"
        with copy.open("wb") as target:
            upload.file.seek(0)
            shutil.copyfileobj(upload.file, target, 1 << 20)
        reading = mark_in_upload(copy)
    return disclosure_for(app, reading.post_id, reading.confidence if reading.post_id is not None else None)

"""The approval web UI: a FastAPI app with Jinja2 templates and plain forms.

Every page and action sits behind `guard` (bot/web/state.py): no session → the login page
(or 401 for a form post); a state change without the session's CSRF token → 403. Media is
found by its database id, never by a path from the URL. The expiring public media URLs
that the platforms fetch, and the public /verify lookup, are all there is without a login.

This module assembles the server: the body limit, the security headers, one error page
for every error, and the routers of bot/web/routes/, which read the server's state from
`request.app.state.vibot`.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.context import App
from bot.web.body import BodyLimit
from bot.web.routes import analytics, auth, pages, public, review, verify
from bot.web.state import (
    ERROR_TEXT,
    HERE,
    SECURITY_HEADERS,
    NotLoggedInError,
    WebState,
    error_page,
    log,
)


def create_web_app(app: App, wake_prepare: Callable[[], None] | None = None) -> FastAPI:
    """The whole web server: the UI, its static files and the public media URLs."""
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    web.state.vibot = state = WebState.for_app(app, wake_prepare)
    templates = state.templates

    def refusal(status: int, detail: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        response = error_page(templates, status, detail)
        return bytes(response.body), [(k.encode(), v.encode()) for k, v in response.headers.items()]

    web.add_middleware(
        BodyLimit,
        max_bytes=app.settings.web_max_body,
        refusal=refusal,
        uploads={path: app.settings.web_verify_max_bytes for path in verify.UPLOAD_PATHS},
    )

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
            templates,
            err.status_code,
            str(err.detail) if own_words else ERROR_TEXT.get(err.status_code, phrase),
        )
        response.headers.update(getattr(err, "headers", None) or {})
        return response

    @web.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, err: RequestValidationError) -> Response:
        """A malformed or out-of-range id in the path names nothing (404); anything else in
        the query or form is a bad request (400). FastAPI's own 422 would echo the input."""
        if any(error.get("loc", ("",))[0] == "path" for error in err.errors()):
            return error_page(templates, 404, ERROR_TEXT[404])
        return error_page(templates, 400, ERROR_TEXT[400])

    @web.exception_handler(Exception)
    async def server_error(request: Request, err: Exception) -> Response:
        log.error("web request failed", path=request.url.path, error=type(err).__name__)
        return error_page(templates, 500, ERROR_TEXT[500])

    routers = (
        public.router,
        verify.router,
        auth.router,
        auth.signed_in,
        review.router,
        pages.router,
        analytics.router,
    )
    for router in routers:
        web.include_router(router)
    web.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return web

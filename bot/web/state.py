"""What every page of the web UI shares: the constants, the per-server state (`WebState`,
on `request.app.state.vibot`), the login guard and the page helpers. The routers in
bot/web/routes/ take it through `vibot(request)`; `create_web_app` builds it once."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from hmac import compare_digest
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import urlencode

import structlog
from fastapi import HTTPException, Request
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from bot.context import App
from bot.review import media_problems, shown_path
from bot.web.auth import LoginLimiter, Reviewer, reviewer_for
from content.plan import PostFormat
from storage.models import MediaAsset
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
    411: "Send the request with a Content-Length.",
    413: "The request is larger than this server accepts.",
    429: "Too many requests from your address — wait a minute and try again.",
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


@dataclass
class WebState:
    """One web server's state, shared by its routers."""

    app: App
    templates: Jinja2Templates
    limiter: LoginLimiter
    lookups: LoginLimiter  # /verify: every lookup counts, per client address, a minute long
    checks: DisclosureChecks
    wake: Callable[[], None]  # tells the prepare worker there is work (`vibot web` alone: nothing)

    @classmethod
    def for_app(cls, app: App, wake_prepare: Callable[[], None] | None = None) -> WebState:
        templates = Jinja2Templates(directory=HERE / "templates")
        templates.env.globals.update(statuses=STATUS_NAMES)
        templates.env.filters["fromjson"] = json.loads
        templates.env.filters["shown_path"] = lambda text: shown_path(text, app.settings.personas_dir)
        return cls(
            app=app,
            templates=templates,
            limiter=LoginLimiter(app.settings.web_login_attempts),
            lookups=LoginLimiter(app.settings.web_verify_per_minute, window_s=60.0),
            checks=DisclosureChecks(app),
            wake=wake_prepare or (lambda: None),  # `vibot web` alone: the next prepare pass finds it
        )


def vibot(request: Request) -> WebState:
    state: WebState = request.app.state.vibot
    return state


def error_page(templates: Jinja2Templates, status: int, detail: str) -> HTMLResponse:
    """Every error as the UI's own page, with the security headers; `detail` is vibot's own
    words, never the request's."""
    body = templates.get_template("error.html").render(status=status, detail=detail)
    return HTMLResponse(body, status_code=status, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


def secure(request: Request) -> bool:
    configured = vibot(request).app.settings.web_secure_cookies
    return configured if configured is not None else request.url.scheme == "https"


async def guard(request: Request) -> Reviewer:
    """A logged-in reviewer, and for a state change the session's CSRF token, or no page."""
    token = request.cookies.get(COOKIE)
    reviewer = await run_in_threadpool(reviewer_for, vibot(request).app, token) if token else None
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
    state = vibot(request)
    reviewer: Reviewer | None = getattr(request.state, "reviewer", None)
    return state.templates.TemplateResponse(
        request,
        name,
        {"reviewer": reviewer, "personas": sorted(state.app.personas), **context},
        status_code=status_code,
    )


def back(target: str, **params: str | int) -> RedirectResponse:
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(target + (joiner + urlencode(params) if params else ""), status_code=303)

"""Logging in and out: the login form with its own CSRF token, the login limiter and
the device cookies that let a known browser in while a name is locked for strangers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.web.auth import (
    DEVICE_COOKIE_S,
    authenticate,
    device_cookie,
    end_session,
    known_device,
    login_token,
    login_token_ok,
    start_session,
)
from bot.web.state import (
    COOKIE,
    DEVICE_COOKIE,
    LOGIN_COOKIE,
    guard,
    local_path,
    log,
    page,
    secure,
    vibot,
)

router = APIRouter()
signed_in = APIRouter(dependencies=[Depends(guard)])  # logging out needs the session's CSRF token


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/queue") -> HTMLResponse:
    state = vibot(request)
    app = state.app
    token = login_token(app)
    response = page(request, "login.html", csrf=token, next=local_path(next), error=None)
    response.set_cookie(
        LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=secure(request), path="/login"
    )
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/queue",
) -> Response:
    state = vibot(request)
    app = state.app
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not login_token_ok(app, csrf, expected):
        raise HTTPException(403, "The login form's security token is missing or old — reload the page.")
    client = request.client.host if request.client else "?"
    # A browser this reviewer logged in from before has its own count: strangers who lock
    # the name (or share the address) do not lock the reviewer out.
    device = known_device(app, request.cookies.get(DEVICE_COOKIE), name)
    keys = [f"device:{device}"] if device else [f"ip:{client}", f"name:{name.lower()}"]
    wait = state.limiter.attempt(keys)
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
    state.limiter.succeeded(clear=keys[-1:], refund=keys[:-1])
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


@signed_in.post("/logout")
def logout(request: Request) -> Response:
    state = vibot(request)
    app = state.app
    token = request.cookies.get(COOKIE)
    if token:
        end_session(app, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response

"""A running web UI for tests: a persona, posts in review (photo, carousel, reel), a reviewer,
and vibot's real web server on a free port of 127.0.0.1."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.context import App
from bot.web.auth import add_user
from bot.web.serve import WebServer, make_server, start_in_thread
from tests.conftest import make_app, write_persona
from tests.test_flow import ready_post

REVIEWER, PASSWORD = "ada", "correct horse battery"


@dataclass
class Site:
    app: App
    url: str
    server: WebServer
    posts: dict[str, int]  # format → post id


def site_app(tmp_path: Path, tiny_model: Path, **persona: object) -> App:
    home = tmp_path / "home"
    write_persona(home / "personas", **persona)  # type: ignore[arg-type]
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)
    add_user(app, REVIEWER, PASSWORD)
    return app


@contextmanager
def running(app: App, formats: tuple[str, ...] = ("photo",)) -> Iterator[Site]:
    posts = {fmt: ready_post(app, fmt=fmt) for fmt in formats}
    server = start_in_thread(make_server(app, "127.0.0.1", 0))
    deadline = time.monotonic() + 10
    while not server.server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield Site(app, f"http://127.0.0.1:{server.port}", server, posts)
    finally:
        server.stop()
        app.engine.dispose()


def login(client: httpx.Client, name: str = REVIEWER, password: str = PASSWORD) -> httpx.Response:
    """Log in as a browser does: fetch the form (and its CSRF cookie), then post it."""
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    return client.post("/login", data={"name": name, "password": password, "csrf": token.group(1)})


def csrf_of(client: httpx.Client) -> str:
    page = client.get("/queue")
    token = re.search(r'data-csrf="([^"]+)"', page.text)
    assert token is not None, page.text[:300]
    return token.group(1)

"""A running web UI for tests: a persona, posts in review (photo, carousel, reel), a reviewer,
and vibot's real web server on a free port of 127.0.0.1.

Generating the posts is what costs (seconds a post); serving them costs nothing. So each set
of formats is generated once per test run into a *template* home, and every test gets its own
copy of that home (database, media, keys) with its own server: tests may change what they
like, and none pays for generation again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from fastapi.routing import APIRoute
from filelock import FileLock

from bot.context import App
from bot.web.auth import add_user
from bot.web.serve import WebServer, make_server, start_in_thread
from tests.support.personas import make_app, write_persona
from tests.support.posts import ready_post

REVIEWER, PASSWORD = "ada", "correct horse battery"
CHROMIUM = "/usr/bin/chromium"
# Screenshots of the pages the browser tests visit, kept by CI as artifacts.
SHOTS = Path(os.environ.get("VIBOT_SCREENSHOTS", "test-artifacts/screenshots"))


@dataclass
class Site:
    app: App
    url: str
    server: WebServer
    posts: dict[str, int]  # format → post id


@dataclass(frozen=True)
class SiteTemplate:
    home: Path
    posts: dict[str, int]


SiteBuilder = Callable[[tuple[str, ...]], SiteTemplate]  # formats → their template (conftest)


def site_app(home: Path, tiny_model: Path, **persona: object) -> App:
    write_persona(home / "personas", **persona)  # type: ignore[arg-type]
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)
    add_user(app, REVIEWER, PASSWORD)
    return app


def build_template(home: Path, tiny_model: Path, formats: tuple[str, ...]) -> SiteTemplate:
    """A home with the reviewer and one post in review per format, generated for real; a
    format named again is keyed 'photo-2', 'photo-3'…"""
    app = site_app(home, tiny_model)
    try:
        posts: dict[str, int] = {}
        for fmt in formats:
            key = fmt if fmt not in posts else f"{fmt}-{sum(k.split('-')[0] == fmt for k in posts) + 1}"
            posts[key] = ready_post(app, fmt=fmt)
    finally:
        app.engine.dispose()
    return SiteTemplate(home, posts)


def shared_template(folder: Path, tiny_model: Path, formats: tuple[str, ...]) -> SiteTemplate:
    """The template in `folder`, built by whichever process gets there first."""
    with FileLock(f"{folder}.lock"):
        done = folder / "posts.json"
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a half-built one from a killed run
            built = build_template(folder / "home", tiny_model, formats)
            done.write_text(json.dumps(built.posts))
    return SiteTemplate(folder / "home", json.loads(done.read_text()))


def copy_of(template: SiteTemplate, home: Path) -> App:
    shutil.copytree(template.home, home, symlinks=True)
    return make_app(home, f"sqlite:///{home / 'vibot.db'}")


def copy_with_persona(template: SiteTemplate, home: Path, **sections: dict[str, object]) -> Path:
    """A copy of a generated home whose persona has `sections` merged into its own, e.g.
    account={"publisher": "graph", …} (the test persona's pacing, off, stays)."""
    copy_of(template, home).engine.dispose()
    persona = home / "personas" / "tess.yaml"
    data = yaml.safe_load(persona.read_text())
    for name, values in sections.items():
        data[name] = {**data[name], **values}
    persona.write_text(yaml.safe_dump(data))
    return home


def home_app(home: Path, **settings: object) -> App:
    """The App of `home` (SQLite), with settings changed, e.g. a fake platform's URL."""
    return App(make_app(home, f"sqlite:///{home / 'vibot.db'}").settings.model_copy(update=settings))


@contextmanager
def running(app: App, posts: dict[str, int]) -> Iterator[Site]:
    server = start_in_thread(make_server(app, "127.0.0.1", 0))
    deadline = time.monotonic() + 10
    while not server.server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield Site(app, f"http://127.0.0.1:{server.port}", server, posts)
    finally:
        server.stop()
        app.engine.dispose()


def login_form(client: httpx.Client) -> str:
    """Fetch the login form as a browser does (it sets the form's CSRF cookie); its token."""
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    return token.group(1)


def login(client: httpx.Client, name: str = REVIEWER, password: str = PASSWORD) -> httpx.Response:
    """Log in as a browser does: fetch the form (and its CSRF cookie), then post it."""
    token = login_form(client)
    return client.post("/login", data={"name": name, "password": password, "csrf": token})


def csrf_of(client: httpx.Client) -> str:
    page = client.get("/queue")
    token = re.search(r'data-csrf="([^"]+)"', page.text)
    assert token is not None, page.text[:300]
    return token.group(1)


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every endpoint, also inside included routers (FastAPI keeps those nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


@dataclass
class WebProcess:
    process: subprocess.Popen[str]
    url: str
    stderr: str = ""  # what it wrote after start-up, once stopped


@contextmanager
def vibot_web(home: Path) -> Iterator[WebProcess]:
    """`vibot web` for `home` in its own process; SIGTERM when done."""
    env = {
        "VIBOT_HOME": str(home),
        "VIBOT_PERSONAS_DIR": str(home / "personas"),
        "VIBOT_LOG_LEVEL": "WARNING",
    }
    process, url = wait_for_url([sys.executable, "-m", "bot", "web", "--port", "0"], env)
    running = WebProcess(process, url)
    try:
        yield running
    finally:
        process.terminate()
        _, running.stderr = process.communicate(timeout=10)


def wait_for_url(command: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start `vibot web` (or the daemon) and wait until its web server answers."""
    process = subprocess.Popen(command, env={**os.environ, **env}, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert found is not None, line
    url = f"http://127.0.0.1:{found.group(1)}"
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while True:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.TransportError:
            assert datetime.now(UTC) < deadline, "the web server did not answer"
            time.sleep(0.05)

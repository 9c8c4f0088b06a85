from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from bot.context import App
from tests.support.personas import make_app, write_persona
from tests.support.pg import PostgresServer
from tests.support.shared import built_once, run_folder
from tests.support.web import (
    CHROMIUM,
    Site,
    SiteBuilder,
    SiteTemplate,
    copy_of,
    login,
    running,
    shared_template,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers on two cores: one thread each (also in the CLI processes they start) instead
    # of two each fighting over the same cores.
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, "1")
# Any daemon a test starts serves its web UI on a free port, never on a fixed one.
os.environ.setdefault("VIBOT_WEB_PORT", "0")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from content.tiny import build_tiny_flux

    return built_once(tmp_path_factory, "tiny-flux", build_tiny_flux)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    url = os.environ.get("VIBOT_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    base = Path(tempfile.mkdtemp(prefix="vibot-pg-"))
    server = PostgresServer(base)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def _fresh_postgres_db(server_url: str) -> str:
    name = f"vibot_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'vibot.db'}"
    return _fresh_postgres_db(request.getfixturevalue("postgres_server"))


@pytest.fixture
def app(tmp_path: Path, database_url: str, tiny_model: Path) -> App:
    """An App on SQLite and on PostgreSQL, with one persona and the tiny model in place."""
    home = tmp_path / "home"
    write_persona(home / "personas")
    return make_app(home, database_url, tiny_model)


@pytest.fixture
def sqlite_app(tmp_path: Path, tiny_model: Path) -> App:
    home = tmp_path / "home"
    write_persona(home / "personas")
    return make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)


@pytest.fixture(autouse=True)
def dispose_engines() -> Iterator[None]:
    """Close every pooled connection a test opened (unclosed ones are warnings, and warnings are errors)."""
    engines: list[sa.Engine] = []

    def remember(connection: sa.Connection) -> None:
        if connection.engine not in engines:
            engines.append(connection.engine)

    sa.event.listen(sa.Engine, "engine_connect", remember)
    yield
    sa.event.remove(sa.Engine, "engine_connect", remember)
    for engine in engines:
        engine.dispose()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium instead of a browser Playwright would download."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def site_templates(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[SiteBuilder]:
    """Homes with generated posts, one per set of formats, generated once per test run: the
    first test worker to need one builds it under a file lock in the run's shared temporary
    folder, the others wait for it and read it (tests only ever use copies)."""
    shared = run_folder(tmp_path_factory) / "site-templates"
    shared.mkdir(exist_ok=True)

    def template(formats: tuple[str, ...]) -> SiteTemplate:
        return shared_template(shared / "-".join(formats), tiny_model, formats)

    yield template


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path, site_templates: SiteBuilder) -> Iterator[Site]:
    """A copy of a generated home with its own running web server. A test module picks the
    formats with a module-level SITE_FORMATS (default: a photo and a carousel)."""
    formats = getattr(request.module, "SITE_FORMATS", ("photo", "carousel"))
    template = site_templates(formats)
    with running(copy_of(template, tmp_path / "home"), dict(template.posts)) as found:
        yield found


@pytest.fixture
def client(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, follow_redirects=False) as anonymous:
        yield anonymous


@pytest.fixture
def user(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, follow_redirects=False) as logged_in:
        assert login(logged_in).status_code == 303
        yield logged_in


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """With VIBOT_TEST_TIMELINE=FILE, each test's worker, start and end go to FILE: where a
    parallel run's minutes go (benchmarks/suite_timeline.py reads it)."""
    timeline = os.environ.get("VIBOT_TEST_TIMELINE")
    if not timeline:
        return (yield)
    import resource
    import time

    def cpu_seconds() -> float:  # this process and the children it has waited for
        used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        return sum(u.ru_utime + u.ru_stime for u in used)

    started, cpu = time.time(), cpu_seconds()
    try:
        return (yield)
    finally:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(timeline, "a") as out:
            ended = time.time()
            out.write(f"{worker}\t{started:.3f}\t{ended:.3f}\t{item.nodeid}\t{cpu_seconds() - cpu:.2f}\n")

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from bot.context import App
from bot.settings import Settings
from tests.pg import PostgresServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Any daemon a test starts serves its web UI on a free port, never on a fixed one.
os.environ.setdefault("VIBOT_WEB_PORT", "0")
CHROMIUM = "/usr/bin/chromium"

BASE_PERSONA: dict[str, Any] = {
    "id": "tess",
    "name": "Tess Test",
    "timezone": "Europe/Berlin",
    # Pacing off: most tests publish several posts at once (tests/test_graph.py tests pacing).
    "account": {"publisher": "outbox", "daily_cap": 50, "min_spacing": "0m"},
    "disclosure": {
        "label": "AI-generated",
        "caption_line": "Tess is a virtual influencer; this post is AI-generated.",
    },
    "voice": {"hashtags": {"always": ["#test"], "max": 4}},
    "appearance": {"trigger": "t3ss woman", "base_prompt": "photo of a woman"},
    "pillars": [
        {"name": "travel", "weight": 2, "scenes": ["harbour at dawn", "old town square", "mountain pass"]},
        {"name": "food", "weight": 1, "scenes": ["market stall", "noodle bar"]},
    ],
    "schedule": {
        "posts_per_week": 5,
        "reel_share": 0.0,
        "windows": ["mon-fri 08:00-09:30", "sat,sun 10:00-12:00"],
        "lead_time": "24h",
        "grace": "2h",
        "min_gap": "3h",
    },
    # Small feed size: the watermark costs ~2 s at 1080x1350 on a 2-core CPU, ~0.2 s here.
    "pipeline": {"image": {"model": "tiny-flux", "steps": 2, "size": "320x400"}},
}


def persona_data(**overrides: Any) -> dict[str, Any]:
    """The base persona with nested overrides, e.g. persona_data(schedule={"posts_per_week": 3})."""
    data = copy.deepcopy(BASE_PERSONA)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def write_persona(directory: Path, name: str = "tess.yaml", **overrides: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(yaml.safe_dump(persona_data(**overrides), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from content.tiny import build_tiny_flux

    return build_tiny_flux(tmp_path_factory.mktemp("models") / "tiny-flux")


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


def make_app(home: Path, database_url: str | None = None, tiny_model: Path | None = None) -> App:
    if tiny_model is not None:
        target = home / "models" / "tiny-flux"
        if not target.exists():
            shutil.copytree(tiny_model, target)
    settings = Settings(home=home, personas_dir=home / "personas", database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    return App(settings)


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

"""The daemon: plans, prepares in its worker, publishes on time, stops cleanly, runs alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.context import App
from bot.review import approve, get_post
from storage.db import session_scope
from storage.models import Post
from storage.status import PostStatus
from tests.support.personas import make_app, write_persona
from tests.support.posts import ready_post


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def start_daemon(app: App, **env: str) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "VIBOT_HOME": str(app.settings.home),
        "VIBOT_PERSONAS_DIR": str(app.settings.personas_dir),
        "VIBOT_DATABASE_URL": app.settings.db_url,
        "VIBOT_PUBLISH_INTERVAL_S": "0.5",
        "VIBOT_LOG_FORMAT": "json",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "daemon"],
        env=environment,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_daemon_end_to_end(tmp_path: Path, tiny_model: Path) -> None:
    home = tmp_path / "home"
    # Daily posts and a 48 h lead time: the daemon has something to prepare right away.
    write_persona(
        home / "personas",
        schedule={
            "posts_per_week": 7,
            "windows": ["daily 00:00-23:55"],
            "lead_time": "48h",
            "reel_share": 0.0,
        },
    )
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)
    due = ready_post(app, slot=datetime.now(UTC) - timedelta(minutes=5))
    approve(app, due, by="ana")
    daemon = start_daemon(app, TESS_IG_PASSWORD="hunter2-very-secret")

    def prepared_by_worker() -> bool:
        with session_scope(app.engine) as session:
            return any(p.status == PostStatus.IN_REVIEW for p in session.exec(select(Post)))

    published = wait_for(lambda: get_post(app, due).post.status == PostStatus.PUBLISHED, 90)
    prepared = published and wait_for(prepared_by_worker, 120)
    if not prepared:
        daemon.send_signal(signal.SIGTERM)
        _, logs = daemon.communicate(timeout=60)
        pytest.fail(f"published={published} prepared={prepared}; daemon logs:\n{logs[-3000:]}")
    try:
        second = start_daemon(app)
        _, second_err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert "another vibot daemon is already running on this database" in second_err
        assert "Traceback" not in second_err
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, logs = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, logs
    assert '"event": "daemon stopped"' in logs
    assert "hunter2-very-secret" not in logs

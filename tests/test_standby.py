"""A standby daemon on PostgreSQL: SIGKILL the active daemon again and again while it
publishes; the standby takes over within 15 s each time, and every approved post goes out
exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.context import App
from storage.audit import verify_log
from storage.db import session_scope
from storage.models import Post
from storage.status import PostStatus
from tests.support.forked import Run, Zygote
from tests.support.personas import make_app, write_persona
from tests.support.posts import due_approved_posts, outbox_lines

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
POSTS = 24
KILLS = 20
TAKEOVER_LIMIT_S = 15.0


def quiet_schedule() -> dict[str, Any]:
    """Slots in a window hours away, with a 1 h lead time: the daemons plan, but nothing is
    due for preparing while the test runs (it is about publishing)."""
    start = (datetime.now(ZoneInfo("Europe/Berlin")) + timedelta(hours=3)).replace(second=0, microsecond=0)
    if start.hour >= 23:  # keep the window inside one day
        start = start.replace(hour=4, minute=0)
    end = start + timedelta(minutes=30)
    return {"lead_time": "1h", "windows": [f"daily {start:%H:%M}-{end:%H:%M}"], "min_gap": "10m"}


def statuses(app: App) -> Counter[str]:
    with session_scope(app.engine) as session:
        return Counter(str(p.status) for p in session.exec(select(Post)))


def events(log: Path) -> list[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line)["event"] for line in lines if line.startswith("{")]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_standby_takes_over_after_each_sigkill_and_every_post_goes_out_once(
    tmp_path: Path, database_url: str, tiny_model: Path
) -> None:
    home = tmp_path / "home"
    write_persona(home / "personas", schedule=quiet_schedule())
    app = make_app(home, database_url, tiny_model)
    ids = due_approved_posts(app, POSTS)
    env = {
        **os.environ,
        "VIBOT_HOME": str(home),
        "VIBOT_PERSONAS_DIR": str(home / "personas"),
        "VIBOT_DATABASE_URL": database_url,
        "VIBOT_LOG_LEVEL": "INFO",
        "VIBOT_LOG_FORMAT": "json",
        "VIBOT_PUBLISH_INTERVAL_S": "0.2",
        "VIBOT_STANDBY_POLL_S": "0.1",
        "VIBOT_WEB_ENABLED": "false",
    }
    outbox = app.settings.outbox_dir / "published.jsonl"
    logs = tmp_path / "logs"
    logs.mkdir()
    rng = random.Random(2026)
    daemons: list[tuple[Run, Path]] = []
    takeovers: list[float] = []
    killed_in_flight = 0

    def published_lines() -> int:
        return len(outbox.read_bytes().splitlines()) if outbox.exists() else 0

    with Zygote(env) as zygote:

        def start_daemon() -> None:
            log = logs / f"daemon-{len(daemons)}.log"
            daemons.append((zygote.start("daemon", log=log), log))

        def active() -> tuple[Run, Path] | None:
            for run, log in daemons:
                if run.poll() is None and "daemon started" in events(log):
                    return run, log
            return None

        start_daemon()
        start_daemon()
        lost_at = time.monotonic()
        for kill in range(KILLS):
            while (current := active()) is None:
                assert time.monotonic() - lost_at < TAKEOVER_LIMIT_S, f"no daemon took over after kill {kill}"
                time.sleep(0.02)
            takeovers.append(time.monotonic() - lost_at)
            run, _ = current
            if kill % 2 == 0 and statuses(app)["published"] < POSTS:
                # Right after a post went out, give or take: between the platform call and
                # the database commit is the moment that matters.
                target, deadline = published_lines() + 1, time.monotonic() + 10
                while published_lines() < target and time.monotonic() < deadline:
                    time.sleep(0.0005)
                time.sleep(rng.uniform(0.0, 0.004))
            else:
                time.sleep(rng.uniform(0.0, 0.3))  # a random moment: start-up, a pass, between passes
            run.kill()
            assert run.wait() == -signal.SIGKILL
            lost_at = time.monotonic()
            killed_in_flight += statuses(app)["publishing"] > 0
            start_daemon()  # the next standby
        deadline = time.monotonic() + 60
        while statuses(app)["published"] < POSTS and time.monotonic() < deadline:
            time.sleep(0.1)
        for run, _ in daemons:
            run.send_signal(signal.SIGTERM)
        codes = [run.wait() for run, _ in daemons]

    print(
        f"{KILLS} active daemons SIGKILLed, {killed_in_flight} while a post was publishing; takeover "
        f"median {sorted(takeovers)[len(takeovers) // 2]:.2f} s, max {max(takeovers):.2f} s"
    )
    assert codes[-2:] == [0, 0], "the last active daemon and its standby stop cleanly on SIGTERM"
    published = Counter(line["post_id"] for line in outbox_lines(app))
    assert sorted(published) == sorted(ids), "every approved post is on the platform"
    assert set(published.values()) == {1}, f"published more than once: {published.most_common(3)}"
    assert statuses(app)[str(PostStatus.PUBLISHED)] == POSTS
    assert max(takeovers) < TAKEOVER_LIMIT_S
    assert killed_in_flight >= 3, "some kills should land while a post is being published"
    standing_by = (
        "standing by: another vibot daemon is active on this database; this one takes over when it stops"
    )
    taking_over = "taking over: the active daemon is gone"
    started = [e for e in map(events, logs.iterdir()) if "daemon started" in e]
    assert len(started) == KILLS + 1, "each kill had one successor"
    stood_by = [e for e in started if standing_by in e]  # the others started after the kill
    assert stood_by and all(
        e.index(standing_by) < e.index(taking_over) < e.index("daemon started") for e in stood_by
    )
    assert not any("Traceback" in log.read_text() for _, log in daemons)
    assert verify_log(app.engine, app.settings.audit_file).ok
    with session_scope(app.engine) as session:  # nothing was prepared: the test is about publishing
        assert {str(p.status) for p in session.exec(select(Post)) if p.id not in ids} <= {"planned"}

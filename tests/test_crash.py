"""Exactly once under fire: SIGKILL `vibot publish` at random moments, many times."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlmodel import select

from bot.context import App
from storage.audit import verify_log
from storage.db import session_scope
from storage.models import Post
from storage.status import PostStatus
from tests.support.forked import Zygote
from tests.support.posts import due_approved_posts, outbox_lines

POSTS = 20  # enough for 15+ kills to land between a platform call and its commit
KILLS = 40


def statuses(app: App) -> Counter[str]:
    with session_scope(app.engine) as session:
        return Counter(str(p.status) for p in session.exec(select(Post)))


@pytest.mark.slow
def test_sigkill_at_random_moments_never_loses_or_doubles_a_post(sqlite_app: App) -> None:
    app = sqlite_app
    ids = due_approved_posts(app, POSTS)
    env = {
        **os.environ,
        "VIBOT_HOME": str(app.settings.home),
        "VIBOT_PERSONAS_DIR": str(app.settings.personas_dir),
        "VIBOT_DATABASE_URL": app.settings.db_url,
        "VIBOT_LOG_LEVEL": "WARNING",
    }
    publish = ["publish", "--until", "2100-01-01T00:00"]
    rng = random.Random(1234)
    killed_in_flight = 0
    outbox = app.settings.outbox_dir / "published.jsonl"
    with Zygote(env) as zygote:  # each run a process of its own, forked after vibot's imports
        for round_number in range(KILLS):
            lines_before = len(outbox.read_bytes().splitlines()) if outbox.exists() else 0
            process = zygote.start(*publish)
            if round_number % 3 == 2:
                time.sleep(rng.uniform(0.0, 0.5))  # settings, migrations, reconciliation, the first post
            else:
                # Right after the n-th platform call of this run, give or take a few hundred µs:
                # between the call and the database commit is the moment that matters.
                target = lines_before + rng.randint(1, 3)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and process.poll() is None:
                    if outbox.exists() and len(outbox.read_bytes().splitlines()) >= target:
                        break
                    time.sleep(0.0005)
                time.sleep(rng.uniform(0.0, 0.004))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            after = statuses(app)
            if process.returncode == -signal.SIGKILL and after["publishing"]:
                killed_in_flight += 1  # died between "publishing" and "published": the hard case
            if after["published"] == POSTS:
                break
    print(f"{round_number + 1} runs killed, {killed_in_flight} of them while a post was publishing")
    # The last run is a fresh interpreter, as a user starts it.
    command = [sys.executable, "-m", "bot", *publish]
    final = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr
    published = Counter(line["post_id"] for line in outbox_lines(app))
    assert sorted(published) == sorted(ids), "every approved post is on the platform"
    assert set(published.values()) == {1}, f"published more than once: {published.most_common(3)}"
    assert statuses(app) == {str(PostStatus.PUBLISHED): POSTS}
    assert killed_in_flight >= 5, "the kills should land while a post is being published"
    # The audit trail held through every kill: chained, matching the database, and one
    # "published" line per post (a line a kill left unwritten went in with the next run).
    assert verify_log(app.engine, app.settings.audit_file).ok
    audited = Counter(
        json.loads(raw)["post"] for raw in app.settings.audit_file.read_text().splitlines()
        if json.loads(raw)["kind"] == "published"
    )  # fmt: skip
    assert sorted(audited) == sorted(ids) and set(audited.values()) == {1}

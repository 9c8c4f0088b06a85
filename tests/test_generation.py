"""Generation runs where only the settings are: it imports no database code, and what it
returns is stored only while the post still waits for it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from bot.context import App
from bot.generation import generate
from bot.prepare import claim, finish
from bot.review import get_post
from storage.db import session_scope
from storage.lifecycle import transition
from storage.status import PostStatus
from tests.support.posts import planned_post

FORBIDDEN = ("storage", "sqlalchemy", "sqlmodel", "alembic", "psycopg", "bot.context")


def test_workers_import_neither_storage_nor_the_database() -> None:
    """What a worker imports (the local worker: bot.generation; a Ray actor: bot.executors,
    with bot.assets) never reaches the database. A fresh interpreter: in this one, other
    tests have imported everything already."""
    code = (
        "import sys, bot.generation, bot.executors, bot.assets\n"
        f"print(sorted({{m for m in sys.modules for f in {FORBIDDEN!r} if m == f or m.startswith(f + '.')}}))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


def test_media_that_come_back_after_the_post_moved_on_are_dropped(sqlite_app: App) -> None:
    app = sqlite_app
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=3))
    claimed = claim(app, post_id)
    assert claimed is not None and get_post(app, post_id).post.status == PostStatus.GENERATING
    made = generate(app.settings, claimed.persona, claimed.post)  # as a worker would, by value
    assert [f.made.kind for f in made.files] == ["image"] and made.files[0].data[:4] == b"\x89PNG"
    with session_scope(app.engine) as session:  # meanwhile a person failed it
        transition(session, post_id, PostStatus.GENERATING, PostStatus.FAILED, note="stopped by a person")
    assert finish(app, claimed, made) is False
    view = get_post(app, post_id)
    assert view.post.status == PostStatus.FAILED and view.media == []
    # The same result for a post still waiting for it goes to review, with its record.
    again = planned_post(app, datetime.now(UTC) + timedelta(hours=4))
    claimed_again = claim(app, again)
    assert claimed_again is not None
    assert finish(app, claimed_again, generate(app.settings, claimed_again.persona, claimed_again.post))
    ready = get_post(app, again)
    assert ready.post.status == PostStatus.IN_REVIEW and len(ready.media) == 1
    assert json.loads(ready.post.generation or "[]")[0]["seed"] == 42

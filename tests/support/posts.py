"""Posts in a given state, made through vibot's own stages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.context import App
from bot.prepare import prepare_post
from storage.db import session_scope
from storage.lifecycle import add_planned


def planned_post(app: App, slot: datetime, fmt: str = "photo") -> int:
    with session_scope(app.engine) as session:
        (post,) = add_planned(
            session,
            [
                {
                    "persona_id": "tess",
                    "slot_utc": slot,
                    "timezone": "Europe/Berlin",
                    "format": fmt,
                    "pillar": "travel",
                    "scene": "harbour at dawn",
                    "seed": 42,
                }
            ],
        )
        assert post.id is not None
        return post.id


def ready_post(app: App, slot: datetime | None = None, fmt: str = "photo") -> int:
    post_id = planned_post(app, slot or datetime.now(UTC) - timedelta(minutes=1), fmt)
    assert prepare_post(app, post_id)
    return post_id


def outbox_lines(app: App) -> list[dict]:  # type: ignore[type-arg]
    path = app.settings.outbox_dir / "published.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

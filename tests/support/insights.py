"""Published posts for insights tests, made without generating anything: insights only
read the rows and the platform's ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.context import App
from storage.db import session_scope
from storage.lifecycle import add_planned
from storage.models import Publication
from storage.status import PostStatus, PublicationStatus
from tests.fakes.graph_server import FakeGraph

PUBLISHED_AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def published_posts(app: App, count: int, platform: str, graph: FakeGraph | None = None) -> list[int]:
    """`count` posts of tess published at PUBLISHED_AT, an hour apart in their slots (as
    the publish pass leaves them); with `graph`, the fake Graph API has them too."""
    with session_scope(app.engine) as session:
        posts = add_planned(
            session,
            [
                {
                    "persona_id": "tess", "slot_utc": PUBLISHED_AT + timedelta(hours=i),
                    "timezone": "Europe/Berlin", "format": "reel" if i % 3 == 0 else "photo",
                    "pillar": ("travel", "food")[i % 2], "scene": "harbour at dawn", "seed": i,
                }
                for i in range(count)
            ],
        )  # fmt: skip
        ids = []
        for index, post in enumerate(posts):
            assert post.id is not None
            post.status = PostStatus.PUBLISHED
            remote = f"1790000000000{index + 1:04d}"
            session.add(post)
            session.add(
                Publication(
                    post_id=post.id, platform=platform, publisher="x", remote_id=remote,
                    status=PublicationStatus.PUBLISHED, updated_at=PUBLISHED_AT,
                )
            )  # fmt: skip
            if graph is not None:
                graph.published.append({"id": remote, "caption": "", "timestamp": "", "permalink": "p"})
            ids.append(post.id)
    return ids

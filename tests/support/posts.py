"""Posts in a given state, made through vibot's own stages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select

from bot.context import App
from bot.prepare import prepare_post
from bot.publishers import PublishRequest
from bot.review import approve, get_post
from storage.db import session_scope
from storage.lifecycle import add_planned, ensure_publications, move_publication, transition
from storage.models import MediaAsset, Post, PublishAttempt
from storage.status import PostStatus, PublicationStatus


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
    """The outbox's publications, read as the outbox publisher reads them: a line torn by a
    SIGKILL mid-write is not a publication (its post was sent again, whole)."""
    path = app.settings.outbox_dir / "published.jsonl"
    found = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return found


def publish_request(app: App, post_id: int, marker: str = "attempt-1") -> PublishRequest:
    """What the publish pass hands a publisher for this post (a test calling one directly)."""
    view = get_post(app, post_id)
    return PublishRequest(
        post_id=post_id,
        persona_id=view.post.persona_id,
        format=view.post.format,
        caption=view.post.caption or "",
        media=[app.media.path(m.path) for m in view.media],
        media_sha256=[m.sha256 for m in view.media],
        marker=marker,
    )


def killed_mid_publish(app: App, post_id: int, publisher: str = "outbox", platform: str = "instagram") -> str:
    """What a process killed during an approved post's publish call leaves behind: its
    publication in `publishing` and an open attempt (the returned marker)."""
    attempt_id = f"attempt-{post_id}" if platform == "instagram" else f"attempt-{post_id}-{platform}"
    with session_scope(app.engine) as session:
        session.add(PublishAttempt(id=attempt_id, post_id=post_id, platform=platform, publisher=publisher))
        ensure_publications(session, post_id, {platform: publisher})
        move_publication(session, post_id, platform, PublicationStatus.PENDING, PublicationStatus.PUBLISHING)
    return attempt_id


def approved_copies(app: App, post_ids: list[int], by: str = "tester") -> None:
    """Approve planned posts the cheap way: the first is prepared for real, the others get
    its files (the media store is content-addressed, so they share them) and a caption of
    their own, then each is approved as a person would. For tests about publishing many
    posts, where making each image again would only cost time."""
    first, *others = post_ids
    assert prepare_post(app, first)
    with session_scope(app.engine) as session:
        source = session.get(Post, first)
        assert source is not None and source.caption is not None
        assets = list(
            session.exec(
                select(MediaAsset).where(MediaAsset.post_id == first).order_by(col(MediaAsset.position))
            )
        )
        for number, post_id in enumerate(others, start=1):
            transition(session, post_id, PostStatus.PLANNED, PostStatus.DRAFTING)
            transition(session, post_id, PostStatus.DRAFTING, PostStatus.GENERATING)
            for asset in assets:
                session.add(MediaAsset(**asset.model_dump(exclude={"id", "post_id"}), post_id=post_id))
            transition(
                session, post_id, PostStatus.GENERATING, PostStatus.IN_REVIEW,
                caption=f"{source.caption}\ncopy {number}", prompt=source.prompt, alt_text=source.alt_text,
                generation=source.generation, caption_writer=source.caption_writer,
            )  # fmt: skip
    for post_id in post_ids:
        approve(app, post_id, by)


def due_approved_posts(app: App, count: int, by: str = "crash-test") -> list[int]:
    """`count` approved photo posts of tess whose slots passed half an hour ago, a second
    apart: due for the next publish pass (made with `approved_copies`)."""
    now = datetime.now(UTC)
    with session_scope(app.engine) as session:
        posts = add_planned(
            session,
            [
                {"persona_id": "tess", "slot_utc": now - timedelta(minutes=30) + timedelta(seconds=i),
                 "timezone": "Europe/Berlin", "format": "photo", "pillar": "travel", "scene": "harbour",
                 "seed": i}
                for i in range(count)
            ],
        )  # fmt: skip
    ids = [p.id for p in posts if p.id is not None]
    approved_copies(app, ids, by=by)
    return ids

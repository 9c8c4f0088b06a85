"""The one module that changes a post's status.

Every move is a compare-and-swap — `UPDATE posts SET status = :to WHERE id =
:id AND status = :from` — so two processes can never both take the same
post: the loser gets ConflictError. Each move also writes an event row in
the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from content.errors import ConflictError, IllegalTransitionError, PostNotFoundError
from storage import audit
from storage.models import Event, Post, Publication, utcnow
from storage.status import (
    TRANSITIONS_OF_PUBLICATIONS,
    PostStatus,
    PublicationStatus,
    is_legal,
    post_status_for,
)

# Columns a transition may set alongside the status.
_SETTABLE = {
    "caption",
    "caption_variants",
    "prompt",
    "review_note",
    "alt_text",
    "image_brief",
    "motion_brief",
    "caption_writer",
    "review_flags",
    "generation",
    "keep_caption",
    "seed",
    "slot_utc",
}


def record_event(session: Session, post_id: int | None, kind: str, message: str) -> None:
    session.add(Event(post_id=post_id, kind=kind, message=message))


def transition(
    session: Session,
    post_id: int,
    current: PostStatus,
    target: PostStatus,
    note: str = "",
    **fields: Any,
) -> None:
    """Move one post from `current` to `target`, or raise; the caller commits."""
    if not is_legal(current, target):
        raise IllegalTransitionError(post_id, current, target)
    _swap(session, post_id, current, target, {"status": target, **fields})
    message = f"{current} → {target}" + (f": {note}" if note else "")
    record_event(session, post_id, "status", message)


def set_fields(session: Session, post_id: int, expected: PostStatus, **fields: Any) -> None:
    """Change fields (not the status) of a post that must still be in `expected`."""
    _swap(session, post_id, expected, expected, fields)


def _swap(
    session: Session, post_id: int, expected: PostStatus, target: PostStatus, values: dict[str, Any]
) -> None:
    """The compare-and-swap itself: update the row only while it is still `expected`."""
    unknown = set(values) - _SETTABLE - {"status"}
    if unknown:
        raise ValueError(f"a post's {sorted(unknown)} cannot be set here")
    result = session.execute(
        sa.update(Post)
        .where(col(Post.id) == post_id, col(Post.status) == expected)
        .values(updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        current_status(session, post_id)  # raises PostNotFoundError for an unknown id
        raise ConflictError(post_id, expected, target)


def current_status(session: Session, post_id: int) -> PostStatus:
    status = session.execute(sa.select(col(Post.status)).where(col(Post.id) == post_id)).scalar_one_or_none()
    if status is None:
        raise PostNotFoundError(post_id)
    return PostStatus(status)


def add_planned(session: Session, slots: Iterable[dict[str, Any]]) -> list[Post]:
    """Insert planned posts. A slot that already exists (same persona and time) is skipped,
    so two planners racing cannot duplicate a slot: the unique constraint decides."""
    added = []
    for slot in slots:
        exists = session.exec(
            select(Post.id).where(Post.persona_id == slot["persona_id"], Post.slot_utc == slot["slot_utc"])
        ).first()
        if exists is not None:
            continue
        post = Post(status=PostStatus.PLANNED, **slot)
        session.add(post)
        try:
            with session.begin_nested():
                session.flush()
        except sa.exc.IntegrityError:
            continue
        added.append(post)
        record_event(session, post.id, "status", f"planned for {post.slot_utc.isoformat()}")
    return added


def ensure_publications(session: Session, post_id: int, targets: dict[str, str]) -> None:
    """One publication per target platform ({platform: publisher}) of an approved post; a
    pending one for a platform the persona no longer lists goes."""
    rows = {p.platform: p for p in session.exec(select(Publication).where(Publication.post_id == post_id))}
    for platform, publisher in targets.items():
        if platform not in rows:
            session.add(Publication(post_id=post_id, platform=platform, publisher=publisher))
    for platform, row in rows.items():
        if platform not in targets and row.status == PublicationStatus.PENDING:
            session.delete(row)
    session.flush()


def move_publication(
    session: Session,
    post_id: int,
    platform: str,
    current: PublicationStatus,
    target: PublicationStatus,
    by: str | None = None,
    **fields: Any,
) -> PostStatus:
    """Move one publication (compare-and-swap, like a post), then the post to the sum of its
    publications; returns the post's status. `by` is who, for the audit trail of a
    publication (None: vibot itself). The caller commits."""
    if target not in TRANSITIONS_OF_PUBLICATIONS[current]:
        raise ValueError(f"a publication cannot go from {current} to {target}")
    result = session.execute(
        sa.update(Publication)
        .where(
            col(Publication.post_id) == post_id,
            col(Publication.platform) == platform,
            col(Publication.status) == current,
        )
        .values(status=target, updated_at=utcnow(), **fields)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(post_id, current, target)
    _publication_event(session, post_id, platform, current, target, fields.get("note"))
    if target == PublicationStatus.PUBLISHED:
        published = {key: fields.get(key) for key in ("remote_id", "permalink", "ai_flag")}
        audit.record(session, "published", post_id, by or "vibot", platform=platform, **published)
    return sum_up(session, post_id)


def _publication_event(
    session: Session,
    post_id: int,
    platform: str,
    current: PublicationStatus,
    target: PublicationStatus,
    note: str | None,
) -> None:
    record_event(
        session, post_id, "publication", f"{platform}: {current} → {target}" + (f": {note}" if note else "")
    )


def sum_up(session: Session, post_id: int, note: str = "") -> PostStatus:
    """Set an approved post's status from its publications (see `post_status_for`)."""
    states = session.exec(select(Publication.status).where(Publication.post_id == post_id)).all()
    current = current_status(session, post_id)
    target = post_status_for([PublicationStatus(state) for state in states])
    if target != current:
        transition(session, post_id, current, target, note=note)
    return target


def skip_pending(session: Session, post_id: int, note: str) -> list[str]:
    """Every pending publication of a post skipped at once, then the post summed up once (one
    at a time, an approved post would pass through `publishing` on the way); the platforms.
    A post with no publication yet is skipped as a whole."""
    platforms = list(
        session.exec(
            select(Publication.platform).where(
                Publication.post_id == post_id, Publication.status == PublicationStatus.PENDING
            )
        )
    )
    session.execute(
        sa.update(Publication)
        .where(col(Publication.post_id) == post_id, col(Publication.status) == PublicationStatus.PENDING)
        .values(status=PublicationStatus.SKIPPED, note=note, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    for platform in platforms:
        _publication_event(
            session, post_id, platform, PublicationStatus.PENDING, PublicationStatus.SKIPPED, note
        )
    current = current_status(session, post_id)
    if current == PostStatus.APPROVED and not platforms:
        transition(session, post_id, current, PostStatus.SKIPPED, note=note)
    else:
        sum_up(session, post_id, note)
    return platforms


def due_posts(session: Session, status: PostStatus, until: datetime, limit: int = 500) -> list[Post]:
    """Posts in `status` whose slot is at or before `until`, oldest first."""
    return list(
        session.exec(
            select(Post)
            .where(Post.status == status, col(Post.slot_utc) <= until)
            .order_by(col(Post.slot_utc), col(Post.id))
            .limit(limit)
        )
    )

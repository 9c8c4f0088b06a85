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
from storage.models import Event, Post, utcnow
from storage.status import PostStatus, is_legal

# Columns a transition may set alongside the status.
_SETTABLE = {
    "caption",
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

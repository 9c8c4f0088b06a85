"""Per-account limits and states: a daily cap, a minimum spacing between posts, a cool-down
after a rate limit, and a hold that waits for a person. One account's trouble never
blocks another's posts: every check is per persona."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlmodel import col, func, select

from bot.context import App
from bot.notify import notify
from content.timing import format_duration
from storage.db import session_scope
from storage.models import AccountState, Post, PublishAttempt, utcnow

log = structlog.get_logger(__name__)


def state_of(app: App, persona_id: str) -> AccountState:
    with session_scope(app.engine) as session:
        found = session.get(AccountState, persona_id)
        return found if found is not None else AccountState(persona_id=persona_id)


def _save(app: App, persona_id: str, state: str, until: datetime | None, reason: str | None) -> None:
    with session_scope(app.engine) as session:
        row = session.get(AccountState, persona_id) or AccountState(persona_id=persona_id)
        row.state, row.until, row.reason, row.updated_at = state, until, reason, utcnow()
        session.add(row)


def cool_down(app: App, persona_id: str, seconds: float, reason: str) -> None:
    until = utcnow() + timedelta(seconds=seconds)
    _save(app, persona_id, "cooling", until, reason)
    log.warning("account cooling down", persona=persona_id, until=until.isoformat(), reason=reason)


def hold(app: App, persona_id: str, reason: str) -> None:
    _save(app, persona_id, "held", None, reason)
    log.error("account held", persona=persona_id, reason=reason)
    notify(app, f"vibot: the account of persona {persona_id} is held — {reason}. "
           f"When fixed: vibot account resume {persona_id}")  # fmt: skip


def resume(app: App, persona_id: str) -> None:
    _save(app, persona_id, "active", None, None)


def pause_reason(app: App, persona_id: str, now: datetime) -> str | None:
    """Why this persona's account must not publish now, or None."""
    state = state_of(app, persona_id)
    if state.state == "held":
        return f"held: {state.reason}"
    if state.state == "cooling" and state.until is not None and state.until > now:
        return f"cooling down until {state.until:%Y-%m-%d %H:%M} UTC: {state.reason}"
    account = app.persona(persona_id).account
    with session_scope(app.engine) as session:
        published = (
            select(PublishAttempt.finished_at)
            .join(Post, col(Post.id) == col(PublishAttempt.post_id))
            .where(Post.persona_id == persona_id, PublishAttempt.outcome == "published")
        )
        last = session.exec(published.order_by(col(PublishAttempt.finished_at).desc())).first()
        today = session.exec(
            select(func.count()).select_from(
                published.where(col(PublishAttempt.finished_at) > now - timedelta(days=1)).subquery()
            )
        ).one()
    if today >= account.daily_cap:
        return f"{today} posts in the last 24 hours reach the daily cap of {account.daily_cap}"
    if last is not None and last > now - account.min_spacing:
        spacing = format_duration(account.min_spacing)
        return f"the last post went out at {last:%H:%M} UTC; posts are at least {spacing} apart"
    return None

"""Per-account limits and states: a daily cap, a minimum spacing between posts, a cool-down
after a rate limit, and a hold that waits for a person. One account's trouble never
blocks another's posts: every check is per persona and platform."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import structlog
from sqlmodel import col, select

from bot.context import App
from bot.notify import notify
from content.errors import UserError
from content.timing import format_duration
from storage.db import session_scope
from storage.models import AccountState, Post, PublishAttempt, utcnow

log = structlog.get_logger(__name__)


def label(app: App, persona_id: str, platform: str) -> str:
    """How people read an account: 'kai' when the persona has one, 'kai on TikTok' otherwise."""
    persona = app.personas.get(persona_id)
    if persona is None or len(persona.targets) == 1:
        return persona_id
    title = next((a.spec().title for a in persona.targets if a.spec().name == platform), platform)
    return f"{persona_id} on {title}"


def state_of(app: App, persona_id: str, platform: str) -> AccountState:
    with session_scope(app.engine) as session:
        found = session.get(AccountState, (persona_id, platform))
        return found if found is not None else AccountState(persona_id=persona_id, platform=platform)


def _save(
    app: App, persona_id: str, platform: str, state: str, until: datetime | None, reason: str | None
) -> None:
    with session_scope(app.engine) as session:
        row = session.get(AccountState, (persona_id, platform)) or AccountState(
            persona_id=persona_id, platform=platform
        )
        row.state, row.until, row.reason, row.updated_at = state, until, reason, utcnow()
        session.add(row)


def cool_down(app: App, persona_id: str, platform: str, seconds: float, reason: str) -> None:
    until = utcnow() + timedelta(seconds=seconds)
    _save(app, persona_id, platform, "cooling", until, reason)
    log.warning(
        "account cooling down", persona=persona_id, platform=platform, until=until.isoformat(), reason=reason
    )


def hold(app: App, persona_id: str, platform: str, reason: str) -> None:
    _save(app, persona_id, platform, "held", None, reason)
    log.error("account held", persona=persona_id, platform=platform, reason=reason)
    notify(app, f"vibot: the account of persona {label(app, persona_id, platform)} is held — {reason}. "
           f"When fixed: vibot account resume {persona_id}")  # fmt: skip


def resume(app: App, persona_id: str, platform: str | None = None) -> None:
    """Make the account active again: on one platform, or on all of the persona's."""
    listed = [a.spec().name for a in app.persona(persona_id).targets]
    if platform is not None and platform not in listed:
        raise UserError(f"persona {persona_id} has no {platform} account — use one of {', '.join(listed)}")
    for name in [platform] if platform else listed:
        _save(app, persona_id, name, "active", None, None)


class PauseKind(StrEnum):
    HELD = "held"  # a person must act (vibot account resume)
    COOLING = "cooling"  # the platform asked to wait
    CAP = "cap"  # the daily cap is reached
    SPACING = "spacing"  # too soon after the last post


@dataclass(frozen=True)
class Pause:
    """Why an account must not publish now, and from when it may again (None: a person decides)."""

    kind: PauseKind
    reason: str  # the full sentence, for logs and pages
    next_at: datetime | None
    short: str  # a few words for one-line summaries, e.g. "spaced 30m (next 02:58 UTC)"


def _at(moment: datetime) -> str:
    return f"{moment:%H:%M} UTC"


def held_or_cooling(app: App, persona_id: str, platform: str, now: datetime) -> Pause | None:
    """The account's own state, when it keeps vibot off the platform: held for a person, or
    cooling down at the platform's request (insights also wait for these)."""
    state = state_of(app, persona_id, platform)
    if state.state == "held":
        return Pause(
            PauseKind.HELD,
            f"held: {state.reason}",
            None,
            "held until a person resumes it (vibot account resume)",
        )
    if state.state == "cooling" and state.until is not None and state.until > now:
        reason = f"cooling down until {state.until:%Y-%m-%d %H:%M} UTC: {state.reason}"
        short = f"cooling down until {_at(state.until)} ({(state.reason or '')[:60]})"
        return Pause(PauseKind.COOLING, reason, state.until, short)
    return None


def account_pause(app: App, persona_id: str, platform: str, now: datetime) -> Pause | None:
    """Why this persona's account on this platform must not publish now, or None."""
    paused = held_or_cooling(app, persona_id, platform, now)
    if paused is not None:
        return paused
    account = app.persona(persona_id).target(platform)
    with session_scope(app.engine) as session:
        published = (
            select(PublishAttempt.finished_at)
            .join(Post, col(Post.id) == col(PublishAttempt.post_id))
            .where(
                Post.persona_id == persona_id,
                PublishAttempt.platform == platform,
                PublishAttempt.outcome == "published",
            )
        )
        last = session.exec(published.order_by(col(PublishAttempt.finished_at).desc())).first()
        today = list(
            session.exec(
                published.where(col(PublishAttempt.finished_at) > now - timedelta(days=1)).order_by(
                    col(PublishAttempt.finished_at)
                )
            )
        )
    if len(today) >= account.daily_cap:
        oldest = today[-account.daily_cap]
        reason = f"{len(today)} posts in the last 24 hours reach the daily cap of {account.daily_cap}"
        next_at = oldest + timedelta(days=1) if oldest else None
        return Pause(
            PauseKind.CAP, reason, next_at, f"daily cap reached (next {_at(next_at) if next_at else '-'})"
        )
    if last is not None and last > now - account.min_spacing:
        spacing = format_duration(account.min_spacing)
        reason = f"the last post went out at {last:%H:%M} UTC; posts are at least {spacing} apart"
        next_at = last + account.min_spacing
        return Pause(PauseKind.SPACING, reason, next_at, f"spaced {spacing} (next {_at(next_at)})")
    return None


def pause_reason(app: App, persona_id: str, platform: str, now: datetime) -> str | None:
    """`account_pause`'s sentence, or None."""
    pause = account_pause(app, persona_id, platform, now)
    return pause.reason if pause else None


def waiting_summary(count: int, pauses: dict[str, Pause]) -> str:
    """'3 approved posts wait: kai cooling down until 03:13 UTC (rate limit), mara spaced 30m
    (next 02:58 UTC)'."""
    posts = "1 approved post waits" if count == 1 else f"{count} approved posts wait"
    return f"{posts}: " + ", ".join(f"{persona} {pause.short}" for persona, pause in sorted(pauses.items()))

"""One publishing pass: reconcile, skip what is too late, publish what is due.

Exactly once, whatever dies when:

1. The pass holds the `publish` lock, so a post found in `publishing` belongs
   to an attempt that died. Its publisher decides from what the attempt
   recorded (its marker, and the handle stored before the irreversible step):
   published → published, with a remote id no other post owns; not published →
   approved again (and retried below); the platform cannot answer →
   `needs_reconcile`, for a person.
2. Before the publish call, the post moves approved → publishing and the
   attempt (its id is the marker) is committed. Only then is the call made;
   the publisher's handle is committed before its irreversible step.
3. Media and caption are hashed again and compared with the approval first;
   a difference sends the post back to review instead of out.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlmodel import col, select

from bot.accounts import Pause, account_pause, cool_down, hold, waiting_summary
from bot.context import App
from bot.notify import notify
from bot.public_media import public_url
from bot.publishers import InFlight, Publisher, PublishRequest, publisher_for
from bot.review import media_problems
from content.captions import caption_disclosure, hashtags_in
from content.disclosure import has_disclosure
from content.errors import (
    AccountHeldError,
    ApprovalMismatchError,
    NotFoundError,
    PublishError,
    PublishRejectedError,
    RateLimitedError,
    VibotError,
)
from storage.db import session_scope
from storage.lifecycle import due_posts, transition
from storage.locks import hold_lock
from storage.media import sha256_file, sha256_text
from storage.models import Approval, MediaAsset, Post, PublishAttempt, utcnow
from storage.status import PostStatus

log = structlog.get_logger(__name__)
RECONCILE_MARGIN = timedelta(minutes=5)  # platform clocks may differ from ours


@dataclass
class PassReport:
    published: list[int] = field(default_factory=list)
    reconciled: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    needs_reconcile: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    paused: dict[str, str] = field(default_factory=dict)  # persona → why its account is paused
    waiting: Counter[str] = field(default_factory=Counter)  # persona → due posts held back by it
    pauses: dict[str, Pause] = field(default_factory=dict)  # persona → its pause, when it ended

    def waiting_line(self) -> str | None:
        """'3 approved posts wait: kai cooling down until 03:13 UTC (rate limit), …', or None."""
        count = sum(self.waiting.values())
        return waiting_summary(count, self.pauses) if count and self.pauses else None


def _latest_attempt(app: App, post_id: int) -> PublishAttempt | None:
    with session_scope(app.engine) as session:
        return session.exec(
            select(PublishAttempt)
            .where(PublishAttempt.post_id == post_id)
            .order_by(col(PublishAttempt.started_at).desc())
        ).first()


def _finish_attempt(
    app: App,
    attempt_id: str,
    post_id: int,
    target: PostStatus,
    outcome: str,
    remote_id: str | None = None,
    error: str | None = None,
    permalink: str | None = None,
    note: str = "",
    **fields: str,
) -> None:
    with session_scope(app.engine) as session:
        attempt = session.get(PublishAttempt, attempt_id)
        assert attempt is not None
        attempt.finished_at, attempt.outcome = utcnow(), outcome
        attempt.remote_id, attempt.error, attempt.permalink = remote_id, error, permalink
        session.add(attempt)
        transition(session, post_id, PostStatus.PUBLISHING, target, note=note, **fields)


def reconcile_in_flight(app: App, report: PassReport, publishers: Publishers) -> None:
    """Decide every post left in `publishing` by a dead attempt."""
    with session_scope(app.engine) as session:
        stuck = session.exec(select(Post).where(Post.status == PostStatus.PUBLISHING)).all()
    for post in stuck:
        assert post.id is not None
        attempt = _latest_attempt(app, post.id)
        if attempt is None:  # cannot happen through vibot; be safe rather than sorry
            _move(app, post.id, PostStatus.PUBLISHING, PostStatus.NEEDS_RECONCILE, "no attempt recorded")
            report.needs_reconcile.append(post.id)
            continue
        try:
            found = publishers.get(post.persona_id).find(in_flight(app, post, attempt))
        except VibotError as err:
            _finish_attempt(
                app,
                attempt.id,
                post.id,
                PostStatus.NEEDS_RECONCILE,
                "unclear",
                error=str(err),
                note=f"could not check the platform: {err}",
            )
            report.needs_reconcile.append(post.id)
            notify(app, f"vibot: post {post.id} ({post.persona_id}) needs reconciling — {err}")
            continue
        if found is not None:
            _finish_attempt(
                app,
                attempt.id,
                post.id,
                PostStatus.PUBLISHED,
                "published",
                remote_id=found.remote_id,
                permalink=found.permalink,
                note="found on the platform after a crash",
            )
            report.reconciled.append(post.id)
        else:
            _finish_attempt(
                app,
                attempt.id,
                post.id,
                PostStatus.APPROVED,
                "not_published",
                note="not on the platform after a crash; will retry",
            )
            report.retried.append(post.id)


def in_flight(app: App, post: Post, attempt: PublishAttempt) -> InFlight:
    """What vibot recorded of a dead attempt, with the remote ids other posts already own."""
    with session_scope(app.engine) as session:
        claimed = session.exec(
            select(PublishAttempt.remote_id)
            .join(Post, col(Post.id) == col(PublishAttempt.post_id))
            .where(
                Post.persona_id == post.persona_id,
                col(PublishAttempt.post_id) != post.id,
                col(PublishAttempt.remote_id).is_not(None),
            )
        ).all()
    return InFlight(
        persona_id=post.persona_id,
        marker=attempt.id,
        caption=post.caption or "",
        started_at=attempt.started_at - RECONCILE_MARGIN,
        handle=attempt.handle,
        claimed=frozenset(remote for remote in claimed if remote is not None),
    )


def _record_handle(app: App, attempt_id: str) -> Callable[[str], None]:
    def record(handle: str) -> None:
        with session_scope(app.engine) as session:
            attempt = session.get(PublishAttempt, attempt_id)
            assert attempt is not None
            attempt.handle = handle
            session.add(attempt)

    return record


class Publishers:
    """One publisher per persona for a whole pass: one login (instagrapi) or connection pool
    (Graph API) however many posts go out, all closed when the pass ends."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.made: dict[str, Publisher] = {}

    def get(self, persona_id: str) -> Publisher:
        if persona_id not in self.made:
            self.made[persona_id] = publisher_for(
                self.app.persona(persona_id),
                self.app.settings,
                lambda post_id, sha: public_url(self.app, post_id, sha),
            )
        return self.made[persona_id]

    def close(self) -> None:
        for publisher in self.made.values():
            publisher.close()


def _move(app: App, post_id: int, current: PostStatus, target: PostStatus, note: str, **fields: str) -> None:
    with session_scope(app.engine) as session:
        transition(session, post_id, current, target, note=note, **fields)


def approved_state(app: App, post: Post) -> tuple[list[MediaAsset], Approval]:
    with session_scope(app.engine) as session:
        assets = list(
            session.exec(
                select(MediaAsset).where(MediaAsset.post_id == post.id).order_by(col(MediaAsset.position))
            )
        )
        approval = session.exec(
            select(Approval).where(Approval.post_id == post.id).order_by(col(Approval.approved_at).desc())
        ).first()
    if approval is None:
        raise ApprovalMismatchError(f"post {post.id} has no approval record")
    return assets, approval


def check_unchanged(app: App, post: Post, assets: list[MediaAsset], approval: Approval) -> None:
    """Refuse a post whose caption or any media file differs from what was approved."""
    if sha256_text(post.caption or "") != approval.caption_sha256:
        raise ApprovalMismatchError(f"post {post.id}: the caption changed after approval")
    persona = app.persona(post.persona_id)
    if not has_disclosure(post.caption or "", caption_disclosure(persona)):
        raise ApprovalMismatchError(f"post {post.id}: the caption lost its AI disclosure line")
    approved = json.loads(approval.media_sha256)
    if len(approved) != len(assets):
        raise ApprovalMismatchError(f"post {post.id}: media files were added or removed after approval")
    for asset, expected in zip(assets, approved, strict=True):
        try:
            path = app.media.path(asset.path)
            actual = sha256_file(path)
        except (OSError, NotFoundError):
            raise ApprovalMismatchError(f"post {post.id}: media file {asset.path} is missing") from None
        if actual != expected:
            raise ApprovalMismatchError(f"post {post.id}: media file {path.name} changed after approval")
        # The disclosure layers are checked again right before the file leaves vibot.
        problems = media_problems(app, path)
        if problems:
            raise ApprovalMismatchError(
                f"post {post.id}: {path.name} fails AI-disclosure checks ({'; '.join(problems)})"
            )


def publish_one(app: App, post: Post, publisher: Publisher, report: PassReport) -> None:
    assert post.id is not None
    try:
        assets, approval = approved_state(app, post)
        check_unchanged(app, post, assets, approval)
        platform = app.persona(post.persona_id).platform
        caption = post.caption or ""
        problems = platform.caption_problems(caption, len(hashtags_in(caption)))
        problems += platform.post_problems(post.format, [app.media.path(a.path) for a in assets])
        if problems:
            raise ApprovalMismatchError(
                f"post {post.id} breaks {platform.title}'s spec: {'; '.join(problems)}"
            )
    except ApprovalMismatchError as err:
        _move(
            app,
            post.id,
            PostStatus.APPROVED,
            PostStatus.IN_REVIEW,
            f"refused to publish: {err}",
            review_note=f"Refused to publish: {err}. Review it again.",
        )
        report.refused[post.id] = str(err)
        log.warning("publish refused", post=post.id, reason=str(err))
        return
    attempt_id = str(uuid.uuid4())
    with session_scope(app.engine) as session:
        session.add(PublishAttempt(id=attempt_id, post_id=post.id, publisher=publisher.name))
        transition(session, post.id, PostStatus.APPROVED, PostStatus.PUBLISHING, note=f"attempt {attempt_id}")
    request = PublishRequest(
        post_id=post.id,
        persona_id=post.persona_id,
        format=post.format,
        caption=post.caption or "",
        media=[app.media.path(a.path) for a in assets],
        media_sha256=[a.sha256 for a in assets],
        marker=attempt_id,
    )
    try:
        remote = publisher.publish(request, _record_handle(app, attempt_id))
    except PublishRejectedError as err:
        # Refused before publishing (a spec error): not on the account; a person must fix it.
        _finish_attempt(
            app,
            attempt_id,
            post.id,
            PostStatus.FAILED,
            "rejected",
            error=str(err),
            note=f"refused: {err}",
            review_note=f"The platform refused this post: {err}",
        )
        report.failed[post.id] = str(err)
        log.error("publish refused by the platform", post=post.id, reason=str(err))
        notify(app, f"vibot: post {post.id} ({post.persona_id}) failed to publish — {err}")
        return
    except (RateLimitedError, AccountHeldError) as err:
        # Not published: back to approved; no more tries for this account in this pass.
        _finish_attempt(
            app, attempt_id, post.id, PostStatus.APPROVED, "not_published", error=str(err), note=str(err)
        )
        report.paused[post.persona_id] = str(err)
        if isinstance(err, RateLimitedError):
            cool_down(app, post.persona_id, err.retry_after_s, str(err))
        else:
            hold(app, post.persona_id, str(err))
        return
    except PublishError as err:
        # Whether it went out is unknown: leave it in `publishing`; the next pass reconciles.
        report.errors[post.id] = str(err)
        log.error("publish failed; will reconcile", post=post.id, error=str(err))
        return
    _finish_attempt(
        app,
        attempt_id,
        post.id,
        PostStatus.PUBLISHED,
        "published",
        remote_id=remote.remote_id,
        permalink=remote.permalink,
        note=f"remote id {remote.remote_id}",
    )
    report.published.append(post.id)
    log.info("published", post=post.id, persona=post.persona_id, remote_id=remote.remote_id)


def skip_missed(app: App, now: datetime, report: PassReport) -> None:
    """Approved posts whose slot passed more than the persona's grace ago are skipped."""
    with session_scope(app.engine) as session:
        late = due_posts(session, PostStatus.APPROVED, now, limit=100_000)
    for post in late:
        persona = app.personas.get(post.persona_id)
        if persona is not None and post.slot_utc + persona.schedule.grace < now and post.id is not None:
            _move(
                app,
                post.id,
                PostStatus.APPROVED,
                PostStatus.SKIPPED,
                f"slot {post.slot_utc:%Y-%m-%d %H:%M} UTC passed beyond the {persona.schedule.grace} grace",
            )
            report.skipped.append(post.id)


def publish_pass(app: App, until: datetime | None = None, lock_wait_s: float = 30.0) -> PassReport:
    """Publish every approved post due by `until` (default now), exactly once."""
    now = utcnow()
    until = until or now
    report = PassReport()
    publishers = Publishers(app)
    with hold_lock(app.engine, "publish", wait_s=lock_wait_s), contextlib.closing(publishers):
        reconcile_in_flight(app, report, publishers)
        skip_missed(app, now, report)
        with session_scope(app.engine) as session:
            due = due_posts(session, PostStatus.APPROVED, until, limit=100_000)
        for post in due:
            persona = app.personas.get(post.persona_id)
            if persona is None:
                report.errors[post.id or 0] = f"persona '{post.persona_id}' is not in the persona folder"
                continue
            if post.persona_id not in report.paused:
                pause = account_pause(app, post.persona_id, utcnow())
                if pause is not None:
                    report.paused[post.persona_id] = pause.reason
                else:
                    publish_one(app, post, publishers.get(post.persona_id), report)
                    if post.persona_id not in report.paused:
                        continue
            report.waiting[post.persona_id] += 1  # its account is paused: a later pass tries again
        for persona_id in report.waiting:
            pause = account_pause(app, persona_id, utcnow())
            if pause is not None:
                report.pauses[persona_id] = pause
    return report

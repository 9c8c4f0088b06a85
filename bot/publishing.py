"""One publishing pass: reconcile, skip what is too late, publish what is due.

An approved post goes to every platform of its persona that takes its format: one
*publication* per platform, each with its own state, attempts, permalink and AI flag. The
post's status sums them up (`storage.status.post_status_for`). Exactly once per
publication, whatever dies when:

1. The pass holds the `publish` lock, so a publication found in `publishing` belongs
   to an attempt that died. Its publisher decides from what the attempt
   recorded (its marker, and the handle stored before the irreversible step):
   published → published, with a remote id no other post owns; not published →
   pending again (and retried below); the platform cannot answer →
   `needs_reconcile`, for a person.
2. Before the publish call, the publication moves pending → publishing and the
   attempt (its id is the marker) is committed. Only then is the call made;
   the publisher's handle is committed before its irreversible step.
3. Media and captions are hashed again and compared with the approval first;
   a difference sends the post back to review instead of out (or, once it is out
   somewhere, fails the publications still to go: what is out cannot be recalled).

A failure on one platform — a refusal, a rate limit, a held account — touches only that
publication and that account; the others go on.
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

from bot.accounts import Pause, account_pause, cool_down, hold, label, waiting_summary
from bot.context import App
from bot.notify import notify
from bot.public_media import public_url
from bot.publishers import InFlight, Publisher, PublishRequest, publisher_for
from bot.review import captions_of, media_problems
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
from storage.lifecycle import (
    due_posts,
    ensure_publications,
    move_publication,
    set_fields,
    skip_pending,
    transition,
)
from storage.locks import hold_lock
from storage.media import sha256_file, sha256_text
from storage.models import Approval, MediaAsset, Post, Publication, PublishAttempt, utcnow
from storage.status import PostStatus, PublicationStatus

log = structlog.get_logger(__name__)
RECONCILE_MARGIN = timedelta(minutes=5)  # platform clocks may differ from ours


P = PublicationStatus


@dataclass(frozen=True)
class Account:
    """One persona's account on one platform, as this pass meets it."""

    persona_id: str
    platform: str
    label: str


@dataclass
class PassReport:
    """What a pass did. Lists hold post ids, once per publication; accounts are named as
    `bot.accounts.label` writes them ('kai', or 'kai on TikTok' for a persona on several)."""

    published_on: list[tuple[int, str]] = field(default_factory=list)  # (post, platform title)
    reconciled: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    needs_reconcile: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    paused: dict[str, str] = field(default_factory=dict)  # account → why it is paused
    waiting: Counter[str] = field(default_factory=Counter)  # account → due publications held back by it
    pauses: dict[str, Pause] = field(default_factory=dict)  # account → its pause, when it ended
    held_back: set[Account] = field(default_factory=set)  # the accounts behind `waiting`

    @property
    def published(self) -> list[int]:
        return [post_id for post_id, _ in self.published_on]

    def waiting_line(self) -> str | None:
        """'3 approved posts wait: kai cooling down until 03:13 UTC (rate limit), …', or None."""
        count = sum(self.waiting.values())
        return waiting_summary(count, self.pauses) if count and self.pauses else None


def _latest_attempt(app: App, post_id: int, platform: str) -> PublishAttempt | None:
    with session_scope(app.engine) as session:
        return session.exec(
            select(PublishAttempt)
            .where(PublishAttempt.post_id == post_id, PublishAttempt.platform == platform)
            .order_by(col(PublishAttempt.started_at).desc())
        ).first()


def _finish_attempt(
    app: App,
    attempt_id: str,
    publication: Publication,
    target: PublicationStatus,
    outcome: str,
    error: str | None = None,
    **fields: str | None,
) -> PostStatus:
    """Close the attempt and move its publication in one transaction; the post's status."""
    with session_scope(app.engine) as session:
        attempt = session.get(PublishAttempt, attempt_id)
        assert attempt is not None
        attempt.finished_at, attempt.outcome, attempt.error = utcnow(), outcome, error
        attempt.remote_id, attempt.permalink = fields.get("remote_id"), fields.get("permalink")
        session.add(attempt)
        return move_publication(
            session, publication.post_id, publication.platform, P.PUBLISHING, target, **fields
        )


def _in_flight_publications(app: App) -> list[tuple[Post, Publication]]:
    with session_scope(app.engine) as session:
        rows = session.exec(
            select(Post, Publication)
            .join(Publication, col(Publication.post_id) == col(Post.id))
            .where(Publication.status == P.PUBLISHING)
            .order_by(col(Post.id), col(Publication.platform))
        ).all()
    return [(post, publication) for post, publication in rows]


def reconcile_in_flight(app: App, report: PassReport, publishers: Publishers) -> None:
    """Decide every publication left in `publishing` by a dead attempt."""
    for post, publication in _in_flight_publications(app):
        assert post.id is not None
        attempt = _latest_attempt(app, post.id, publication.platform)
        if attempt is None:  # cannot happen through vibot; be safe rather than sorry
            with session_scope(app.engine) as session:
                move_publication(
                    session, post.id, publication.platform, P.PUBLISHING, P.NEEDS_RECONCILE,
                    note="no attempt recorded",
                )  # fmt: skip
            report.needs_reconcile.append(post.id)
            continue
        try:
            publisher = publishers.get(post.persona_id, publication.platform)
            found = publisher.find(in_flight(app, post, publication.platform, attempt))
        except (VibotError, KeyError) as err:
            why = err.args[0] if isinstance(err, KeyError) else str(err)
            _finish_attempt(
                app, attempt.id, publication, P.NEEDS_RECONCILE, "unclear", error=why,
                note=f"could not check the platform: {why}",
            )  # fmt: skip
            report.needs_reconcile.append(post.id)
            where = label(app, post.persona_id, publication.platform)
            notify(app, f"vibot: post {post.id} ({where}) needs reconciling — {why}")
            continue
        if found is not None:
            _finish_attempt(
                app, attempt.id, publication, P.PUBLISHED, "published",
                remote_id=found.remote_id, permalink=found.permalink, ai_flag=publisher.ai_flag,
                note="found on the platform after a crash",
            )  # fmt: skip
            report.reconciled.append(post.id)
        else:
            _finish_attempt(
                app, attempt.id, publication, P.PENDING, "not_published",
                note="not on the platform after a crash; will retry",
            )  # fmt: skip
            report.retried.append(post.id)


def in_flight(app: App, post: Post, platform: str, attempt: PublishAttempt) -> InFlight:
    """What vibot recorded of a dead attempt, with the remote ids other posts already own
    on that platform."""
    with session_scope(app.engine) as session:
        claimed = session.exec(
            select(PublishAttempt.remote_id)
            .join(Post, col(Post.id) == col(PublishAttempt.post_id))
            .where(
                Post.persona_id == post.persona_id,
                PublishAttempt.platform == platform,
                col(PublishAttempt.post_id) != post.id,
                col(PublishAttempt.remote_id).is_not(None),
            )
        ).all()
    persona = app.personas.get(post.persona_id)
    caption = (captions_of(post, persona).get(platform) if persona else None) or post.caption or ""
    return InFlight(
        persona_id=post.persona_id,
        marker=attempt.id,
        caption=caption,
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
    """One publisher per persona and platform for a whole pass: one login (instagrapi) or
    connection pool (Graph API) however many posts go out, all closed when the pass ends."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.made: dict[tuple[str, str], Publisher] = {}

    def get(self, persona_id: str, platform: str) -> Publisher:
        """Raises KeyError when the persona no longer lists an account on that platform."""
        key = (persona_id, platform)
        if key not in self.made:
            persona = self.app.persona(persona_id)
            self.made[key] = publisher_for(
                persona,
                persona.target(platform),
                self.app.settings,
                lambda post_id, sha: public_url(self.app, post_id, sha),
            )
        return self.made[key]

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
    """Refuse a post whose captions or any media file differ from what was approved."""
    if sha256_text(post.caption or "") != approval.caption_sha256:
        raise ApprovalMismatchError(f"post {post.id}: the caption changed after approval")
    if sha256_text(post.caption_variants or "") != (approval.variants_sha256 or sha256_text("")):
        raise ApprovalMismatchError(f"post {post.id}: a platform's caption changed after approval")
    persona = app.persona(post.persona_id)
    for platform, caption in captions_of(post, persona).items():
        if caption is None:
            title = persona.target(platform).spec().title
            raise ApprovalMismatchError(f"post {post.id} has no caption for {title} — write one in review")
        if not has_disclosure(caption, caption_disclosure(persona)):
            raise ApprovalMismatchError(f"post {post.id}: the {platform} caption lost its AI disclosure line")
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


def check_specs(app: App, post: Post, assets: list[MediaAsset], platforms: list[str]) -> None:
    """Refuse what a platform would refuse, before any upload spends its quota."""
    persona = app.persona(post.persona_id)
    captions = captions_of(post, persona)
    media = [app.media.path(a.path) for a in assets]
    if not persona.targets_for(post.format):  # YouTube alone and a photo: nowhere to go
        problems = persona.platform.post_problems(post.format, media)
        raise ApprovalMismatchError(f"post {post.id} breaks {persona.platform.title}'s spec: {problems[0]}")
    for platform in platforms:
        spec = persona.target(platform).spec()
        caption = captions.get(platform) or ""
        problems = spec.caption_problems(caption, len(hashtags_in(caption)))
        problems += spec.post_problems(post.format, media)
        if problems:
            raise ApprovalMismatchError(f"post {post.id} breaks {spec.title}'s spec: {'; '.join(problems)}")


def _pending(app: App, post_id: int) -> list[Publication]:
    with session_scope(app.engine) as session:
        return list(
            session.exec(
                select(Publication)
                .where(Publication.post_id == post_id, Publication.status == P.PENDING)
                .order_by(col(Publication.platform))
            )
        )


def _targets(app: App, post: Post) -> dict[str, str]:
    """{platform: publisher} for every account of the persona that takes this post's format."""
    return {a.spec().name: a.publisher for a in app.persona(post.persona_id).targets_for(post.format)}


def refuse(app: App, post: Post, err: ApprovalMismatchError, report: PassReport) -> None:
    """Nothing out yet: back to review. Out somewhere already: what is still to go fails, as
    the post that went out cannot be taken back to review."""
    assert post.id is not None
    report.refused[post.id] = str(err)
    log.warning("publish refused", post=post.id, reason=str(err))
    if post.status == PostStatus.APPROVED:
        _move(
            app, post.id, PostStatus.APPROVED, PostStatus.IN_REVIEW, f"refused to publish: {err}",
            review_note=f"Refused to publish: {err}. Review it again.",
        )  # fmt: skip
        return
    pending = _pending(app, post.id)
    with session_scope(app.engine) as session:
        for publication in pending:
            move_publication(session, post.id, publication.platform, P.PENDING, P.FAILED, note=str(err))


def publish_post(app: App, post: Post, publishers: Publishers, report: PassReport) -> None:
    """Every publication of one due post that is still to go, each on its own account."""
    assert post.id is not None
    targets = _targets(app, post)
    fresh = post.status == PostStatus.APPROVED
    pending = [] if fresh else _pending(app, post.id)
    if not fresh and not pending:
        return  # what is left is in flight or waits for a person: nothing to check or send
    try:
        assets, approval = approved_state(app, post)
        check_unchanged(app, post, assets, approval)
        check_specs(app, post, assets, list(targets) if fresh else [p.platform for p in pending])
    except ApprovalMismatchError as err:
        refuse(app, post, err, report)
        return
    if fresh:
        with session_scope(app.engine) as session:
            ensure_publications(session, post.id, targets)
        pending = _pending(app, post.id)
    captions = captions_of(post, app.persona(post.persona_id))
    for publication in pending:
        platform = publication.platform
        account = Account(post.persona_id, platform, label(app, post.persona_id, platform))
        if account.label not in report.paused:
            pause = account_pause(app, post.persona_id, platform, utcnow())
            if pause is not None:
                report.paused[account.label] = pause.reason
            elif platform in targets:  # else the persona no longer lists it: it waits out its grace
                publisher = publishers.get(post.persona_id, platform)
                publish_one(
                    app, post, publication, publisher, captions.get(platform) or "", assets, account, report
                )
        if account.label in report.paused:  # a later pass tries again
            report.waiting[account.label] += 1
            report.held_back.add(account)


def publish_one(
    app: App,
    post: Post,
    publication: Publication,
    publisher: Publisher,
    caption: str,
    assets: list[MediaAsset],
    account: Account,
    report: PassReport,
) -> None:
    """One publication: the attempt is committed before the call, its outcome after."""
    assert post.id is not None
    attempt_id = str(uuid.uuid4())
    with session_scope(app.engine) as session:
        session.add(
            PublishAttempt(
                id=attempt_id, post_id=post.id, platform=publication.platform, publisher=publisher.name
            )
        )
        move_publication(
            session, post.id, publication.platform, P.PENDING, P.PUBLISHING, note=f"attempt {attempt_id}"
        )
    request = PublishRequest(
        post_id=post.id,
        persona_id=post.persona_id,
        format=post.format,
        caption=caption,
        media=[app.media.path(a.path) for a in assets],
        media_sha256=[a.sha256 for a in assets],
        marker=attempt_id,
    )
    title = app.persona(post.persona_id).target(publication.platform).spec().title
    try:
        remote = publisher.publish(request, _record_handle(app, attempt_id))
    except PublishRejectedError as err:
        # Refused before publishing (a spec error): not on the account; a person must fix it.
        status = _finish_attempt(
            app, attempt_id, publication, P.FAILED, "rejected", error=str(err), note=f"refused: {err}"
        )
        if status == PostStatus.FAILED:
            with session_scope(app.engine) as session:
                set_fields(
                    session, post.id, PostStatus.FAILED, review_note=f"{title} refused this post: {err}"
                )
        report.failed[post.id] = str(err)
        log.error(
            "publish refused by the platform", post=post.id, platform=publication.platform, reason=str(err)
        )
        notify(app, f"vibot: post {post.id} ({account.label}) failed to publish — {err}")
        return
    except (RateLimitedError, AccountHeldError) as err:
        # Not published: pending again; no more tries for this account in this pass.
        _finish_attempt(
            app, attempt_id, publication, P.PENDING, "not_published", error=str(err), note=str(err)
        )
        report.paused[account.label] = str(err)
        if isinstance(err, RateLimitedError):
            cool_down(app, account.persona_id, account.platform, err.retry_after_s, str(err))
        else:
            hold(app, account.persona_id, account.platform, str(err))
        return
    except PublishError as err:
        # Whether it went out is unknown: leave it in `publishing`; the next pass reconciles.
        report.errors[post.id] = str(err)
        log.error(
            "publish failed; will reconcile", post=post.id, platform=publication.platform, error=str(err)
        )
        return
    _finish_attempt(
        app, attempt_id, publication, P.PUBLISHED, "published",
        remote_id=remote.remote_id, permalink=remote.permalink, ai_flag=publisher.ai_flag,
        note=f"remote id {remote.remote_id}",
    )  # fmt: skip
    report.published_on.append((post.id, title))
    log.info(
        "published",
        post=post.id,
        persona=post.persona_id,
        platform=publication.platform,
        remote_id=remote.remote_id,
    )


STILL_TO_GO = (PostStatus.APPROVED, PostStatus.PUBLISHING, PostStatus.NEEDS_RECONCILE)


def skip_missed(app: App, now: datetime, report: PassReport) -> None:
    """What is still to go of a post whose slot passed more than the persona's grace ago is
    skipped: an approved post as a whole, the pending publications of one already out."""
    with session_scope(app.engine) as session:
        late = [post for status in STILL_TO_GO for post in due_posts(session, status, now, limit=100_000)]
    for post in late:
        persona = app.personas.get(post.persona_id)
        if persona is None or post.slot_utc + persona.schedule.grace >= now or post.id is None:
            continue
        why = f"slot {post.slot_utc:%Y-%m-%d %H:%M} UTC passed beyond the {persona.schedule.grace} grace"
        with session_scope(app.engine) as session:
            platforms = skip_pending(session, post.id, why)
        report.skipped += [post.id] * (1 if post.status == PostStatus.APPROVED else len(platforms))


def due(app: App, until: datetime) -> list[Post]:
    """Posts with publications still to go, oldest slot first."""
    with session_scope(app.engine) as session:
        posts = [post for status in STILL_TO_GO for post in due_posts(session, status, until, limit=100_000)]
    return sorted(posts, key=lambda post: (post.slot_utc, post.id or 0))


def publish_pass(app: App, until: datetime | None = None, lock_wait_s: float = 30.0) -> PassReport:
    """Publish every approved post due by `until` (default now), exactly once per platform."""
    now = utcnow()
    until = until or now
    report = PassReport()
    publishers = Publishers(app)
    with hold_lock(app.engine, "publish", wait_s=lock_wait_s), contextlib.closing(publishers):
        reconcile_in_flight(app, report, publishers)
        skip_missed(app, now, report)
        for post in due(app, until):
            if post.persona_id not in app.personas:
                report.errors[post.id or 0] = f"persona '{post.persona_id}' is not in the persona folder"
                continue
            publish_post(app, post, publishers, report)
        for account in report.held_back:
            pause = account_pause(app, account.persona_id, account.platform, utcnow())
            if pause is not None:
                report.pauses[account.label] = pause
    app.write_audit()
    return report

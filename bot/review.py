"""The review queue: list, show, approve, reject and edit posts.

Approval records who, when, and the SHA-256 of the caption and of every media
file; the publisher compares them again right before publishing.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from bot.context import App
from content.captions import caption_disclosure, hashtags_in
from content.disclosure import has_disclosure, lock_disclosure
from content.errors import PostNotFoundError, UserError
from content.platforms import PlatformSpec
from storage.db import read_scope, session_scope
from storage.lifecycle import record_event, set_fields, transition
from storage.media import sha256_file, sha256_text
from storage.models import Approval, Event, MediaAsset, Post, PublishAttempt, utcnow
from storage.status import PostStatus


@dataclass(frozen=True)
class PostView:
    post: Post
    media: list[MediaAsset]
    attempts: list[PublishAttempt]
    events: list[Event]
    approval: Approval | None


def post_json(app: App, post: Post, media: list[MediaAsset]) -> dict[str, Any]:
    """The stable JSON shape of `vibot queue list --json` (documented in docs/cli.md)."""
    return {
        "id": post.id,
        "persona": post.persona_id,
        "format": post.format,
        "status": str(post.status),
        "slot_utc": post.slot_utc.isoformat(),
        "slot_local": post.slot_utc.astimezone(ZoneInfo(post.timezone)).isoformat(),
        "pillar": post.pillar,
        "scene": post.scene,
        "caption": post.caption,
        "alt_text": post.alt_text,
        "caption_writer": post.caption_writer,
        "review_flags": json.loads(post.review_flags) if post.review_flags else [],
        "media": [{"path": str(app.media.path(m.path)), "kind": m.kind, "sha256": m.sha256} for m in media],
    }


def list_posts(
    app: App, status: PostStatus | None = None, persona: str | None = None, limit: int = 200
) -> list[tuple[Post, list[MediaAsset]]]:
    with session_scope(app.engine) as session:
        query = select(Post)
        if status is not None:
            query = query.where(Post.status == status)
        if persona is not None:
            query = query.where(Post.persona_id == persona)
        posts = list(session.exec(query.order_by(col(Post.slot_utc), col(Post.id)).limit(limit)))
        ids = [p.id for p in posts]
        media: dict[int | None, list[MediaAsset]] = {i: [] for i in ids}
        for asset in session.exec(
            select(MediaAsset).where(col(MediaAsset.post_id).in_(ids)).order_by(col(MediaAsset.position))
        ):
            media[asset.post_id].append(asset)
    return [(p, media[p.id]) for p in posts]


def count_by_status(app: App) -> dict[str, int]:
    with session_scope(app.engine) as session:
        rows = session.exec(select(Post.status, func.count()).group_by(Post.status)).all()
    return {str(status): count for status, count in rows}


def get_post(app: App, post_id: int) -> PostView:
    with read_scope(app.engine) as session:
        post = _load(session, post_id)
        media = list(
            session.exec(
                select(MediaAsset).where(MediaAsset.post_id == post_id).order_by(col(MediaAsset.position))
            )
        )
        attempts = list(
            session.exec(
                select(PublishAttempt)
                .where(PublishAttempt.post_id == post_id)
                .order_by(col(PublishAttempt.started_at))
            )
        )
        events = list(session.exec(select(Event).where(Event.post_id == post_id).order_by(col(Event.id))))
        approval = session.exec(
            select(Approval).where(Approval.post_id == post_id).order_by(col(Approval.approved_at).desc())
        ).first()
    return PostView(post, media, attempts, events, approval)


def _load(session: Session, post_id: int) -> Post:
    post = session.get(Post, post_id)
    if post is None:
        raise PostNotFoundError(post_id)
    return post


def media_problems(app: App, path: Path) -> list[str]:
    """What `vibot verify` finds missing in one media file (empty: every layer is there)."""
    from content.disclosure.verify import verify_file

    return verify_file(path, app.signing.ca_pem).problems()


def approve(app: App, post_id: int, by: str) -> Approval:
    view = get_post(app, post_id)
    if view.post.status != PostStatus.IN_REVIEW:
        raise UserError(f"post {post_id} is {view.post.status}; only posts in review can be approved")
    if not view.media:
        raise UserError(f"post {post_id} has no media — it cannot be approved")
    persona = app.persona(view.post.persona_id)
    if not has_disclosure(view.post.caption or "", caption_disclosure(persona)):
        raise UserError(
            f"post {post_id}: the caption lacks its AI disclosure line — "
            f"set it again with 'vibot queue edit {post_id} --caption TEXT'"
        )
    hashes = []
    for asset in view.media:
        path = app.media.path(asset.path)
        if not path.exists():
            raise UserError(f"post {post_id}: media file {path} is missing — regenerate the post")
        actual = sha256_file(path)
        if actual != asset.sha256:
            raise UserError(f"post {post_id}: media file {path} was changed on disk — regenerate the post")
        problems = media_problems(app, path)
        if problems:
            raise UserError(
                f"post {post_id}: {path.name} fails AI-disclosure checks ({'; '.join(problems)}) — "
                "it cannot be approved; regenerate the post"
            )
        hashes.append(actual)
    approval = Approval(
        post_id=post_id,
        approved_by=by,
        caption_sha256=sha256_text(view.post.caption or ""),
        media_sha256=json.dumps(hashes),
    )
    with session_scope(app.engine) as session:
        transition(
            session,
            post_id,
            PostStatus.IN_REVIEW,
            PostStatus.APPROVED,
            note=f"approved by {by}",
            review_note=None,
        )
        session.add(approval)
    return approval


def reject(app: App, post_id: int, reason: str, by: str) -> None:
    if not reason.strip():
        raise UserError("a rejection needs a reason — pass --reason TEXT")
    with session_scope(app.engine) as session:
        post = _load(session, post_id)
        if post.status != PostStatus.IN_REVIEW:
            raise UserError(f"post {post_id} is {post.status}; only posts in review can be rejected")
        transition(
            session,
            post_id,
            PostStatus.IN_REVIEW,
            PostStatus.REJECTED,
            note=f"rejected by {by}: {reason}",
            review_note=reason,
        )


def edit_caption(app: App, post_id: int, text: str, by: str) -> str:
    """Replace the caption, keeping the disclosure line on top. An edit after approval
    sends the post back to review."""
    if not text.strip():
        raise UserError("the new caption is empty — pass --caption TEXT")
    with session_scope(app.engine) as session:
        post = _load(session, post_id)
        persona = app.persona(post.persona_id)
        caption = lock_disclosure(text, caption_disclosure(persona))
        check_caption_limits(post_id, caption, persona.platform)
        if post.status == PostStatus.IN_REVIEW:
            set_fields(session, post_id, PostStatus.IN_REVIEW, caption=caption)
        elif post.status == PostStatus.APPROVED:
            transition(
                session,
                post_id,
                PostStatus.APPROVED,
                PostStatus.IN_REVIEW,
                note=f"caption edited by {by} after approval",
                caption=caption,
            )
        else:
            raise UserError(
                f"post {post_id} is {post.status}; only posts in review or approved can be edited"
            )
        record_event(session, post_id, "caption", f"caption edited by {by}")
    return caption


def check_caption_limits(post_id: int, caption: str, platform: PlatformSpec) -> None:
    """Refuse a caption (disclosure line included) the platform would refuse."""
    problems = platform.caption_problems(caption, len(hashtags_in(caption)))
    if problems:
        raise UserError(f"post {post_id}: {problems[0]}")


def regenerate_media(app: App, post_id: int, by: str) -> None:
    """Send a post in review (or approved) back for new media with a new seed; its caption —
    edits included — is kept. The next prepare pass (daemon or `vibot prepare`) makes it."""
    with session_scope(app.engine) as session:
        post = _load(session, post_id)
        if post.status not in (PostStatus.IN_REVIEW, PostStatus.APPROVED):
            raise UserError(
                f"post {post_id} is {post.status}; only posts in review or approved can get new media"
            )
        what = (
            "a new reel"
            if post.format == "reel"
            else "new images"
            if post.format == "carousel"
            else ("a new image")
        )
        transition(
            session,
            post_id,
            post.status,
            PostStatus.PLANNED,
            note=f"{what} requested by {by}",
            keep_caption=True,
            seed=secrets.randbelow(2**31),
            review_note=None,
        )


MOVABLE = (PostStatus.PLANNED, PostStatus.IN_REVIEW, PostStatus.APPROVED, PostStatus.FAILED)


def move_slot(app: App, post_id: int, slot_utc: datetime, by: str, now: datetime | None = None) -> None:
    """Give a post another time. Its content and approval stay: approval covers what goes
    out, not when."""
    if slot_utc.tzinfo is None:
        raise ValueError("move_slot needs an aware time")
    if slot_utc <= (now or utcnow()) + timedelta(minutes=1):
        raise UserError(
            f"post {post_id}: the new time {slot_utc:%Y-%m-%d %H:%M} UTC is past — pick a later one"
        )
    with session_scope(app.engine) as session:
        post = _load(session, post_id)
        if post.status not in MOVABLE:
            raise UserError(
                f"post {post_id} is {post.status}; only planned, in-review, approved or failed posts can move"
            )
        taken = session.exec(
            select(Post.id).where(
                Post.persona_id == post.persona_id, Post.slot_utc == slot_utc, col(Post.id) != post_id
            )
        ).first()
        if taken is not None:
            raise UserError(f"post {post_id}: post {taken} already has that time — pick another")
        old = post.slot_utc
        set_fields(session, post_id, post.status, slot_utc=slot_utc)
        record_event(
            session, post_id, "slot", f"moved by {by} from {old.isoformat()} to {slot_utc.isoformat()}"
        )


def retry_failed(app: App, post_id: int, by: str) -> None:
    """A failed post goes back to planned; the next prepare pass makes it again."""
    with session_scope(app.engine) as session:
        post = _load(session, post_id)
        if post.status != PostStatus.FAILED:
            raise UserError(f"post {post_id} is {post.status}; only failed posts can be retried")
        transition(session, post_id, PostStatus.FAILED, PostStatus.PLANNED, note=f"retried by {by}")


RECONCILE_DECISIONS = ("published", "retry", "skip")


def settle(app: App, post_id: int, decision: str, by: str, permalink: str | None = None) -> None:
    """A person's answer for a post vibot could not check (needs_reconcile):
    published — it is on the platform (optionally its permalink); retry — it is not, publish it
    again; skip — leave it out."""
    if decision not in RECONCILE_DECISIONS:
        raise UserError(f"that is not a decision — use one of {', '.join(RECONCILE_DECISIONS)}")
    if permalink is not None and permalink and not permalink.startswith("https://"):
        raise UserError(f"the permalink '{permalink}' is not an https:// link — copy it from Instagram")
    with session_scope(app.engine) as session:
        post = _load(session, post_id)
        if post.status != PostStatus.NEEDS_RECONCILE:
            raise UserError(
                f"post {post_id} is {post.status}; only posts that need reconciling can be settled"
            )
        attempt = session.exec(
            select(PublishAttempt)
            .where(PublishAttempt.post_id == post_id)
            .order_by(col(PublishAttempt.started_at).desc())
        ).first()
        target = {
            "published": PostStatus.PUBLISHED,
            "retry": PostStatus.APPROVED,
            "skip": PostStatus.SKIPPED,
        }[decision]
        if attempt is not None:
            attempt.outcome = {"published": "published", "retry": "not_published", "skip": "unclear"}[
                decision
            ]
            attempt.finished_at = attempt.finished_at or utcnow()
            if decision == "published":
                attempt.permalink = permalink or attempt.permalink
            session.add(attempt)
        transition(session, post_id, PostStatus.NEEDS_RECONCILE, target, note=f"{decision}: decided by {by}")


def shown_path(text: str | None, personas_dir: Path) -> str:
    """A file as a reviewer may see it: relative to the persona folder, else its name alone
    (a page never shows the server's absolute paths)."""
    if not text:
        return ""
    path = Path(text)
    if not path.is_absolute():
        return text
    try:
        return str(path.relative_to(personas_dir.resolve()))
    except ValueError:
        return path.name


def describe_record(number: int, record: dict[str, Any], personas_dir: Path | None = None) -> list[str]:
    """The reproducibility record of one generated image (or of the reel made from them);
    with `personas_dir`, files are named as a reviewer may see them (see `shown_path`)."""

    def show(text: str) -> str:
        return shown_path(text, personas_dir) if personas_dir is not None else text

    if record.get("kind") == "reel":
        music = f"{record['music']} at {record['loudness_lufs']} LUFS" if record["music"] else "silence"
        return [
            f"reel     {record['backend']}, {record['stills']} still(s), {record['seconds']} s, "
            f"transition {record['transition']}, moves {', '.join(record['moves']) or '-'}",
            f"         lut {record['lut'] or '-'}; music {music}; "
            f"spec fixes {record['spec_fixes'] or 'none'}; "
            f"clips {record['clip_seconds']} s, render {record['render_seconds']} s",
        ]
    lora = record["lora"]
    lora_text = (
        f"{show(lora['file'])} (sha256 {lora['sha256'][:16]}…, scale {lora['scale']})" if lora else "-"
    )
    return [
        f"image {number}  {show(record['model'])} [{record['model_fingerprint']}; {record['licence']}] "
        f"seed {record['seed']}, {record['steps']} steps, guidance {record['guidance']}, "
        f"{record['device']}/{record['dtype']}, {record['seconds']} s",
        f"         lora {lora_text}; noise {record['noise_injection']}; detail {record['detail']}; "
        f"grain {record['grain']}; {record['generated_size']} → {record['final_size']} "
        f"({show(record['upscaler'])})",
    ]

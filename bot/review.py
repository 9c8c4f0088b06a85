"""The review queue: list, show, approve, reject and edit posts.

Approval records who, when, and the SHA-256 of the caption and of every media
file; the publisher compares them again right before publishing.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
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
from content.persona import Persona
from content.platforms import PlatformSpec
from storage import audit
from storage.db import read_scope, session_scope
from storage.lifecycle import move_publication, record_event, set_fields, transition
from storage.media import sha256_file, sha256_text
from storage.models import Approval, Event, MediaAsset, Post, Publication, PublishAttempt, utcnow
from storage.status import PostStatus, PublicationStatus


@dataclass(frozen=True)
class PostView:
    post: Post
    media: list[MediaAsset]
    attempts: list[PublishAttempt]
    events: list[Event]
    approval: Approval | None
    publications: list[Publication]


def captions_of(post: Post, persona: Persona) -> dict[str, str | None]:
    """The caption for each platform this post goes to, the main one first; None where the
    post has none yet (a platform added to the persona after its caption was written)."""
    variants: dict[str, str] = json.loads(post.caption_variants) if post.caption_variants else {}
    main = persona.platform.name
    return {
        account.spec().name: post.caption
        if account.spec().name == main
        else variants.get(account.spec().name)
        for account in persona.targets_for(post.format)
    }


def post_json(
    app: App, post: Post, media: list[MediaAsset], publications: Sequence[Publication] = ()
) -> dict[str, Any]:
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
        "plan_reason": post.plan_reason,  # why the adaptive planner chose the slot, or null
        "caption": post.caption,
        "caption_variants": json.loads(post.caption_variants) if post.caption_variants else {},
        "alt_text": post.alt_text,
        "caption_writer": post.caption_writer,
        "review_flags": json.loads(post.review_flags) if post.review_flags else [],
        "media": [{"path": str(app.media.path(m.path)), "kind": m.kind, "sha256": m.sha256} for m in media],
        "publications": [
            {
                "platform": p.platform,
                "status": str(p.status),
                "remote_id": p.remote_id,
                "permalink": p.permalink,
                "ai_flag": p.ai_flag,
            }
            for p in publications
        ],
    }


def publications_of(app: App, post_ids: Sequence[int]) -> dict[int, list[Publication]]:
    """Each post's publications, one query for them all."""
    found: dict[int, list[Publication]] = {post_id: [] for post_id in post_ids}
    with read_scope(app.engine) as session:
        rows = session.exec(
            select(Publication)
            .where(col(Publication.post_id).in_(list(post_ids)))
            .order_by(col(Publication.platform))
        )
        for publication in rows:
            found[publication.post_id].append(publication)
    return found


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
        publications = list(
            session.exec(
                select(Publication).where(Publication.post_id == post_id).order_by(col(Publication.platform))
            )
        )
    return PostView(post, media, attempts, events, approval, publications)


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
    for platform, caption in captions_of(view.post, persona).items():
        option = "" if platform == persona.platform.name else f" --platform {platform}"
        if caption is None:
            raise UserError(
                f"post {post_id} has no caption for {persona.target(platform).spec().title} — "
                f"write one with 'vibot queue edit {post_id}{option} --caption TEXT'"
            )
        if not has_disclosure(caption, caption_disclosure(persona)):
            which = "caption" if not option else f"{persona.target(platform).spec().title} caption"
            raise UserError(
                f"post {post_id}: the {which} lacks its AI disclosure line — "
                f"set it again with 'vibot queue edit {post_id}{option} --caption TEXT'"
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
        variants_sha256=sha256_text(view.post.caption_variants or ""),
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
        audit.record(
            session, "approved", post_id, by, caption_sha256=approval.caption_sha256,
            variants_sha256=approval.variants_sha256, media_sha256=hashes,
        )  # fmt: skip
    app.write_audit()
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
        audit.record(session, "rejected", post_id, by, reason=reason)
    app.write_audit()


def edit_caption(app: App, post_id: int, text: str, by: str, platform: str | None = None) -> str:
    """Replace the caption — the main one, or one platform's — keeping the disclosure line on
    top. An edit after approval sends the post back to review."""
    if not text.strip():
        raise UserError("the new caption is empty — pass --caption TEXT")
    with session_scope(app.engine) as session:
        post = _load(session, post_id)
        persona = app.persona(post.persona_id)
        captions = captions_of(post, persona)
        platform = platform or persona.platform.name
        if platform not in captions:
            raise UserError(f"post {post_id} does not go to '{platform}' — use one of {', '.join(captions)}")
        caption = lock_disclosure(text, caption_disclosure(persona))
        check_caption_limits(post_id, caption, persona.target(platform).spec())
        if platform == persona.platform.name:
            fields = {"caption": caption}
        else:
            variants = json.loads(post.caption_variants) if post.caption_variants else {}
            fields = {"caption_variants": json.dumps({**variants, platform: caption}, sort_keys=True)}
        if post.status == PostStatus.IN_REVIEW:
            set_fields(session, post_id, PostStatus.IN_REVIEW, **fields)
        elif post.status == PostStatus.APPROVED:
            transition(
                session,
                post_id,
                PostStatus.APPROVED,
                PostStatus.IN_REVIEW,
                note=f"caption edited by {by} after approval",
                **fields,
            )
        else:
            raise UserError(
                f"post {post_id} is {post.status}; only posts in review or approved can be edited"
            )
        which = "caption" if platform == persona.platform.name else f"{platform} caption"
        record_event(session, post_id, "caption", f"{which} edited by {by}")
        audit.record(session, "edited", post_id, by, platform=platform, caption_sha256=sha256_text(caption))
    app.write_audit()
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
        # Nothing of a failed post went out: it is made again and fans out afresh.
        for publication in session.exec(select(Publication).where(Publication.post_id == post_id)):
            session.delete(publication)


RECONCILE_DECISIONS = ("published", "retry", "skip")


def settle(
    app: App,
    post_id: int,
    decision: str,
    by: str,
    permalink: str | None = None,
    platform: str | None = None,
) -> None:
    """A person's answer for a publication vibot could not check (needs_reconcile):
    published — it is on the platform (optionally its permalink); retry — it is not, publish it
    again; skip — leave it out. `platform` may be left out when only one publication waits."""
    if decision not in RECONCILE_DECISIONS:
        raise UserError(f"that is not a decision — use one of {', '.join(RECONCILE_DECISIONS)}")
    if permalink is not None and permalink and not permalink.startswith("https://"):
        raise UserError(f"the permalink '{permalink}' is not an https:// link — copy it from the platform")
    with session_scope(app.engine) as session:
        post = _load(session, post_id)
        waiting = session.exec(
            select(Publication.platform).where(
                Publication.post_id == post_id, Publication.status == PublicationStatus.NEEDS_RECONCILE
            )
        ).all()
        if not waiting:
            raise UserError(
                f"post {post_id} is {post.status}; only posts that need reconciling can be settled"
            )
        if platform is None and len(waiting) > 1:
            raise UserError(f"post {post_id} waits on {', '.join(waiting)} — pick one with --platform")
        platform = platform or waiting[0]
        if platform not in waiting:
            raise UserError(
                f"post {post_id} on {platform} does not need reconciling — use one of {', '.join(waiting)}"
            )
        attempt = session.exec(
            select(PublishAttempt)
            .where(PublishAttempt.post_id == post_id, PublishAttempt.platform == platform)
            .order_by(col(PublishAttempt.started_at).desc())
        ).first()
        target = {
            "published": PublicationStatus.PUBLISHED,
            "retry": PublicationStatus.PENDING,
            "skip": PublicationStatus.SKIPPED,
        }[decision]
        fields: dict[str, str | None] = {"note": f"{decision}: decided by {by}"}
        if attempt is not None:
            attempt.outcome = {"published": "published", "retry": "not_published", "skip": "unclear"}[
                decision
            ]
            attempt.finished_at = attempt.finished_at or utcnow()
            if decision == "published":
                attempt.permalink = permalink or attempt.permalink
                fields |= {"permalink": attempt.permalink, "remote_id": attempt.remote_id}
            session.add(attempt)
        move_publication(
            session, post_id, platform, PublicationStatus.NEEDS_RECONCILE, target, by=by, **fields
        )
    app.write_audit()


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

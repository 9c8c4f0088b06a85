"""Stage orchestration: one post from a planned slot to the review queue.

    planned ─► drafting ─► generating ─► in_review
                   └───────────┴─► failed (with the reason, for a person)

Each status move is a compare-and-swap, so two preparers never make the same
post. Media is written to the content-addressed store and recorded in the
same transaction that puts the post in review: a crash in between leaves no
half-recorded post, and `recover_interrupted` sends it round again.

Three steps, so that generation can run where there is no database: `claim`
(claim and caption, here), `bot.generation.generate` (here, or in a worker),
`finish` (disclosure with the signing key, the store, review, here).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from sqlmodel import col, select

from bot.captioning import caption_fields, record_usage, write_for
from bot.context import App
from bot.executors import Executor, WorkerLostError
from bot.generation import Generated, MadeFile, PostBrief, generate
from content.disclosure.apply import DisclosureJob, disclose
from content.errors import ConflictError, VibotError
from content.persona import Persona
from storage import audit
from storage.db import session_scope
from storage.lifecycle import set_fields, transition
from storage.models import MediaAsset, Post
from storage.status import PostStatus

log = structlog.get_logger(__name__)


def brief_of(post: Post) -> PostBrief:
    assert post.id is not None
    return PostBrief(
        id=post.id, format=post.format, prompt=post.prompt, seed=post.seed, scene=post.scene,
        pillar=post.pillar, motion_brief=post.motion_brief,
    )  # fmt: skip


def disclosure_job(persona: Persona, post_id: int) -> DisclosureJob:
    return DisclosureJob(
        post_id=post_id,
        visible_label=persona.disclosure.label,
        visible_label_style=persona.disclosure.label_style,
        description=f"AI-generated media of {persona.name}, a virtual influencer. "
        f"{persona.disclosure.caption_line}",
        models=[persona.pipeline.image.model],
        title=f"{persona.name} — vibot post {post_id}",
    )


def _store(app: App, post_id: int, made: list[MadeFile]) -> list[MediaAsset]:
    assets = []
    for position, item in enumerate(made):
        stored = app.media.add(item.path)
        assets.append(
            MediaAsset(
                post_id=post_id,
                position=position,
                kind=item.kind,
                path=stored.relative_path,
                sha256=stored.sha256,
                mime=item.mime,
                bytes=stored.bytes,
                width=item.width,
                height=item.height,
                duration_s=item.duration_s,
            )
        )
    return assets


def _with_media_flags(post: Post | None, media_flags: list[str]) -> str | None:
    """The caption's flags and this media's: a regenerated post drops its old media flags."""
    kept = [f for f in json.loads(post.review_flags or "[]") if not f.startswith("identity")] if post else []
    flags = list(dict.fromkeys(kept + media_flags))  # a carousel's items may fail alike
    return json.dumps(flags) if flags else None


@dataclass(frozen=True)
class Claimed:
    """A post this process claimed and captioned: what generation needs, and when it began."""

    persona: Persona
    post: PostBrief
    started: float


def claim(app: App, post_id: int) -> Claimed | None:
    """Steps 1 and 2: claim a planned post and write its caption; None if another process
    took it. A failure marks the post failed with the reason, and is raised again."""
    started = time.perf_counter()
    with session_scope(app.engine) as session:
        post = session.get(Post, post_id)
        if post is None or post.status != PostStatus.PLANNED:
            return None
        persona = app.persona(post.persona_id)
        # 1. Claim it.
        try:
            transition(session, post_id, PostStatus.PLANNED, PostStatus.DRAFTING)
        except ConflictError:
            return None
    with failing(app, post_id):
        # 2. Caption (LLM or templates), alt text and the image brief that becomes the prompt —
        # unless a person asked for new media only: then the caption they reviewed stays.
        if post.keep_caption and post.caption and post.prompt:
            with session_scope(app.engine) as session:
                transition(session, post_id, PostStatus.DRAFTING, PostStatus.GENERATING)
        else:
            result = write_for(app, post, persona)
            fields = caption_fields(persona, post, result)
            with session_scope(app.engine) as session:
                transition(session, post_id, PostStatus.DRAFTING, PostStatus.GENERATING, **fields)
                record_usage(session, post_id, persona.id, result)
            post.caption, post.prompt = fields["caption"], fields["prompt"]
    return Claimed(persona, brief_of(post), started)


def finish(app: App, claimed: Claimed, made: Generated) -> bool:
    """Steps 4 and 5: the disclosure layers on every file (the signing key stays in this
    process), then the store, and review, in one transaction. False when the post has
    moved on meanwhile (a person regenerated or failed it): its late media are dropped."""
    post_id, persona = claimed.post.id, claimed.persona
    with failing(app, post_id), tempfile.TemporaryDirectory(prefix=f"vibot-post-{post_id}-") as workdir:
        job = disclosure_job(persona, post_id)
        files = []
        for item in made.files:
            path = Path(workdir) / item.made.path.name
            path.write_bytes(item.data)
            files.append(replace(item.made, path=disclose(path, job, app.signing, final_suffix=".jpg")))
        assets = _store(app, post_id, files)
        try:
            with session_scope(app.engine) as session:
                # New media replaces the old (regeneration); the old files stay in the store.
                session.execute(sa.delete(MediaAsset).where(col(MediaAsset.post_id) == post_id))
                session.add_all(assets)
                # keep_caption lasts until the new media is in: a crash before keeps the caption.
                set_fields(
                    session,
                    post_id,
                    PostStatus.GENERATING,
                    generation=json.dumps(made.records),
                    keep_caption=False,
                    review_flags=_with_media_flags(session.get(Post, post_id), made.flags),
                )
                transition(
                    session,
                    post_id,
                    PostStatus.GENERATING,
                    PostStatus.IN_REVIEW,
                    note=f"prepared in {time.perf_counter() - claimed.started:.1f} s"
                    + (f" by {made.made_by}" if made.made_by else ""),
                )
                audit.record(
                    session,
                    "generated",
                    post_id,
                    "vibot",
                    **generated(claimed.post.format, assets, made.records),
                )
        except ConflictError:
            log.warning("late media dropped: the post moved on while it was generated", post=post_id)
            return False
    app.write_audit()
    log.info(
        "post ready for review",
        post=post_id,
        persona=persona.id,
        format=claimed.post.format,
        seconds=round(time.perf_counter() - claimed.started, 2),
    )
    return True


def prepare_post(app: App, post_id: int) -> bool:
    """Take one planned post through the stages into review, in this process. False if
    another process took it."""
    claimed = claim(app, post_id)
    if claimed is None:
        return False
    with failing(app, post_id):
        # 3. Media, with the visible label, at its final size.
        made = generate(app.settings, claimed.persona, claimed.post)
    return finish(app, claimed, made)


@dataclass
class Batch:
    """What a prepare pass did, by post id."""

    ready: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # the reason
    dropped: list[int] = field(default_factory=list)  # moved on while generating: media discarded
    made_by: dict[int, str] = field(default_factory=dict)  # the worker, when the executor says
    resent: int = 0  # jobs sent again after their worker died or went out of reach


# A worker that cannot be reached may be on a machine that is gone: Ray declares a node dead
# after its health checks fail (~30 s by default), then restarts the actor elsewhere. Until
# then the job is sent again every second, for at most this long before it counts as a death.
UNREACHABLE_WAIT_S = 120.0


@dataclass
class _Job:
    claimed: Claimed
    lane: int
    deaths: int = 0  # of the workers it was sent to
    unreachable_since: float | None = None
    send_at: float = 0.0  # monotonic; a job waiting to be sent again


def prepare_batch(
    app: App,
    post_ids: list[int],
    executor: Executor,
    stop: Callable[[], bool] = lambda: False,
    on_done: Callable[[int, str | None], None] | None = None,
) -> Batch:
    """Prepare these posts through `executor`, up to `executor.per_lane` at once on each of
    its lanes: claimed and captioned here as a lane frees up, generated there, finished here
    in the order they come back. A job whose worker died is sent again, up to
    `generation_retries` times, then its post fails with the reason. Once `stop()` is true
    nothing new is claimed, and the jobs under way are finished."""
    with session_scope(app.engine) as session:
        found = session.exec(select(Post.id, Post.persona_id).where(col(Post.id).in_(post_ids))).all()
    persona_of = dict(found)
    waiting = [post_id for post_id in post_ids if post_id in persona_of]
    running: dict[Future[Generated], _Job] = {}
    resend: list[_Job] = []
    batch = Batch()

    def done(post_id: int, error: str | None) -> None:
        if error is not None:
            batch.failed[post_id] = error
        if on_done is not None:
            on_done(post_id, error)

    def send(job: _Job) -> None:
        try:
            with failing(app, job.claimed.post.id):
                running[executor.submit(job.claimed.persona, job.claimed.post)] = job
        except Exception as err:  # the post is already marked failed with the reason
            done(job.claimed.post.id, reason(err))

    def lost(job: _Job, err: WorkerLostError) -> None:
        """The job's worker died or is out of reach: send the job again, or give up."""
        post_id, now = job.claimed.post.id, time.monotonic()
        if err.unreachable:
            if job.unreachable_since is None:
                log.warning("its worker cannot be reached: sending the post again", post=post_id)
                batch.resent += 1
                job.unreachable_since = now
            if now - job.unreachable_since < UNREACHABLE_WAIT_S:
                job.send_at = now + 1.0
                resend.append(job)
                return
        job.deaths += 1
        job.unreachable_since = None
        if job.deaths > app.settings.generation_retries:
            reason = f"{err}; sent {job.deaths} times — see the worker's log"
            _fail(app, post_id, reason)
            done(post_id, reason)
            return
        log.warning(
            "sending the post again: its worker died", post=post_id, error=str(err), deaths=job.deaths
        )
        batch.resent += 1
        job.send_at = now  # Ray holds it until the actor is running again
        resend.append(job)

    def in_lane(lane: int) -> int:
        return sum(1 for job in [*running.values(), *resend] if job.lane == lane)

    while waiting or running or resend:
        for job in [job for job in resend if job.send_at <= time.monotonic()]:
            resend.remove(job)
            send(job)
        for post_id in [] if stop() else list(waiting):
            lane = executor.lane(persona_of[post_id])
            if in_lane(lane) >= executor.per_lane:
                continue
            waiting.remove(post_id)
            try:
                claimed = claim(app, post_id)
            except Exception as err:  # the post is already marked failed with the reason
                done(post_id, reason(err))
                continue
            if claimed is not None:
                send(_Job(claimed, lane))
        if stop():
            waiting.clear()
        # Until a job comes back, or the next one is due to be sent again.
        timeout = max(0.0, min(job.send_at for job in resend) - time.monotonic()) if resend else None
        if not running:
            time.sleep(timeout or 0.0)
            continue
        finished, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in finished:
            job = running.pop(future)
            post_id = job.claimed.post.id
            try:
                with failing(app, post_id, unless=(WorkerLostError,)):
                    made = future.result()
                if finish(app, job.claimed, made):
                    batch.ready.append(post_id)
                    batch.made_by[post_id] = made.made_by
                    done(post_id, None)
                else:
                    batch.dropped.append(post_id)
            except WorkerLostError as err:
                lost(job, err)
            except Exception as err:  # the post is already marked failed with the reason
                done(post_id, reason(err))
    return batch


@contextmanager
def failing(app: App, post_id: int, unless: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """A failure in the block marks the post failed with the reason, and is raised again;
    one of `unless` is only raised again (the caller has its own plan for it)."""
    try:
        yield
    except unless:
        raise
    except Exception as err:
        _fail(app, post_id, reason(err))
        raise


def reason(err: BaseException) -> str:
    """A failure as a person reads it: vibot's own errors say it all; others add their type."""
    return str(err) if isinstance(err, VibotError) else f"{type(err).__name__}: {err}"


def generated(fmt: str, assets: list[MediaAsset], records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the audit trail keeps of a generation: every file's hash, and how each image was
    made (model, its fingerprint, the LoRA's hash, the seed)."""
    images = [
        {
            "model": record.get("model"),
            "model_fingerprint": record.get("model_fingerprint"),
            "lora_sha256": (record.get("lora") or {}).get("sha256"),
            "seed": record.get("seed"),
        }
        for record in records
        if record.get("kind") != "reel"
    ]
    files = [{"kind": asset.kind, "sha256": asset.sha256} for asset in assets]
    return {"format": fmt, "files": files, "images": images}


def _fail(app: App, post_id: int, reason: str) -> None:
    with session_scope(app.engine) as session:
        status = session.get(Post, post_id)
        if status is not None and status.status in (PostStatus.DRAFTING, PostStatus.GENERATING):
            transition(
                session,
                post_id,
                status.status,
                PostStatus.FAILED,
                note=reason[:500],
                review_note=reason[:2000],
            )
    log.error("preparing a post failed", post=post_id, reason=reason)


def recover_interrupted(app: App) -> int:
    """Send posts left in drafting/generating by a crash back to planned, and delete the
    half-copied files such a crash leaves in the media store.

    Call only while holding the prepare lock: then no live preparer owns them.
    """
    app.media.remove_incoming()
    with session_scope(app.engine) as session:
        stuck = session.exec(
            select(Post).where(col(Post.status).in_([PostStatus.DRAFTING, PostStatus.GENERATING]))
        ).all()
        for post in stuck:
            assert post.id is not None
            transition(session, post.id, post.status, PostStatus.FAILED, note="interrupted by a restart")
            transition(session, post.id, PostStatus.FAILED, PostStatus.PLANNED, note="retrying after restart")
    return len(stuck)


def posts_to_prepare(app: App, now: datetime, only: int | None = None, limit: int | None = None) -> list[int]:
    """Planned posts whose slot is within their persona's lead time, soonest first,
    grouped by persona so a worker swaps models and LoRAs as rarely as possible."""
    with session_scope(app.engine) as session:
        query = select(Post).where(Post.status == PostStatus.PLANNED)
        if only is not None:
            query = query.where(Post.id == only)
        posts = session.exec(query.order_by(col(Post.slot_utc))).all()
    chosen = []
    for post in posts:
        persona = app.personas.get(post.persona_id)
        if persona is None:
            continue
        if only is not None or post.slot_utc <= now + persona.schedule.lead_time:
            chosen.append(post)
    chosen = chosen[:limit] if limit else chosen
    order = {
        persona_id: index for index, persona_id in enumerate(dict.fromkeys(p.persona_id for p in chosen))
    }
    chosen.sort(key=lambda p: (order[p.persona_id], p.slot_utc))
    return [p.id for p in chosen if p.id is not None]


def skip_missed_planned(app: App, now: datetime) -> int:
    """Planned posts whose slot and grace have passed can no longer go out: skip them."""
    skipped = 0
    with session_scope(app.engine) as session:
        posts = session.exec(
            select(Post).where(Post.status == PostStatus.PLANNED, col(Post.slot_utc) < now)
        ).all()
        for post in posts:
            persona = app.personas.get(post.persona_id)
            grace = persona.schedule.grace if persona else timedelta(0)
            if post.slot_utc + grace < now and post.id is not None:
                transition(
                    session,
                    post.id,
                    PostStatus.PLANNED,
                    PostStatus.SKIPPED,
                    note="its slot passed before it was prepared",
                )
                skipped += 1
    return skipped

"""Stage orchestration: one post from a planned slot to the review queue.

    planned ─► drafting ─► generating ─► in_review
                   └───────────┴─► failed (with the reason, for a person)

Each status move is a compare-and-swap, so two preparers never make the same
post. Media is written to the content-addressed store and recorded in the
same transaction that puts the post in review: a crash in between leaves no
half-recorded post, and `recover_interrupted` sends it round again.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from PIL import Image
from sqlmodel import col, select

from bot.captioning import caption_fields, record_usage, write_for
from bot.context import App
from bot.reeling import ClipJob, make_reel
from content.disclosure import burn_label, watermark
from content.disclosure.apply import DisclosureJob, disclose
from content.errors import ConflictError, VibotError
from content.identity import References, load_references, reference_images, references_in
from content.identity import score as identity_score
from content.images import (
    REEL_SIZE,
    PhotoRequest,
    PhotoResult,
    Upscaler,
    generate_photo,
    pick_device,
    save_lossless,
)
from content.images.realism import Realism
from content.persona import Persona
from content.post import Look, ReelPlan
from content.reels import FPS
from content.reels.encode import read_frames
from content.reels.kinds import ReelBackend
from content.reels.local import LocalVideo
from content.tiny import ensure_model
from storage import audit
from storage.db import session_scope
from storage.lifecycle import set_fields, transition
from storage.models import MediaAsset, Post
from storage.status import PostStatus

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class MadeFile:
    path: Path
    kind: str  # image | video | cover
    mime: str
    width: int
    height: int
    duration_s: float | None = None


def _upscaler(app: App, persona: Persona) -> Upscaler:
    upscale = persona.pipeline.upscale
    return Upscaler(model=upscale.model, tile=upscale.tile, device=pick_device(app.settings.device))


def _photo(
    app: App, persona: Persona, post: Post, prompt: str, seed: int, size: tuple[int, int]
) -> PhotoResult:
    image_cfg = persona.pipeline.image
    look = persona.appearance
    result = generate_photo(
        PhotoRequest(
            model=image_cfg.model,
            location=ensure_model(persona.pipeline.image.model, app.settings.models_dir),
            prompt=prompt,
            seed=seed,
            steps=image_cfg.steps,
            guidance=image_cfg.guidance,
            width=size[0],
            height=size[1],
            device=app.settings.device,
            memory=app.settings.memory(),
            speed=app.settings.speed(),
            upscaler=_upscaler(app, persona),
            lora_adapter=persona.id if look.lora else None,
            lora=look.lora,
            lora_scale=look.lora_scale,
            realism=Realism(
                noise_strength=image_cfg.noise_injection.strength,
                noise_at=tuple(image_cfg.noise_injection.at),
                detail=image_cfg.detail,
                grain=image_cfg.grain,
                grain_size=image_cfg.grain_size,
            ),
        )
    )
    log.info(
        "photo generated",
        post=post.id,
        seconds=round(result.seconds, 3),
        generated=f"{result.generated_size[0]}x{result.generated_size[1]}",
    )
    return result


def _reel(
    app: App,
    persona: Persona,
    post: Post,
    workdir: Path,
    records: list[dict[str, Any]],
    flags: list[str],
) -> list[MadeFile]:
    """Stills → clips (the persona's backend) → post-production → the Reels spec, and a cover."""
    assert post.prompt is not None and post.id is not None
    reel, finish, settings = persona.pipeline.reel, persona.pipeline.post, app.settings
    stills = []
    for index in range(reel.stills):
        generated = guarded_photo(app, persona, post, post.prompt, post.seed + index, REEL_SIZE, flags)
        records.append(generated.record)
        stills.append(save_lossless(generated.image, workdir / f"still-{index}.png"))
    upscaler = _upscaler(app, persona)
    local = None
    if reel.backend == ReelBackend.LOCAL:
        local = LocalVideo(
            location=ensure_model(reel.model, settings.models_dir),
            width=reel.size.width,
            height=reel.size.height,
            fps=reel.fps,
            steps=reel.steps,
            guidance=reel.guidance,
            device=settings.device,
            memory=settings.memory(),
        )
    plan = ReelPlan(
        segments=[],
        seconds=reel.seconds,
        label=persona.disclosure.label,
        label_style=persona.disclosure.label_style,
        transition=finish.transition,
        transition_s=finish.transition_seconds,
        look=Look(
            lut=finish.lut,
            brightness=finish.brightness,
            contrast=finish.contrast,
            saturation=finish.saturation,
            grain=persona.pipeline.image.grain,
        ),
        text=overlay_text(persona, post),
        music=finish.music,
        loudness_lufs=finish.loudness,
        seed=post.seed,
        watermark=watermark.payload_for(post.id),  # marked while rendering: disclose finds it
    )
    job = ClipJob(
        backend=reel.backend,
        prompt=post.motion_brief or post.scene,
        seed=post.seed,
        task_prefix=f"vibot-{persona.id}-{post.id}-{post.seed}",
        local=local,
        upscaler=upscaler,
    )
    video = workdir / "reel.mp4"
    record = make_reel(settings, stills, job, plan, video, workdir)
    frames = round(reel.seconds * FPS)
    if reel.backend != ReelBackend.MOTION and persona.expects_face(post.pillar):
        record["identity"] = _check_reel_frames(persona, video, frames, flags)
    records.append(record)
    log.info("reel rendered", post=post.id, backend=reel.backend, seconds=record["render_seconds"])
    with Image.open(stills[0]) as first:
        disclosure = persona.disclosure
        cover = save_lossless(
            burn_label(first, disclosure.label, disclosure.label_style), workdir / "cover.png"
        )
    return [
        MadeFile(video, "video", "video/mp4", *REEL_SIZE, frames / FPS),
        MadeFile(cover, "cover", "image/jpeg", *REEL_SIZE),
    ]


def overlay_text(persona: Persona, post: Post) -> str | None:
    template = persona.pipeline.post.text
    if not template:
        return None
    return template.format(
        scene=post.scene, pillar=post.pillar, pillar_title=post.pillar.title(), name=persona.name
    )


RETRY_SEED_STEP = 7919  # a retry's seed: far from the seeds of a carousel's other items


@lru_cache(maxsize=8)
def _references(folder: Path, strict: bool, signature: tuple[tuple[str, int, int], ...]) -> References | None:
    """A persona's reference faces, embedded once per process and again when a file changes.
    Strict (a folder of references): every photo must show a face. Otherwise (the LoRA's
    training photos) the photos without one clear face are skipped."""
    return load_references(folder) if strict else references_in(folder)


def reference_folder(persona: Persona) -> Path | None:
    """Where the persona's reference faces are: appearance.identity.references, else the
    photos its LoRA was trained on; None when there are neither."""
    from content.training.train import trained_on

    identity = persona.appearance.identity
    if identity is not None and identity.references is not None:
        return identity.references
    lora = persona.appearance.lora
    return trained_on(lora) if lora is not None else None


def persona_references(persona: Persona, folder: Path | None = None) -> References | None:
    """The persona's reference faces (in `folder` when the caller has resolved it with
    `reference_folder`), or None: the guard then checks only for a face."""
    folder = folder or reference_folder(persona)
    if folder is None:
        return None
    identity = persona.appearance.identity
    strict = identity is not None and identity.references == folder
    files = reference_images(folder)
    return _references(folder, strict, tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files))


def guarded_photo(
    app: App, persona: Persona, post: Post, prompt: str, seed: int, size: tuple[int, int], flags: list[str]
) -> PhotoResult:
    """A photo whose largest face is the persona's: made again with another seed when the face
    is missing or too far from the references, up to `retries` times; after that it goes to
    review with a flag and its score, never silently."""
    identity = persona.appearance.identity
    if identity is None or not persona.expects_face(post.pillar):
        return _photo(app, persona, post, prompt, seed, size)
    references = persona_references(persona)
    attempts = []
    for attempt in range(identity.retries + 1):
        tried = seed + attempt * RETRY_SEED_STEP
        generated = _photo(app, persona, post, prompt, tried, size)
        checked = identity_score(generated.image, references, identity.max_distance)
        attempts.append({"seed": tried, **checked.as_record()})
        log.info("identity checked", post=post.id, seed=tried, distance=checked.distance, ok=checked.ok)
        if checked.ok:
            break
    generated.record["identity"] = {**checked.as_record(), "attempts": attempts}
    if not checked.ok:
        flags.append(f"{checked.describe()} after {len(attempts)} image(s)")
    return generated


def _check_reel_frames(persona: Persona, video: Path, frames: int, flags: list[str]) -> dict[str, Any]:
    """One frame a second of a reel whose clips a model animated (local or Kling): a face can
    turn away or change on the way. Flagged for review, not remade (a clip costs minutes or
    money); the stills it started from were checked already."""
    identity = persona.appearance.identity
    assert identity is not None
    references = persona_references(persona)
    checks = [
        (index // FPS, identity_score(image, references, identity.max_distance))
        for index, image in read_frames(video, REEL_SIZE, list(range(0, frames, FPS)))
    ]
    off = [checked for _, checked in checks if not checked.ok]
    if off:
        found = [checked.distance for checked in off if checked.distance is not None]
        worst = f"worst {max(found):.2f}" if found else "no face"
        limit = f"limit {identity.max_distance:.2f}"
        flags.append(f"identity: {len(off)} of {len(checks)} reel frames off ({worst}, {limit})")
    return {
        "limit": identity.max_distance,
        "frames": [{"second": second, **checked.as_record()} for second, checked in checks],
    }


def make_media(
    app: App,
    persona: Persona,
    post: Post,
    workdir: Path,
    records: list[dict[str, Any]],
    flags: list[str] | None = None,
) -> list[MadeFile]:
    """Run the media stages for one post; files land in `workdir`. What a reviewer should
    look at (a face that failed the identity guard) is added to `flags`."""
    assert post.prompt is not None
    flags = flags if flags is not None else []
    label = persona.disclosure.label
    if post.format == "reel":
        return _reel(app, persona, post, workdir, records, flags)
    size = (persona.pipeline.image.size.width, persona.pipeline.image.size.height)
    count = persona.pipeline.carousel.items if post.format == "carousel" else 1
    made = []
    for index in range(count):
        generated = guarded_photo(app, persona, post, post.prompt, post.seed + index, size, flags)
        records.append(generated.record)
        image = burn_label(generated.image, label, persona.disclosure.label_style)
        path = save_lossless(image, workdir / f"photo-{index}.png")
        made.append(MadeFile(path, "image", "image/jpeg", *size))
    return made


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


def prepare_post(app: App, post_id: int) -> bool:
    """Take one planned post through the stages into review. False if another process took it."""
    started = time.perf_counter()
    with session_scope(app.engine) as session:
        post = session.get(Post, post_id)
        if post is None or post.status != PostStatus.PLANNED:
            return False
        persona = app.persona(post.persona_id)
        # 1. Claim it.
        try:
            transition(session, post_id, PostStatus.PLANNED, PostStatus.DRAFTING)
        except ConflictError:
            return False
    try:
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
        # 3. Media, with the visible label, at its final size.
        with tempfile.TemporaryDirectory(prefix=f"vibot-post-{post_id}-") as workdir:
            records: list[dict[str, Any]] = []
            media_flags: list[str] = []
            made = make_media(app, persona, post, Path(workdir), records, media_flags)
            # 4. Disclosure layers on every file: watermark, XMP, then the C2PA signature.
            job = disclosure_job(persona, post_id)
            made = [
                replace(item, path=disclose(item.path, job, app.signing, final_suffix=".jpg"))
                for item in made
            ]
            # 5. Into the store, and to review in one transaction.
            assets = _store(app, post_id, made)
        with session_scope(app.engine) as session:
            # New media replaces the old (regeneration); the old files stay in the store.
            session.execute(sa.delete(MediaAsset).where(col(MediaAsset.post_id) == post_id))
            session.add_all(assets)
            # keep_caption lasts until the new media is in: a crash before keeps the caption too.
            set_fields(
                session,
                post_id,
                PostStatus.GENERATING,
                generation=json.dumps(records),
                keep_caption=False,
                review_flags=_with_media_flags(session.get(Post, post_id), media_flags),
            )
            transition(
                session,
                post_id,
                PostStatus.GENERATING,
                PostStatus.IN_REVIEW,
                note=f"prepared in {time.perf_counter() - started:.1f} s",
            )
            audit.record(session, "generated", post_id, "vibot", **generated(post.format, assets, records))
    except VibotError as err:
        _fail(app, post_id, str(err))
        raise
    except Exception as err:
        _fail(app, post_id, f"{type(err).__name__}: {err}")
        raise
    app.write_audit()
    log.info(
        "post ready for review",
        post=post_id,
        persona=persona.id,
        format=post.format,
        seconds=round(time.perf_counter() - started, 2),
    )
    return True


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

"""Generation: the media of one post, from its brief and its persona, into a folder.

The part of preparing a post that needs the models and the GPU, and nothing else: no
database, no media store, no signing key. It imports neither `storage` nor `bot.context`
(a test checks), so it can run in a worker that only has the settings: the prepare stage
(bot/prepare.py) claims and captions a post, runs this, then discloses, stores and moves
the post to review.
"""

from __future__ import annotations

import signal
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog
from PIL import Image

from bot.reeling import ClipJob, make_reel
from bot.settings import Settings
from content.disclosure import burn_label, watermark
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

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PostBrief:
    """What generation needs of a post: a plain copy of its row's fields."""

    id: int
    format: str
    prompt: str | None
    seed: int
    scene: str
    pillar: str
    motion_brief: str | None


@dataclass(frozen=True)
class MadeFile:
    path: Path
    kind: str  # image | video | cover
    mime: str
    width: int
    height: int
    duration_s: float | None = None


def _upscaler(settings: Settings, persona: Persona) -> Upscaler:
    upscale = persona.pipeline.upscale
    return Upscaler(model=upscale.model, tile=upscale.tile, device=pick_device(settings.device))


def _photo(
    settings: Settings, persona: Persona, post: PostBrief, prompt: str, seed: int, size: tuple[int, int]
) -> PhotoResult:
    image_cfg = persona.pipeline.image
    look = persona.appearance
    result = generate_photo(
        PhotoRequest(
            model=image_cfg.model,
            location=ensure_model(persona.pipeline.image.model, settings.models_dir),
            prompt=prompt,
            seed=seed,
            steps=image_cfg.steps,
            guidance=image_cfg.guidance,
            width=size[0],
            height=size[1],
            device=settings.device,
            memory=settings.memory(),
            speed=settings.speed(),
            upscaler=_upscaler(settings, persona),
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
    settings: Settings,
    persona: Persona,
    post: PostBrief,
    workdir: Path,
    records: list[dict[str, Any]],
    flags: list[str],
) -> list[MadeFile]:
    """Stills → clips (the persona's backend) → post-production → the Reels spec, and a cover."""
    assert post.prompt is not None and post.id is not None
    reel, finish = persona.pipeline.reel, persona.pipeline.post
    stills = []
    for index in range(reel.stills):
        generated = guarded_photo(settings, persona, post, post.prompt, post.seed + index, REEL_SIZE, flags)
        records.append(generated.record)
        stills.append(save_lossless(generated.image, workdir / f"still-{index}.png"))
    upscaler = _upscaler(settings, persona)
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


def overlay_text(persona: Persona, post: PostBrief) -> str | None:
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
    settings: Settings,
    persona: Persona,
    post: PostBrief,
    prompt: str,
    seed: int,
    size: tuple[int, int],
    flags: list[str],
) -> PhotoResult:
    """A photo whose largest face is the persona's: made again with another seed when the face
    is missing or too far from the references, up to `retries` times; after that it goes to
    review with a flag and its score, never silently."""
    identity = persona.appearance.identity
    if identity is None or not persona.expects_face(post.pillar):
        return _photo(settings, persona, post, prompt, seed, size)
    references = persona_references(persona)
    attempts = []
    for attempt in range(identity.retries + 1):
        tried = seed + attempt * RETRY_SEED_STEP
        generated = _photo(settings, persona, post, prompt, tried, size)
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
    settings: Settings,
    persona: Persona,
    post: PostBrief,
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
        return _reel(settings, persona, post, workdir, records, flags)
    size = (persona.pipeline.image.size.width, persona.pipeline.image.size.height)
    count = persona.pipeline.carousel.items if post.format == "carousel" else 1
    made = []
    for index in range(count):
        generated = guarded_photo(settings, persona, post, post.prompt, post.seed + index, size, flags)
        records.append(generated.record)
        image = burn_label(generated.image, label, persona.disclosure.label_style)
        path = save_lossless(image, workdir / f"photo-{index}.png")
        made.append(MadeFile(path, "image", "image/jpeg", *size))
    return made


# --- one post's generation, in this process or in a worker --------------------------


@dataclass(frozen=True)
class GeneratedFile:
    """One file of a post's media, as bytes: what a worker hands back (no shared disk).
    `made.path` is where the worker had it; only its name (the suffix) still matters."""

    made: MadeFile
    data: bytes


@dataclass(frozen=True)
class Generated:
    files: list[GeneratedFile]
    records: list[dict[str, Any]]  # how each image and reel was made (the generation record)
    flags: list[str] = field(default_factory=list)  # what a reviewer should look at
    seconds: float = 0.0  # generating, in the worker
    made_by: str = ""  # which worker, when it is not this machine's


def generate(settings: Settings, persona: Persona, post: PostBrief) -> Generated:
    """The post's media, made in a folder of its own and returned as bytes."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"vibot-post-{post.id}-") as workdir:
        records: list[dict[str, Any]] = []
        flags: list[str] = []
        made = make_media(settings, persona, post, Path(workdir), records, flags)
        files = [GeneratedFile(item, item.path.read_bytes()) for item in made]
    return Generated(files, records, flags, seconds=time.perf_counter() - started)


_worker_settings: Settings | None = None


def worker_init(settings_data: dict[str, Any]) -> Settings:
    """Runs once in a generation worker process: its settings and logging; Ctrl-C is ignored
    (the daemon decides when to stop). The worker keeps its models loaded between posts."""
    global _worker_settings
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from bot.log import configure_logging

    _worker_settings = Settings.model_validate(settings_data)
    configure_logging(_worker_settings.log_level, _worker_settings.log_format)
    return _worker_settings


def worker_generate(persona: Persona, post: PostBrief) -> Generated:
    assert _worker_settings is not None, "worker_init runs first"
    return generate(_worker_settings, persona, post)

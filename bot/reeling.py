"""The reel stage: stills → clips by the persona's backend → post-production → the Reels spec.

Used by the prepare stage for reel slots and by `vibot reel` for stills given directly.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from PIL import Image

from bot.settings import Settings
from content.disclosure import watermark
from content.disclosure.apply import DisclosureJob, disclose
from content.errors import ConfigError
from content.hashing import file_sha256
from content.images import pick_device
from content.images.upscale import Upscaler
from content.post import Look, ReelPlan, Segment, pick_music, render_reel, segment_seconds
from content.reels.kinds import ReelBackend, Transition
from content.reels.kling import KlingConfig, animate
from content.reels.local import LocalVideo, animate_local
from content.reels.motion import pick_move
from content.reels.spec import ensure_reel_spec
from content.tiny import ensure_model

if TYPE_CHECKING:  # generation imports this module and must not import storage
    from bot.context import App

log = structlog.get_logger(__name__)

STANDALONE_POST_ID = 0  # the watermark payload of a reel that belongs to no post


@dataclass(frozen=True)
class ClipJob:
    """How to turn stills into the reel's segments."""

    backend: ReelBackend
    prompt: str  # what should move: the motion brief or the scene
    seed: int
    task_prefix: str  # Kling's external_task_id stem: the same post always finds its tasks
    local: LocalVideo | None = None
    upscaler: Upscaler = field(default_factory=Upscaler)


@dataclass(frozen=True)
class ReelRequest:
    """`vibot reel`: stills given directly, options from the command line."""

    stills: list[Path]
    out: Path
    seconds: float
    music: Path | None
    backend: ReelBackend
    lut: Path | None
    transition: Transition
    text: str | None
    label: str
    upscaler: str


def make_standalone_reel(
    app: App, request: ReelRequest, video_model: str, seed: int, progress: Callable[[float], None] | None
) -> dict[str, Any]:
    """A reel from stills, with every disclosure layer (watermark payload of post 0: no post)."""
    settings = app.settings
    local = None
    if request.backend == ReelBackend.LOCAL:
        local = LocalVideo(
            location=ensure_model(video_model, settings.models_dir),
            device=settings.device,
            memory=settings.memory(),
        )
    plan = ReelPlan(
        segments=[],
        seconds=request.seconds,
        label=request.label,
        transition=request.transition,
        look=Look(lut=request.lut),
        text=request.text,
        music=request.music,
        seed=seed,
        watermark=watermark.payload_for(STANDALONE_POST_ID),  # marked while rendering
    )
    job = ClipJob(
        backend=request.backend,
        prompt="subtle natural motion",
        seed=seed,
        task_prefix=f"vibot-cli-{seed}-{file_sha256(request.stills[0])[:12]}",
        local=local,
        upscaler=Upscaler(request.upscaler, device=pick_device(settings.device)),
    )
    with tempfile.TemporaryDirectory(prefix="vibot-reel-") as workdir:
        made = Path(workdir) / "reel.mp4"
        record = make_reel(settings, request.stills, job, plan, made, Path(workdir), progress)
        job_disclosure = DisclosureJob(
            post_id=STANDALONE_POST_ID,
            visible_label=request.label,
            description=f"AI-generated reel. {request.label}.",
            models=[video_model if request.backend == ReelBackend.LOCAL else request.backend.value],
            title=f"vibot reel {request.out.name}",
        )
        disclose(made, job_disclosure, app.signing)
        shutil.move(made, request.out)
    return record


def kling_config(settings: Settings, who: str) -> KlingConfig:
    if settings.kling_access_key is None or settings.kling_secret_key is None:
        raise ConfigError(f"{who} makes reels with kling — set KLING_ACCESS_KEY and KLING_SECRET_KEY")
    return KlingConfig(
        base_url=settings.kling_api_url,
        access_key=settings.kling_access_key.get_secret_value(),
        secret_key=settings.kling_secret_key.get_secret_value(),
        model=settings.kling_model,
        mode=settings.kling_mode,
    )


class Animate(Protocol):
    """A reel backend: the stills as the reel's segments (clips written into `workdir`)."""

    def __call__(
        self, settings: Settings, stills: list[Path], job: ClipJob, seconds_each: float, workdir: Path
    ) -> list[Segment]: ...


def _camera_moves(
    settings: Settings, stills: list[Path], job: ClipJob, seconds_each: float, workdir: Path
) -> list[Segment]:
    return [Segment(still, "still", pick_move(job.seed, index)) for index, still in enumerate(stills)]


def _local_clips(
    settings: Settings, stills: list[Path], job: ClipJob, seconds_each: float, workdir: Path
) -> list[Segment]:
    assert job.local is not None
    segments = []
    for index, still in enumerate(stills):
        clip = workdir / f"clip-{index}.mp4"
        with Image.open(still) as image:
            animate_local(image, job.prompt, seconds_each, job.seed + index, job.local, job.upscaler, clip)
        segments.append(Segment(clip, "clip"))
    return segments


def _kling_clips(
    settings: Settings, stills: list[Path], job: ClipJob, seconds_each: float, workdir: Path
) -> list[Segment]:
    config = kling_config(settings, "this persona")
    segments = []
    for index, still in enumerate(stills):
        clip = workdir / f"clip-{index}.mp4"
        # The first clip keeps the id the spine used, so an interrupted post still finds it.
        task_id = job.task_prefix if index == 0 else f"{job.task_prefix}-{index}"
        animate(still, job.prompt, 5 if seconds_each <= 5 else 10, task_id, clip, config)
        segments.append(Segment(clip, "clip"))
    return segments


BACKENDS: dict[ReelBackend, Animate] = {
    ReelBackend.MOTION: _camera_moves,
    ReelBackend.LOCAL: _local_clips,
    ReelBackend.KLING: _kling_clips,
}
assert set(BACKENDS) == set(ReelBackend), "every reel backend needs its entry here"


def segments_for(
    settings: Settings, stills: list[Path], job: ClipJob, plan: ReelPlan, workdir: Path
) -> list[Segment]:
    seconds_each = segment_seconds(plan.seconds, len(stills), plan.transition, plan.transition_s)
    return BACKENDS[job.backend](settings, stills, job, seconds_each, workdir)


def make_reel(
    settings: Settings,
    stills: list[Path],
    job: ClipJob,
    plan: ReelPlan,
    out: Path,
    workdir: Path,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Render the reel to `out`; returns the record of how it was made."""
    started = time.perf_counter()
    segments = segments_for(settings, stills, job, plan, workdir)
    clips_s = time.perf_counter() - started
    render_reel(replace(plan, segments=segments), out, progress)
    fixes = ensure_reel_spec(out)
    music = pick_music(plan.music, plan.seed)
    record = {
        "kind": "reel",
        "backend": job.backend,
        "stills": len(stills),
        "seconds": plan.seconds,
        "transition": plan.transition if len(stills) > 1 else "none",
        "moves": [s.move for s in segments if s.kind == "still"],
        "lut": plan.look.lut.name if plan.look.lut else None,
        "music": music.name if music else None,
        "loudness_lufs": plan.loudness_lufs if plan.music else None,
        "spec_fixes": fixes,
        "clip_seconds": round(clips_s, 2),
        "render_seconds": round(time.perf_counter() - started - clips_s, 2),
    }
    if job.backend == ReelBackend.LOCAL and job.local is not None:
        record["video_model"] = job.local.location
    return record

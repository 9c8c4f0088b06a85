"""The `local` reel backend: an open image-to-video model through diffusers.

LTX-Video by default (fast: ~2 s for 5 s of 768×512 on an H100), Wan 2.x as an
option, or vibot's tiny offline LTX for tests and the demo — all loaded with
`DiffusionPipeline.from_pretrained`, kept loaded for the life of the worker. The
clip's frames are upscaled to cover 1080×1920 with the persona's upscaler (the
same spandrel model or Lanczos as stills) and written at the model's frame rate;
post-production converts it to 30 fps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from PIL import Image

from content.errors import GenerationError
from content.images.loading import Memory, load_pretrained, pick_device
from content.images.sizes import fit_exact
from content.images.upscale import Upscaler, upscale_to_cover
from content.reels.encode import REEL_SIZE, write_frames

log = structlog.get_logger(__name__)

IMAGE_TO_VIDEO = (
    "LTXImageToVideoPipeline",
    "LTXConditionPipeline",
    "WanImageToVideoPipeline",
    "CogVideoXImageToVideoPipeline",
)


@dataclass(frozen=True)
class LocalVideo:
    location: str  # where from_pretrained loads it
    width: int = 512  # generated size, before upscaling; 9:16-ish, multiples of 32
    height: int = 896
    fps: int = 24
    steps: int = 30
    guidance: float = 3.0
    device: str | None = None
    memory: Memory = field(default_factory=Memory)


@lru_cache(maxsize=1)
def load_image_to_video(location: str, device: str, memory: Memory) -> Any:
    pipeline = load_pretrained(
        "DiffusionPipeline", location, device, memory, "pipeline.reel.model", "tiny-ltx"
    )
    if type(pipeline).__name__ not in IMAGE_TO_VIDEO:
        raise GenerationError(
            f"'{location}' is a {type(pipeline).__name__}, not an image-to-video model — use "
            "LTX-Video (Lightricks/LTX-Video) or Wan 2.x I2V"
        )
    pipeline.set_progress_bar_config(disable=True)
    if memory.vae_tiling and hasattr(pipeline.vae, "enable_tiling"):
        pipeline.vae.enable_tiling()
    if memory.cpu_offload and device.startswith("cuda"):
        pipeline.enable_model_cpu_offload(device=device)
        return pipeline
    return pipeline.to(device)


def frame_count(seconds: float, fps: int, temporal_ratio: int) -> int:
    """Frames to ask for: the model wants ratio·k + 1 (LTX 8k+1, Wan 4k+1)."""
    wanted = max(2, round(seconds * fps))
    return temporal_ratio * math.ceil((wanted - 1) / temporal_ratio) + 1


def model_size(width: int, height: int, multiple: int) -> tuple[int, int]:
    return max(multiple, width // multiple * multiple), max(multiple, height // multiple * multiple)


def animate_local(
    still: Image.Image,
    prompt: str,
    seconds: float,
    seed: int,
    video: LocalVideo,
    upscaler: Upscaler,
    out: Path,
) -> Path:
    """`still` as a clip of about `seconds` at `out`, every frame 1080×1920."""
    import torch

    device = pick_device(video.device)
    pipeline = load_image_to_video(video.location, device, video.memory)
    temporal = int(
        getattr(pipeline, "vae_scale_factor_temporal", 0)
        or getattr(pipeline, "vae_temporal_compression_ratio", 4)
    )
    spatial = int(
        getattr(pipeline, "vae_scale_factor_spatial", 0)
        or getattr(pipeline, "vae_spatial_compression_ratio", 8)
    )
    width, height = model_size(video.width, video.height, max(spatial, 16))
    frames_wanted = frame_count(seconds, video.fps, temporal)
    started = time.perf_counter()
    with torch.inference_mode():
        frames = pipeline(
            image=fit_exact(still.convert("RGB"), width, height),
            prompt=prompt,
            width=width,
            height=height,
            num_frames=frames_wanted,
            num_inference_steps=video.steps,
            guidance_scale=video.guidance,
            generator=torch.Generator(device="cpu").manual_seed(seed),
            output_type="np",
        ).frames[0]
    pixels = (np.clip(np.asarray(frames), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    log.info(
        "clip generated",
        frames=len(pixels),
        size=f"{width}x{height}",
        seconds=round(time.perf_counter() - started, 2),
    )
    return write_frames(upscale_frames(list(pixels), upscaler), video.fps, out)


def upscale_frames(frames: list[np.ndarray[Any, Any]], upscaler: Upscaler) -> list[object]:
    """Every frame to exactly 1080×1920 with the stills' upscaler (model or Lanczos)."""
    return [
        np.asarray(fit_exact(upscale_to_cover(Image.fromarray(frame), REEL_SIZE, upscaler), *REEL_SIZE))
        for frame in frames
    ]

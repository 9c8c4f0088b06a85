"""Photos: Flux through diffusers, sized exactly for Instagram.

The pipeline is loaded with `FluxPipeline.from_pretrained` — the same call for
vibot's tiny offline model, a local folder of real weights, or a hub id in the
local cache — and kept loaded for the life of the process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image

from content.errors import GenerationError
from content.models import model_info

MULTIPLE = 16  # Flux: 8× VAE downscale, then 2×2 latent packing
FEED_SIZE = (1080, 1350)
REEL_SIZE = (1080, 1920)


@dataclass(frozen=True)
class PhotoRequest:
    model: str  # the name in the persona file, for the licence and size limits
    location: str  # where from_pretrained loads it
    prompt: str
    seed: int
    steps: int
    guidance: float
    width: int
    height: int
    device: str | None = None


@dataclass(frozen=True)
class PhotoResult:
    image: Image.Image
    generated_size: tuple[int, int]
    seconds: float


def pick_device(requested: str | None = None) -> str:
    import torch

    if requested:
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def generation_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size to generate at: the target's aspect, within max_side, multiples of 16."""
    scale = min(1.0, max_side / max(width, height))
    return (
        max(MULTIPLE, round(width * scale / MULTIPLE) * MULTIPLE),
        max(MULTIPLE, round(height * scale / MULTIPLE) * MULTIPLE),
    )


def fit_exact(image: Image.Image, width: int, height: int) -> Image.Image:
    """Centre-crop to the target aspect, then resize (Lanczos) to exactly width×height."""
    source_w, source_h = image.size
    target_aspect = width / height
    if source_w / source_h > target_aspect:
        crop_w = round(source_h * target_aspect)
        left = (source_w - crop_w) // 2
        image = image.crop((left, 0, left + crop_w, source_h))
    else:
        crop_h = round(source_w / target_aspect)
        top = (source_h - crop_h) // 2
        image = image.crop((0, top, source_w, top + crop_h))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def quiet_hugging_face() -> None:
    """Progress bars and advice from diffusers/transformers would drown vibot's own output."""
    import diffusers
    import transformers

    for library in (diffusers, transformers):
        library.utils.logging.set_verbosity_error()
        library.utils.logging.disable_progress_bar()


@lru_cache(maxsize=2)
def load_flux(location: str, device: str) -> Any:
    """Load a Flux pipeline once per process; later calls reuse it."""
    import torch
    from diffusers import FluxPipeline

    quiet_hugging_face()
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    try:
        pipeline = FluxPipeline.from_pretrained(location, dtype=dtype)
    except (OSError, ValueError) as err:
        raise GenerationError(
            f"cannot load the image model from '{location}': {str(err).splitlines()[0]} — "
            "check pipeline.image.model (a folder, a hub id already in the local cache, "
            "or tiny-flux)"
        ) from None
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)


def generate_photo(request: PhotoRequest) -> PhotoResult:
    import torch

    device = pick_device(request.device)
    pipeline = load_flux(request.location, device)
    gen_w, gen_h = generation_size(request.width, request.height, model_info(request.model).max_side)
    started = time.perf_counter()
    generator = torch.Generator(device="cpu").manual_seed(request.seed)
    with torch.inference_mode():
        image = pipeline(
            prompt=request.prompt,
            width=gen_w,
            height=gen_h,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            generator=generator,
            max_sequence_length=256,
        ).images[0]
    final = fit_exact(image, request.width, request.height)
    return PhotoResult(final, (gen_w, gen_h), time.perf_counter() - started)


def save_jpeg(image: Image.Image, path: Path) -> Path:
    image.convert("RGB").save(path, "JPEG", quality=92, optimize=True, subsampling=0)
    return path

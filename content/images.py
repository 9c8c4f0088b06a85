"""Photos: Flux through diffusers, sized exactly for Instagram.

The pipeline is loaded with `FluxPipeline.from_pretrained` — the same call for
vibot's tiny offline model, a local folder of real weights, or a hub id in the
local cache — and kept loaded for the life of the process.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image

from content.errors import GenerationError
from content.lora import use_lora
from content.models import model_info
from content.realism import Realism, detail_sigmas, film_grain, noise_callback

MULTIPLE = 16  # Flux: 8× VAE downscale, then 2×2 latent packing
FEED_SIZE = (1080, 1350)
REEL_SIZE = (1080, 1920)


@dataclass(frozen=True)
class Memory:
    """How the pipeline is loaded: dtype (None: bfloat16 on CUDA, float32 elsewhere) and
    the memory savers for smaller GPUs."""

    dtype: str | None = None
    cpu_offload: bool = False
    vae_tiling: bool = False
    vae_slicing: bool = False


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
    lora_adapter: str | None = None  # the persona id: one adapter per persona
    lora: Path | None = None
    lora_scale: float = 1.0
    realism: Realism = field(default_factory=Realism)
    memory: Memory = field(default_factory=Memory)


@dataclass(frozen=True)
class PhotoResult:
    image: Image.Image
    generated_size: tuple[int, int]
    seconds: float
    record: dict[str, Any]  # how it was made: enough to make it again


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
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # before transformers is imported
    import diffusers
    import transformers

    for library in (diffusers, transformers):
        library.utils.logging.set_verbosity_error()
        library.utils.logging.disable_progress_bar()


@lru_cache(maxsize=2)
def load_flux(location: str, device: str, memory: Memory = Memory()) -> Any:
    """Load a Flux pipeline once per process (per location, device and memory options);
    later calls reuse it."""
    import torch
    from diffusers import FluxPipeline

    quiet_hugging_face()
    dtype_name = memory.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    dtype = getattr(torch, dtype_name)
    try:
        pipeline = FluxPipeline.from_pretrained(location, dtype=dtype)
    except (OSError, ValueError) as err:
        raise GenerationError(
            f"cannot load the image model from '{location}': {str(err).splitlines()[0]} — "
            "check pipeline.image.model (a folder, a hub id already in the local cache, "
            "or tiny-flux)"
        ) from None
    pipeline.set_progress_bar_config(disable=True)
    if memory.vae_tiling:
        pipeline.vae.enable_tiling()  # decode large images in tiles: less peak memory
    if memory.vae_slicing:
        pipeline.vae.enable_slicing()
    if memory.cpu_offload and device.startswith("cuda"):
        pipeline.enable_model_cpu_offload(device=device)  # each model on the GPU only while it runs
        return pipeline
    return pipeline.to(device)


def generate_photo(request: PhotoRequest) -> PhotoResult:
    """1. Load (once) 2. switch the persona's LoRA 3. denoise with noise injection and the
    detail pass 4. crop and resize to the exact size 5. film grain 6. record how."""
    import torch

    device = pick_device(request.device)
    pipeline = load_flux(request.location, device, request.memory)
    use_lora(pipeline, request.lora_adapter, request.lora, request.lora_scale)
    gen_w, gen_h = generation_size(request.width, request.height, model_info(request.model).max_side)
    realism = request.realism
    callback = noise_callback(realism, request.seed, request.steps)
    started = time.perf_counter()
    generator = torch.Generator(device="cpu").manual_seed(request.seed)
    with torch.inference_mode():
        image = pipeline(
            prompt=request.prompt,
            width=gen_w,
            height=gen_h,
            num_inference_steps=request.steps,
            sigmas=detail_sigmas(request.steps, realism.detail),
            guidance_scale=request.guidance,
            generator=generator,
            max_sequence_length=256,
            callback_on_step_end=callback,
            callback_on_step_end_tensor_inputs=["latents"],
        ).images[0]
    final = fit_exact(image, request.width, request.height)
    final = film_grain(final, realism.grain, realism.grain_size, request.seed)
    seconds = time.perf_counter() - started
    return PhotoResult(
        final, (gen_w, gen_h), seconds, _record(request, pipeline, device, (gen_w, gen_h), seconds)
    )


def _record(
    request: PhotoRequest, pipeline: Any, device: str, generated: tuple[int, int], seconds: float
) -> dict[str, Any]:
    lora = None
    if request.lora is not None:
        lora = {"file": str(request.lora), "sha256": file_sha256(request.lora), "scale": request.lora_scale}
    return {
        "model": request.model,
        "location": request.location,
        "model_fingerprint": model_fingerprint(request.location),
        "licence": model_info(request.model).licence,
        "lora": lora,
        "prompt": request.prompt,
        "seed": request.seed,
        "steps": request.steps,
        "guidance": request.guidance,
        "noise_injection": {"strength": request.realism.noise_strength, "at": list(request.realism.noise_at)},
        "detail": request.realism.detail,
        "grain": {"strength": request.realism.grain, "size": request.realism.grain_size},
        "upscaler": "lanczos",
        "generated_size": list(generated),
        "final_size": [request.width, request.height],
        "device": device,
        "dtype": str(pipeline.transformer.dtype).removeprefix("torch."),
        "seconds": round(seconds, 3),
    }


@lru_cache(maxsize=32)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _cached_sha256(str(path), stat.st_size, stat.st_mtime_ns)


def model_fingerprint(location: str) -> str:
    """A revision for hub snapshots, else a hash of the folder's configs and weight-file sizes:
    cheap for 24 GB of weights, and it changes whenever the model does."""
    folder = Path(location)
    if folder.parent.name == "snapshots":
        return f"revision {folder.name}"
    if not folder.is_dir():
        return f"hub id {location}"
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = file.relative_to(folder).as_posix()
        digest.update(relative.encode())
        digest.update(file.read_bytes() if file.suffix == ".json" else str(file.stat().st_size).encode())
    return f"sha256 {digest.hexdigest()[:16]}"


def save_jpeg(image: Image.Image, path: Path) -> Path:
    image.convert("RGB").save(path, "JPEG", quality=92, optimize=True, subsampling=0)
    return path

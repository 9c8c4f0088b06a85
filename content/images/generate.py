"""One photo: the persona's LoRA on the loaded Flux pipeline, noise injection, upscaling
to cover the target, the exact Instagram size, film grain, and a record of how it was made.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from content.hashing import file_sha256
from content.images.loading import Memory, Speed, compile_once, load_flux, pick_device, set_qkv_fusion
from content.images.lora import use_lora
from content.images.realism import Realism, detail_sigmas, film_grain, noise_callback
from content.images.sizes import crop_to_aspect, fit_exact, generation_size
from content.images.upscale import LANCZOS, Upscaler, describe, needs_upscale, upscale_to_cover
from content.models import model_info

PROMPT_TOKENS = 256  # T5 tokens per prompt; LoRA training encodes its captions the same way


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
    speed: Speed = field(default_factory=Speed)
    upscaler: Upscaler = field(default_factory=Upscaler)


@dataclass(frozen=True)
class PhotoResult:
    image: Image.Image
    generated_size: tuple[int, int]
    seconds: float
    record: dict[str, Any]  # how it was made: enough to make it again


def generate_photo(request: PhotoRequest) -> PhotoResult:
    """1. Load (once) 2. switch the persona's LoRA 3. denoise with noise injection and the
    detail pass 4. upscale if smaller than the target 5. crop and resize to the exact size
    6. film grain 7. record how."""
    device = pick_device(request.device)
    pipeline = load_flux(request.location, device, request.memory, request.speed)
    return generate_with(pipeline, request, device)


def generate_with(pipeline: Any, request: PhotoRequest, device: str) -> PhotoResult:
    """generate_photo on a pipeline already loaded and prepared (benchmarks build their own)."""
    import torch

    speed = request.speed
    hotswap_rank = speed.lora_max_rank if speed.compile else None
    use_lora(pipeline, request.lora_adapter, request.lora, request.lora_scale, hotswap_rank)
    # Fused projections bypass LoRA layers: fuse only for a post without one.
    fused_qkv = speed.fuse_qkv and request.lora is None
    set_qkv_fusion(pipeline, fused_qkv)
    compile_once(pipeline, speed)
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
            max_sequence_length=PROMPT_TOKENS,
            callback_on_step_end=callback,
            callback_on_step_end_tensor_inputs=["latents"],
        ).images[0]
    target = (request.width, request.height)
    cropped = crop_to_aspect(image, *target)
    upscaled = needs_upscale(cropped.size, target)
    final = fit_exact(upscale_to_cover(cropped, target, request.upscaler), *target)
    final = film_grain(final, realism.grain, realism.grain_size, request.seed)
    seconds = time.perf_counter() - started
    record = _record(request, pipeline, device, (gen_w, gen_h), seconds)
    record["upscaler"] = describe(request.upscaler) if upscaled else "none (generated at full size)"
    if upscaled and request.upscaler.model != LANCZOS:
        record["upscaler_sha256"] = file_sha256(Path(request.upscaler.model))
    record["speed"] = _speed_record(speed, fused_qkv)
    return PhotoResult(final, (gen_w, gen_h), seconds, record)


def _speed_record(speed: Speed, fused_qkv: bool) -> dict[str, Any]:
    return {
        "compile": speed.compile,
        "lora_hotswap": speed.compile,
        "fused_qkv": fused_qkv,
        "channels_last_vae": speed.channels_last,
        "quantize": speed.quantize,
        "first_block_cache": speed.cache_threshold,
        "attention": speed.attention or "default",
    }


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
        "generated_size": list(generated),
        "final_size": [request.width, request.height],
        "device": device,
        "dtype": str(pipeline.transformer.dtype).removeprefix("torch."),
        "seconds": round(seconds, 3),
    }


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


def save_lossless(image: Image.Image, path: Path) -> Path:
    """An intermediate the disclosure step encodes to the final JPEG: one lossy encode only."""
    image.convert("RGB").save(path, "PNG", compress_level=1)
    return path

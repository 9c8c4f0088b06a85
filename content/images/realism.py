"""Noise injection for realistic skin and light — three independent, seeded passes:

(a) latent noise added at chosen fractions of the schedule, scaled by the current
    sigma, so the model re-resolves fine texture instead of smoothing it away;
(b) a detail pass that lowers the sigmas the model sees mid-schedule (the
    "detail daemon" idea): the model believes the image is cleaner than it is and
    adds finer detail;
(c) film grain in pixel space, luminance-weighted (strongest in mid-tones, as film),
    with a strength and a grain size.

Same seed, same image; every strength 0 is an exact no-op.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageFilter


@dataclass(frozen=True)
class Realism:
    noise_strength: float = 0.0
    noise_at: tuple[float, ...] = ()
    detail: float = 0.0
    grain: float = 0.0
    grain_size: float = 1.0


def injection_steps(at: tuple[float, ...], steps: int) -> set[int]:
    return {min(steps - 1, max(0, round(fraction * (steps - 1)))) for fraction in at}


def noise_callback(realism: Realism, seed: int, steps: int) -> Callable[..., dict[str, Any]] | None:
    """A diffusers `callback_on_step_end` adding `strength × sigma × N(0, 1)` to the latents."""
    if realism.noise_strength <= 0 or not realism.noise_at:
        return None
    chosen = injection_steps(realism.noise_at, steps)

    def inject(pipeline: Any, step: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        import torch

        if step not in chosen:
            return tensors
        latents = tensors["latents"]
        scheduler = pipeline.scheduler
        sigma = float(scheduler.sigmas[min(scheduler.step_index, len(scheduler.sigmas) - 1)])
        generator = torch.Generator(device="cpu").manual_seed(seed * 7919 + step)
        noise = torch.randn(latents.shape, generator=generator, dtype=torch.float32).to(latents)
        return {"latents": latents + realism.noise_strength * sigma * noise}

    return inject


def detail_sigmas(steps: int, detail: float) -> list[float] | None:
    """Flux's default sigma schedule, lowered by up to 25%·detail between 20% and 80% of it."""
    if detail <= 0:
        return None
    sigmas = np.linspace(1.0, 1 / steps, steps)
    position = np.linspace(0.0, 1.0, steps)
    bump = np.where((position > 0.2) & (position < 0.8), np.sin(math.pi * (position - 0.2) / 0.6), 0.0)
    lowered = sigmas * (1 - 0.25 * detail * bump)
    return [float(s) for s in np.minimum.accumulate(lowered)]  # still strictly decreasing


def film_grain(image: Image.Image, strength: float, size: float, seed: int) -> Image.Image:
    if strength <= 0:
        return image
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    rng = np.random.default_rng(seed)
    noise_image = Image.fromarray(
        ((rng.standard_normal(rgb.shape[:2]) * 0.25 + 0.5).clip(0, 1) * 255).astype(np.uint8)
    )
    if size > 1.0:
        noise_image = noise_image.filter(ImageFilter.GaussianBlur(radius=size - 1.0))
    noise = np.asarray(noise_image, dtype=np.float32) / 255.0 - 0.5
    noise /= max(float(noise.std()), 1e-6)
    luminance = rgb @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    weight = 4.0 * luminance * (1.0 - luminance)  # 0 in pure black and white, 1 in mid-grey
    grained = rgb + (strength * 0.1 * weight * noise)[..., None]
    return Image.fromarray((grained.clip(0, 1) * 255 + 0.5).astype(np.uint8))

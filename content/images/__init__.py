"""Photos: Flux + the persona's LoRA + noise injection, sized exactly for Instagram.

loading   load Flux once per process; device, dtype, memory and speed options
lora      switch persona LoRAs without reloading (adapters, or hot-swap when compiled)
realism   latent noise injection, the detail pass, film grain
upscale   spandrel super-resolution in tiles, or Lanczos + sharpening
sizes     model-friendly generation sizes, exact Instagram sizes
generate  one photo through all of the above, with its reproducibility record
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from content.images.generate import (
        PhotoRequest,
        PhotoResult,
        generate_photo,
        model_fingerprint,
        save_jpeg,
        save_lossless,
    )
    from content.images.loading import Memory, Speed, load_flux, pick_device, quiet_hugging_face
    from content.images.realism import Realism
    from content.images.sizes import FEED_SIZE, REEL_SIZE, SQUARE_SIZE, fit_exact, generation_size
    from content.images.upscale import Upscaler

# Each name is loaded on first use: `vibot publish` and the web UI read settings that name
# Memory and Speed, and should not pay for numpy, PIL and the generation code at every start.
_MODULE_OF = {
    **dict.fromkeys(
        ("PhotoRequest", "PhotoResult", "generate_photo", "model_fingerprint", "save_jpeg", "save_lossless"),
        "generate",
    ),
    **dict.fromkeys(("Memory", "Speed", "load_flux", "pick_device", "quiet_hugging_face"), "loading"),
    "Realism": "realism",
    **dict.fromkeys(("FEED_SIZE", "REEL_SIZE", "SQUARE_SIZE", "fit_exact", "generation_size"), "sizes"),
    "Upscaler": "upscale",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)


__all__ = [
    "FEED_SIZE",
    "REEL_SIZE",
    "SQUARE_SIZE",
    "Memory",
    "PhotoRequest",
    "PhotoResult",
    "Realism",
    "Speed",
    "Upscaler",
    "fit_exact",
    "generate_photo",
    "generation_size",
    "load_flux",
    "model_fingerprint",
    "pick_device",
    "quiet_hugging_face",
    "save_jpeg",
    "save_lossless",
]

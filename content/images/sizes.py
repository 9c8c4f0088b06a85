"""Instagram's sizes, and getting there exactly from a model-friendly size."""

from __future__ import annotations

from PIL import Image

MULTIPLE = 16  # Flux: 8× VAE downscale, then 2×2 latent packing
FEED_SIZE = (1080, 1350)  # 4:5
SQUARE_SIZE = (1080, 1080)  # 1:1
REEL_SIZE = (1080, 1920)  # 9:16


def generation_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size to generate at: the target's aspect, within max_side, multiples of 16."""
    scale = min(1.0, max_side / max(width, height))
    return (
        max(MULTIPLE, round(width * scale / MULTIPLE) * MULTIPLE),
        max(MULTIPLE, round(height * scale / MULTIPLE) * MULTIPLE),
    )


def crop_to_aspect(image: Image.Image, width: int, height: int) -> Image.Image:
    """The largest centred crop with the aspect width:height."""
    source_w, source_h = image.size
    target_aspect = width / height
    if source_w / source_h > target_aspect:
        crop_w = round(source_h * target_aspect)
        left = (source_w - crop_w) // 2
        return image.crop((left, 0, left + crop_w, source_h))
    crop_h = round(source_w / target_aspect)
    top = (source_h - crop_h) // 2
    return image.crop((0, top, source_w, top + crop_h))


def fit_exact(image: Image.Image, width: int, height: int) -> Image.Image:
    """Centre-crop to the target aspect, then resize (Lanczos) to exactly width×height."""
    cropped = crop_to_aspect(image, width, height)
    if cropped.size == (width, height):
        return cropped
    return cropped.resize((width, height), Image.Resampling.LANCZOS)

"""Photo-like test pictures, different for every seed: smooth colour fields, sometimes a
flat sky with a gentle gradient (where a mark is hardest to hide and to find), shapes with
hard edges, and grain. No model is needed, so a benchmark can make a thousand. And what
platforms and re-posters do to a picture: re-encode, resize, crop."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

Pixels = np.ndarray  # type: ignore[type-arg]


def jpeg(pixels: Pixels, quality: int) -> Pixels:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def resized(pixels: Pixels, width: int, quality: int | None = 92) -> Pixels:
    """Resized to `width` (aspect kept) and saved as JPEG at `quality`, or kept lossless (None)."""
    image = Image.fromarray(pixels)
    image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    return np.asarray(image) if quality is None else jpeg(np.asarray(image), quality)


def cropped(pixels: Pixels, left: float, top: float, right: float, bottom: float) -> Pixels:
    """Cropped by these shares of the width and height from each side, saved as JPEG q92."""
    height, width = pixels.shape[:2]
    box = pixels[
        round(height * top) : height - round(height * bottom),
        round(width * left) : width - round(width * right),
    ]
    return jpeg(np.ascontiguousarray(box), 92)


def photo_like(seed: int, size: tuple[int, int] = (1080, 1350)) -> Pixels:
    rng = np.random.default_rng(seed)
    width, height = size
    cells = int(rng.integers(3, 60))
    coarse = (rng.random((cells * height // width + 2, cells + 2, 3)) * 255).astype("uint8")
    base = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    if rng.random() < 0.5:
        top = int(height * rng.uniform(0.2, 0.5))
        base[:top] = base[:top].mean(axis=(0, 1)) + np.linspace(0, 30, top)[:, None, None]
    grain = rng.normal(0, rng.uniform(1, 8), base.shape)
    picture = Image.fromarray(np.clip(base + grain, 0, 255).astype("uint8"))
    draw = ImageDraw.Draw(picture)
    for _ in range(int(rng.integers(0, 12))):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(20, 300)), int(rng.integers(20, 300))
        draw.ellipse([x, y, x + w, y + h], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return np.asarray(picture)

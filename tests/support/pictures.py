"""Photo-like test pictures, different for every seed: smooth colour fields, sometimes a
flat sky with a gentle gradient (where a mark is hardest to hide and to find), shapes with
hard edges, and grain. No model is needed, so a benchmark can make a thousand."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def photo_like(seed: int, size: tuple[int, int] = (1080, 1350)) -> np.ndarray:  # type: ignore[type-arg]
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

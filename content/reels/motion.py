"""The `motion` reel backend: camera moves over a still, on the CPU, smooth and deterministic.

Each frame is one bilinear resampling of the still (OpenCV's warpAffine), straight from
its own pixels to the 1080×1920 frame, at exact sub-pixel positions: a slow pan moves
by the same fraction of a pixel every frame. The planes are warped as yuv420p, the
format the encoder takes, so a frame costs ~1.5 bytes a pixel of work, not 3.

ffmpeg's zoompan, which this replaces, places its window in whole input pixels: it
stutters unless the still is first scaled up 4× (33 MP a frame), and at 4× it took
~36 ms a frame on one core against ~8 ms here.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from content.reels.encode import HEIGHT, WIDTH

MOVES = ("zoom-in", "zoom-out", "pan-left", "pan-right", "parallax")


def pick_move(seed: int, index: int = 0) -> str:
    return random.Random(seed * 31 + index).choice(MOVES)


def window_at(move: str, progress: float, strength: float = 0.12) -> tuple[float, float, float]:
    """(zoom, fx, fy) at `progress` (0..1): the window is the frame divided by zoom, and
    fx, fy (0..1) say where it sits in the room the zoom leaves, eased in and out."""
    eased = progress * progress * (3 - 2 * progress)  # smoothstep
    return {
        "zoom-in": (1 + strength * eased, 0.5, 0.5),
        "zoom-out": (1 + strength * (1 - eased), 0.5, 0.5),
        "pan-left": (1 + strength, 1 - eased, 0.5),
        "pan-right": (1 + strength, eased, 0.5),
        # A slow push-in while the frame drifts sideways: a hint of depth from one still.
        "parallax": (1 + strength * eased, 0.3 + 0.4 * eased, 0.45),
    }[move]


def check_move(move: str) -> None:
    if move not in MOVES:
        raise ValueError(f"unknown camera move {move!r} — use one of {', '.join(MOVES)}")


def move_frames(still: Path, move: str, frames: int, strength: float = 0.12) -> Iterator[bytes]:
    """`frames` raw yuv420p 1080×1920 frames (30 fps) of a camera move over `still`.

    The still covers the frame (scaled to fill it, centred, the rest cropped), as a
    still without a move would; the move then zooms and pans inside that."""
    check_move(move)
    planes, scale = _source_planes(still)
    crop_x = (planes[0].shape[1] * scale - WIDTH) / 2  # in frame pixels, at zoom 1
    crop_y = (planes[0].shape[0] * scale - HEIGHT) / 2
    out = np.empty(WIDTH * HEIGHT * 3 // 2, np.uint8)
    luma, chroma = WIDTH * HEIGHT, WIDTH * HEIGHT // 4
    targets = (
        out[:luma].reshape(HEIGHT, WIDTH),
        out[luma : luma + chroma].reshape(HEIGHT // 2, WIDTH // 2),
        out[luma + chroma :].reshape(HEIGHT // 2, WIDTH // 2),
    )
    for index in range(frames):
        zoom, fx, fy = window_at(move, index / max(frames - 1, 1), strength)
        left = (WIDTH - WIDTH / zoom) * fx + crop_x
        top = (HEIGHT - HEIGHT / zoom) * fy + crop_y
        # Output pixel centre u+0.5 shows frame position left + (u+0.5)/zoom, which is the
        # still's pixel centre (that/scale) - 0.5: one affine map, one resampling.
        step = 1 / (zoom * scale)
        offset_x, offset_y = (left + 0.5 / zoom) / scale - 0.5, (top + 0.5 / zoom) / scale - 0.5
        for number, (plane, target) in enumerate(zip(planes, targets, strict=True)):
            shift = 0.0 if number == 0 else 0.5 * step - 0.5  # chroma: centred between 2 luma pixels
            divide = 1 if number == 0 else 2  # chroma: half the size
            x0, y0 = (offset_x + shift) / divide, (offset_y + shift) / divide
            matrix = np.array([[step, 0, x0], [0, step, y0]])
            cv2.warpAffine(
                plane,
                matrix,
                (target.shape[1], target.shape[0]),
                dst=target,
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
        yield out.tobytes()


def _source_planes(still: Path) -> tuple[tuple[np.ndarray[Any, Any], ...], float]:
    """The still's Y, U and V planes and the scale from its pixels to the frame's at zoom 1.

    A still larger than the frame is first shrunk to just cover it (area averaging):
    bilinear sampling only enlarges well, and every move enlarges from there."""
    with Image.open(still) as opened:
        rgb = np.asarray(opened.convert("RGB"))
    height, width = rgb.shape[:2]
    scale = max(WIDTH / width, HEIGHT / height)
    if scale < 1:
        width, height = max(WIDTH, round(width * scale)), max(HEIGHT, round(height * scale))
        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
    even = rgb[: height - height % 2, : width - width % 2]
    yuv = cv2.cvtColor(np.ascontiguousarray(even), cv2.COLOR_RGB2YUV_I420)
    h, w = even.shape[:2]
    y_plane = yuv[:h]
    chroma = yuv[h:].reshape(2, h // 2, w // 2)  # I420: all of U, then all of V
    return (y_plane, chroma[0], chroma[1]), max(WIDTH / w, HEIGHT / h)

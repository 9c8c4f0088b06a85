"""The `motion` reel backend: camera moves over a still, on the CPU, smooth and deterministic.

Each move is an ffmpeg zoompan expression over the still, pre-scaled 4× so the
crop window moves in quarter-pixel steps, eased in and out with a smoothstep.
zoompan positions its window in whole input pixels: at 2× a slow 15 s pan visibly
stutters (frames alternate between a 1.7 px jump and none); at 4× every frame moves
by the same amount. 4× costs ~15 ms a frame more than 2×, and stays cheaper than an
exact sub-pixel warp (ffmpeg's perspective filter: ~29 ms a frame).
"""

from __future__ import annotations

import random

from content.reels.encode import FPS, HEIGHT, WIDTH

MOVES = ("zoom-in", "zoom-out", "pan-left", "pan-right", "parallax")
PRESCALE = 4


def pick_move(seed: int, index: int = 0) -> str:
    return random.Random(seed * 31 + index).choice(MOVES)


def move_filter(move: str, frames: int, strength: float = 0.12) -> str:
    """A filter chain turning one still into `frames` 1080×1920 frames at 30 fps."""
    if move not in MOVES:
        raise ValueError(f"unknown camera move {move!r} — use one of {', '.join(MOVES)}")
    progress = f"(on/{max(frames - 1, 1)})"
    eased = f"({progress}*{progress}*(3-2*{progress}))"
    free_x, free_y = "(iw-iw/zoom)", "(ih-ih/zoom)"
    zoom, x, y = {
        "zoom-in": (f"1+{strength}*{eased}", f"{free_x}/2", f"{free_y}/2"),
        "zoom-out": (f"1+{strength}*(1-{eased})", f"{free_x}/2", f"{free_y}/2"),
        "pan-left": (f"1+{strength}", f"{free_x}*(1-{eased})", f"{free_y}/2"),
        "pan-right": (f"1+{strength}", f"{free_x}*{eased}", f"{free_y}/2"),
        # A slow push-in while the frame drifts sideways: a hint of depth from one still.
        "parallax": (f"1+{strength}*{eased}", f"{free_x}*(0.3+0.4*{eased})", f"{free_y}*0.45"),
    }[move]
    big_w, big_h = WIDTH * PRESCALE, HEIGHT * PRESCALE
    return (
        f"scale={big_w}:{big_h}:force_original_aspect_ratio=increase:flags=lanczos,crop={big_w}:{big_h},"
        f"zoompan=z='{zoom}':x='{x}':y='{y}':d={frames}:s={WIDTH}x{HEIGHT}:fps={FPS}"
    )

"""The robust watermark against each kind of change a platform or a re-poster makes, read
blind (the reader is not told the post). The full table over 100+ pictures is
benchmarks/watermark.py; here each attack class on a few pictures."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from content.disclosure import watermark
from content.disclosure.apply import video_size
from content.post import still_reel
from content.reels import ffmpeg_exe
from content.reels.encode import read_frames
from tests.support.pictures import Pixels, cropped, jpeg, photo_like, resized

SIZE = (720, 900)  # smaller than a feed photo, so the suite stays fast; the benchmark uses 1080×1350


ATTACKS: dict[str, Callable[[Pixels], Pixels]] = {
    "jpeg-q60": lambda p: jpeg(p, 60),
    "resize-50%": lambda p: resized(p, p.shape[1] // 2),
    "resize-75%-q75": lambda p: resized(p, p.shape[1] * 3 // 4, 75),
    "crop-10%-left": lambda p: cropped(p, 0.10, 0, 0, 0),
    "crop-5%-top-right": lambda p: cropped(p, 0, 0.05, 0.05, 0),
    "crop-10%-all-sides": lambda p: cropped(p, 0.05, 0.05, 0.05, 0.05),
    # Instagram: 1080 wide (here an upscale of a smaller picture), q75, no metadata.
    "instagram": lambda p: resized(p, 1080, 75),
    "screenshot-png-90%": lambda p: resized(p, p.shape[1] * 9 // 10, None),
}


@pytest.fixture(scope="module")
def marked() -> list[tuple[int, Pixels, Pixels]]:
    """(post id, original, as vibot publishes it: marked and saved as JPEG q92)."""
    pictures = []
    for seed in (11, 12, 13):
        original = photo_like(seed, SIZE)
        pictures.append(
            (500 + seed, original, jpeg(watermark.embed(original, watermark.payload_for(500 + seed)), 92))
        )
    return pictures


def psnr(a: Pixels, b: Pixels) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def test_the_mark_costs_under_the_psnr_budget(marked: list[tuple[int, Pixels, Pixels]]) -> None:
    for post_id, original, _ in marked:
        assert psnr(original, watermark.embed(original, watermark.payload_for(post_id))) >= 40.0


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_the_post_id_survives(attack: str, marked: list[tuple[int, Pixels, Pixels]]) -> None:
    for post_id, _, published in marked:
        reading = watermark.read(ATTACKS[attack](published))
        assert reading.post_id == post_id, f"{attack}: read {reading}"
        assert reading.confidence > 0.5


def test_unmarked_pictures_name_no_post() -> None:
    for seed in range(40, 60):
        picture = photo_like(seed, (540, 675))
        assert watermark.read(jpeg(picture, 85)).post_id is None
    assert watermark.read(np.full((400, 320, 3), 128, np.uint8)).post_id is None  # flat grey
    assert watermark.read(np.zeros((60, 60, 3), np.uint8)).post_id is None  # smaller than a tile


@pytest.mark.slow
def test_a_reel_reencoded_by_a_platform_keeps_its_post_id(tmp_path: Path) -> None:
    """Every frame carries the mark; H.264 at CRF 28 scaled to 720p (what a re-poster's app
    does) leaves enough that the majority of frames still names the post."""
    still = tmp_path / "still.jpg"
    Image.fromarray(photo_like(21, (1080, 1920))).save(still, "JPEG", quality=92)
    reel = still_reel(
        still, "AI-generated", tmp_path / "reel.mp4", seconds=1, watermark=watermark.payload_for(4321)
    )
    copy = tmp_path / "copy.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-i", str(reel), "-vf", "scale=720:-2",
         "-c:v", "libx264", "-crf", "28", "-preset", "veryfast", str(copy)],
        check=True,
    )  # fmt: skip
    width, height, _ = video_size(copy)
    frames = [np.asarray(frame) for _, frame in read_frames(copy, (width, height), [0, 7, 14, 21, 28])]
    found = watermark.read_frames(frames)
    assert found.reading.post_id == 4321 and found.frames_read == 5
    assert abs(found.reading.scale - 2 / 3) < 0.01


def test_a_read_takes_as_long_with_a_mark_as_without() -> None:
    """No early exit: /verify must not say by its timing whether a picture was marked."""
    picture = photo_like(30, (540, 675))
    calls: list[int] = []
    original = watermark._fold

    def counting(residual: Pixels, scale: float) -> Pixels | None:
        calls.append(1)
        return original(residual, scale)

    watermark._fold = counting  # type: ignore[assignment]
    try:
        watermark.read(jpeg(picture, 90))
        unmarked = len(calls)
        calls.clear()
        assert watermark.read(jpeg(watermark.embed(picture, watermark.payload_for(9)), 90)).post_id == 9
        assert len(calls) == unmarked
    finally:
        watermark._fold = original  # type: ignore[assignment]

"""ffmpeg: where it is, Instagram's Reels encoder settings, and running it with progress."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from content.errors import ConfigError, GenerationError

FPS = 30
WIDTH, HEIGHT = 1080, 1920
REEL_SIZE = (WIDTH, HEIGHT)


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffprobe_exe() -> str:
    found = shutil.which("ffprobe")
    if found is None:
        raise ConfigError("ffprobe is not installed — apt-get install ffmpeg (or brew install ffmpeg)")
    return found


def h264_reel_args(fps: float, crf: int) -> list[str]:
    """Encoder settings for Instagram's Reels spec: H.264 High, yuv420p, closed GOP of two
    seconds (no scene-cut keyframes), for any vibot step that writes a reel."""
    gop = str(round(fps * 2))
    return [
        "-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast", "-crf", str(crf),
        "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-flags", "+cgop", "-pix_fmt", "yuv420p",
    ]  # fmt: skip


AAC_ARGS = ["-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"]


def run_ffmpeg(
    args: list[str],
    what: str,
    duration_s: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Run ffmpeg with `args`; `progress(fraction)` follows its -progress output."""
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    if progress is None or not duration_s:
        result = subprocess.run([*command, *args], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise GenerationError(f"ffmpeg could not {what}: {result.stderr.strip()[-400:]}")
        return
    with subprocess.Popen(
        [*command, "-progress", "pipe:1", "-nostats", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        for line in process.stdout:
            key, _, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                progress(min(1.0, int(value) / 1e6 / duration_s))
        errors = process.stderr.read()
    if process.returncode != 0:
        raise GenerationError(f"ffmpeg could not {what}: {errors.strip()[-400:]}")
    progress(1.0)


def write_frames(frames: list[object], fps: float, out: Path) -> Path:
    """Frames (H×W×3 uint8 arrays) as a lossless-enough intermediate clip, through moviepy."""
    from moviepy import ImageSequenceClip

    clip = ImageSequenceClip(frames, fps=fps)
    try:
        clip.write_videofile(
            str(out),
            codec="libx264",
            audio=False,
            logger=None,
            ffmpeg_params=["-crf", "12", "-pix_fmt", "yuv420p"],
        )
    finally:
        clip.close()
    return out

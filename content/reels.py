"""Reels, first version: a slow camera move over one still, made by ffmpeg.

This is the `motion` backend (no GPU, no API key): a smooth centred zoom over
the persona's still, with the visible AI label laid over every frame, encoded
to Instagram's Reels spec (H.264 High, yuv420p, 30 fps, closed GOP, moov
first, AAC 48 kHz stereo). Image-to-video models come with the reels issue.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from content.disclosure import label_overlay
from content.errors import GenerationError

FPS = 30
WIDTH, HEIGHT = 1080, 1920


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def h264_reel_args(fps: float, crf: int) -> list[str]:
    """Encoder settings for Instagram's Reels spec: H.264 High, yuv420p, closed GOP of two
    seconds (no scene-cut keyframes), for any vibot step that writes a reel."""
    gop = str(round(fps * 2))
    return [
        "-c:v", "libx264", "-profile:v", "high", "-preset", "veryfast", "-crf", str(crf),
        "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-flags", "+cgop", "-pix_fmt", "yuv420p",
    ]  # fmt: skip


def motion_reel(still: Path, label: str, out: Path, seconds: float, zoom_to: float = 1.12) -> Path:
    """Render `still` (1080×1920) as a `seconds`-long reel with a slow zoom and the label."""
    frames = round(seconds * FPS)
    step = (zoom_to - 1.0) / max(frames - 1, 1)
    zoom = (
        f"zoompan=z='1+{step:.8f}*on':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
        f":d={frames}:s={WIDTH}x{HEIGHT}:fps={FPS},setsar=1"
    )
    return _render(["-loop", "1", "-framerate", str(FPS), "-i", str(still)], zoom, seconds, label, out)


def finish_clip(clip: Path, label: str, out: Path, seconds: float) -> Path:
    """An image-to-video clip (any size or frame rate) as a reel: cropped to fill 1080×1920,
    30 fps, held on its last frame if short, with the label and the Reels encoding."""
    fill = (
        f"scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,crop={WIDTH}:{HEIGHT},"
        f"fps={FPS},tpad=stop_mode=clone:stop_duration={seconds:.3f},setsar=1"
    )
    return _render(["-i", str(clip)], fill, seconds, label, out)


def _render(source: list[str], video_filter: str, seconds: float, label: str, out: Path) -> Path:
    """Source → `video_filter` → the label overlaid → H.264/AAC to the Reels spec."""
    frames = round(seconds * FPS)
    with tempfile.TemporaryDirectory() as workdir:
        label_png = Path(workdir) / "label.png"
        layer = label_overlay(WIDTH, HEIGHT, label)
        box = layer.getbbox() or (0, 0, WIDTH, HEIGHT)
        layer.crop(box).save(label_png)  # overlaying only the label's box is much cheaper
        graph = f"[0:v]{video_filter}[bg];[bg][1:v]overlay={box[0]}:{box[1]}:format=auto,format=yuv420p[v]"
        command = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *source,
            "-i", str(label_png),
            "-f", "lavfi", "-i", "anullsrc=channel_layout=stereo:sample_rate=48000",
            "-filter_complex", graph, "-map", "[v]", "-map", "2:a",
            "-frames:v", str(frames), "-t", f"{frames / FPS:.3f}",
            *h264_reel_args(FPS, crf=20), "-r", str(FPS),
            "-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2",
            "-movflags", "+faststart", str(out),
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise GenerationError(f"ffmpeg could not render the reel: {result.stderr.strip()[-300:]}")
    return out

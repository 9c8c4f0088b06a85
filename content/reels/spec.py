"""A platform's video spec (Instagram's Reels by default), checked with ffprobe before a
reel enters review.

MP4/MOV with the moov atom first; H.264 (or HEVC) progressive 4:2:0, closed GOP,
23–60 fps, width ≤ 1920, 9:16; AAC ≤ 48 kHz, at most stereo; 3 s to 15 min; ≤ 1 GB.
What a re-encode can fix (codec, profile, pixel format, frame rate, audio, size,
moov position) is fixed; the rest (duration, aspect, no picture) is refused with
the reason.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from content.errors import GenerationError
from content.platforms import VideoSpec
from content.platforms.instagram import REEL as REELS
from content.reels.encode import AAC_ARGS, FPS, ffprobe_exe, h264_reel_args, run_ffmpeg


@dataclass
class SpecReport:
    fixable: list[str] = field(default_factory=list)  # a re-encode fixes these
    refused: list[str] = field(default_factory=list)  # these it cannot

    @property
    def ok(self) -> bool:
        return not self.fixable and not self.refused


def probe(path: Path) -> dict[str, Any]:
    command = [ffprobe_exe(), "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise GenerationError(f"ffprobe cannot read {path.name}: {result.stderr.strip()[-200:]}")
    probed: dict[str, Any] = json.loads(result.stdout)
    return probed


def moov_first(path: Path) -> bool:
    """Whether the moov atom comes before mdat: players (and Instagram) can start at once."""
    with path.open("rb") as handle:
        while header := handle.read(8):
            if len(header) < 8:
                return False
            size, kind = int.from_bytes(header[:4], "big"), header[4:]
            if kind == b"moov":
                return True
            if kind == b"mdat":
                return False
            if size == 1:
                size = int.from_bytes(handle.read(8), "big") - 8
            elif size == 0:
                return False
            handle.seek(size - 8, 1)
    return False


def check_reel(path: Path, spec: VideoSpec = REELS, platform: str = "Instagram") -> SpecReport:
    """What `spec` (Instagram's by default) would refuse about the video at `path`, split
    into what a re-encode fixes and what it cannot."""
    report = SpecReport()
    (min_seconds, max_seconds), (min_fps, max_fps) = spec.seconds, spec.fps
    info = probe(path)
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    fmt = info.get("format", {})
    if video is None:
        report.refused.append("no video stream")
        return report
    duration = float(fmt.get("duration") or video.get("duration") or 0)
    if not min_seconds <= duration <= max_seconds:
        report.refused.append(
            f"{duration:.1f} s long; {platform} reels must be {min_seconds:g} s to {max_seconds / 60:g} min"
        )
    width, height = int(video.get("width", 0)), int(video.get("height", 0))
    if height == 0 or abs(width / height - spec.aspect) > 0.01:
        report.refused.append(f"{width}×{height} is not 9:16 — make it 1080×1920")
    if int(fmt.get("size", 0)) > spec.max_bytes:
        report.fixable.append(f"larger than {spec.max_bytes / 2**30:g} GB")
    if "mp4" not in fmt.get("format_name", "") and "mov" not in fmt.get("format_name", ""):
        report.fixable.append(f"container {fmt.get('format_name')}, not MP4")
    if video.get("codec_name") not in ("h264", "hevc"):
        report.fixable.append(f"video codec {video.get('codec_name')}, not H.264")
    elif video.get("codec_name") == "h264" and video.get("profile") not in (
        "High",
        "Main",
        "Constrained Baseline",
    ):
        report.fixable.append(f"H.264 profile {video.get('profile')}")
    if video.get("pix_fmt") not in ("yuv420p", "yuvj420p"):
        report.fixable.append(f"pixel format {video.get('pix_fmt')}, not 4:2:0 (yuv420p)")
    if video.get("field_order") not in (None, "progressive", "unknown"):
        report.fixable.append(f"interlaced ({video.get('field_order')})")
    fps = float(Fraction(video.get("avg_frame_rate") or video.get("r_frame_rate") or "0/1") or 0)
    if not min_fps <= fps <= max_fps:
        report.fixable.append(f"{fps:.2f} fps; reels need {min_fps:g}–{max_fps:g}")
    if width > spec.max_width:
        report.fixable.append(f"{width} px wide; at most {spec.max_width}")
    if audio is not None:
        if audio.get("codec_name") != "aac":
            report.fixable.append(f"audio codec {audio.get('codec_name')}, not AAC")
        if int(audio.get("sample_rate", 0)) > 48000:
            report.fixable.append(f"audio at {audio.get('sample_rate')} Hz; at most 48 kHz")
        if int(audio.get("channels", 0)) > 2:
            report.fixable.append(f"{audio.get('channels')} audio channels; at most stereo")
    if not moov_first(path):
        report.fixable.append("moov atom after the media data (not fast-start)")
    return report


def ensure_reel_spec(path: Path) -> list[str]:
    """Check `path`; re-encode it in place to fix what can be fixed. Returns what was fixed;
    raises GenerationError with every reason when something cannot be fixed."""
    report = check_reel(path)
    if report.refused:
        raise GenerationError(f"{path.name} cannot be a reel: {'; '.join(report.refused)}")
    if report.ok:
        return []
    fixed = path.with_name(f"fixed-{path.name}")
    args = [
        "-i", str(path), "-map", "0:v:0", "-map", "0:a:0?",
        "-vf", f"scale='min(1080,iw)':-2,fps={FPS},format=yuv420p",
        *h264_reel_args(FPS, crf=20), *AAC_ARGS, "-movflags", "+faststart", str(fixed),
    ]  # fmt: skip
    run_ffmpeg(args, f"re-encode {path.name} to the Reels spec")
    again = check_reel(fixed)
    if not again.ok:
        fixed.unlink(missing_ok=True)
        raise GenerationError(
            f"{path.name} still breaks the Reels spec: {'; '.join(again.fixable + again.refused)}"
        )
    fixed.replace(path)
    return report.fixable

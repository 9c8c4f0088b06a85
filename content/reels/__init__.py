"""Reels: stills → clips (motion, a local image-to-video model, or Kling) → post-production
(content/post.py) → Instagram's Reels spec, checked with ffprobe.

    encode   ffmpeg, ffprobe and the Reels encoder settings
    motion   camera moves over a still on the CPU (the `motion` backend)
    local    an open image-to-video model through diffusers (the `local` backend)
    kling    the Kling image-to-video API (the `kling` backend)
    spec     the ffprobe check of a finished reel, and the re-encode that fixes what it can
"""

from content.reels.encode import FPS, HEIGHT, REEL_SIZE, WIDTH, ffmpeg_exe, ffprobe_exe, h264_reel_args

__all__ = ["FPS", "HEIGHT", "REEL_SIZE", "WIDTH", "ffmpeg_exe", "ffprobe_exe", "h264_reel_args"]

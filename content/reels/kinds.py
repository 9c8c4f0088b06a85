"""The names a persona and `vibot reel` choose reels by: each written here once, read by the
persona schema, the CLI, the reel stage's registry (bot/reeling.py) and the docs."""

from __future__ import annotations

from enum import StrEnum


class ReelBackend(StrEnum):
    """How stills become moving segments."""

    MOTION = "motion"  # camera moves over each still, on the CPU (content/reels/motion.py)
    LOCAL = "local"  # an image-to-video model through diffusers (content/reels/local.py)
    KLING = "kling"  # Kling's image-to-video API (content/reels/kling.py)


class Transition(StrEnum):
    """How one segment gives way to the next."""

    CROSSFADE = "crossfade"
    SLIDE = "slide"
    CUT = "cut"


def names(kind: type[StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in kind)

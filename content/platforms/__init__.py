"""Platforms as data: what each takes, how it flags AI content, and the `account:` sections
of the publishers that post to it.

Each module in this package describes one platform: a `SPEC` (PlatformSpec) and one
Account model per publisher that posts there, whose `publisher: Literal["name"]` is the one
place that publisher's name is written. The persona schema, the CLI, the web UI, the docs
and bot's publisher registry all read the names and numbers from here, found by walking
the package: adding a platform adds a module and edits no list.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field

from content.schema import Duration, Strict

Format = Literal["photo", "carousel", "reel"]


@dataclass(frozen=True)
class ImageSpec:
    max_bytes: int
    width: tuple[int, int]  # least and most pixels
    aspect: tuple[float, float]  # width / height, least and most
    formats: tuple[str, ...] = ("JPEG",)  # as Pillow names them
    mode: str = "RGB"


@dataclass(frozen=True)
class VideoSpec:
    seconds: tuple[float, float]
    fps: tuple[float, float]
    max_width: int
    aspect: float  # width / height
    max_bytes: int


@dataclass(frozen=True)
class AiFlag:
    """How the platform itself is told that a post is AI-made, besides vibot's own label."""

    parameter: str | None  # the API field vibot sets on every post; None: the platform has none
    value: str = "true"
    note: str = ""


@dataclass(frozen=True)
class Limits:
    posts_per_day: int | None = None
    requests_per_minute: int | None = None


@dataclass(frozen=True)
class PlatformSpec:
    name: str
    title: str  # as people write it, for messages: "Instagram"
    caption_limit: int  # characters, disclosure line and hashtags included
    hashtag_limit: int | None  # None: no limit of its own
    formats: tuple[Format, ...]
    image: ImageSpec | None
    carousel_items: tuple[int, int] | None
    reel: VideoSpec | None
    ai_flag: AiFlag
    limits: Limits

    def caption_problems(self, caption: str, hashtags: int) -> list[str]:
        """What the platform would refuse about a caption of this text and hashtag count."""
        problems = []
        if len(caption) > self.caption_limit:
            problems.append(
                f"the caption is {len(caption)} characters; {self.title} allows {self.caption_limit} — "
                f"shorten it by {len(caption) - self.caption_limit}"
            )
        if self.hashtag_limit is not None and hashtags > self.hashtag_limit:
            problems.append(
                f"the caption has {hashtags} hashtags; {self.title} allows {self.hashtag_limit} — "
                f"remove {hashtags - self.hashtag_limit}"
            )
        return problems

    def image_problems(self, path: Path) -> list[str]:
        from PIL import Image, UnidentifiedImageError  # only here: persona loading stays light

        spec = self.image
        if spec is None:
            return [f"{self.title} takes no images"]
        problems = []
        size_mb, most_mb = path.stat().st_size / 2**20, spec.max_bytes / 2**20
        if size_mb > most_mb:
            problems.append(f"{path.name} is {size_mb:.1f} MB; {self.title} takes at most {most_mb:g} MB")
        try:
            with Image.open(path) as image:
                kind, mode, (width, height) = image.format, image.mode, image.size
        except (UnidentifiedImageError, OSError):
            return [*problems, f"{path.name} is not an image"]
        if kind not in spec.formats:
            problems.append(f"{path.name} is {kind}; {self.title} publishes {', '.join(spec.formats)}")
        if mode != spec.mode:
            problems.append(f"{path.name} is {mode}; {self.title} wants {spec.mode} (sRGB)")
        least, most = spec.width
        if not least <= width <= most:
            problems.append(f"{path.name} is {width} px wide; {self.title} takes {least}–{most}")
        low, high = spec.aspect
        if not low - 0.005 <= width / height <= high + 0.005:
            allowed = f"{ratio_name(low)} to {ratio_name(high)}"
            problems.append(f"{path.name} has aspect {width / height:.2f}; {self.title} takes {allowed}")
        return problems

    def post_problems(self, fmt: str, media: list[Path]) -> list[str]:
        """Everything the platform would refuse about this post's files, found before any
        upload: a refusal names the reason instead of spending a call of the account's quota."""
        if fmt not in self.formats:
            return [f"{self.title} does not take {fmt} posts"]
        if fmt == "reel":
            from content.reels.spec import check_reel

            assert self.reel is not None
            report = check_reel(media[0], self.reel, self.title)
            problems = [f"{media[0].name}: {p}" for p in report.refused + report.fixable]
            if self.image is None:  # no image posts, so no custom cover either: the cover stays home
                return problems
            covers = [p for cover in media[1:] for p in self.image_problems(cover) if "aspect" not in p]
            return problems + covers
        if fmt == "carousel" and self.carousel_items is not None:
            least, most = self.carousel_items
            if not least <= len(media) <= most:
                return [f"a carousel has {len(media)} items; {self.title} takes {least}–{most}"]
        return [problem for path in media for problem in self.image_problems(path)]


def ratio_name(aspect: float) -> str:
    named = {0.8: "4:5", 1.0: "1:1", 0.5625: "9:16", 1.91: "1.91:1"}
    return named.get(round(aspect, 4), f"{aspect:.2f}:1")


class AccountBase(Strict):
    """What every account section has: account health, whichever platform it is on.

    A subclass declares `publisher: Literal["its-name"] = "its-name"` and its own fields,
    and sets `platform` to its platform module's SPEC."""

    publisher: str
    # At most this many posts a day, and this far apart (late posts after downtime would
    # otherwise go out in a burst).
    daily_cap: int = Field(default=10, ge=1, le=50)
    min_spacing: Duration = timedelta(minutes=30)

    @classmethod
    def publisher_name(cls) -> str:
        (name,) = get_args(cls.model_fields["publisher"].annotation)
        return str(name)

    @classmethod
    def spec(cls) -> PlatformSpec:
        spec: PlatformSpec = importlib.import_module(cls.__module__).SPEC
        return spec


@cache
def _modules() -> tuple[Any, ...]:
    return tuple(
        importlib.import_module(f"{__name__}.{found.name}")
        for found in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
        if not found.name.startswith("_")
    )


@cache
def platforms() -> dict[str, PlatformSpec]:
    """Every platform vibot knows, by name."""
    return {module.SPEC.name: module.SPEC for module in _modules()}


@cache
def account_models() -> dict[str, type[AccountBase]]:
    """Every publisher's account section, by publisher name."""
    found: dict[str, type[AccountBase]] = {}
    for module in _modules():
        for value in vars(module).values():
            own = isinstance(value, type) and value.__module__ == module.__name__
            if own and issubclass(value, AccountBase):
                name = value.publisher_name()
                if name in found:
                    raise RuntimeError(f"publisher {name!r} is described twice ({module.__name__})")
                found[name] = value
    return dict(sorted(found.items()))


def publisher_names() -> tuple[str, ...]:
    return tuple(account_models())

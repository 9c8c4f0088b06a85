"""Instagram's media spec, checked before anything is uploaded: a refusal names the reason
instead of burning a call of the account's publishing quota (FACTS: "Instagram and Kling").

Images: JPEG, at most 8 MB, 320–1440 px wide, aspect 4:5 to 1.91:1, RGB (sRGB).
Reels: content/reels/spec.py. Carousels: 2–10 items.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, UnidentifiedImageError

MAX_IMAGE_BYTES = 8 * 1024 * 1024
MIN_WIDTH, MAX_WIDTH = 320, 1440
MIN_ASPECT, MAX_ASPECT = 4 / 5, 1.91
CAROUSEL_ITEMS = (2, 10)


def image_problems(path: Path) -> list[str]:
    problems = []
    if path.stat().st_size > MAX_IMAGE_BYTES:
        problems.append(f"{path.name} is {path.stat().st_size / 2**20:.1f} MB; Instagram takes at most 8 MB")
    try:
        with Image.open(path) as image:
            kind, mode, (width, height) = image.format, image.mode, image.size
    except (UnidentifiedImageError, OSError):
        return [*problems, f"{path.name} is not an image"]
    if kind != "JPEG":
        problems.append(f"{path.name} is {kind}; Instagram publishes JPEG")
    if mode != "RGB":
        problems.append(f"{path.name} is {mode}; Instagram wants RGB (sRGB)")
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        problems.append(f"{path.name} is {width} px wide; Instagram takes {MIN_WIDTH}–{MAX_WIDTH}")
    if not MIN_ASPECT - 0.005 <= width / height <= MAX_ASPECT + 0.005:
        problems.append(f"{path.name} has aspect {width / height:.2f}; Instagram takes 4:5 to 1.91:1")
    return problems


def post_problems(fmt: str, media: list[Path]) -> list[str]:
    """Everything Instagram would refuse about this post's files."""
    if fmt == "reel":
        from content.reels.spec import check_reel

        report = check_reel(media[0])
        problems = [f"{media[0].name}: {p}" for p in report.refused + report.fixable]
        return problems + [p for cover in media[1:] for p in image_problems(cover) if "aspect" not in p]
    if fmt == "carousel" and not CAROUSEL_ITEMS[0] <= len(media) <= CAROUSEL_ITEMS[1]:
        return [f"a carousel has {len(media)} items; Instagram takes 2–10"]
    return [problem for path in media for problem in image_problems(path)]

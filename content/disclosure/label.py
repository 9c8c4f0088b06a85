"""AI disclosure: the visible label burned into pixels and the caption's
disclosure line. Both are mandatory; a persona only changes the wording."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

LABEL_MIN_SHARE = 0.05  # label text at least 5% of the image's short side


@dataclass(frozen=True)
class CaptionDisclosure:
    line: str
    hashtag: str


def label_box_height(width: int, height: int) -> int:
    return max(round(min(width, height) * LABEL_MIN_SHARE), 12)


def label_overlay(width: int, height: int, text: str, scale: float = 1.0) -> Image.Image:
    """A transparent RGBA layer with the label in its lower-left corner. `scale` < 1 is the
    small badge a reel keeps after its first seconds (the full label is the minimum size)."""
    text_px = max(round(label_box_height(width, height) * scale), 10)
    font = ImageFont.load_default(size=text_px)
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = text_px // 3
    margin = round(min(width, height) * 0.03)
    box_w, box_h = right - left + 2 * pad, max(bottom - top, text_px) + 2 * pad
    x0, y0 = margin, height - margin - box_h
    draw.rounded_rectangle((x0, y0, x0 + box_w, y0 + box_h), radius=pad, fill=(0, 0, 0, 170))
    draw.text((x0 + pad - left, y0 + pad - top), text, font=font, fill=(255, 255, 255, 255))
    return layer


def burn_label(image: Image.Image, text: str) -> Image.Image:
    """The image with its visible AI label burned in (returns RGB)."""
    base = image.convert("RGBA")
    return Image.alpha_composite(base, label_overlay(*base.size, text)).convert("RGB")


def lock_disclosure(text: str, disclosure: CaptionDisclosure) -> str:
    """The caption with the disclosure line first and the hashtag present.

    Whatever a person or a writer did to the text, the line goes back on top
    (before Instagram's "more" cut) — it cannot be edited away.
    """
    lines = [line for line in text.strip().splitlines() if line.strip() != disclosure.line]
    body = "\n".join(lines).strip()
    if disclosure.hashtag.lower() not in body.lower().split():
        body = f"{body}\n{disclosure.hashtag}".strip()
    return f"{disclosure.line}\n\n{body}"


def has_disclosure(caption: str, disclosure: CaptionDisclosure) -> bool:
    first_line = caption.strip().splitlines()[0] if caption.strip() else ""
    return first_line == disclosure.line and disclosure.hashtag.lower() in caption.lower().split()


def label_present(
    image: Image.Image, text: str, scale: float = 1.0
) -> tuple[bool, tuple[int, int, int, int]]:
    """Whether the label `text` is visible where vibot draws it, and that box.

    The expected overlay is drawn again for the image's size: its opaque pixels
    (the letters) must be light and the rest of its box dark — which survives
    JPEG and H.264, and fails when the label is missing, cropped or covered.
    """
    import numpy as np

    overlay = np.asarray(label_overlay(*image.size, text, scale))
    alpha = overlay[..., 3]
    left, top, right, bottom = Image.fromarray(alpha).getbbox() or (0, 0, 0, 0)
    luminance = np.asarray(image.convert("L"), dtype=np.float32)
    letters, box = alpha == 255, (alpha > 0) & (alpha < 255)
    if not letters.any() or not box.any():
        return False, (left, top, right, bottom)
    contrast = float(luminance[letters].mean() - luminance[box].mean())
    return contrast > 60 and float(luminance[letters].mean()) > 150, (left, top, right, bottom)

"""AI disclosure: the visible label burned into pixels and the caption's
disclosure line. Both are mandatory; a persona only changes the wording."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from PIL import Image, ImageDraw, ImageFont

LABEL_MIN_SHARE = 0.05  # label text at least 5% of the image's short side


class LabelStyle(StrEnum):
    TEXT = "text"  # the persona's label text in a dark box
    # The EU's "AI" icon (Code of Practice on marking and labelling AI-generated content,
    # section 2): "AI" in a rounded square, drawn here, then the label text beside it.
    EU_AI = "eu-ai"


@dataclass(frozen=True)
class CaptionDisclosure:
    line: str
    hashtag: str


def label_box_height(width: int, height: int) -> int:
    return max(round(min(width, height) * LABEL_MIN_SHARE), 12)


def label_overlay(
    width: int, height: int, text: str, scale: float = 1.0, style: LabelStyle = LabelStyle.TEXT
) -> Image.Image:
    """A transparent RGBA layer with the label in its lower-left corner. `scale` < 1 is the
    small badge a reel keeps after its first seconds (the full label is the minimum size).
    Opaque pixels are the light letters (and the icon's frame), the box is dark and
    translucent: what `label_present` looks for."""
    text_px = max(round(label_box_height(width, height) * scale), 10)
    font = ImageFont.load_default(size=text_px)
    layer = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = text_px // 3
    margin = round(min(width, height) * 0.03)
    inner_h = max(bottom - top, text_px)
    icon = round(inner_h * 1.25) if style == LabelStyle.EU_AI else 0  # the icon's side
    inner_h = max(inner_h, icon)
    box_w, box_h = (icon + pad if icon else 0) + right - left + 2 * pad, inner_h + 2 * pad
    x0, y0 = margin, height - margin - box_h
    draw.rounded_rectangle((x0, y0, x0 + box_w, y0 + box_h), radius=pad, fill=(0, 0, 0, 170))
    if icon:
        _eu_ai_icon(draw, round(x0 + pad), round(y0 + pad), icon)
    # Text-only labels keep their exact old pixels: files labelled before are re-checked
    # against this drawing right before they leave.
    text_y = y0 + pad - top + ((inner_h - (bottom - top)) // 2 if icon else 0)
    draw.text(
        (x0 + pad + (icon + pad if icon else 0) - left, text_y), text, font=font, fill=(255, 255, 255, 255)
    )
    return layer


def _eu_ai_icon(draw: ImageDraw.ImageDraw, x: int, y: int, side: int) -> None:
    """ "AI" in a light rounded square frame, `side` pixels across (the icon's white variant
    on the label's dark box)."""
    stroke = max(side // 10, 2)
    draw.rounded_rectangle(
        (x, y, x + side, y + side), radius=side // 5, outline=(255, 255, 255, 255), width=stroke
    )
    font = ImageFont.load_default(size=round(side * 0.55))
    left, top, right, bottom = draw.textbbox((0, 0), "AI", font=font, stroke_width=max(side // 30, 1))
    draw.text(
        (x + (side - (right - left)) // 2 - left, y + (side - (bottom - top)) // 2 - top),
        "AI",
        font=font,
        fill=(255, 255, 255, 255),
        stroke_width=max(side // 30, 1),  # bold: the default font has no bold face
        stroke_fill=(255, 255, 255, 255),
    )


def burn_label(image: Image.Image, text: str, style: LabelStyle = LabelStyle.TEXT) -> Image.Image:
    """The image with its visible AI label burned in (returns RGB)."""
    base = image.convert("RGBA")
    return Image.alpha_composite(base, label_overlay(*base.size, text, style=style)).convert("RGB")


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
    image: Image.Image, text: str, scale: float = 1.0, style: LabelStyle = LabelStyle.TEXT
) -> tuple[bool, tuple[int, int, int, int]]:
    """Whether the label `text` is visible where vibot draws it, and that box.

    The expected overlay is drawn again for the image's size: its opaque pixels
    (the letters) must be light and the rest of its box dark — which survives
    JPEG and H.264, and fails when the label is missing, cropped or covered.
    """
    import numpy as np

    overlay = np.asarray(label_overlay(*image.size, text, scale, style))
    alpha = overlay[..., 3]
    left, top, right, bottom = Image.fromarray(alpha).getbbox() or (0, 0, 0, 0)
    luminance = np.asarray(image.convert("L"), dtype=np.float32)
    letters, box = alpha == 255, (alpha > 0) & (alpha < 255)
    if not letters.any() or not box.any():
        return False, (left, top, right, bottom)
    contrast = float(luminance[letters].mean() - luminance[box].mean())
    return contrast > 60 and float(luminance[letters].mean()) > 150, (left, top, right, bottom)

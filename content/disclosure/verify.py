"""Read every disclosure layer of a file back (`vibot verify`).

The JSON shape (`VerifyReport.as_dict`) is documented in docs/cli.md and stable.
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from content.disclosure import provenance, watermark, xmp
from content.disclosure.apply import video_size
from content.disclosure.label import label_present
from content.errors import NotFoundError
from content.reels import ffmpeg_exe

DEFAULT_LABEL = "AI-generated"
LABEL_CHECK_SECONDS = (0.0, 1.9)  # a reel shows the full label for at least its first 2 seconds


@dataclass
class LabelCheck:
    ok: bool
    text: str
    region: list[int]  # x0, y0, x1, y1 in pixels
    frames_checked: list[int]


@dataclass
class WatermarkCheck:
    ok: bool
    payload: str | None
    post_id: int | None
    bit_agreement: float | None
    frames_checked: list[int]


@dataclass
class XmpCheck:
    ok: bool
    digital_source_type: str | None
    description: str | None
    creator_tool: str | None


@dataclass
class C2paCheck:
    ok: bool
    state: str
    digital_source_type: str | None
    errors: list[str]


@dataclass
class VerifyReport:
    file: str
    kind: str  # image | video
    ok: bool
    label: LabelCheck
    watermark: WatermarkCheck
    xmp: XmpCheck
    c2pa: C2paCheck

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def problems(self) -> list[str]:
        names = {
            "label": "visible label",
            "watermark": "invisible watermark",
            "xmp": "XMP DigitalSourceType",
            "c2pa": "C2PA manifest",
        }
        return [f"{names[layer]} missing or invalid" for layer in names if not getattr(self, layer).ok]


def _frame(path: Path, index: int) -> Image.Image:
    width, height, _ = video_size(path)
    result = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            f"select=eq(n\\,{index})",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0 or len(result.stdout) < width * height * 3:
        raise NotFoundError(f"{path.name}: cannot read frame {index}")
    pixels = np.frombuffer(result.stdout[: width * height * 3], dtype=np.uint8).reshape(height, width, 3)
    return Image.fromarray(pixels)


def _check_label(images: list[tuple[int, Image.Image]], text: str) -> LabelCheck:
    results = [label_present(image, text) for _, image in images]
    return LabelCheck(all(ok for ok, _ in results), text, list(results[0][1]), [i for i, _ in images])


def _check_watermark(images: list[tuple[int, Image.Image]], expected: bytes | None) -> WatermarkCheck:
    readings = [watermark.read(np.asarray(image.convert("RGB")), expected) for _, image in images]
    best = max(readings, key=lambda r: (r.post_id is not None, r.bit_agreement or 0.0))
    ok = best.post_id is not None and (expected is None or best.bit_agreement == 1.0)
    return WatermarkCheck(ok, best.payload_hex, best.post_id, best.bit_agreement, [i for i, _ in images])


def verify_file(path: Path, trust_anchor_pem: bytes | None = None) -> VerifyReport:
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist — check the path")
    manifest = provenance.read(path, trust_anchor_pem)
    disclosure = manifest.disclosure
    text = str(disclosure.get("visible_label") or DEFAULT_LABEL)
    expected = bytes.fromhex(disclosure["watermark"]) if disclosure.get("watermark") else None
    video = path.suffix.lower() == ".mp4"
    if video:
        _, _, fps = video_size(path)
        label_frames = [_frame(path, round(t * fps)) for t in LABEL_CHECK_SECONDS]
        label = _check_label(
            list(zip([round(t * fps) for t in LABEL_CHECK_SECONDS], label_frames, strict=True)), text
        )
        listed = str(disclosure.get("watermark_frames") or "0")
        marked = [int(n) for n in listed.split(",") if n.strip().isdigit()][:2] or [0]
        mark = _check_watermark([(i, _frame(path, i)) for i in marked], expected)
    else:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        label = _check_label([(0, image)], text)
        mark = _check_watermark([(0, image)], expected)
    fields = xmp.read(path)
    xmp_check = XmpCheck(
        fields.digital_source_type == xmp.TRAINED_ALGORITHMIC_MEDIA,
        fields.digital_source_type,
        fields.description,
        fields.creator_tool,
    )
    c2pa_ok = (
        manifest.state in ("Valid", "Trusted")
        and not manifest.errors
        and manifest.digital_source_type == xmp.TRAINED_ALGORITHMIC_MEDIA
    )
    c2pa_check = C2paCheck(c2pa_ok, manifest.state, manifest.digital_source_type, manifest.errors)
    ok = label.ok and mark.ok and xmp_check.ok and c2pa_check.ok
    return VerifyReport(str(path), "video" if video else "image", ok, label, mark, xmp_check, c2pa_check)

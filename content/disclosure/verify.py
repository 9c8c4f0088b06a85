"""Read every disclosure layer of a file back (`vibot verify`).

The JSON shape (`VerifyReport.as_dict`) is documented in docs/cli.md and stable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from content.disclosure import provenance, watermark, xmp
from content.disclosure.apply import video_size
from content.disclosure.label import LabelStyle, label_present
from content.errors import NotFoundError
from content.reels.encode import read_frames
from content.reels.spec import probe

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
    confidence: float = 0.0  # 0–1: bit agreement, discounted for a weak sync
    algorithm: str | None = None
    frames_agreeing: int = 0  # of frames_checked, how many name the post on their own


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
    timestamp: str | None = None  # the RFC 3161 time the signature carries, when it validated
    timestamp_authority: str | None = None


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


def frame_count(path: Path) -> int:
    video = next(s for s in probe(path)["streams"] if s["codec_type"] == "video")
    return int(video.get("nb_frames") or 1)


def _frames(path: Path, size: tuple[int, int], indices: list[int]) -> dict[int, Image.Image]:
    """Frames `indices` of a video, decoded in one ffmpeg run (one decode, not one a frame)."""
    frames = dict(read_frames(path, size, indices))
    missing = [index for index in sorted(set(indices)) if index not in frames]
    if missing:
        raise NotFoundError(f"{path.name}: cannot read frame {missing[0]}")
    return frames


def _check_label(images: list[tuple[int, Image.Image]], text: str, style: LabelStyle) -> LabelCheck:
    results = [label_present(image, text, style=style) for _, image in images]
    return LabelCheck(all(ok for ok, _ in results), text, list(results[0][1]), [i for i, _ in images])


def _check_watermark(images: list[tuple[int, Image.Image]], expected: bytes | None) -> WatermarkCheck:
    """The majority over the frames read (one, for an image). A file whose manifest names
    a payload must carry that one (checked informed, bit by bit); a file without one must
    give a post id blind."""
    frames = [np.asarray(image.convert("RGB")) for _, image in images]
    found = watermark.read_frames(frames, expected)
    best = found.reading
    post_id = best.post_id
    if post_id is None and best.matches and expected is not None:
        post_id = watermark.post_id_from(expected) or watermark.legacy_post_id(expected)
    payload = best.payload_hex or (expected.hex() if best.matches and expected is not None else None)
    return WatermarkCheck(
        best.found, payload, post_id, best.bit_agreement, [i for i, _ in images],
        best.confidence, best.algorithm if best.found else None, found.frames_agreeing,
    )  # fmt: skip


def watermark_frames(frame_count: int, listed: str) -> list[int]:
    """Which frames to read: a legacy reel lists its marked ones; a reel marked in every
    frame is read at five points spread over the first `frame_count` frames."""
    numbers = [int(n) for n in listed.split(",") if n.strip().isdigit()]
    if numbers:
        return numbers[:2]
    last = max(frame_count - 2, 0)
    return sorted({round(i * last / 4) for i in range(5)})


def verify_file(path: Path, trust_anchor_pem: bytes | None = None) -> VerifyReport:
    if not path.is_file():
        raise NotFoundError(f"{path} does not exist — check the path")
    manifest = provenance.read(path, trust_anchor_pem)
    disclosure = manifest.disclosure
    text = str(disclosure.get("visible_label") or DEFAULT_LABEL)
    styles = {style.value: style for style in LabelStyle}
    style = styles.get(str(disclosure.get("visible_label_style")), LabelStyle.TEXT)
    expected = bytes.fromhex(disclosure["watermark"]) if disclosure.get("watermark") else None
    video = path.suffix.lower() == ".mp4"
    if video:
        width, height, fps = video_size(path)
        labelled = [round(t * fps) for t in LABEL_CHECK_SECONDS]
        # Within the label's first 2 s: the frames are decoded in the same ffmpeg run, and
        # no further (a whole reel's decode for a check that any stretch answers).
        spread = min(frame_count(path), labelled[-1] + 2)
        marked = watermark_frames(spread, str(disclosure.get("watermark_frames") or ""))
        frames = _frames(path, (width, height), labelled + marked)
        label = _check_label([(i, frames[i]) for i in labelled], text, style)
        mark = _check_watermark([(i, frames[i]) for i in marked], expected)
    else:
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        label = _check_label([(0, image)], text, style)
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
    c2pa_check = C2paCheck(
        c2pa_ok,
        manifest.state,
        manifest.digital_source_type,
        manifest.errors,
        manifest.timestamp,
        manifest.timestamp_authority,
    )
    ok = label.ok and mark.ok and xmp_check.ok and c2pa_check.ok
    return VerifyReport(str(path), "video" if video else "image", ok, label, mark, xmp_check, c2pa_check)

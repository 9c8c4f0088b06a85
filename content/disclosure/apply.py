"""Apply the file layers of disclosure, in the only order that works:

visible label (already burned by the stage) → final size (already exact)
→ invisible watermark → XMP → C2PA signature (last: any edit breaks it)
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from content.disclosure import provenance, watermark, xmp
from content.disclosure.certs import SigningMaterial
from content.errors import GenerationError
from content.reels import h264_reel_args
from content.reels.encode import FrameEdit, pipe_frames, raw_input, raw_output, read_frames
from content.reels.spec import probe

MARKED_FRAMES = "all"  # a reel carries its mark in every frame (~15 ms a 1080×1920 frame)


@dataclass(frozen=True)
class DisclosureJob:
    post_id: int
    visible_label: str
    description: str  # dc:description, e.g. "AI-generated image of Mara Lind (virtual influencer)"
    models: list[str]
    title: str
    visible_label_style: str = "text"


JPEG_QUALITIES = (92, 95, 98)  # the first at which the watermark reads back is kept


def _save_final(image: Image.Image, path: Path, quality: int = JPEG_QUALITIES[0]) -> None:
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        image.save(path, "JPEG", quality=quality, optimize=True, subsampling=0)
    elif suffix == ".png":
        image.save(path, "PNG", optimize=True)
    elif suffix == ".webp":
        image.save(path, "WEBP", lossless=True)  # lossy WebP flips watermark bits
    else:
        raise GenerationError(f"{path.name}: images must be JPEG, PNG or WebP")


def watermark_image(path: Path, payload: bytes, final_suffix: str | None = None) -> Path:
    """Embed the payload and write the final file. A lossless intermediate (PNG from the
    stage) becomes `final_suffix` here, so a published JPEG is encoded exactly once.

    The watermark is read back from the written file: on some small or noisy images JPEG
    at q92 flips enough bits to lose it, and then a higher quality is used instead."""
    with Image.open(path) as opened:
        pixels = np.asarray(opened.convert("RGB"))
    final = path.with_suffix(final_suffix) if final_suffix else path
    marked = Image.fromarray(watermark.embed(pixels, payload))
    for quality in JPEG_QUALITIES:
        _save_final(marked, final, quality)
        with Image.open(final) as written:
            if watermark.read(np.asarray(written.convert("RGB")), payload).matches:
                break
    else:
        raise GenerationError(
            f"the invisible watermark does not survive saving {final.name} — regenerate the post "
            "(it happens with near-flat or pure-noise images)"
        )
    if final != path:
        path.unlink()
    return final


def video_size(path: Path) -> tuple[int, int, float]:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    reader.close()
    width, height = meta["size"]
    return int(width), int(height), float(meta["fps"])


MASK_EVERY = 6  # frames: a reel's texture mask is measured five times a second


def video_marker(payload: bytes, size: tuple[int, int]) -> FrameEdit:
    """A pipe_frames edit embedding the payload in every raw yuv420p frame. Every frame:
    a platform's re-encode keeps a mark that stands still better than one that blinks,
    and a reader can take any frames it likes. Only the Y plane changes: the mark lives
    in luminance, so colour stays exactly as the encoder would have had it.

    The mark's texture mask is measured on every MASK_EVERY-th frame and kept for the
    frames between: a camera move shifts the picture by a few pixels in a fifth of a
    second, less than the mask's own blur, and adding a ready mark is a quarter of the
    work of measuring one."""
    width, height = size
    luma_bytes = width * height
    delta: list[np.ndarray[Any, Any]] = []

    def mark(index: int, frame: bytes) -> bytes:
        plane = np.frombuffer(frame, dtype=np.uint8, count=luma_bytes).reshape(height, width)
        if index % MASK_EVERY == 0 or not delta:
            delta[:] = [watermark.luma_plane_delta(plane, payload)]
        return watermark.add_delta(plane, delta[0]).tobytes() + frame[luma_bytes:]

    return mark


def watermark_video(path: Path, payload: bytes) -> None:
    """Embed the payload in every frame and re-encode to the Reels spec, keeping the
    audio. (vibot's own reels are marked while they render, and skip this second encode:
    see `already_marked`.)"""
    width, height, fps = video_size(path)
    with tempfile.TemporaryDirectory() as workdir:
        out = Path(workdir) / f"marked{path.suffix}"
        source = ["-i", str(path), *raw_output()]
        sink = [
            *raw_input((width, height), fps), "-i", str(path), "-map", "0:v", "-map", "1:a?",
            *h264_reel_args(fps, crf=18), "-c:a", "copy", "-movflags", "+faststart", str(out),
        ]  # fmt: skip
        pipe_frames(
            source, sink, (width, height), f"re-encode {path.name} with its watermark",
            video_marker(payload, (width, height)),
        )  # fmt: skip
        out.replace(path)


def already_marked(path: Path, payload: bytes) -> bool:
    """Whether a video carries `payload` from its render. Frame 0 is read back: a reel is
    trusted to be marked only where the mark is found."""
    video = next(s for s in probe(path)["streams"] if s["codec_type"] == "video")
    first = next(read_frames(path, (int(video["width"]), int(video["height"])), [0]), None)
    return first is not None and watermark.read(np.asarray(first[1])).post_id == watermark.post_id_from(
        payload
    )


def disclose(
    path: Path, job: DisclosureJob, material: SigningMaterial, final_suffix: str | None = None
) -> Path:
    """Watermark, XMP and C2PA on one finished file (label and size already final).
    Returns the final file: `path`, or for an image the same name with `final_suffix`."""
    payload = watermark.payload_for(job.post_id)
    frames: str | None = None
    if path.suffix.lower() == ".mp4":
        if not already_marked(path, payload):
            watermark_video(path, payload)
        frames = MARKED_FRAMES
    else:
        path = watermark_image(path, payload, final_suffix)
    xmp.write(path, job.description)
    provenance.sign(
        path,
        provenance.Provenance(
            title=job.title,
            models=job.models,
            visible_label=job.visible_label,
            visible_label_style=job.visible_label_style,
            watermark_payload=payload.hex(),
            watermark_algorithm=watermark.ALGORITHM,
            watermark_frames=frames,
        ),
        material,
    )
    return path

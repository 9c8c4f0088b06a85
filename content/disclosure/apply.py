"""Apply the file layers of disclosure, in the only order that works:

visible label (already burned by the stage) → final size (already exact)
→ invisible watermark → XMP → C2PA signature (last: any edit breaks it)
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from content.disclosure import provenance, watermark, xmp
from content.disclosure.certs import SigningMaterial
from content.errors import GenerationError
from content.reels import ffmpeg_exe, h264_reel_args

VIDEO_WATERMARK_EVERY = 30  # frames: one watermarked frame a second at 30 fps


@dataclass(frozen=True)
class DisclosureJob:
    post_id: int
    visible_label: str
    description: str  # dc:description, e.g. "AI-generated image of Mara Lind (virtual influencer)"
    models: list[str]
    title: str


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
            if watermark.read(np.asarray(written.convert("RGB"))).post_id == watermark.post_id_from(payload):
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


def watermark_video(path: Path, payload: bytes, every: int = VIDEO_WATERMARK_EVERY) -> list[int]:
    """Embed the payload in every `every`-th frame and re-encode to the Reels spec, keeping
    the audio. Returns the watermarked frame numbers."""
    width, height, fps = video_size(path)
    frame_bytes = width * height * 3
    marked = []
    with tempfile.TemporaryDirectory() as workdir:
        out = Path(workdir) / f"marked{path.suffix}"
        reader = subprocess.Popen(
            [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
            stdout=subprocess.PIPE,
        )
        writer = subprocess.Popen(
            [
                ffmpeg_exe(),
                "-v",
                "error",
                "-y",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "rgb24",
                "-s",
                f"{width}x{height}",
                "-r",
                f"{fps:g}",
                "-i",
                "-",
                "-i",
                str(path),
                "-map",
                "0:v",
                "-map",
                "1:a?",
                *h264_reel_args(fps, crf=18),
                "-c:a",
                "copy",
                "-movflags",
                "+faststart",
                str(out),
            ],
            stdin=subprocess.PIPE,
        )
        with reader, writer:  # closes both pipes, whatever happens
            assert reader.stdout is not None and writer.stdin is not None
            index = 0
            while chunk := reader.stdout.read(frame_bytes):
                if len(chunk) < frame_bytes:
                    break
                if index % every == 0:
                    frame = np.frombuffer(chunk, dtype=np.uint8).reshape(height, width, 3)
                    chunk = watermark.embed(frame, payload).tobytes()
                    marked.append(index)
                writer.stdin.write(chunk)
                index += 1
            writer.stdin.close()
        if reader.returncode != 0 or writer.returncode != 0:
            raise GenerationError(f"ffmpeg could not re-encode {path.name} with its watermark")
        out.replace(path)
    return marked


def disclose(
    path: Path, job: DisclosureJob, material: SigningMaterial, final_suffix: str | None = None
) -> Path:
    """Watermark, XMP and C2PA on one finished file (label and size already final).
    Returns the final file: `path`, or for an image the same name with `final_suffix`."""
    payload = watermark.payload_for(job.post_id)
    frames: list[int] | None = None
    if path.suffix.lower() == ".mp4":
        frames = watermark_video(path, payload)
    else:
        path = watermark_image(path, payload, final_suffix)
    xmp.write(path, job.description)
    provenance.sign(
        path,
        provenance.Provenance(
            title=job.title,
            models=job.models,
            visible_label=job.visible_label,
            watermark_payload=payload.hex(),
            watermark_frames=frames,
        ),
        material,
    )
    return path

"""Benchmark: what survives what — watermark bits, XMP and C2PA after the changes a
platform or a re-poster makes.

    python benchmarks/watermark.py

Images at Instagram's final feed size (1080×1350); a 3 s reel at 1080×1920.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from content.disclosure import burn_label, watermark, xmp
from content.disclosure.apply import DisclosureJob, disclose
from content.disclosure.certs import load_material
from content.disclosure.provenance import read as read_c2pa
from content.disclosure.verify import _frame
from content.post import still_reel
from content.reels import ffmpeg_exe

JOB = DisclosureJob(
    post_id=31337,
    visible_label="AI-generated",
    description="benchmark",
    models=["tiny-flux"],
    title="benchmark",
)
PAYLOAD = watermark.payload_for(JOB.post_id)


def photo(size: tuple[int, int]) -> Image.Image:
    """Something photo-like: smooth colour fields with fine texture."""
    rng = np.random.default_rng(7)
    coarse = Image.fromarray((rng.random((size[1] // 40, size[0] // 40, 3)) * 255).astype("uint8"))
    base = np.asarray(coarse.resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    grain = rng.normal(0, 6, base.shape)
    return burn_label(Image.fromarray(np.clip(base + grain, 0, 255).astype("uint8")), "AI-generated")


def jpeg(quality: int) -> Callable[[Path, Path], None]:
    def apply(source: Path, target: Path) -> None:
        with Image.open(source) as image:
            image.convert("RGB").save(target, "JPEG", quality=quality)

    return apply


def crop(share: float) -> Callable[[Path, Path], None]:
    def apply(source: Path, target: Path) -> None:
        with Image.open(source) as image:
            width, height = image.size
            dx, dy = round(width * share / 2), round(height * share / 2)
            image.convert("RGB").crop((dx, dy, width - dx, height - dy)).save(target, "JPEG", quality=92)

    return apply


def resize(width: int) -> Callable[[Path, Path], None]:
    def apply(source: Path, target: Path) -> None:
        with Image.open(source) as image:
            height = round(image.height * width / image.width)
            image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS).save(
                target, "JPEG", quality=92
            )

    return apply


def untouched(source: Path, target: Path) -> None:
    target.write_bytes(source.read_bytes())


def reencode_video(crf: int) -> Callable[[Path, Path], None]:
    def apply(source: Path, target: Path) -> None:
        subprocess.run(
            [
                ffmpeg_exe(),
                "-v",
                "error",
                "-y",
                "-i",
                str(source),
                "-c:v",
                "libx264",
                "-crf",
                str(crf),
                "-preset",
                "medium",
                "-c:a",
                "aac",
                str(target),
            ],
            check=True,
        )

    return apply


def measure(name: str, path: Path, anchor: bytes | None) -> str:
    if path.suffix == ".mp4":
        pixels = np.asarray(_frame(path, 0))
    else:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    reading = watermark.read(pixels, PAYLOAD)
    c2pa_state = read_c2pa(path, anchor).state
    source_type = xmp.read(path).digital_source_type
    xmp_ok = "yes" if source_type == xmp.TRAINED_ALGORITHMIC_MEDIA else "no"
    decoded = "yes" if reading.post_id == JOB.post_id else "no"
    return f"| {name} | {reading.bit_agreement:.0%} | {decoded} | {xmp_ok} | {c2pa_state} |"


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        material = load_material(None, None, work / "certs")
        original = work / "photo.jpg"
        photo((1080, 1350)).save(original, "JPEG", quality=92)
        began = time.perf_counter()
        disclose(original, JOB, material)
        image_s = time.perf_counter() - began
        rows = [
            "| change | watermark bits | post id decoded | XMP | C2PA |",
            "| --- | --- | --- | --- | --- |",
        ]
        cases = [
            ("none (as published by vibot)", untouched),
            ("JPEG q90", jpeg(90)),
            ("JPEG q80", jpeg(80)),
            ("JPEG q70", jpeg(70)),
            ("crop 10%", crop(0.10)),
            ("resize to 1080→720 wide", resize(720)),
        ]
        for name, change in cases:
            target = work / f"case-{len(rows)}.jpg"
            change(original, target)
            rows.append(measure(name, target, material.ca_pem))
        still = work / "still.jpg"
        photo((1080, 1920)).save(still, "JPEG", quality=92)
        reel = still_reel(still, "AI-generated", work / "reel.mp4", seconds=3)
        began = time.perf_counter()
        disclose(reel, JOB, material)
        reel_s = time.perf_counter() - began
        rows.append(measure("reel, none (as published by vibot)", reel, material.ca_pem))
        for crf in (23, 28):
            target = work / f"reel-{crf}.mp4"
            reencode_video(crf)(reel, target)
            rows.append(measure(f"reel re-encoded, H.264 CRF {crf}", target, material.ca_pem))
    print("\n".join(rows))
    print(
        f"\ndisclosure layers on one 1080×1350 JPEG: {image_s:.1f} s; on a 3 s 1080×1920 reel: {reel_s:.1f} s"
    )


if __name__ == "__main__":
    main()

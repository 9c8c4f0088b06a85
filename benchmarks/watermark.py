"""Benchmark: does the invisible watermark still name the post after what platforms and
re-posters do to a file? Read blind: the reader is not told which post to expect.

    python benchmarks/watermark.py                      # 100 pictures, 1,000 unmarked, 5 reels
    python benchmarks/watermark.py --images 20 --unmarked 100 --reels 2   # quicker
    python benchmarks/watermark.py --method legacy --images 20            # the mark before #18

Pictures are photo-like (tests/support/pictures.py: colour fields, flat skies, hard
shapes, grain) at Instagram's feed size, 1080×1350, marked and saved as vibot publishes
them (JPEG q92). Reels: a 3 s 1080×1920 still reel marked in every frame. Work is spread
over the machine's cores; times are per call, on one core.
"""

from __future__ import annotations

import argparse
import binascii
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from content.disclosure import watermark
from content.disclosure.apply import video_size, watermark_video
from content.post import still_reel
from content.reels import ffmpeg_exe
from content.reels.encode import read_frames
from tests.support.pictures import Pixels, cropped, jpeg, photo_like, resized

SIZE = (1080, 1350)
FIRST_ID = 70_000


ATTACKS: dict[str, Callable[[Pixels], Pixels]] = {
    "none (as published)": lambda p: p,
    "JPEG q90": lambda p: jpeg(p, 90),
    "JPEG q75": lambda p: jpeg(p, 75),
    "JPEG q60": lambda p: jpeg(p, 60),
    "resize to 75%": lambda p: resized(p, round(p.shape[1] * 0.75)),
    "resize to 50%": lambda p: resized(p, round(p.shape[1] * 0.5)),
    "crop 5% (left)": lambda p: cropped(p, 0.05, 0, 0, 0),
    "crop 5% (top, right)": lambda p: cropped(p, 0, 0.05, 0.05, 0),
    "crop 10% (bottom)": lambda p: cropped(p, 0, 0, 0, 0.10),
    "crop 10% (all sides)": lambda p: cropped(p, 0.05, 0.05, 0.05, 0.05),
    "Instagram: 1080 wide, q75, stripped": lambda p: resized(p, 1080, 75),
    "screenshot: PNG at 90%": lambda p: resized(p, round(p.shape[1] * 0.9), None),
}


# --- the two methods: today's and the one before #18 ------------------------------------


def legacy_payload(post_id: int) -> bytes:
    head = b"vb" + post_id.to_bytes(4, "big")
    return head + binascii.crc_hqx(head, 0xFFFF).to_bytes(2, "big")


def embed(method: str, pixels: Pixels, post_id: int) -> Pixels:
    if method == "robust":
        return watermark.embed(pixels, watermark.payload_for(post_id))
    bits = list(np.unpackbits(np.frombuffer(legacy_payload(post_id), dtype=np.uint8)))
    bgr = watermark._dwt_dct_svd()(bits, wmLen=64).encode(np.ascontiguousarray(pixels[..., ::-1]))
    return np.ascontiguousarray(bgr[..., ::-1])


def read(method: str, pixels: Pixels) -> int | None:
    if method == "robust":
        return watermark.read(pixels).post_id
    bits = watermark._legacy_decoder()([], wmLen=64).decode(np.ascontiguousarray(pixels[..., ::-1]))
    return watermark.legacy_post_id(np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes())


# --- one picture, one reel, one unmarked picture: run in worker processes ----------------


def one_picture(method: str, index: int) -> dict[str, object]:
    original = photo_like(index, SIZE)
    post_id = FIRST_ID + index
    began = time.perf_counter()
    marked = embed(method, original, post_id)
    embed_s = time.perf_counter() - began
    psnr = 10 * np.log10(255**2 / np.mean((original.astype(float) - marked.astype(float)) ** 2))
    published = jpeg(marked, 92)
    found, read_s = {}, []
    for name, attack in ATTACKS.items():
        copy = attack(published)
        began = time.perf_counter()
        found[name] = read(method, copy) == post_id
        read_s.append(time.perf_counter() - began)
    return {"psnr": psnr, "embed_s": embed_s, "read_s": float(np.mean(read_s)), "found": found}


def one_unmarked(method: str, index: int) -> bool:
    """Whether an unmarked picture (seeds apart from the marked ones) names a post: it must not."""
    return read(method, jpeg(photo_like(1_000_000 + index, SIZE), 85)) is not None


def one_reel(index: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        still = work / "still.jpg"
        Image.fromarray(photo_like(500 + index, (1080, 1920))).save(still, "JPEG", quality=92)
        reel = still_reel(still, "AI-generated", work / "reel.mp4", seconds=3)
        post_id = FIRST_ID + 500 + index
        began = time.perf_counter()
        watermark_video(reel, watermark.payload_for(post_id))
        mark_s = time.perf_counter() - began
        copy = work / "copy.mp4"
        subprocess.run(
            [ffmpeg_exe(), "-v", "error", "-y", "-i", str(reel), "-vf", "scale=720:-2",
             "-c:v", "libx264", "-crf", "28", "-preset", "medium", "-c:a", "aac", str(copy)],
            check=True,
        )  # fmt: skip
        width, height, _ = video_size(copy)
        frames = [np.asarray(f) for _, f in read_frames(copy, (width, height), [0, 22, 44, 66, 88])]
        began = time.perf_counter()
        found = watermark.read_frames(frames)
        read_s = (time.perf_counter() - began) / len(frames)
        return {
            "found": found.reading.post_id == post_id,
            "agreeing": found.frames_agreeing,
            "mark_s": mark_s,
            "read_s": read_s,
        }


def frame_embed_seconds() -> float:
    plane = np.ascontiguousarray(photo_like(7, (1080, 1920))[..., 1])
    payload = watermark.payload_for(1)
    watermark.embed_luma_plane(plane, payload)
    began = time.perf_counter()
    for _ in range(20):
        watermark.embed_luma_plane(plane, payload)
    return (time.perf_counter() - began) / 20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--method", choices=("robust", "legacy"), default="robust")
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--unmarked", type=int, default=1000)
    parser.add_argument("--reels", type=int, default=5)
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(workers) as pool:
        pictures = list(pool.map(one_picture, [args.method] * args.images, range(args.images)))
        false_ids = sum(pool.map(one_unmarked, [args.method] * args.unmarked, range(args.unmarked)))
        reels = list(pool.map(one_reel, range(args.reels))) if args.method == "robust" else []
    print(f"method: {args.method}; {args.images} pictures at {SIZE[0]}×{SIZE[1]}, read blind\n")
    print("| change | post id recovered |")
    print("| --- | --- |")
    for name in ATTACKS:
        hits = sum(bool(p["found"][name]) for p in pictures)  # type: ignore[index]
        print(f"| {name} | {hits / len(pictures):.0%} ({hits}/{len(pictures)}) |")
    if reels:
        hits = sum(bool(r["found"]) for r in reels)
        agreeing = np.mean([r["agreeing"] for r in reels])
        print(
            f"| reel re-encoded, H.264 CRF 28, scaled to 720p | {hits / len(reels):.0%} "
            f"({hits}/{len(reels)}; {agreeing:.1f} of 5 frames agree on average) |"
        )
    psnrs = [float(p["psnr"]) for p in pictures]  # type: ignore[arg-type]
    print(f"\nfalse post ids on {args.unmarked} unmarked pictures: {false_ids}")
    print(f"PSNR against the unmarked picture: min {min(psnrs):.1f} dB, mean {np.mean(psnrs):.1f} dB")
    embed_ms = 1000 * np.mean([float(p["embed_s"]) for p in pictures])  # type: ignore[arg-type]
    read_ms = 1000 * np.mean([float(p["read_s"]) for p in pictures])  # type: ignore[arg-type]
    print(f"per 1080×1350 picture: embed {embed_ms:.0f} ms, read {read_ms:.0f} ms")
    if reels:
        frame_ms = 1000 * frame_embed_seconds()
        read_frame_ms = 1000 * np.mean([float(r["read_s"]) for r in reels])  # type: ignore[arg-type]
        print(
            f"per second of 1080×1920 reel at 30 fps: embed {30 * frame_ms / 1000:.2f} s "
            f"({frame_ms:.1f} ms a frame, every frame marked); a blind read takes "
            f"{read_frame_ms:.0f} ms a 720p frame, 5 frames a reel"
        )


if __name__ == "__main__":
    main()

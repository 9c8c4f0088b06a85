"""Benchmark: the identity guard's cost per image, and its distances on real faces.

    python benchmarks/identity.py [--runs 10]

Per image: HOG detection on a copy at most 800 px long, 5-point alignment and the 128-d
ResNet embedding, on a 1080×1350 feed photo (the size every photo post is checked at).
Distances: the vendored public-domain portraits (tests/vendor/faces) and skimage's astronaut,
against the centroid of one Obama portrait; dlib's "same person" limit is 0.6.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from PIL import Image

from content.identity import find_faces, references_from, score

FACES = Path(__file__).resolve().parent.parent / "tests" / "vendor" / "faces"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    from skimage import data

    photos = {name: Image.open(FACES / f"{name}.jpg").convert("RGB") for name in ("obama", "obama2", "biden")}
    photos["astronaut (Eileen Collins)"] = Image.fromarray(data.astronaut())
    feed = photos["obama"].resize((1080, 1350), Image.Resampling.LANCZOS)
    find_faces(feed)  # load the models once
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        find_faces(feed)
        times.append(time.perf_counter() - started)
    face = find_faces(photos["obama"]).largest
    assert face is not None
    references = references_from([("obama.jpg", face)])
    print(f"identity check of a 1080×1350 photo, {os.cpu_count()} CPU(s), median of {args.runs}:")
    print(f"  {statistics.median(times) * 1000:7.1f} ms   (goal ≤ 300 ms)")
    print("distance to obama.jpg (limit 0.60):")
    for name, image in photos.items():
        checked = score(image, references)
        verdict = "match" if checked.ok else "no match"
        print(f"  {name:28} {checked.distance:.3f}  {verdict}")


if __name__ == "__main__":
    main()

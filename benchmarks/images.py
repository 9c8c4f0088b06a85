"""Benchmark: seconds per image and peak memory for the photo stage.

    python benchmarks/images.py [--model DIR] [--size 1024] [--steps 28] [--runs 3]

Without --model it builds the tiny offline model (CPU numbers prove the plumbing,
not Flux speed). On a GPU, point --model at real FLUX.1 weights. Settings compared:
vanilla, with a LoRA, and with noise injection + detail + grain. (Fused and hot-swapped
compiled LoRAs come with the GPU-speed work.)
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from content.images import PhotoRequest, generate_photo, pick_device
from content.lora import make_test_lora
from content.realism import Realism
from content.tiny import build_tiny_flux


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        return float(torch.cuda.max_memory_allocated()) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(request: PhotoRequest, runs: int) -> float:
    generate_photo(request)  # warm-up: loading, LoRA switch, first-call overheads
    began = time.perf_counter()
    for _ in range(runs):
        generate_photo(request)
    return (time.perf_counter() - began) / runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        model = args.model or build_tiny_flux(Path(workdir) / "tiny-flux")
        name = "tiny-flux" if args.model is None else str(model)
        lora = (
            make_test_lora(model, Path(workdir) / "lora.safetensors", seed=1) if args.model is None else None
        )
        device = pick_device(None)
        base = PhotoRequest(
            model=name,
            location=str(model),
            prompt="photo of a woman on a rooftop, golden hour",
            seed=1,
            steps=args.steps,
            guidance=3.5,
            width=args.size,
            height=args.size,
        )
        rows = [("vanilla", timed(base, args.runs))]
        if lora is not None:
            with_lora = replace(base, lora_adapter="bench", lora=lora)
            rows.append(("with LoRA", timed(with_lora, args.runs)))
        realism = Realism(noise_strength=0.15, noise_at=(0.3, 0.6), detail=0.3, grain=0.3, grain_size=1.5)
        rows.append(("noise + detail + grain", timed(replace(base, realism=realism), args.runs)))
        print(f"{name} on {device}, {args.size}×{args.size}, {args.steps} steps, mean of {args.runs}:")
        for label, seconds in rows:
            print(f"  {label:<24} {seconds:7.3f} s/image")
        print(f"  peak memory {peak_memory_mb(device):.0f} MB")


if __name__ == "__main__":
    main()

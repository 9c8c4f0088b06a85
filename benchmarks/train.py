"""Benchmark: LoRA training, seconds per step and peak memory.

    python benchmarks/train.py                  # tiny offline Flux on this CPU (plumbing and overhead)
    python benchmarks/train.py --real-dims      # FLUX.1-dev dimensions, random weights (GPU)

It runs vibot's own training (`content.training.train.train_lora`): cached latents and
embeddings, peft LoRA on the attention projections, gradient checkpointing, AdamW
(8-bit with bitsandbytes on CUDA), one checkpoint with validation at the end. Photos
are synthetic; the compute per step does not depend on what they show.

--real-dims builds FLUX.1-dev's transformer, VAE and text encoders at their real sizes
with random weights (benchmarks/images.py), so the step costs what the real model's
does. The goal for a persona LoRA: 1,000 steps at 512 px and rank 16 in ≤ 15 min, with
≤ 24 GB peak, on an H100-class GPU; the bf16 weights alone are 23.8 GB, so measure
--quantize int8 too. --layers/--single-layers shrink it for a CPU check.

Reported: the median seconds of an optimizer step, the projected minutes for 1,000
steps, and peak memory while training (CUDA: allocated by torch; CPU: process RSS).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

from images import add_real_dims_arguments, real_dims_pipeline

from content.images import pick_device, quiet_hugging_face
from content.tiny import build_tiny_flux
from content.training.dataset import load_dataset
from content.training.train import Paths, TrainSettings, load_base, train_lora


def synthetic_photos(folder: Path, count: int, size: int) -> Path:
    folder.mkdir(parents=True)
    for seed in range(count):
        small = (np.random.default_rng(seed).random((8, 8, 3)) * 255).astype(np.uint8)
        Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC).save(folder / f"{seed}.png")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    add_real_dims_arguments(parser)
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30, help="steps timed (the median is reported)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument(
        "--quantize", choices=["none", "int8", "fp8"], default="none", help="8-bit frozen base"
    )
    args = parser.parse_args()
    quiet_hugging_face()
    device = pick_device(None)
    with tempfile.TemporaryDirectory() as workdir:
        root = Path(workdir)
        tiny_dir = build_tiny_flux(root / "tiny-flux")
        if args.real_dims:
            pipeline = real_dims_pipeline(tiny_dir, device, args.layers, args.single_layers, args.t5_layers)
            pipeline.set_progress_bar_config(disable=True)
            name = "FLUX.1-dev dims (random)"
        else:
            pipeline, name = load_base(str(tiny_dir), device), "tiny-flux"
        photos = synthetic_photos(root / "photos", 4, max(512, args.resolution))
        dataset = load_dataset(photos, "t3ss", "photo of t3ss woman", args.resolution, check_faces=False)
        settings = TrainSettings(
            steps=args.steps,
            rank=args.rank,
            resolution=args.resolution,
            batch=args.batch,
            checkpoint_every=args.steps,
            validation_steps=4,
            quantize=args.quantize,
        )
        result = train_lora(
            pipeline, name, dataset, settings, Paths(root / "out" / "bench.safetensors"),
            ["photo of t3ss woman, harbour at dawn"], None,
        )  # fmt: skip
        base = (
            args.quantize
            if args.quantize != "none"
            else str(pipeline.transformer.dtype).removeprefix("torch.")
        )
        print(
            f"{name} on {device}, {args.resolution} px, rank {args.rank}, batch {args.batch}, base {base}, "
            f"{args.steps} steps:"
        )
        print(f"  {result.seconds_per_step:.3f} s/step (median)")
        print(f"  1,000 steps ≈ {result.seconds_per_step * 1000 / 60:.1f} min")
        print(f"  peak memory {result.peak_memory_mb:.0f} MB")
        print(f"  this run {result.seconds_total:.1f} s with one checkpoint and validation")


if __name__ == "__main__":
    main()

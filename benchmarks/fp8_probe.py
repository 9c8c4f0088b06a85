"""Probe: does dynamic-activation fp8 (fp8 tensor cores) speed up Flux where weight-only fp8
did not? Eager mode (no compile, so it fits a short GPU lease), FLUX.1-dev dimensions with
random weights; times bf16, then the same transformer after torchao's
Float8DynamicActivationFloat8WeightConfig. Needs a Hopper or Ada GPU.

    python benchmarks/fp8_probe.py [--runs 2] [--size 1024] [--steps 28]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from images import bench_request, real_dims_pipeline, timed

from content.images import pick_device
from content.images.loading import Memory, Speed, prepare_pipeline, quiet_hugging_face
from content.tiny import build_tiny_flux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--layers", type=int, default=19)
    parser.add_argument("--single-layers", type=int, default=38)
    args = parser.parse_args()
    quiet_hugging_face()
    device = pick_device(None)
    with tempfile.TemporaryDirectory() as workdir:
        tiny_dir = build_tiny_flux(Path(workdir) / "tiny-flux")
        raw = real_dims_pipeline(tiny_dir, device, args.layers, args.single_layers, 24)
        pipeline = prepare_pipeline(raw, device, Memory(), Speed())
        request = bench_request("FLUX.1-dev dims (random)", args.size, args.steps, device)
        warm, bf16 = timed(pipeline, request, device, args.runs)
        print(f"bf16 eager                 {bf16:7.3f} s/image (warm-up {warm:.1f} s)", flush=True)
        from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, quantize_

        quantize_(pipeline.transformer, Float8DynamicActivationFloat8WeightConfig())
        warm, fp8 = timed(pipeline, request, device, args.runs)
        print(
            f"fp8 dynamic activation     {fp8:7.3f} s/image (warm-up {warm:.1f} s) → {bf16 / fp8:.2f}×",
            flush=True,
        )


if __name__ == "__main__":
    main()

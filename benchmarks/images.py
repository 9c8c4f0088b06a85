"""Benchmark: seconds per image and peak memory for the photo stage, by speed setting.

    python benchmarks/images.py                       # tiny offline model (CPU: plumbing only)
    python benchmarks/images.py --model DIR           # real FLUX.1 weights in a local folder
    python benchmarks/images.py --real-dims           # FLUX.1-dev dimensions, random weights

--real-dims builds the transformer, VAE, CLIP-L and T5-XXL at FLUX.1-dev's real sizes
with random weights (nothing can be downloaded here): the compute, and so the timing,
is exactly the real model's. Use it on a GPU; --layers/--single-layers shrink it to
check the plumbing on a CPU (with --t5-layers 1).

Rows, each timed after a warm-up (loading, compilation) as the mean of --runs images:
  vanilla                     no LoRA, default settings
  LoRA                        the persona's LoRA as a peft adapter
  LoRA hot-swap + compiled    + torch.compile of the repeated blocks, channels-last VAE,
                              --quantize weights; a swap to a second LoRA is timed too
  … + First Block Cache       + step caching at --cache threshold
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from content.images import PhotoRequest, Speed, pick_device
from content.images.generate import generate_with
from content.images.loading import Memory, default_dtype, prepare_pipeline, quiet_hugging_face
from content.images.lora import make_test_lora, save_random_lora
from content.tiny import build_tiny_flux

# FLUX.1-dev's published configs (transformer/config.json, vae/config.json, the text encoders).
FLUX_DEV_TRANSFORMER = dict(
    patch_size=1,
    in_channels=64,
    num_attention_heads=24,
    attention_head_dim=128,
    joint_attention_dim=4096,
    pooled_projection_dim=768,
    guidance_embeds=True,
    axes_dims_rope=(16, 56, 56),
)
FLUX_VAE = dict(
    in_channels=3,
    out_channels=3,
    latent_channels=16,
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    layers_per_block=2,
    norm_num_groups=32,
    sample_size=1024,
    scaling_factor=0.3611,
    shift_factor=0.1159,
    use_quant_conv=False,
    use_post_quant_conv=False,
)


def real_dims_pipeline(tiny_dir: Path, device: str, layers: int, single_layers: int, t5_layers: int) -> Any:
    """A FluxPipeline with FLUX.1-dev's dimensions and random weights. The tokenizers and
    scheduler come from the tiny model: token ids stay valid in the real-size vocabularies."""
    import torch
    from diffusers import AutoencoderKL, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    tiny = FluxPipeline.from_pretrained(tiny_dir, local_files_only=True)
    dtype = getattr(torch, default_dtype(device))
    with torch.device(device):  # initialise on the GPU: minutes faster than on the CPU
        transformer = FluxTransformer2DModel(
            **FLUX_DEV_TRANSFORMER, num_layers=layers, num_single_layers=single_layers
        ).to(dtype)
        vae = AutoencoderKL(**FLUX_VAE).to(dtype)  # type: ignore[arg-type]
        clip = CLIPTextModel(
            CLIPTextConfig(
                hidden_size=768,
                intermediate_size=3072,
                num_hidden_layers=12,
                num_attention_heads=12,
                vocab_size=49408,
                projection_dim=768,
            )
        ).to(dtype)
        t5 = T5EncoderModel(
            T5Config(
                d_model=4096,
                d_ff=10240,
                d_kv=64,
                num_layers=t5_layers,
                num_heads=64,
                vocab_size=32128,
                feed_forward_proj="gated-gelu",
                is_encoder_decoder=False,
            )
        ).to(dtype)
    for module in (transformer, vae, clip, t5):
        module.eval()
    return FluxPipeline(
        scheduler=tiny.scheduler,
        vae=vae,
        text_encoder=clip,
        tokenizer=tiny.tokenizer,
        text_encoder_2=t5,
        tokenizer_2=tiny.tokenizer_2,
        transformer=transformer,
    )


def bench_request(name: str, size: int, steps: int, device: str) -> PhotoRequest:
    """The photo every row times: one prompt and seed, square, at the given size and steps."""
    return PhotoRequest(
        model=name,
        location=name,
        prompt="photo of a woman on a rooftop, golden hour",
        seed=1,
        steps=steps,
        guidance=3.5,
        width=size,
        height=size,
        device=device,
    )


def peak_memory_mb(device: str) -> float:
    if device.startswith("cuda"):
        import torch

        return float(torch.cuda.max_memory_allocated()) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synchronise(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def timed(pipeline: Any, request: PhotoRequest, device: str, runs: int) -> tuple[float, float]:
    """(warm-up seconds, mean seconds per image after it)."""
    began = time.perf_counter()
    generate_with(pipeline, request, device)  # loading leftovers, LoRA load, compilation
    synchronise(device)
    warm_up = time.perf_counter() - began
    began = time.perf_counter()
    for _ in range(runs):
        generate_with(pipeline, request, device)
    synchronise(device)
    return warm_up, (time.perf_counter() - began) / runs


def load(args: argparse.Namespace, tiny_dir: Path, device: str) -> Any:
    from diffusers import FluxPipeline

    if args.real_dims:
        return real_dims_pipeline(tiny_dir, device, args.layers, args.single_layers, args.t5_layers)
    location = args.model or tiny_dir
    import torch

    return FluxPipeline.from_pretrained(
        location, dtype=getattr(torch, default_dtype(device)), local_files_only=True
    )


def add_real_dims_arguments(parser: argparse.ArgumentParser) -> None:
    """--real-dims and the block counts that shrink it for a CPU check (see real_dims_pipeline)."""
    parser.add_argument("--real-dims", action="store_true", help="FLUX.1-dev sizes, random weights")
    parser.add_argument("--layers", type=int, default=19)
    parser.add_argument("--single-layers", type=int, default=38)
    parser.add_argument("--t5-layers", type=int, default=24)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=None, help="a local folder of Flux weights")
    add_real_dims_arguments(parser)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rank", type=int, default=64, help="rank of the random benchmark LoRAs")
    parser.add_argument("--quantize", choices=["none", "int8", "fp8"], default="none")
    parser.add_argument("--cache", type=float, default=0.1, help="First Block Cache threshold")
    parser.add_argument("--skip-compile", action="store_true")
    args = parser.parse_args()
    quiet_hugging_face()
    device = pick_device(None)
    with tempfile.TemporaryDirectory() as workdir:
        tiny_dir = build_tiny_flux(Path(workdir) / "tiny-flux")
        pipeline = prepare_pipeline(load(args, tiny_dir, device), device, Memory(), Speed())
        if args.model is None and not args.real_dims:
            loras = [make_test_lora(tiny_dir, Path(workdir) / f"lora{i}.safetensors", seed=i) for i in (1, 2)]
        else:
            loras = [
                save_random_lora(pipeline.transformer, Path(workdir) / f"lora{i}.safetensors", i, args.rank)
                for i in (1, 2)
            ]
        name = "FLUX.1-dev dims (random)" if args.real_dims else str(args.model or "tiny-flux")
        base = bench_request(name, args.size, args.steps, device)
        with_lora = replace(base, lora_adapter="bench", lora=loras[0])
        rows: list[tuple[str, float, float]] = []
        print(f"{name} on {device}, {args.size}×{args.size}, {args.steps} steps, mean of {args.runs}:")
        print(f"  {'setting':<30} {'s/image':>8} {'× vanilla':>10} {'warm-up s':>10}", flush=True)

        def row(label: str, warm_up: float, seconds: float) -> None:
            """Printed as soon as it is measured: a long GPU run that is cut off keeps its rows."""
            rows.append((label, warm_up, seconds))
            vanilla = rows[0][2]
            print(f"  {label:<30} {seconds:8.3f} {vanilla / seconds:9.2f}× {warm_up:10.1f}", flush=True)

        row("vanilla", *timed(pipeline, base, device, args.runs))
        row("LoRA (adapter)", *timed(pipeline, with_lora, device, args.runs))
        if not args.skip_compile:
            del pipeline
            speed = Speed(compile=True, channels_last=True, quantize=args.quantize, lora_max_rank=args.rank)
            fast = prepare_pipeline(load(args, tiny_dir, device), device, Memory(), speed)
            fast_lora = replace(with_lora, speed=speed)
            row("LoRA hot-swap + compiled", *timed(fast, fast_lora, device, args.runs))
            swap = replace(fast_lora, lora_adapter="bench2", lora=loras[1])
            row("  after a swap to LoRA 2", *timed(fast, swap, device, args.runs))
            del fast
            cache_speed = replace(speed, cache_threshold=args.cache)
            cached_pipeline = prepare_pipeline(load(args, tiny_dir, device), device, Memory(), cache_speed)
            cached = replace(fast_lora, speed=cache_speed)
            row(f"  + First Block Cache {args.cache:g}", *timed(cached_pipeline, cached, device, args.runs))
        print(f"  peak memory {peak_memory_mb(device):.0f} MB")


if __name__ == "__main__":
    main()

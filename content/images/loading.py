"""Loading Flux once per process, on the right device, with the memory and speed options.

`FluxPipeline.from_pretrained` is the same call for vibot's tiny offline model, a
local folder of real weights, or a hub id in the local Hugging Face cache. The
loaded pipeline is kept for the life of the worker process and reused for every
post; personas differ only in their LoRA, which is switched, never reloaded.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import structlog

from content.errors import ConfigError, GenerationError

log = structlog.get_logger(__name__)

Quantize = Literal["none", "int8", "fp8"]


@dataclass(frozen=True)
class Memory:
    """How the pipeline is loaded: dtype (None: bfloat16 on CUDA, float32 elsewhere) and
    the memory savers for smaller GPUs."""

    dtype: str | None = None
    cpu_offload: bool = False
    vae_tiling: bool = False
    vae_slicing: bool = False


@dataclass(frozen=True)
class Speed:
    """GPU speed switches, each off by default. Quality costs, measured by the community
    on FLUX.1-dev and repeated in docs/images.md:

    - compile: none (same maths); the first image pays the compilation (~1 min on an H100).
      With a LoRA it turns on hot-swap, so switching personas does not recompile.
    - fuse_qkv: none. Skipped for posts with a LoRA: fused projections bypass LoRA layers.
    - channels_last: none (VAE memory layout only).
    - quantize: int8/fp8 weight quantization through torchao — small, visible in fine text.
    - cache_threshold: First Block Cache, reuses the transformer's output while the first
      block barely changes; 0.08–0.12 is ~1.5–2× faster with slight loss of fine detail.
    - attention: a diffusers attention backend ("_native_flash", "flash", "sage"…).
    """

    compile: bool = False
    fuse_qkv: bool = False
    channels_last: bool = False
    quantize: Quantize = "none"
    cache_threshold: float = 0.0
    attention: str | None = None
    lora_max_rank: int = 128  # hot-swap pads every LoRA to this rank: set it to your widest
    compile_backend: str = "inductor"


def pick_device(requested: str | None = None) -> str:
    import torch

    if requested:
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def default_dtype(device: str) -> str:
    if device.startswith("cuda"):
        return "bfloat16"
    return "float32"  # CPU and MPS: bf16 is slow on CPU and incomplete on MPS


def quiet_hugging_face() -> None:
    """Progress bars and advice from diffusers/transformers would drown vibot's own output."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # before transformers is imported
    # torch warns about an Enum registration in torchao at import: noise, not advice.
    logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)
    import diffusers
    import transformers

    for library in (diffusers, transformers):
        library.utils.logging.set_verbosity_error()
        library.utils.logging.disable_progress_bar()


@lru_cache(maxsize=2)
def load_flux(location: str, device: str, memory: Memory = Memory(), speed: Speed = Speed()) -> Any:
    """Load a Flux pipeline once per process (per location, device and options);
    later calls reuse it."""
    pipeline = load_pretrained("FluxPipeline", location, device, memory, "pipeline.image.model", "tiny-flux")
    dtype = pipeline.transformer.dtype
    log.info("image model loaded", location=location, device=device, dtype=str(dtype))
    return prepare_pipeline(pipeline, device, memory, speed)


def load_pretrained(kind: str, location: str, device: str, memory: Memory, setting: str, tiny: str) -> Any:
    """diffusers' `kind`.from_pretrained from a folder or the local cache only, in the device's
    dtype; a load that fails names the persona setting to fix. diffusers is imported here,
    after the libraries are quietened: torch and torchao print warnings while loading."""
    quiet_hugging_face()
    import diffusers
    import torch

    dtype = getattr(torch, memory.dtype or default_dtype(device))
    try:
        return getattr(diffusers, kind).from_pretrained(location, dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as err:
        raise GenerationError(
            f"cannot load the model from '{location}': {str(err).splitlines()[0]} — check {setting} "
            f"(a folder, a hub id already in the local cache, or {tiny})"
        ) from None


def prepare_pipeline(pipeline: Any, device: str, memory: Memory, speed: Speed) -> Any:
    """Memory and speed options on a loaded pipeline, then onto its device."""
    pipeline.set_progress_bar_config(disable=True)
    if memory.vae_tiling:
        pipeline.vae.enable_tiling()  # decode large images in tiles: less peak memory
    if memory.vae_slicing:
        pipeline.vae.enable_slicing()
    apply_speed(pipeline, speed)
    if memory.cpu_offload and device.startswith("cuda"):
        pipeline.enable_model_cpu_offload(device=device)  # each model on the GPU only while it runs
        return pipeline
    return pipeline.to(device)


def apply_speed(pipeline: Any, speed: Speed) -> None:
    """The switches that can be applied at load time. Compilation waits for the first image
    (after the first LoRA is in place), QKV fusion for a post without a LoRA."""
    import torch

    if speed.channels_last:
        pipeline.vae.to(memory_format=torch.channels_last)
    if speed.attention:
        try:
            pipeline.transformer.set_attention_backend(speed.attention)
        except (ValueError, RuntimeError, ImportError) as err:
            raise ConfigError(
                f"VIBOT_ATTENTION={speed.attention}: {str(err).splitlines()[0]} — "
                "unset it or install the backend's package"
            ) from None
    if speed.quantize != "none":
        quantize_transformer(pipeline.transformer, speed.quantize)
    if speed.cache_threshold > 0:
        from diffusers import FirstBlockCacheConfig

        pipeline.transformer.enable_cache(FirstBlockCacheConfig(threshold=speed.cache_threshold))


def quantize_transformer(transformer: Any, kind: Quantize) -> None:
    try:
        from torchao.quantization import (
            Float8WeightOnlyConfig,
            Int8WeightOnlyConfig,
            quantize_,
        )
    except ImportError:
        raise ConfigError(
            f"VIBOT_QUANTIZE={kind} needs torchao — pip install torchao, or set VIBOT_QUANTIZE=none"
        ) from None
    config = Int8WeightOnlyConfig() if kind == "int8" else Float8WeightOnlyConfig()
    quantize_(transformer, config)


def set_qkv_fusion(pipeline: Any, fused: bool) -> None:
    """Fuse (or unfuse) the transformer's Q/K/V projections into one matmul each."""
    if fused == bool(pipeline.__dict__.get("_vibot_qkv_fused")):
        return
    if fused:
        pipeline.transformer.fuse_qkv_projections()
    else:
        pipeline.transformer.unfuse_qkv_projections()
    pipeline.__dict__["_vibot_qkv_fused"] = fused


def compile_once(pipeline: Any, speed: Speed) -> None:
    """Regional compilation: each repeated transformer block is compiled once and reused,
    which compiles in a fraction of the time of the whole model for the same speed."""
    if not speed.compile or pipeline.__dict__.get("_vibot_compiled"):
        return
    # First Block Cache decides per step in Python (a compiler-disabled hook): with it on,
    # the blocks compile with that one graph break instead of as full graphs.
    fullgraph = speed.cache_threshold <= 0
    pipeline.transformer.compile_repeated_blocks(fullgraph=fullgraph, backend=speed.compile_backend)
    pipeline.__dict__["_vibot_compiled"] = True

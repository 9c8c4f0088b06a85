"""Persona LoRAs: switching them on a loaded Flux pipeline, and making small ones offline.

Each persona's LoRA is loaded once under the persona's id as adapter name and
then only switched on or off with `set_adapters` — the base model is never
reloaded to change persona. diffusers converts kohya/sd-scripts files itself.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from content.errors import GenerationError

TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0"]


def use_lora(pipeline: Any, adapter: str | None, path: Path | None, scale: float) -> None:
    """Make `adapter` (loaded from `path` on first use) the only active LoRA; None: no LoRA."""
    loaded: dict[str, Path] = pipeline.__dict__.setdefault("_vibot_loras", {})
    if adapter is None or path is None:
        if loaded:
            pipeline.disable_lora()
        return
    if loaded.get(adapter) != path:
        if adapter in loaded:  # the persona's file changed: replace its adapter
            pipeline.delete_adapters(adapter)
        try:
            with warnings.catch_warnings():
                # peft warns that a second adapter is being added: that is the point here.
                warnings.filterwarnings("ignore", message="Already found a `peft_config`")
                pipeline.load_lora_weights(str(path), adapter_name=adapter)
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise GenerationError(
                f"cannot load the LoRA {path}: {str(err).splitlines()[0][:200]} — check appearance.lora "
                "(a diffusers/peft or kohya .safetensors file made for this base model)"
            ) from None
        loaded[adapter] = path
    pipeline.enable_lora()
    pipeline.set_adapters([adapter], adapter_weights=[scale])


def make_test_lora(model_dir: Path, out_file: Path, seed: int = 0, rank: int = 4) -> Path:
    """A small random LoRA for the tiny Flux model (tests and the demo personas)."""
    import torch
    from diffusers import FluxPipeline, FluxTransformer2DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    transformer = FluxTransformer2DModel.from_pretrained(model_dir, subfolder="transformer")
    torch.manual_seed(seed)
    # init_lora_weights=False: random A and B, so the LoRA really changes the output.
    config = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False, target_modules=TARGET_MODULES)
    transformer.add_adapter(config, adapter_name="made")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    FluxPipeline.save_lora_weights(
        str(out_file.parent),
        transformer_lora_layers=get_peft_model_state_dict(transformer, adapter_name="made"),
        weight_name=out_file.name,
    )
    return out_file

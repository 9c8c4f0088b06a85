"""Persona LoRAs: switching them on a loaded Flux pipeline, and making small ones offline.

Two ways to switch, both without reloading the base model:

- adapters (default): each persona's LoRA is loaded once under the persona's id as
  adapter name, then only switched with `set_adapters` / `disable_lora`.
- hot-swap (when the transformer is compiled): one adapter slot whose weights are
  replaced in place by the next persona's LoRA (`hotswap=True`), so the compiled
  graph is reused instead of recompiled. Every LoRA is padded to `max_rank`.

diffusers converts kohya/sd-scripts files itself.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from content.errors import GenerationError

TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0"]
HOTSWAP_SLOT = "persona"  # the one adapter name in hot-swap mode


def _version(path: Path) -> tuple[Path, int, int]:
    """A LoRA file as loaded: retraining into the same path (`vibot persona train`) changes
    its stamp, and the next post loads the new weights."""
    stat = path.stat()
    return path, stat.st_mtime_ns, stat.st_size


def _state(pipeline: Any) -> dict[str, Any]:
    state: dict[str, Any] = pipeline.__dict__.setdefault("_vibot_loras", {"loaded": {}, "hotswap": None})
    return state


def _load(pipeline: Any, path: Path, adapter: str, hotswap: bool = False) -> None:
    try:
        with warnings.catch_warnings():
            # peft warns that a second adapter is being added: that is the point here.
            warnings.filterwarnings("ignore", message="Already found a `peft_config`")
            pipeline.load_lora_weights(str(path), adapter_name=adapter, hotswap=hotswap)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise GenerationError(
            f"cannot load the LoRA {path}: {str(err).splitlines()[0][:200]} — check appearance.lora "
            "(a diffusers/peft or kohya .safetensors file made for this base model, "
            "of rank at most VIBOT_LORA_MAX_RANK when compiled)"
        ) from None


def use_lora(
    pipeline: Any,
    adapter: str | None,
    path: Path | None,
    scale: float,
    hotswap_rank: int | None = None,
) -> None:
    """Make `adapter` (loaded from `path` on first use) the only active LoRA; None: no LoRA.
    With `hotswap_rank`, use the single hot-swap slot padded to that rank."""
    state = _state(pipeline)
    if hotswap_rank is not None:
        _use_hotswap(pipeline, state, path, scale, hotswap_rank)
        return
    loaded: dict[str, tuple[Path, int, int]] = state["loaded"]
    if adapter is None or path is None:
        if loaded:
            pipeline.disable_lora()
        return
    version = _version(path)
    if loaded.get(adapter) != version:
        if adapter in loaded:  # the persona's file changed: replace its adapter
            pipeline.delete_adapters(adapter)
        _load(pipeline, path, adapter)
        loaded[adapter] = version
    pipeline.enable_lora()
    pipeline.set_adapters([adapter], adapter_weights=[scale])


def _use_hotswap(pipeline: Any, state: dict[str, Any], path: Path | None, scale: float, rank: int) -> None:
    current: tuple[Path, int, int] | None = state["hotswap"]
    if path is None:
        # No LoRA: keep the slot (and the compiled graph) and weigh it 0, which is exact.
        if current is not None:
            pipeline.set_adapters([HOTSWAP_SLOT], adapter_weights=[0.0])
        return
    version = _version(path)
    if current is None:
        pipeline.enable_lora_hotswap(target_rank=rank)
        _load(pipeline, path, HOTSWAP_SLOT)
    elif current != version:
        _load(pipeline, path, HOTSWAP_SLOT, hotswap=True)
    state["hotswap"] = version
    pipeline.set_adapters([HOTSWAP_SLOT], adapter_weights=[scale])


def make_test_lora(model_dir: Path, out_file: Path, seed: int = 0, rank: int = 4) -> Path:
    """A small random LoRA for the tiny Flux model (tests and the demo personas)."""
    from diffusers import FluxTransformer2DModel

    transformer = FluxTransformer2DModel.from_pretrained(model_dir, subfolder="transformer")
    return save_random_lora(transformer, out_file, seed, rank)


def save_random_lora(transformer: Any, out_file: Path, seed: int = 0, rank: int = 4) -> Path:
    """A random LoRA on `transformer`'s attention projections, saved in diffusers format,
    then removed from the transformer again."""
    import torch
    from diffusers import FluxPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

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
    transformer.delete_adapters("made")
    return out_file

"""A tiny, randomly initialised Flux pipeline built fully offline.

It has the real Flux architecture at toy widths (16 latent channels, a 4-level
VAE, packed 2×2 latents, CLIP + T5 text encoders with tokenizers built here),
so vibot's photo stage runs the same `FluxPipeline.from_pretrained` path that
real weights use — on a laptop with no GPU and no internet. Its pictures are
coloured noise: it proves the plumbing, not the art.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path
from typing import Any

import structlog

TINY_MARKER = "vibot-tiny.json"
_CORPUS = [
    "photo of a woman at golden hour on a rooftop, film grain, natural light",
    "portrait of a man on a bicycle in the city at dawn, street food, neon",
    "coffee on a wooden counter, rainy morning, soft window light, 35mm",
    "travel snapshot, market at night, lanterns, bokeh, candid smile",
]


def _clip_tokenizer(workdir: Path) -> Any:
    from transformers import CLIPTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    symbols = list(bytes_to_unicode().values())
    vocab = {symbol: index for index, symbol in enumerate(symbols)}
    for symbol in symbols:
        vocab[symbol + "</w>"] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    (workdir / "vocab.json").write_text(json.dumps(vocab))
    (workdir / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(workdir / "vocab.json"), str(workdir / "merges.txt"), model_max_length=77)


def _t5_tokenizer() -> Any:
    from transformers import T5TokenizerFast

    tokenizer = T5TokenizerFast().train_new_from_iterator(
        _CORPUS * 4, vocab_size=300, initial_alphabet=list(string.printable)
    )
    tokenizer.model_max_length = 512
    return tokenizer


def _t5_encoder() -> Any:
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=320,
        d_model=32,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
    )
    return T5EncoderModel(config)


def build_tiny_flux(directory: Path, seed: int = 0) -> Path:
    """Build the tiny Flux pipeline and save it with `save_pretrained(directory)`."""
    from content.images import quiet_hugging_face

    quiet_hugging_face()
    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        FluxPipeline,
        FluxTransformer2DModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=512,
            eos_token_id=513,
            pad_token_id=513,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=514,
            projection_dim=32,
            hidden_act="gelu",
        )
    )
    text_encoder_2 = _t5_encoder()
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=16,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        norm_num_groups=4,
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.1159,
        scaling_factor=0.3611,
        sample_size=64,
    )
    with tempfile.TemporaryDirectory() as workdir:
        pipeline = FluxPipeline(
            scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True),
            text_encoder=text_encoder.eval(),
            tokenizer=_clip_tokenizer(Path(workdir)),
            text_encoder_2=text_encoder_2.eval(),
            tokenizer_2=_t5_tokenizer(),
            transformer=transformer.eval(),
            vae=vae.eval(),
        )
        directory.mkdir(parents=True, exist_ok=True)
        pipeline.save_pretrained(directory)
    (directory / TINY_MARKER).write_text(json.dumps({"seed": seed, "kind": "tiny-flux"}))
    return directory


def build_tiny_ltx(directory: Path, seed: int = 0) -> Path:
    """A tiny random LTX-Video image-to-video pipeline (the architecture of diffusers' own
    LTX tests), saved with `save_pretrained(directory)`: the `local` reel backend loads it
    through the same `from_pretrained` path as Lightricks/LTX-Video."""
    from content.images import quiet_hugging_face

    quiet_hugging_face()
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXImageToVideoPipeline,
        LTXVideoTransformer3DModel,
    )

    torch.manual_seed(seed)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    )
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    text_encoder = _t5_encoder()
    pipeline = LTXImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=_t5_tokenizer(),
        transformer=transformer.eval(),
    )
    directory.mkdir(parents=True, exist_ok=True)
    pipeline.save_pretrained(directory)
    (directory / TINY_MARKER).write_text(json.dumps({"seed": seed, "kind": "tiny-ltx"}))
    return directory


def ensure_model(name: str, models_dir: Path) -> str:
    """Where `from_pretrained` loads the model `name`; vibot's tiny offline models are built
    into `models_dir` on first use."""
    from content.models import TINY_FLUX, TINY_LTX, resolve_location

    location = resolve_location(name, models_dir)
    builders = {TINY_FLUX: build_tiny_flux, TINY_LTX: build_tiny_ltx}
    if name in builders and not Path(location).exists():
        structlog.get_logger(__name__).info("building a tiny offline model", model=name, path=str(location))
        builders[name](Path(location))
    return str(location)

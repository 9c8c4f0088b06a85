"""The image models vibot knows, with their licences.

A persona marked `commercial: true` refuses weights whose licence forbids
commercial use. Anything else (a local folder, another hub id) is loaded as
given; its licence is the user's responsibility and is shown as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TINY_FLUX = "tiny-flux"
TINY_LTX = "tiny-ltx"
TINY_MODELS = (TINY_FLUX, TINY_LTX)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    licence: str
    commercial_use: bool | None  # None: unknown
    max_side: int  # longest side it generates at before vibot resizes to the target
    note: str = ""


KNOWN_MODELS: dict[str, ModelInfo] = {
    TINY_FLUX: ModelInfo(
        TINY_FLUX,
        "Apache-2.0 (random weights built locally by vibot)",
        True,
        320,
        "offline demo and tests; makes coloured noise",
    ),
    "black-forest-labs/FLUX.1-schnell": ModelInfo(
        "black-forest-labs/FLUX.1-schnell", "Apache-2.0", True, 1440, "4-step distilled"
    ),
    "black-forest-labs/FLUX.1-dev": ModelInfo(
        "black-forest-labs/FLUX.1-dev",
        "FLUX.1 [dev] Non-Commercial License",
        False,
        1440,
        "best quality; non-commercial",
    ),
    "black-forest-labs/FLUX.1-Krea-dev": ModelInfo(
        "black-forest-labs/FLUX.1-Krea-dev",
        "FLUX.1 [dev] Non-Commercial License",
        False,
        1440,
        "photographic look; non-commercial",
    ),
    TINY_LTX: ModelInfo(
        TINY_LTX,
        "Apache-2.0 (random weights built locally by vibot)",
        True,
        512,
        "image-to-video; offline demo and tests",
    ),
    "Lightricks/LTX-Video": ModelInfo(
        "Lightricks/LTX-Video",
        "LTX-Video Open Weights License (commercial use depends on version and revenue)",
        None,
        1280,
        "image-to-video; fast (5 s of 768×512 in ~2 s on an H100)",
    ),
    "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers": ModelInfo(
        "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "Apache-2.0", True, 832, "image-to-video; slow, high quality"
    ),
    "Wan-AI/Wan2.2-I2V-A14B-Diffusers": ModelInfo(
        "Wan-AI/Wan2.2-I2V-A14B-Diffusers", "Apache-2.0", True, 1280, "image-to-video; MoE"
    ),
}


# Upscalers, by the stem of their usual file name (the file itself is named in the persona).
KNOWN_UPSCALERS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo("lanczos", "none (Pillow's Lanczos filter + light sharpening)", True, 0, "no model"),
        ModelInfo("RealESRGAN_x4plus", "BSD-3-Clause", True, 0, "photos; ESRGAN, xinntao/Real-ESRGAN"),
        ModelInfo("RealESRGAN_x2plus", "BSD-3-Clause", True, 0, "photos, 2×"),
        ModelInfo("RealESRGAN_x4plus_anime_6B", "BSD-3-Clause", True, 0, "illustration"),
        ModelInfo("4x-UltraSharp", "CC-BY-NC-SA-4.0", False, 0, "popular; non-commercial"),
        ModelInfo("001_classicalSR_DF2K_s64w8_SwinIR-M_x4", "Apache-2.0", True, 0, "SwinIR"),
    )
}


# The identity guard's models (content/identity.py): dlib's, from the dlib-bin wheel and the
# face-recognition-models package. Its README: "licensed in the public domain or under CC0
# 1.0 Universal" (Davis King, dlib-models).
KNOWN_FACE_MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo("dlib frontal face detector (HOG)", "Boost Software License 1.0 (inside dlib)", True, 0,
                  "finds faces; used"),
        ModelInfo("shape_predictor_5_face_landmarks.dat", "CC0 1.0 (dlib-models)", True, 0,
                  "aligns faces; used"),
        ModelInfo("dlib_face_recognition_resnet_model_v1.dat", "public domain (dlib-models)", True, 0,
                  "128-d face embedding; used"),
        ModelInfo("shape_predictor_68_face_landmarks.dat", "CC0 1.0, but trained on iBUG 300-W", False, 0,
                  "its training data's terms exclude commercial use; not used"),
    )
}  # fmt: skip


def upscaler_info(model: str) -> ModelInfo:
    """The licence of an upscaler named by file path (matched on the file's stem) or lanczos."""
    stem = Path(model).name.removesuffix(".safetensors").removesuffix(".pth")
    known = KNOWN_UPSCALERS.get(stem)
    if known is not None:
        return known
    return ModelInfo(stem, "unknown (not in vibot's list)", None, 0, "your file")


def model_info(name: str) -> ModelInfo:
    known = KNOWN_MODELS.get(name)
    if known is not None:
        return known
    return ModelInfo(name, "unknown (not in vibot's list)", None, 1440, "local folder or hub id")


def resolve_location(name: str, models_dir: Path) -> Path | str:
    """Where `from_pretrained` loads a model from: the tiny model's folder, a local
    folder, or a hub id (read from the local Hugging Face cache when offline)."""
    if name in TINY_MODELS:
        return models_dir / name
    path = Path(name).expanduser()
    return path if path.exists() else name


def present_locally(name: str, models_dir: Path) -> bool:
    """Whether the weights can load without a download: the tiny model's folder, a local
    folder, or a snapshot of the hub id in the local Hugging Face cache."""
    location = resolve_location(name, models_dir)
    if isinstance(location, Path):
        return (location / "model_index.json").exists()
    from huggingface_hub import constants

    snapshots = Path(constants.HF_HUB_CACHE) / f"models--{name.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())

"""Upscaling stills (and reel frames): a super-resolution model through spandrel, in tiles,
or Lanczos with light sharpening when no model is configured.

spandrel detects the architecture (ESRGAN/Real-ESRGAN, SwinIR, HAT, DAT, OmniSR…) from
the weights file, .pth or .safetensors. Tiles bound the memory: a 4× model on a
1440×1440 image would otherwise need several GB of activations.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from content.errors import GenerationError

LANCZOS = "lanczos"
MODEL_MIN_FACTOR = 1.25  # below this, a model pass costs far more than it adds
TILE_OVERLAP = 16  # input pixels of context around each tile: no seams at tile edges


@dataclass(frozen=True)
class Upscaler:
    model: str = LANCZOS  # "lanczos" or a weights file spandrel can load
    tile: int = 512  # input pixels per tile side
    device: str = "cpu"


def needs_upscale(size: tuple[int, int], target: tuple[int, int]) -> bool:
    return size[0] < target[0] or size[1] < target[1]


def upscale_to_cover(image: Image.Image, target: tuple[int, int], upscaler: Upscaler) -> Image.Image:
    """`image` enlarged until it covers `target` (it may overshoot; fit_exact crops and
    resizes it to the exact size afterwards). Unchanged if it already covers it."""
    if not needs_upscale(image.size, target):
        return image
    if upscaler.model == LANCZOS:
        return lanczos_upscale(image, target)
    model = load_upscaler(upscaler.model, upscaler.device)
    result = image
    # Model passes while a real enlargement is left (a 2× model on a small image may need two);
    # a remainder under half the model's scale is left to fit_exact's Lanczos resize, since
    # another pass would overshoot far past the target at several times the cost.
    while remaining_factor(result.size, target) > max(MODEL_MIN_FACTOR, model.scale / 2):
        result = run_tiled(model, result, upscaler.tile)
    return result


def remaining_factor(size: tuple[int, int], target: tuple[int, int]) -> float:
    return max(target[0] / size[0], target[1] / size[1])


def lanczos_upscale(image: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Lanczos enlargement, then a light unsharp mask (radius 1.2, 40 %, threshold 2): the
    enlargement softens edges; more sharpening than this halos them. In OpenCV: 4× faster
    than Pillow's resize and UnsharpMask (50 ms against 200 ms a 1080×1920 reel frame on
    this 2-core CPU), which counts for a local clip's every frame."""
    import cv2

    factor = remaining_factor(image.size, target)
    size = (max(target[0], round(image.width * factor)), max(target[1], round(image.height * factor)))
    pixels = np.asarray(image if image.mode in ("RGB", "L") else image.convert("RGB"))
    enlarged = cv2.resize(pixels, size, interpolation=cv2.INTER_LANCZOS4)
    blurred = cv2.GaussianBlur(enlarged, (0, 0), 1.2)
    sharpened = cv2.addWeighted(enlarged, 1.4, blurred, -0.4, 0)
    threshold = np.full(1, 2, np.uint8)  # Pillow's UnsharpMask threshold: flat areas stay
    flat = cv2.compare(cv2.absdiff(enlarged, blurred), threshold, cv2.CMP_LE)
    cv2.copyTo(enlarged, flat, sharpened)
    return Image.fromarray(sharpened)


@lru_cache(maxsize=2)
def load_upscaler(path: str, device: str) -> Any:
    """The spandrel model descriptor, loaded once per process."""
    import spandrel

    file = Path(path)
    if not file.is_file():
        raise GenerationError(
            f"upscaler model '{path}' does not exist — set pipeline.upscale.model to a .pth or "
            ".safetensors file, or to lanczos"
        )
    try:
        descriptor = spandrel.ModelLoader(device=device).load_from_file(file)
    except (spandrel.UnsupportedModelError, OSError, ValueError, RuntimeError) as err:
        reason = (str(err) or type(err).__name__).splitlines()[0][:200]
        raise GenerationError(
            f"cannot load the upscaler {file.name}: {reason} — use a super-resolution model "
            "spandrel supports (ESRGAN, SwinIR, HAT, DAT…) or lanczos"
        ) from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.scale < 2:
        raise GenerationError(
            f"{file.name} is not an upscaler (spandrel sees a {descriptor.architecture.name} "
            f"with scale {descriptor.scale}) — use a 2×/4× super-resolution model"
        )
    return descriptor.eval()


def describe(upscaler: Upscaler) -> str:
    if upscaler.model == LANCZOS:
        return LANCZOS
    descriptor = load_upscaler(upscaler.model, upscaler.device)
    return f"{Path(upscaler.model).name} ({descriptor.architecture.name} ×{descriptor.scale})"


def run_tiled(descriptor: Any, image: Image.Image, tile: int) -> Image.Image:
    """Run the model over `image` in tiles of `tile` input pixels (plus overlap), pasting
    only each tile's core so neighbouring tiles meet without seams."""
    import torch

    scale = int(descriptor.scale)
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    height, width = pixels.shape[:2]
    out = np.zeros((height * scale, width * scale, 3), dtype=np.float32)
    parameter = next(descriptor.model.parameters())
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            y0, x0 = max(0, top - TILE_OVERLAP), max(0, left - TILE_OVERLAP)
            y1, x1 = min(height, bottom + TILE_OVERLAP), min(width, right + TILE_OVERLAP)
            patch = torch.from_numpy(pixels[y0:y1, x0:x1].transpose(2, 0, 1).copy())[None]
            with torch.inference_mode():
                result = descriptor(patch.to(parameter.device, parameter.dtype))
            result_np = result[0].float().clamp(0, 1).cpu().numpy().transpose(1, 2, 0)
            core = result_np[
                (top - y0) * scale : (bottom - y0) * scale, (left - x0) * scale : (right - x0) * scale
            ]
            out[top * scale : bottom * scale, left * scale : right * scale] = core
    return Image.fromarray((out * 255.0 + 0.5).astype(np.uint8))


def make_test_upscaler(out_file: Path, scale: int = 4, seed: int = 0) -> Path:
    """A tiny ESRGAN (the Real-ESRGAN architecture) saved as a state dict spandrel recognises:
    tests and the demo load it through the same path as real weights.

    Its weights are set, not trained: the first and last convolutions pass the RGB channels
    through, each upsampling convolution is a small blur of them, and the residual trunk is
    random but scaled down — so it enlarges a picture recognisably (smoothed nearest-neighbour
    with faint random texture) instead of turning it black, as purely random weights do."""
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(seed)
    model = ESRGAN(num_filters=16, num_blocks=1, scale=scale)
    convs = [m for m in model.model if isinstance(m, torch.nn.Conv2d)]
    blur = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    with torch.no_grad():
        for index, conv in enumerate(convs):
            conv.weight.zero_()
            conv.bias.zero_()
            for channel in range(3):
                if index in (0, len(convs) - 1):
                    conv.weight[channel, channel, 1, 1] = 1.0
                else:
                    conv.weight[channel, channel] = blur
        for parameter in model.model[1].parameters():  # the residual trunk
            parameter.mul_(0.05)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    if out_file.suffix == ".safetensors":
        save_file(state, str(out_file))
    else:
        torch.save(state, out_file)
    return out_file

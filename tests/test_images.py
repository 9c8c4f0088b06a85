"""The photo stage on the tiny model: LoRAs, noise injection, detail, grain, the record."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from content.images import Memory, PhotoRequest, file_sha256, generate_photo, load_flux
from content.lora import make_test_lora
from content.realism import Realism, detail_sigmas, film_grain, injection_steps


@pytest.fixture(scope="module")
def loras(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("loras")
    kohya = folder / "kohya.safetensors"
    torch.manual_seed(0)
    tensors = {}
    for name, width in (
        ("img_attn_qkv", 96),
        ("img_attn_proj", 32),
        ("txt_attn_qkv", 96),
        ("txt_attn_proj", 32),
    ):
        key = f"lora_unet_double_blocks_0_{name}"  # kohya/sd-scripts naming
        tensors[f"{key}.lora_down.weight"] = torch.randn(4, 32) * 0.5
        tensors[f"{key}.lora_up.weight"] = torch.randn(width, 4) * 0.5
        tensors[f"{key}.alpha"] = torch.tensor(4.0)
    save_file(tensors, str(kohya))
    return {
        "mara": make_test_lora(tiny_model, folder / "mara.safetensors", seed=1),
        "kai": make_test_lora(tiny_model, folder / "kai.safetensors", seed=2),
        "kohya": kohya,
    }


def request(tiny_model: Path, **changes: object) -> PhotoRequest:
    base = PhotoRequest(
        model="tiny-flux",
        location=str(tiny_model),
        prompt="photo of t3ss woman",
        seed=5,
        steps=4,
        guidance=3.5,
        width=128,
        height=160,
        device="cpu",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def pixels(result_image: Image.Image) -> np.ndarray:  # type: ignore[type-arg]
    return np.asarray(result_image, dtype=np.float32)


def diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(pixels(a) - pixels(b)).mean())


def test_a_lora_changes_the_output_and_scale_zero_equals_none(
    tiny_model: Path, loras: dict[str, Path]
) -> None:
    plain = generate_photo(request(tiny_model)).image
    with_lora = generate_photo(request(tiny_model, lora_adapter="mara", lora=loras["mara"])).image
    zero = generate_photo(request(tiny_model, lora_adapter="mara", lora=loras["mara"], lora_scale=0.0)).image
    off_again = generate_photo(request(tiny_model)).image
    assert diff(plain, with_lora) > 0.05
    assert diff(plain, zero) == 0.0 and diff(plain, off_again) == 0.0


def test_switching_personas_never_reloads_the_base_model(tiny_model: Path, loras: dict[str, Path]) -> None:
    load_flux.cache_clear()
    images = {}
    for round_number in range(3):  # 2 personas × 3 posts, interleaved
        for persona in ("mara", "kai"):
            images[(persona, round_number)] = generate_photo(
                request(tiny_model, lora_adapter=persona, lora=loras[persona])
            ).image
    assert load_flux.cache_info().misses == 1 and load_flux.cache_info().hits == 5
    pipeline = load_flux(str(tiny_model), "cpu", Memory())  # the same cache key as generate_photo
    assert set(pipeline._vibot_loras) == {"mara", "kai"}  # each LoRA file read once
    assert diff(images[("mara", 0)], images[("mara", 2)]) == 0.0
    assert diff(images[("mara", 0)], images[("kai", 0)]) > 0.05


def test_a_kohya_lora_loads(tiny_model: Path, loras: dict[str, Path]) -> None:
    plain = generate_photo(request(tiny_model)).image
    kohya = generate_photo(request(tiny_model, lora_adapter="kohya", lora=loras["kohya"])).image
    assert diff(plain, kohya) > 0.05


def test_noise_injection_is_seeded_and_a_no_op_at_zero(tiny_model: Path) -> None:
    plain = generate_photo(request(tiny_model)).image
    noisy = Realism(noise_strength=0.5, noise_at=(0.3, 0.6))
    first = generate_photo(request(tiny_model, realism=noisy)).image
    again = generate_photo(request(tiny_model, realism=noisy)).image
    zero = generate_photo(request(tiny_model, realism=Realism(noise_strength=0.0, noise_at=(0.3, 0.6)))).image
    assert diff(first, again) == 0.0 and diff(plain, zero) == 0.0 and diff(plain, first) > 0.05
    assert injection_steps((0.3, 0.6), 28) == {8, 16}


def test_the_detail_pass_lowers_mid_schedule_sigmas(tiny_model: Path) -> None:
    assert detail_sigmas(10, 0.0) is None
    lowered = detail_sigmas(10, 1.0)
    default = np.linspace(1.0, 0.1, 10)
    assert lowered is not None and lowered[0] == 1.0 and lowered[-1] == pytest.approx(0.1)
    assert all(a > b for a, b in pairwise(lowered))
    assert lowered[5] < default[5] * 0.8
    plain = generate_photo(request(tiny_model)).image
    detailed = generate_photo(request(tiny_model, realism=Realism(detail=1.0))).image
    assert diff(plain, detailed) > 0.05
    assert diff(detailed, generate_photo(request(tiny_model, realism=Realism(detail=1.0))).image) == 0.0


def test_film_grain_is_seeded_luminance_weighted_and_off_at_zero() -> None:
    grey = Image.new("RGB", (64, 64), (128, 128, 128))
    black = Image.new("RGB", (64, 64), (0, 0, 0))
    assert film_grain(grey, 0.0, 1.0, seed=1) is grey
    first, again = film_grain(grey, 0.5, 1.5, seed=1), film_grain(grey, 0.5, 1.5, seed=1)
    assert diff(first, again) == 0.0 and pixels(first).std() > 2.0
    assert diff(film_grain(grey, 0.5, 1.5, seed=2), first) > 0.5
    assert pixels(film_grain(black, 0.5, 1.5, seed=1)).max() == 0.0  # no grain in pure black
    coarse, fine = film_grain(grey, 0.5, 3.0, seed=1), film_grain(grey, 0.5, 1.0, seed=1)
    neighbour = [float(np.abs(np.diff(pixels(img)[..., 0], axis=1)).mean()) for img in (coarse, fine)]
    assert neighbour[0] < neighbour[1]  # bigger grain: smoother from pixel to pixel


def test_the_record_says_how_to_make_it_again(tiny_model: Path, loras: dict[str, Path]) -> None:
    realism = Realism(noise_strength=0.2, noise_at=(0.5,), detail=0.3, grain=0.1, grain_size=1.5)
    result = generate_photo(
        request(tiny_model, lora_adapter="mara", lora=loras["mara"], lora_scale=0.8, realism=realism)
    )
    record = result.record
    assert record["lora"] == {"file": str(loras["mara"]), "sha256": file_sha256(loras["mara"]), "scale": 0.8}
    assert record["model_fingerprint"].startswith("sha256 ") and record["licence"].startswith("Apache-2.0")
    assert (record["seed"], record["steps"], record["guidance"]) == (5, 4, 3.5)
    assert record["noise_injection"] == {"strength": 0.2, "at": [0.5]} and record["detail"] == 0.3
    assert record["grain"] == {"strength": 0.1, "size": 1.5}
    assert record["generated_size"] == [128, 160] and record["final_size"] == [128, 160]
    assert record["device"] == "cpu" and record["dtype"] == "float32" and record["seconds"] > 0
    again = generate_photo(
        request(tiny_model, lora_adapter="mara", lora=loras["mara"], lora_scale=0.8, realism=realism)
    )
    assert diff(result.image, again.image) == 0.0  # the record is enough to make it again

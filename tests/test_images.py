"""The photo stage on the tiny model: LoRAs, noise injection, detail, grain, the record."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter
from safetensors.torch import save_file

from content.errors import ConfigError, GenerationError
from content.hashing import file_sha256
from content.images import Memory, PhotoRequest, Speed, Upscaler, generate_photo, load_flux
from content.images.lora import make_test_lora
from content.images.realism import Realism, detail_sigmas, film_grain, injection_steps
from content.images.upscale import describe, load_upscaler, make_test_upscaler, run_tiled, upscale_to_cover


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
    pipeline = load_flux(str(tiny_model), "cpu", Memory(), Speed())  # generate_photo's cache key
    assert set(pipeline._vibot_loras["loaded"]) == {"mara", "kai"}  # each LoRA file read once
    assert diff(images[("mara", 0)], images[("mara", 2)]) == 0.0
    assert diff(images[("mara", 0)], images[("kai", 0)]) > 0.05


def test_a_kohya_lora_loads(tiny_model: Path, loras: dict[str, Path]) -> None:
    plain = generate_photo(request(tiny_model)).image
    kohya = generate_photo(request(tiny_model, lora_adapter="kohya", lora=loras["kohya"])).image
    assert diff(plain, kohya) > 0.05


@pytest.mark.slow
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


# --- upscaling ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upscalers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("upscalers")
    return {
        "x4": make_test_upscaler(folder / "tiny-esrgan-x4.pth", scale=4),
        "x2": make_test_upscaler(folder / "tiny-esrgan-x2.safetensors", scale=2, seed=1),
    }


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8))


def test_spandrel_detects_the_upscaler_from_pth_and_safetensors(upscalers: dict[str, Path]) -> None:
    assert describe(Upscaler(str(upscalers["x4"]))) == "tiny-esrgan-x4.pth (ESRGAN ×4)"
    assert describe(Upscaler(str(upscalers["x2"]))) == "tiny-esrgan-x2.safetensors (ESRGAN ×2)"


def test_tiles_meet_without_seams(upscalers: dict[str, Path]) -> None:
    model = load_upscaler(str(upscalers["x4"]), "cpu")
    image = noise_image(70, 90)
    whole = np.asarray(run_tiled(model, image, tile=1000), dtype=np.int16)
    tiled = np.asarray(run_tiled(model, image, tile=32), dtype=np.int16)  # 3×3 tiles, ragged edges
    assert whole.shape == (360, 280, 3)
    assert np.abs(whole - tiled).max() <= 1  # rounding only


def test_a_model_upscale_covers_the_target_with_as_few_passes_as_needed(upscalers: dict[str, Path]) -> None:
    image = noise_image(64, 80)
    by_x4 = upscale_to_cover(image, (270, 338), Upscaler(str(upscalers["x4"]), tile=48))
    assert by_x4.size == (256, 320)  # one 4× pass; the last 5% is left to the final resize
    by_x2 = upscale_to_cover(image, (270, 338), Upscaler(str(upscalers["x2"]), tile=48))
    assert by_x2.size == (256, 320)  # two 2× passes
    assert upscale_to_cover(image, (64, 80), Upscaler(str(upscalers["x4"]))) is image


def test_lanczos_fallback_enlarges_and_sharpens() -> None:
    checks = (np.indices((50, 40)).sum(axis=0) // 1 % 2 * 255).astype(np.uint8)
    image = Image.fromarray(np.kron(checks[:10, :8], np.ones((5, 5), dtype=np.uint8))).convert("RGB")
    enlarged = upscale_to_cover(image, (120, 150), Upscaler())
    plain = image.resize((120, 150), Image.Resampling.LANCZOS)
    assert enlarged.size == (120, 150)
    edges = [
        np.asarray(i.convert("L").filter(ImageFilter.FIND_EDGES), dtype=np.float32).mean()
        for i in (plain, enlarged)
    ]
    assert edges[1] > edges[0] * 1.05  # the unsharp mask restores some edge contrast


def test_a_file_that_is_not_an_upscaler_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    save_file({"weight": torch.zeros(3, 3)}, str(junk))
    with pytest.raises(GenerationError, match=r"cannot load the upscaler junk.safetensors: .* or lanczos"):
        load_upscaler(str(junk), "cpu")
    with pytest.raises(GenerationError, match="does not exist"):
        load_upscaler(str(tmp_path / "missing.pth"), "cpu")


def test_a_small_generation_is_upscaled_by_the_model_and_recorded(
    tiny_model: Path, upscalers: dict[str, Path]
) -> None:
    # The tiny model generates at most 320 px: 1080×1350 needs the upscaler.
    upscaler = Upscaler(str(upscalers["x4"]), tile=128)
    result = generate_photo(request(tiny_model, width=1080, height=1350, steps=2, upscaler=upscaler))
    assert result.image.size == (1080, 1350) and result.generated_size == (256, 320)
    assert result.record["upscaler"] == "tiny-esrgan-x4.pth (ESRGAN ×4)"
    assert result.record["upscaler_sha256"] == file_sha256(upscalers["x4"])
    lanczos = generate_photo(request(tiny_model, width=1080, height=1350, steps=2))
    assert lanczos.record["upscaler"] == "lanczos" and "upscaler_sha256" not in lanczos.record
    assert diff(result.image, lanczos.image) > 1.0  # the model, not the fallback, made it
    small = generate_photo(request(tiny_model, upscaler=upscaler))
    assert small.record["upscaler"] == "none (generated at full size)"


# --- speed switches (the CPU checks what it can: same maths, no recompiles) ----------


@pytest.mark.slow
def test_hot_swap_under_compile_switches_personas_without_recompiling(
    tiny_model: Path, loras: dict[str, Path]
) -> None:
    from torch._dynamo.utils import counters

    reference = {
        name: generate_photo(request(tiny_model, lora_adapter=name, lora=loras[name])).image
        for name in ("mara", "kai")
    }
    plain = generate_photo(request(tiny_model)).image
    load_flux.cache_clear()
    torch._dynamo.reset()
    counters.clear()
    # "eager" compiles the graphs without inductor's C++ build: same graph breaks and guards.
    speed = Speed(compile=True, lora_max_rank=8, compile_backend="eager")
    swapped = {}
    graphs = []
    for name in ("mara", "kai", "mara", "kai"):
        swapped[name] = generate_photo(request(tiny_model, lora_adapter=name, lora=loras[name], speed=speed))
        graphs.append(counters["stats"]["unique_graphs"])
    assert graphs[0] > 0 and graphs[-1] == graphs[0]  # swapping LoRAs compiled nothing new
    for name in ("mara", "kai"):
        assert diff(swapped[name].image, reference[name]) < 0.01  # the same LoRA maths
        assert swapped[name].record["speed"]["lora_hotswap"] is True
    no_lora = generate_photo(request(tiny_model, speed=speed)).image  # the slot weighed 0
    assert diff(no_lora, plain) < 0.01
    load_flux.cache_clear()
    torch._dynamo.reset()


def test_fused_qkv_keeps_the_image_and_never_bypasses_a_lora(
    tiny_model: Path, loras: dict[str, Path]
) -> None:
    plain = generate_photo(request(tiny_model)).image
    with_lora = generate_photo(request(tiny_model, lora_adapter="mara", lora=loras["mara"])).image
    fused = Speed(fuse_qkv=True)
    fused_plain = generate_photo(request(tiny_model, speed=fused))
    fused_lora = generate_photo(request(tiny_model, lora_adapter="mara", lora=loras["mara"], speed=fused))
    assert fused_plain.record["speed"]["fused_qkv"] is True and diff(fused_plain.image, plain) < 0.01
    assert fused_lora.record["speed"]["fused_qkv"] is False  # skipped: the LoRA must apply
    assert diff(fused_lora.image, with_lora) < 0.01
    again = generate_photo(request(tiny_model, speed=fused))  # fused again after the LoRA post
    assert diff(again.image, plain) < 0.01


def test_int8_weights_channels_last_and_step_cache_run_and_are_recorded(tiny_model: Path) -> None:
    plain = generate_photo(request(tiny_model)).image
    int8 = generate_photo(request(tiny_model, speed=Speed(quantize="int8", channels_last=True)))
    assert int8.record["speed"]["quantize"] == "int8" and int8.record["speed"]["channels_last_vae"]
    assert 0 < diff(int8.image, plain) < 2.0  # close, not identical: weights are rounded
    cached = generate_photo(request(tiny_model, steps=8, speed=Speed(cache_threshold=10.0)))
    uncached = generate_photo(request(tiny_model, steps=8))
    assert cached.record["speed"]["first_block_cache"] == 10.0
    assert diff(cached.image, uncached.image) > 0  # a huge threshold reuses steps: not the same


def test_an_unknown_attention_backend_is_a_config_error(tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match=r"VIBOT_ATTENTION=nonsense: .* unset it"):
        generate_photo(request(tiny_model, speed=Speed(attention="nonsense")))


@pytest.mark.slow
def test_step_cache_works_under_compile(tiny_model: Path, loras: dict[str, Path]) -> None:
    load_flux.cache_clear()
    torch._dynamo.reset()
    speed = Speed(compile=True, cache_threshold=0.1, lora_max_rank=8, compile_backend="eager")
    result = generate_photo(
        request(tiny_model, steps=6, lora_adapter="mara", lora=loras["mara"], speed=speed)
    )
    assert result.image.size == (128, 160) and result.record["speed"]["first_block_cache"] == 0.1
    load_flux.cache_clear()
    torch._dynamo.reset()

"""The first real stages: tiny Flux through from_pretrained, exact sizes, the label, captions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from content.captions import template_caption
from content.disclosure import CaptionDisclosure, burn_label, has_disclosure, label_overlay, lock_disclosure
from content.images import PhotoRequest, fit_exact, generate_photo, generation_size
from content.images.prompt import photo_prompt
from content.persona import load_persona
from tests.support.personas import write_persona

DISCLOSURE = CaptionDisclosure("Tess is a virtual influencer; this post is AI-generated.", "#AIgenerated")


def request(tiny_model: Path, seed: int = 1, size: tuple[int, int] = (1080, 1350)) -> PhotoRequest:
    return PhotoRequest(
        model="tiny-flux",
        location=str(tiny_model),
        prompt="photo of t3ss woman, harbour",
        seed=seed,
        steps=2,
        guidance=3.5,
        width=size[0],
        height=size[1],
        device="cpu",
    )


def test_tiny_flux_loads_like_real_weights_and_is_seeded(tiny_model: Path) -> None:
    assert (tiny_model / "model_index.json").exists()
    assert (tiny_model / "transformer" / "config.json").exists()
    first = generate_photo(request(tiny_model, seed=1))
    again = generate_photo(request(tiny_model, seed=1))
    other = generate_photo(request(tiny_model, seed=2))
    assert first.image.size == (1080, 1350)
    a, b, c = (np.asarray(x.image, dtype=np.float32) for x in (first, again, other))
    assert np.abs(a - b).max() <= 1.0  # same seed, same image
    assert np.abs(a - c).mean() > 5.0  # another seed, another image
    assert first.generated_size == (256, 320)


@pytest.mark.parametrize("size", [(1080, 1350), (1080, 1080), (1080, 1920), (1080, 566)])
def test_instagram_sizes_come_out_exact(size: tuple[int, int]) -> None:
    width, height = generation_size(*size, max_side=1440)
    assert width % 16 == 0 and height % 16 == 0
    assert abs((width / height) / (size[0] / size[1]) - 1) < 0.025  # the crop absorbs the rest
    source = Image.new("RGB", (width, height), (10, 20, 30))
    assert fit_exact(source, *size).size == size


def test_the_label_is_burned_in_the_lower_left_at_5_percent(tmp_path: Path) -> None:
    plain = Image.new("RGB", (1080, 1350), (200, 200, 200))
    labelled = np.asarray(burn_label(plain, "AI-generated"), dtype=np.int16)
    changed = np.argwhere(np.abs(labelled - 200).sum(axis=2) > 30)
    top, left = changed.min(axis=0)
    bottom, _right = changed.max(axis=0)
    assert left < 1080 * 0.1 and bottom > 1350 * 0.9  # lower-left corner
    assert bottom - top >= 1080 * 0.05  # at least 5% of the short side
    overlay = label_overlay(1080, 1920, "AI-generated")
    assert overlay.mode == "RGBA" and overlay.getbbox() is not None


def test_caption_has_the_disclosure_line_first_and_hashtags(tmp_path: Path) -> None:
    persona = load_persona(write_persona(tmp_path))
    caption = template_caption(persona, "travel", "harbour at dawn", seed=3)
    lines = caption.splitlines()
    assert lines[0] == persona.disclosure.caption_line
    assert "harbour at dawn" in caption.lower()
    assert lines[-1].split() == ["#AIgenerated", "#test"]
    sponsored = template_caption(persona, "travel", "harbour at dawn", seed=3, sponsored=True)
    assert sponsored.splitlines()[-1].split()[0] == "#ad"
    assert photo_prompt(persona, "travel", "harbour at dawn") == (
        "t3ss woman, photo of a woman, harbour at dawn, travel"
    )


def test_the_disclosure_line_cannot_be_edited_away() -> None:
    edited = lock_disclosure("Just a nice day at the beach", DISCLOSURE)
    assert edited.splitlines()[0] == DISCLOSURE.line and has_disclosure(edited, DISCLOSURE)
    moved = lock_disclosure(f"Hello\n{DISCLOSURE.line}\n#AIgenerated", DISCLOSURE)
    assert moved == f"{DISCLOSURE.line}\n\nHello\n#AIgenerated"
    assert not has_disclosure("Hello #AIgenerated", DISCLOSURE)

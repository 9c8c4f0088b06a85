"""Training data for a persona's LoRA: what is read, dropped, captioned, bucketed and refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from content.errors import ConfigError
from content.training.dataset import bucket_for, buckets, load_dataset

FACES = Path(__file__).parent / "vendor" / "faces"
TRIGGER, LOOK = "t3ss woman", "photo of t3ss woman, freckles"


def textured(path: Path, size: tuple[int, int], seed: int) -> Path:
    """A smooth random picture (no face), like a landscape."""
    rng = np.random.default_rng(seed)
    small = (rng.random((12, 16, 3)) * 255).astype(np.uint8)
    Image.fromarray(small).resize(size, Image.Resampling.BICUBIC).save(path)
    return path


def sideways(path: Path) -> Path:
    """A 900×600 JPEG whose EXIF says 'rotate 90°': upright it is 600×900."""
    image = Image.open(FACES / "obama2.jpg").convert("RGB").rotate(90, expand=True).resize((900, 600))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to view
    image.save(path, "JPEG", exif=exif)
    return path


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(FACES / "obama.jpg", folder / "a-portrait.jpg")
    with Image.open(FACES / "obama.jpg") as original:  # the same photo, re-saved smaller
        original.convert("RGB").resize((819, 1023)).save(folder / "b-portrait-again.jpg", quality=80)
    sideways(folder / "c-sideways.jpg")
    textured(folder / "d-landscape.png", (1024, 640), seed=1)
    (folder / "d-landscape.txt").write_text("t3ss woman's view of the harbour,\n at dawn\n")
    shutil.copy(FACES / "biden.jpg", folder / "e-someone.webp.jpg")
    return folder


def test_photos_are_read_upright_deduplicated_captioned_and_bucketed(photos: Path) -> None:
    dataset = load_dataset(photos, TRIGGER, LOOK, resolution=512)
    names = [image.path.name for image in dataset.images]
    assert names == ["a-portrait.jpg", "c-sideways.jpg", "d-landscape.png", "e-someone.webp.jpg"]
    assert [(dropped.name, kept.name) for dropped, kept in dataset.duplicates] == [
        ("b-portrait-again.jpg", "a-portrait.jpg")
    ]
    by_name = {image.path.name: image for image in dataset.images}
    assert by_name["d-landscape.png"].caption == "t3ss woman's view of the harbour, at dawn"  # sidecar
    assert by_name["a-portrait.jpg"].caption == LOOK  # the trigger is already in the look
    assert by_name["c-sideways.jpg"].bucket[0] < by_name["c-sideways.jpg"].bucket[1]  # EXIF applied
    assert by_name["d-landscape.png"].bucket[0] > by_name["d-landscape.png"].bucket[1]
    assert by_name["a-portrait.jpg"].face == "one face" and by_name["d-landscape.png"].face == "no face"
    assert [image.path.name for image in dataset.face_problems] == ["d-landscape.png"]
    assert all(len(image.sha256) == 64 for image in dataset.images)


def test_buckets_keep_the_area_and_the_aspect() -> None:
    for width, height in buckets(512):
        assert width % 64 == 0 and height % 64 == 0 and 0.5 <= width / height <= 2.0
        assert 0.8 <= width * height / 512**2 <= 1.25
    assert bucket_for((1000, 1000), 512) == (512, 512)
    assert bucket_for((1080, 1350), 1024)[1] > bucket_for((1080, 1350), 1024)[0]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda folder: None, r"photos: no photos \(JPEG, PNG, WebP\) — add at least 4 of the persona"),
        (
            lambda folder: (folder / "notes.pdf").write_bytes(b"%PDF"),
            r"notes.pdf: not a training photo — the folder holds JPEG, PNG or WebP photos",
        ),
        (
            lambda folder: (folder / "broken.png").write_bytes(b"not a png"),
            r"broken.png: not an image vibot can read — training reads JPEG, PNG and WebP",
        ),
        (
            lambda folder: textured(folder / "small.jpg", (640, 400), 3),
            r"small.jpg: 640×400, its short side is under 512 px — use a larger photo",
        ),
        (
            lambda folder: [textured(folder / f"{i}.png", (640, 640), i) for i in range(3)],
            r"photos: 3 usable photo\(s\), training needs at least 4 — add more photos",
        ),
    ],
)
def test_unusable_photos_stop_with_the_file_and_the_fix(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "photos"
    folder.mkdir()
    make(folder)
    with pytest.raises(ConfigError, match=message):
        load_dataset(folder, TRIGGER, LOOK, check_faces=False)

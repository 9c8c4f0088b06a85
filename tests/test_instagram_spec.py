"""Instagram's media spec before upload: every refusal names the file and the rule."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from content.platforms.instagram import SPEC

image_problems, post_problems = SPEC.image_problems, SPEC.post_problems


def image(path: Path, size: tuple[int, int], mode: str = "RGB", fmt: str = "JPEG") -> Path:
    Image.new(mode, size, 128 if mode == "L" else (120, 90, 60)).save(path, fmt)
    return path


def test_a_good_photo_passes(tmp_path: Path) -> None:
    assert image_problems(image(tmp_path / "ok.jpg", (1080, 1350))) == []
    assert image_problems(image(tmp_path / "wide.jpg", (1080, 566))) == []  # 1.91:1


def test_each_rule_names_the_file_and_the_limit(tmp_path: Path) -> None:
    assert image_problems(image(tmp_path / "tall.jpg", (1080, 1920))) == [
        "tall.jpg has aspect 0.56; Instagram takes 4:5 to 1.91:1"
    ]
    assert image_problems(image(tmp_path / "big.jpg", (2000, 2000))) == [
        "big.jpg is 2000 px wide; Instagram takes 320–1440"
    ]
    assert image_problems(image(tmp_path / "p.png", (1080, 1080), fmt="PNG")) == [
        "p.png is PNG; Instagram publishes JPEG"
    ]
    assert image_problems(image(tmp_path / "g.jpg", (1080, 1080), mode="L")) == [
        "g.jpg is L; Instagram wants RGB (sRGB)"
    ]
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(image(tmp_path / "x.jpg", (1080, 1080)).read_bytes() + b"\0" * (9 * 2**20))
    assert image_problems(huge)[0] == "huge.jpg is 9.0 MB; Instagram takes at most 8 MB"
    (tmp_path / "junk.jpg").write_bytes(b"not an image")
    assert image_problems(tmp_path / "junk.jpg") == ["junk.jpg is not an image"]


def test_carousels_take_two_to_ten_items(tmp_path: Path) -> None:
    one = [image(tmp_path / "a.jpg", (1080, 1080))]
    assert post_problems("carousel", one) == ["a carousel has 1 items; Instagram takes 2–10"]
    assert post_problems("carousel", one * 2) == []
    assert post_problems("carousel", one * 11) == ["a carousel has 11 items; Instagram takes 2–10"]

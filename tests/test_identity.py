"""The identity guard on real photographs: dlib's detector and embeddings, the persona's
references, and the prepare stage's retries and review flags."""

from __future__ import annotations

import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps
from playwright.sync_api import Page, expect

from bot.prepare import prepare_post
from bot.review import get_post
from bot.web.auth import add_user
from content.errors import ConfigError
from content.identity import (
    DEFAULT_MAX_DISTANCE,
    find_faces,
    load_references,
    references_from,
    score,
)
from storage.status import PostStatus
from tests.support.cli import cli_here
from tests.support.personas import make_app, write_persona
from tests.support.posts import planned_post
from tests.support.web import CHROMIUM, PASSWORD, REVIEWER, SHOTS, login, running

FACES = Path(__file__).parent / "vendor" / "faces"


def photo(name: str) -> Image.Image:
    if name == "astronaut":
        from skimage import data

        return Image.fromarray(data.astronaut())
    with Image.open(FACES / f"{name}.jpg") as opened:
        return opened.convert("RGB")


@pytest.fixture(scope="module")
def obama_references(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("obama")
    shutil.copy(FACES / "obama.jpg", folder / "portrait.jpg")
    return folder


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def edits(image: Image.Image) -> dict[str, Image.Image]:
    width, height = image.size
    return {
        "crop": image.crop((width // 8, 0, width * 7 // 8, height * 3 // 4)),
        "flip": ImageOps.mirror(image),
        "jpeg q70": jpeg(image, 70),
        "darker": ImageEnhance.Brightness(image).enhance(0.6),
        "brighter": ImageEnhance.Brightness(image).enhance(1.4),
        "half size": image.resize((width // 2, height // 2), Image.Resampling.LANCZOS),
    }


def test_the_same_face_matches_after_crop_flip_jpeg_brightness_and_resize(obama_references: Path) -> None:
    references = load_references(obama_references)
    distances = {name: score(edited, references).distance for name, edited in edits(photo("obama")).items()}
    assert all(d is not None and d <= 0.25 for d in distances.values()), distances
    other_photo = score(photo("obama2"), references)  # another day, another light
    assert other_photo.ok and other_photo.distance is not None and other_photo.distance < 0.5


@pytest.mark.parametrize("other", ["biden", "astronaut"])
def test_a_different_person_does_not_match(obama_references: Path, other: str) -> None:
    checked = score(photo(other), load_references(obama_references))
    assert checked.distance is not None and checked.distance > DEFAULT_MAX_DISTANCE and not checked.ok
    assert checked.describe() == f"identity {checked.distance:.2f} (limit 0.60)"


def test_a_picture_without_a_face_is_flagged(obama_references: Path) -> None:
    from skimage import data

    for faceless in (Image.fromarray(data.coffee()), Image.fromarray(data.rocket())):
        checked = score(faceless, load_references(obama_references))
        assert checked.distance is None and checked.faces == 0 and not checked.ok
        assert checked.describe() == "identity: no face found (limit 0.60)"


def test_two_faces_of_similar_size_are_reported() -> None:
    left = photo("obama").resize((455, 568))
    right = photo("biden").crop((0, 0, 970, 1211)).resize((455, 568))  # his portrait is full length
    both = Image.new("RGB", (910, 568))
    both.paste(left, (0, 0))
    both.paste(right, (455, 0))
    found = find_faces(both)
    assert len(found.found) == 2 and found.several
    assert not find_faces(photo("obama")).several


def test_a_reference_of_someone_else_is_an_outlier(tmp_path: Path) -> None:
    faces = [(f"obama-{name}", find_faces(image).largest) for name, image in edits(photo("obama")).items()]
    faces.append(("stranger.jpg", find_faces(photo("biden")).largest))
    references = references_from([(name, face) for name, face in faces if face is not None])
    assert references.outliers() == ["stranger.jpg"]
    alone = references_from([(n, f) for n, f in faces if f is not None and n != "stranger.jpg"])
    assert alone.outliers() == [] and 0.35 <= alone.suggested_limit <= DEFAULT_MAX_DISTANCE


def test_bad_references_stop_with_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no reference photos .* add photos of the persona's face"):
        load_references(tmp_path)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ConfigError, match=r"broken.jpg: not an image vibot can read"):
        load_references(tmp_path)
    (tmp_path / "broken.jpg").unlink()
    from skimage import data

    Image.fromarray(data.coffee()).save(tmp_path / "coffee.png")
    with pytest.raises(ConfigError, match=r"coffee.png: no face found — use a photo where the face is clear"):
        load_references(tmp_path)


# --- in the prepare stage ------------------------------------------------------------------


def guarded_app(tmp_path: Path, tiny_model: Path, references: Path, **identity: object) -> tuple:  # type: ignore[type-arg]
    home = tmp_path / "home"
    write_persona(
        home / "personas",
        appearance={
            "trigger": "t3ss woman",
            "base_prompt": "photo of t3ss woman",
            "identity": {"references": str(references), **identity},
        },
    )
    return make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model), home


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make test installs it)")
def test_a_faceless_image_is_retried_then_reaches_review_flagged(
    tmp_path: Path, tiny_model: Path, obama_references: Path, page: Page
) -> None:
    app, _ = guarded_app(tmp_path, tiny_model, obama_references, retries=2)
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=3))
    assert prepare_post(app, post_id)
    view = get_post(app, post_id)
    assert view.post.status == PostStatus.IN_REVIEW  # never failed silently, never unflagged
    flags = json.loads(view.post.review_flags or "[]")
    assert "identity: no face found (limit 0.60) after 3 image(s)" in flags
    (record,) = json.loads(view.post.generation or "[]")
    seeds = [attempt["seed"] for attempt in record["identity"]["attempts"]]
    assert len(seeds) == 3 and len(set(seeds)) == 3  # the tiny model draws no faces: 1 + 2 retries
    assert record["identity"]["distance"] is None and record["seed"] == seeds[-1]
    (image,) = view.media
    add_user(app, REVIEWER, PASSWORD)
    with running(app, {"photo": post_id}) as site, httpx.Client(base_url=site.url) as client:
        login(client)
        card = client.get("/queue").text
        assert "<b>Identity</b> no face" in card and "(limit 0.60)" in card
        assert "⚑ identity: no face found (limit 0.60) after 3 image(s)" in card
        # The post page: no face to crop in the image, the persona's reference face beside it.
        assert client.get(f"/media/{image.id}/face").status_code == 404
        reference = client.get("/personas/tess/face")
        assert reference.status_code == 200 and reference.headers["content-type"] == "image/jpeg"
        crop = Image.open(io.BytesIO(reference.content))
        assert crop.size == (160, 160) and find_faces(crop).largest is not None
        assert client.get("/personas/nobody/face").status_code == 404
        # In a browser: the score, the flag and both crops (screenshot for the record).
        page.goto(f"{site.url}/login?next=/posts/{post_id}")
        page.get_by_label("Name").fill(REVIEWER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("dd", has_text="no face (limit 0.60)")).to_be_visible()
        reference_img = page.get_by_alt_text("tess's reference face")
        expect(reference_img).to_be_visible()
        assert reference_img.evaluate("img => img.complete && img.naturalWidth") == 160
        SHOTS.mkdir(parents=True, exist_ok=True)
        expect(
            page.locator(".flag", has_text="identity: no face found (limit 0.60) after 3 image(s)")
        ).to_be_visible()
        page.screenshot(path=str(SHOTS / "post-identity.png"), full_page=True)
        # A face in the post's image (the tiny model draws none: a real portrait stands in for
        # its output) is cropped the same way. (The browser's log-in ended this client's session.)
        login(client)
        photo("obama2").resize((image.width, image.height)).save(app.media.path(image.path), "JPEG")
        generated = client.get(f"/media/{image.id}/face")
        assert generated.status_code == 200
        assert score(Image.open(io.BytesIO(generated.content)), load_references(obama_references)).ok


@pytest.mark.slow
def test_a_pillar_without_the_persona_skips_the_check(
    tmp_path: Path, tiny_model: Path, obama_references: Path
) -> None:
    app, _ = guarded_app(tmp_path, tiny_model, obama_references, retries=2, expect_face=False)
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=3))
    assert prepare_post(app, post_id)
    view = get_post(app, post_id)
    assert not view.post.review_flags and "identity" not in json.loads(view.post.generation or "[]")[0]


@pytest.mark.slow
def test_persona_faces_lists_each_reference_and_the_suggested_limit(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    references = tmp_path / "faces"
    references.mkdir()
    for name, image in list(edits(photo("obama")).items())[:4]:
        image.save(references / f"{name.replace(' ', '-')}.jpg")
    photo("biden").save(references / "someone-else.jpg")
    _, home = guarded_app(tmp_path, tiny_model, references)
    shown = cli_here(monkeypatch, home, "persona", "faces", "tess")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any(line.startswith("someone-else.jpg") and "outlier" in line for line in lines)
    assert sum("outlier" in line for line in lines) == 1
    assert any(line.startswith("suggested max_distance: 0.") for line in lines)
    np.testing.assert_equal(len([line for line in lines if line.endswith(".jpg") or ".jpg " in line]), 5)


def test_the_review_summary_reads_photo_and_reel_records() -> None:
    from bot.web.queries import IdentityView

    still = {"identity": {"distance": 0.412, "limit": 0.6, "faces": 1, "box": [1, 2, 3, 4]}}
    faceless = {"identity": {"distance": None, "limit": 0.6, "faces": 0, "box": None}}
    frames = [
        {"second": s, "distance": d, "limit": 0.6, "faces": 0 if d is None else 1}
        for s, d in enumerate([0.3, 0.7, None, 0.5])
    ]
    reel = {"kind": "reel", "identity": {"limit": 0.6, "frames": frames}}
    view = IdentityView.from_records([still, faceless, reel, {"model": "tiny-flux"}])
    assert view is not None and view.limit == 0.6 and view.compared
    assert [(s.distance, s.faces) for s in view.stills] == [(0.412, 1), (None, 0)]
    assert view.summary == "0.41, no face, 2 of 4 reel frames within"
    unreferenced = {
        "identity": {"distance": None, "limit": 0.6, "faces": 1, "box": [1, 2, 3, 4], "compared": False}
    }
    view = IdentityView.from_records([unreferenced])
    assert view is not None and not view.compared and view.summary == "a face"
    assert IdentityView.from_records([{"model": "tiny-flux"}]) is None


def test_without_references_only_a_face_counts() -> None:
    from skimage import data

    face, faceless = score(photo("obama2"), None), score(Image.fromarray(data.coffee()), None)
    assert face.ok and face.faces == 1 and face.distance is None and not face.compared
    assert face.describe() == "identity: a face, no reference faces to compare it with"
    assert not faceless.ok and faceless.describe() == "identity: no face found (limit 0.60)"


def test_the_references_default_to_the_photos_the_lora_was_trained_on(tmp_path: Path) -> None:
    from bot.generation import persona_references, reference_folder
    from content.persona import load_personas

    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(FACES / "obama.jpg", photos / "portrait.jpg")
    Image.fromarray(np.full((600, 600, 3), 90, np.uint8)).save(photos / "a-wall.png")  # no face: skipped
    (tmp_path / "tess.safetensors").write_bytes(b"")  # as `vibot persona train` leaves them:
    (tmp_path / "tess.training.json").write_text(json.dumps({"images": str(photos)}))  # LoRA and record
    look = {"trigger": "t3ss", "base_prompt": "photo", "lora": "tess.safetensors", "identity": {"retries": 0}}
    persona = load_personas([write_persona(tmp_path, appearance=look)])[0]
    assert reference_folder(persona) == photos
    references = persona_references(persona)
    assert references is not None and references.names == ["portrait.jpg"]
    assert score(photo("obama2"), references).ok and not score(photo("biden"), references).ok
    (tmp_path / "tess.training.json").unlink()  # a LoRA made elsewhere: presence only
    persona = load_personas([write_persona(tmp_path, appearance=look)])[0]
    assert reference_folder(persona) is None and persona_references(persona) is None

"""A persona's LoRA: the training photos (read, dropped, captioned, bucketed, refused), the
training run on the tiny Flux (loss, checkpoints, SIGKILL and resume, record, validation),
the trained LoRA in use, and every bad input as one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from content.errors import ConfigError
from content.training.dataset import bucket_for, buckets, load_dataset
from content.training.train import Paths, TrainSettings, Validation, _prune
from tests.support.cli import cli_here
from tests.support.personas import write_persona

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


# --- the training run ----------------------------------------------------------------

# The tiny random Flux learns only with a large step: 1e-2 instead of the real default 1e-4.
RUN = ["--steps", "40", "--rank", "4", "--lr", "1e-2", "--warmup", "5", "--resolution", "64",
       "--checkpoint-every", "10", "--validation-steps", "2", "--batch", "2"]  # fmt: skip


def training_home(root: Path, tiny_model: Path) -> Path:
    """A home with the test persona, the tiny model in place, and 5 faceless training photos."""
    (root / "models").mkdir(parents=True)
    shutil.copytree(tiny_model, root / "models" / "tiny-flux")
    write_persona(root / "personas")
    (root / "photos").mkdir()
    for seed in range(5):
        textured(root / "photos" / f"{seed}.png", (512, 512 + 64 * (seed % 2)), seed)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[tuple[Path, str]]:
    """One uninterrupted 40-step run through `vibot persona train`; read-only for the tests."""
    home = training_home(tmp_path_factory.mktemp("trained"), tiny_model)
    with pytest.MonkeyPatch.context() as patch:
        done = cli_here(patch, home, "persona", "train", "tess", "--images", "photos", *RUN,
                        "--out", "loras/tess.safetensors")  # fmt: skip
    assert done.returncode == 0, done.stderr
    yield home, done.stdout


@pytest.mark.slow
def test_training_lowers_the_loss_and_writes_the_lora_its_record_and_plot(trained: tuple[Path, str]) -> None:
    home, printed = trained
    lora = home / "loras" / "tess.safetensors"
    record = json.loads((home / "loras" / "tess.training.json").read_text())
    losses = record["loss"]
    first, last = float(np.mean(losses[:10])), float(np.mean(losses[-10:]))
    print(f"loss: first 10 steps {first:.4f}, last 10 {last:.4f} ({(1 - last / first):.1%} lower)")
    assert len(losses) == 40 and last < 0.93 * first
    assert lora.is_file() and (home / "loras" / "tess.training.png").read_bytes()[:4] == b"\x89PNG"
    assert [c["step"] for c in record["checkpoints"]] == [10, 20, 30, 40]
    assert record["best_step"] == 40  # no reference face: the last checkpoint is kept
    assert [image["file"] for image in record["dataset"]] == [f"{seed}.png" for seed in range(5)]
    assert record["dataset"][0]["caption"] == "t3ss woman photo of a woman"  # trigger + base look
    assert record["images"] == str((home / "photos").resolve())  # the persona's default references
    assert record["optimizer"] == "AdamW" and record["dtype"] == "float32" and record["settings"]["rank"] == 4
    # The newest 3 checkpoints stay, each with its validation images.
    kept = sorted(p.name for p in (home / "loras" / "tess.checkpoints").iterdir())
    assert kept == ["step-000020", "step-000030", "step-000040"]
    assert (home / "loras" / "tess.checkpoints" / "step-000040" / "validation-3.png").is_file()
    assert "appearance:\n  lora: ../loras/tess.safetensors" in printed  # the line to use; no YAML edited
    assert "lora" not in (home / "personas" / "tess.yaml").read_text()


@pytest.mark.slow
def test_a_run_killed_after_a_checkpoint_resumes_to_the_same_weights(
    trained: tuple[Path, str], tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import load_file

    home = training_home(tmp_path / "home", tiny_model)
    environment = {**os.environ, "VIBOT_HOME": str(home), "VIBOT_PERSONAS_DIR": str(home / "personas")}
    command = [sys.executable, "-m", "bot", "persona", "train", "tess", "--images", "photos", *RUN,
               "--out", "loras/tess.safetensors"]  # fmt: skip
    run = subprocess.Popen(
        command, cwd=home, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    checkpoints = Paths(home / "loras" / "tess.safetensors").checkpoints
    deadline = time.monotonic() + 120
    while not (checkpoints / "step-000010").is_dir() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    run.send_signal(signal.SIGKILL)
    _, errors = run.communicate()
    assert run.returncode == -signal.SIGKILL, f"the run ended before it could be killed: {errors[-500:]!r}"
    assert not (home / "loras" / "tess.safetensors").exists()
    resumed = cli_here(monkeypatch, home, "persona", "train", "tess", "--images", "photos", *RUN,
                       "--out", "loras/tess.safetensors", "--resume")  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    record = json.loads((home / "loras" / "tess.training.json").read_text())
    assert record["resumed_from"] in (10, 20, 30)
    uninterrupted = load_file(trained[0] / "loras" / "tess.safetensors")
    after_resume = load_file(home / "loras" / "tess.safetensors")
    assert uninterrupted.keys() == after_resume.keys() and len(uninterrupted) == 14
    for key, weights in uninterrupted.items():
        assert torch_equal(weights, after_resume[key]), key  # bit for bit on CPU
    reference = json.loads((trained[0] / "loras" / "tess.training.json").read_text())
    assert record["loss"] == reference["loss"]
    # Resuming a finished run is refused before the model loads, and changes nothing.
    again = cli_here(monkeypatch, home, "persona", "train", "tess", "--images", "photos", *RUN,
                     "--out", "loras/tess.safetensors", "--resume")  # fmt: skip
    assert again.returncode == 2 and "the run already reached step 40 — give --steps above 40" in again.stderr
    assert load_file(home / "loras" / "tess.safetensors").keys() == after_resume.keys()


def torch_equal(a: object, b: object) -> bool:
    import torch

    assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
    return bool(torch.equal(a, b))


@pytest.mark.slow
def test_the_trained_lora_changes_the_photo_through_appearance_lora_and_reloads_when_retrained(
    trained: tuple[Path, str], tiny_model: Path, tmp_path: Path
) -> None:
    from content.images import PhotoRequest, generate_photo
    from content.persona import load_personas

    lora = tmp_path / "tess.safetensors"
    shutil.copy(trained[0] / "loras" / "tess.safetensors", lora)
    look = {"trigger": "t3ss", "base_prompt": "photo", "lora": "tess.safetensors"}
    persona = load_personas([write_persona(tmp_path, appearance=look)])[0]
    assert persona.appearance.lora == lora.resolve()

    def photo(with_lora: bool) -> np.ndarray:
        lora = persona.appearance.lora if with_lora else None
        request = PhotoRequest(
            model="tiny-flux", location=str(tiny_model), prompt="t3ss, photo", seed=7, steps=2, guidance=3.5,
            width=64, height=64, device="cpu", lora_adapter="tess", lora=lora,
        )  # fmt: skip
        return np.asarray(generate_photo(request).image, dtype=np.float32)

    plain, trained_once = photo(False), photo(True)
    assert np.abs(plain - trained_once).mean() > 1.0
    # Retrained into the same path (here: an earlier checkpoint copied over it): the next photo
    # uses the new weights, with no change to the persona file and no restart.
    time.sleep(0.01)
    earlier = trained[0] / "loras" / "tess.checkpoints" / "step-000020" / "pytorch_lora_weights.safetensors"
    shutil.copy(earlier, lora)
    retrained = photo(True)
    assert np.abs(retrained - trained_once).mean() > 0.1
    # Hot-swap (what a compiled pipeline uses): the trained LoRA goes into the one slot, and
    # the retrained file replaces it in place.
    from content.images.lora import use_lora
    from content.training.train import load_base

    pipeline = load_base(str(tiny_model), "cpu")
    use_lora(pipeline, "tess", trained[0] / "loras" / "tess.safetensors", 1.0, hotswap_rank=8)
    first = pipeline.transformer.transformer_blocks[0].attn.to_q.lora_A["persona"].weight.clone()
    use_lora(pipeline, "tess", lora, 1.0, hotswap_rank=8)
    swapped = pipeline.transformer.transformer_blocks[0].attn.to_q.lora_A["persona"].weight
    assert first.shape == swapped.shape == (8, 32) and not bool((first == swapped).all())


def test_the_checkpoint_kept_is_the_one_whose_faces_match_best(tmp_path: Path) -> None:
    found = [
        Validation(10, ["a.png", "b.png"], [0.52, None]),
        Validation(20, ["a.png", "b.png"], [0.48, 0.44]),  # both faces, the closest: kept
        Validation(30, ["a.png", "b.png"], [0.58, 0.61]),
        Validation(40, ["a.png", "b.png"], [None, None]),
    ]
    assert min(found, key=Validation.rank).step == 20
    unscored = [Validation(step, ["a.png"], [None], scored=False) for step in (10, 20)]
    assert min(unscored, key=Validation.rank).step == 20  # nothing to compare: the last
    # Pruning keeps the newest and the best.
    paths = Paths(tmp_path / "tess.safetensors")
    for validation in found:
        folder = paths.checkpoint(validation.step)
        folder.mkdir(parents=True)
        (folder / "training-state.pt").touch()
        (folder / "pytorch_lora_weights.safetensors").touch()
    _prune(paths, TrainSettings(keep_checkpoints=1), found)
    assert [p.name for p in paths.finished_checkpoints()] == ["step-000020", "step-000040"]


def _no_face_references(home: Path) -> list[str]:
    (home / "personas" / "faces").mkdir()
    textured(home / "personas" / "faces" / "sea.png", (600, 600), 9)
    write_persona(home / "personas", appearance={"trigger": "t3ss", "base_prompt": "photo",
                                                 "identity": {"references": "faces"}})  # fmt: skip
    return []


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        (lambda home: (home / "empty").mkdir(), ["--images", "empty"], "empty: no photos (JPEG, PNG, WebP)"),
        (lambda home: (home / "photos" / "4.png").write_bytes(b"GIF89a"), [],
         "4.png: not an image vibot can read — training reads JPEG, PNG and WebP"),
        (lambda home: [(home / "photos" / f"{i}.png").unlink() for i in range(2)], [],
         "photos: 3 usable photo(s), training needs at least 4 — add more photos"),
        (lambda home: write_persona(home / "personas", pipeline={"image": {"model": "acme/no-model"}}), [],
         "cannot load the model from 'acme/no-model'"),
        (lambda home: None, ["--resume"], "tess.checkpoints: no checkpoint to resume from — run without"),
        (_no_face_references, [], "sea.png: no face found — use a photo where the face is clear and frontal"),
        (lambda home: None, ["--resolution", "100"], "--resolution 100: use a multiple of 64"),
        (lambda home: None, ["--no-out"], "tess.yaml: appearance.lora is not set — give --out FILE"),
        (lambda home: None, ["--out", "loras/tess.pt"], "--out loras/tess.pt: give a file name ending in"),
    ],
    ids=["empty", "unreadable", "too-few", "unknown-model", "resume-nothing", "faceless-references",
         "resolution", "no-lora-path", "out-suffix"],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch, setup, args: list[str], message: str
) -> None:  # type: ignore[no-untyped-def]
    home = training_home(tmp_path / "home", tiny_model)
    setup(home)
    options = ["--images", "photos", "--out", "loras/tess.safetensors", *RUN, *args]
    if "--no-out" in args:
        options = [a for a in options if a not in ("--no-out", "--out", "loras/tess.safetensors")]
    done = cli_here(monkeypatch, home, "persona", "train", "tess", *options)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not (home / "loras").exists()


@pytest.mark.slow
def test_an_int8_base_trains_a_lora_that_loads_on_the_full_precision_base(
    tiny_model: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    from content.images.lora import use_lora
    from content.training.train import load_base, train_lora

    home = training_home(tmp_path / "home", tiny_model)
    dataset = load_dataset(home / "photos", TRIGGER, LOOK, resolution=64, check_faces=False)
    settings = TrainSettings(steps=4, rank=4, lr=1e-2, warmup=0, resolution=64, checkpoint_every=4,
                             validation_steps=2, quantize="int8")  # fmt: skip
    pipeline = load_base(str(tiny_model), "cpu")
    result = train_lora(pipeline, str(tiny_model), dataset, settings, Paths(tmp_path / "q.safetensors"),
                        ["photo"], None)  # fmt: skip
    assert type(pipeline.transformer.transformer_blocks[0].attn.to_q).__name__ == "TorchaoLoraLinear"
    assert all(np.isfinite(result.losses)) and len(result.losses) == 4
    weights = load_file(result.lora)
    assert len(weights) == 14 and all(
        w.dtype.is_floating_point and w.dtype.itemsize == 4 for w in weights.values()
    )
    use_lora(load_base(str(tiny_model), "cpu"), "tess", result.lora, 1.0)  # a plain float32 base takes it

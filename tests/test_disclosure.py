"""The disclosure layers: written and read back in every format, in the right order,
and the gate that refuses media missing any of them."""

from __future__ import annotations

import atexit
import binascii
import dataclasses
import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.context import App
from bot.publishing import publish_pass
from bot.review import approve, get_post
from content.disclosure import burn_label, watermark
from content.disclosure import xmp as xmp_layer
from content.disclosure.apply import DisclosureJob, disclose
from content.disclosure.certs import CA_KEY, LEAF_KEY, SigningMaterial, init_local_ca, load_material
from content.disclosure.provenance import read as read_c2pa
from content.disclosure.verify import verify_file
from content.disclosure.watermark import payload_for, post_id_from
from content.errors import UserError
from content.post import still_reel
from storage.db import session_scope
from storage.models import Post
from storage.status import PostStatus
from tests.support.cli import cli_here
from tests.support.posts import ready_post

JOB = DisclosureJob(
    post_id=4242,
    visible_label="AI-generated",
    description="AI-generated test image",
    models=["tiny-flux"],
    title="test post",
)


@pytest.fixture(scope="module")
def certs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_local_ca(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def material(certs_dir: Path) -> SigningMaterial:
    return load_material(None, None, certs_dir)


def labelled_image(size: tuple[int, int] = (540, 675)) -> Image.Image:
    rng = np.random.default_rng(3)
    small = Image.fromarray((rng.random((size[1] // 8, size[0] // 8, 3)) * 255).astype("uint8"))
    return burn_label(small.resize(size, Image.Resampling.LANCZOS), "AI-generated")


def save(image: Image.Image, path: Path) -> Path:
    image.save(path, {".jpg": "JPEG", ".png": "PNG", ".webp": "WEBP"}[path.suffix])
    return path


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_every_layer_is_written_and_read_back(tmp_path: Path, material: SigningMaterial, suffix: str) -> None:
    path = save(labelled_image(), tmp_path / f"photo{suffix}")
    disclose(path, JOB, material)
    report = verify_file(path, material.ca_pem)
    assert report.ok, report.problems()
    assert report.label.ok and report.label.text == "AI-generated"
    assert report.watermark.post_id == 4242 and report.watermark.bit_agreement == 1.0
    assert report.xmp.digital_source_type == xmp_layer.TRAINED_ALGORITHMIC_MEDIA
    assert report.xmp.description == "AI-generated test image" and report.xmp.creator_tool == "vibot"
    assert (
        report.c2pa.state == "Trusted"
        and report.c2pa.digital_source_type == xmp_layer.TRAINED_ALGORITHMIC_MEDIA
    )
    # An independent reader agrees.
    independent = subprocess.run(
        ["exiftool", "-s3", "-XMP-iptcExt:DigitalSourceType", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert independent == xmp_layer.TRAINED_ALGORITHMIC_MEDIA
    assert verify_file(path).c2pa.state == "Valid"  # without the local CA as trust anchor


def test_the_manifest_says_what_made_it(tmp_path: Path, material: SigningMaterial) -> None:
    import c2pa

    path = save(labelled_image(), tmp_path / "photo.jpg")
    disclose(path, JOB, material)
    report = json.loads(c2pa.Reader(str(path)).json())
    manifest = report["manifests"][report["active_manifest"]]
    assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
    (created,) = assertions["c2pa.actions.v2"]["actions"]
    assert created["action"] == "c2pa.created" and created["softwareAgent"]["name"] == "vibot"
    assert created["parameters"]["models"] == ["tiny-flux"]
    assert assertions["c2pa.training-mining"]["entries"]["c2pa.ai_training"] == {"use": "notAllowed"}
    assert "thumbnail" not in manifest


def test_order_matters_an_edit_after_signing_breaks_c2pa(tmp_path: Path, material: SigningMaterial) -> None:
    path = save(labelled_image(), tmp_path / "photo.jpg")
    disclose(path, JOB, material)
    xmp_layer.write(path, "edited afterwards")  # metadata written after the signature
    reading = read_c2pa(path, material.ca_pem)
    assert reading.state == "Invalid" and "assertion.dataHash.mismatch" in reading.errors
    assert not verify_file(path, material.ca_pem).ok


def reencode(path: Path) -> None:
    with Image.open(path) as image:
        image.convert("RGB").save(path, "JPEG", quality=80)


def strip_metadata(path: Path) -> None:
    subprocess.run(["exiftool", "-q", "-all=", "-overwrite_original", str(path)], check=True)


def edit_pixels(path: Path) -> None:
    with Image.open(path) as image:
        edited = image.convert("RGB")
    edited.paste((255, 0, 0), (0, 0, 40, 40))
    edited.save(path, "JPEG", quality=92)


@pytest.mark.parametrize(
    ("damage", "broken"),
    [
        (strip_metadata, {"XMP DigitalSourceType missing or invalid", "C2PA manifest missing or invalid"}),
        (reencode, {"XMP DigitalSourceType missing or invalid", "C2PA manifest missing or invalid"}),
        (edit_pixels, {"XMP DigitalSourceType missing or invalid", "C2PA manifest missing or invalid"}),
    ],
)
def test_damaged_files_fail_verification(tmp_path: Path, material: SigningMaterial, damage, broken) -> None:  # type: ignore[no-untyped-def]
    path = save(labelled_image(), tmp_path / "photo.jpg")
    disclose(path, JOB, material)
    damage(path)
    report = verify_file(path, material.ca_pem)
    assert not report.ok and set(report.problems()) >= broken


def test_a_missing_label_is_caught(tmp_path: Path, material: SigningMaterial) -> None:
    path = tmp_path / "unlabelled.jpg"
    Image.new("RGB", (540, 675), (90, 120, 150)).save(path, "JPEG")
    disclose(path, JOB, material)
    assert verify_file(path, material.ca_pem).problems() == ["visible label missing or invalid"]


def test_watermark_payload_names_the_post() -> None:
    assert post_id_from(payload_for(123456)) == 123456
    assert post_id_from(b"X\x00\x01\xe2\x40") is None  # not vibot's magic
    assert post_id_from(b"\x00" * 8) is None


@pytest.mark.slow
def test_a_reel_carries_every_layer(tmp_path: Path, material: SigningMaterial) -> None:
    still = tmp_path / "still.jpg"
    labelled_image((1080, 1920)).save(still, "JPEG")  # still_reel adds its own label overlay
    # Marked while it renders, as vibot's reels are: disclose finds the mark and adds only
    # XMP and C2PA, with no second encode.
    reel = still_reel(still, "AI-generated", tmp_path / "reel.mp4", seconds=2, watermark=payload_for(4242))
    disclose(reel, JOB, material)
    report = verify_file(reel, material.ca_pem)
    assert report.ok, report.problems()
    assert report.kind == "video" and report.label.frames_checked == [0, 57]
    mark = report.watermark
    assert mark.frames_checked == [0, 14, 28, 43, 57] and mark.post_id == 4242
    assert mark.frames_agreeing == 5 and mark.confidence > 0.9 and mark.algorithm == watermark.ALGORITHM


@pytest.mark.slow
def test_init_cert_makes_keys_only_the_owner_can_read(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "disclosure", "init-cert"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "VIBOT_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    certs = tmp_path / "certs"
    for key in (CA_KEY, LEAF_KEY):
        assert stat.S_IMODE((certs / key).stat().st_mode) == 0o600
    material = load_material(None, None, certs)
    path = save(labelled_image(), tmp_path / "photo.jpg")
    disclose(path, JOB, material)  # c2pa accepts the certificate ...
    assert read_c2pa(path, material.ca_pem).state == "Trusted"  # ... and it chains to the local CA
    before = (certs / LEAF_KEY).read_bytes()
    init_local_ca(certs)  # kept, not replaced
    assert (certs / LEAF_KEY).read_bytes() == before


@pytest.mark.slow
def test_verify_cli_exit_codes_and_json(tmp_path: Path, certs_dir: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(certs_dir, home / "certs")
    good = save(labelled_image(), tmp_path / "good.jpg")
    disclose(good, JOB, load_material(None, None, home / "certs"))
    bad = save(labelled_image(), tmp_path / "bad.jpg")
    env = {**os.environ, "VIBOT_HOME": str(home)}
    ok = subprocess.run(
        [sys.executable, "-m", "bot", "verify", "--json", str(good)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    (report,) = json.loads(ok.stdout)
    assert set(report) == {"file", "kind", "ok", "label", "watermark", "xmp", "c2pa"}
    assert report["c2pa"] == {
        "ok": True,
        "state": "Trusted",
        "digital_source_type": xmp_layer.TRAINED_ALGORITHMIC_MEDIA,
        "errors": [],
        "timestamp": None,  # no timestamp authority configured
        "timestamp_authority": None,
    }
    failed = subprocess.run(
        [sys.executable, "-m", "bot", "verify", str(good), str(bad)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert failed.returncode == 1
    assert (
        f"{bad}: FAILED: invisible watermark missing or invalid; XMP DigitalSourceType missing or invalid; "
        "C2PA manifest missing or invalid" in failed.stdout
    )


# --- the gate ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage", [strip_metadata, reencode, edit_pixels], ids=["stripped", "re-encoded", "edited"]
)
def test_the_gate_refuses_damaged_media_at_approval(sqlite_app: App, damage) -> None:  # type: ignore[no-untyped-def]
    post_id = ready_post(sqlite_app)
    media = get_post(sqlite_app, post_id).media[0]
    path = sqlite_app.media.path(media.path)
    damage(path)
    with session_scope(sqlite_app.engine) as session:  # pretend the store was fooled too
        from storage.media import sha256_file
        from storage.models import MediaAsset

        asset = session.get(MediaAsset, media.id)
        assert asset is not None
        asset.sha256 = sha256_file(path)
        session.add(asset)
    with pytest.raises(UserError, match="fails AI-disclosure checks"):
        approve(sqlite_app, post_id, by="ana")
    assert get_post(sqlite_app, post_id).post.status == PostStatus.IN_REVIEW


def test_the_gate_refuses_a_caption_without_its_disclosure_line(sqlite_app: App) -> None:
    post_id = ready_post(sqlite_app)
    with session_scope(sqlite_app.engine) as session:
        post = session.get(Post, post_id)
        assert post is not None
        post.caption = "Just a sunset #travel"
        session.add(post)
    with pytest.raises(UserError, match="the caption lacks its AI disclosure line"):
        approve(sqlite_app, post_id, by="ana")


def test_the_publisher_checks_every_layer_again(sqlite_app: App) -> None:
    post_id = ready_post(sqlite_app, slot=datetime.now(UTC) - timedelta(minutes=1))
    approve(sqlite_app, post_id, by="ana")
    assert all(
        not p
        for p in [
            verify_file(sqlite_app.media.path(m.path), sqlite_app.signing.ca_pem).problems()
            for m in get_post(sqlite_app, post_id).media
        ]
    )
    report = publish_pass(sqlite_app)
    assert report.published == [post_id]


def test_a_file_marked_before_the_robust_watermark_still_verifies() -> None:
    """Files made by an earlier vibot carry dwtDctSvd's 64 bits; their manifest names that
    payload, and the batched legacy decoder reads exactly what the library's own reads."""
    rng = np.random.default_rng(3)
    small = (rng.random((90, 60, 3)) * 255).astype(np.uint8)
    rgb = np.asarray(Image.fromarray(small).resize((540, 960), Image.Resampling.BICUBIC))
    legacy = b"vb" + (77).to_bytes(4, "big")
    legacy += binascii.crc_hqx(legacy, 0xFFFF).to_bytes(2, "big")
    bits = list(np.unpackbits(np.frombuffer(legacy, dtype=np.uint8)))
    library = watermark._dwt_dct_svd()
    marked_bgr = library(bits, wmLen=64).encode(np.ascontiguousarray(rgb[..., ::-1]))
    batched = watermark._legacy_decoder()([], wmLen=64).decode(marked_bgr.copy())
    assert list(batched) == list(library([], wmLen=64).decode(marked_bgr.copy()))
    reading = watermark.read(np.ascontiguousarray(marked_bgr[..., ::-1]), expected=legacy)
    assert reading.post_id == 77 and reading.bit_agreement == 1.0
    assert reading.algorithm == watermark.LEGACY_ALGORITHM
    assert watermark.read(np.ascontiguousarray(marked_bgr[..., ::-1])).post_id is None  # blind: robust only


# PyExifTool drops a dead exiftool's pipes without closing them (3 descriptors, once per death).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_xmp_goes_through_one_resident_exiftool_that_restarts_and_never_reads_a_name_as_options(
    tmp_path: Path,
) -> None:
    image = tmp_path / "plain.jpg"
    Image.new("RGB", (64, 64), "teal").save(image)
    xmp_layer.write(image, "AI-generated: Tess")
    assert xmp_layer.read(image).description == "AI-generated: Tess"
    resident = xmp_layer._resident()
    resident._process.kill()  # exiftool dies under the process (OOM killer, a stray kill)
    resident._process.wait()
    assert xmp_layer.read(image).digital_source_type == xmp_layer.TRAINED_ALGORITHMIC_MEDIA
    assert xmp_layer._resident() is not resident  # a new one took over
    # A line break in a name would start a new option in the resident exiftool's argument
    # stream (here: -o, write a copy elsewhere); such a name goes to a one-off exiftool.
    odd = tmp_path / "odd\n-o\ncopy.jpg"
    shutil.copy(image, odd)
    xmp_layer.write(odd, "AI-generated: odd")
    assert xmp_layer.read(odd).description == "AI-generated: odd"
    assert not (tmp_path / "copy.jpg").exists() and not Path("copy.jpg").exists()


def test_a_forked_child_starts_its_own_exiftool_and_leaves_the_parents_running(tmp_path: Path) -> None:
    image = tmp_path / "plain.jpg"
    Image.new("RGB", (32, 32), "teal").save(image)
    xmp_layer.write(image, "AI-generated: parent")
    parent = xmp_layer._resident()
    child = os.fork()
    if child == 0:  # the child: its own exiftool, then its exit handlers, as at a normal exit
        ok = (
            xmp_layer._resident() is not parent
            and xmp_layer.read(image).description == "AI-generated: parent"
        )
        atexit._run_exitfuncs()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert xmp_layer._resident() is parent and parent.running  # the child did not stop it
    assert xmp_layer.read(image).description == "AI-generated: parent"


def test_a_timestamp_authority_stamps_the_signature_and_verify_shows_it(
    tmp_path: Path, material: SigningMaterial, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against OpenSSL's own TSA (`openssl ts -reply`) on 127.0.0.1, with its own test root."""
    from tests.fakes.tsa_server import fake_tsa

    unstamped = save(labelled_image(), tmp_path / "plain.jpg")
    disclose(unstamped, JOB, material)
    assert verify_file(unstamped, material.ca_pem).c2pa.timestamp is None  # no TSA: no trusted time
    with fake_tsa() as tsa:
        stamped = save(labelled_image(), tmp_path / "stamped.jpg")
        disclose(stamped, JOB, dataclasses.replace(material, timestamp_url=tsa.url))
        assert len(tsa.requests) == 1  # one RFC 3161 round trip a signature
    report = verify_file(stamped, material.ca_pem)
    assert report.ok and report.c2pa.timestamp_authority == "vibot test TSA"
    when = datetime.fromisoformat(str(report.c2pa.timestamp))
    assert abs((when - datetime.now(UTC)).total_seconds()) < 120
    shown = cli_here(monkeypatch, tmp_path, "verify", str(stamped))
    assert f"timestamp  {report.c2pa.timestamp} (RFC 3161, vibot test TSA)" in shown.stdout


def test_the_eu_ai_icon_is_drawn_at_the_labels_minimum_size_and_verified(
    tmp_path: Path, material: SigningMaterial
) -> None:
    from content.disclosure.label import LabelStyle, label_box_height, label_overlay, label_present

    width, height = 1080, 1350
    overlay = np.asarray(label_overlay(width, height, "AI-generated", style=LabelStyle.EU_AI))
    text_only = np.asarray(label_overlay(width, height, "AI-generated"))
    rows = np.flatnonzero((overlay[..., 3] == 255).any(axis=1))
    assert rows[-1] - rows[0] + 1 >= label_box_height(width, height)  # the icon: the minimum size
    assert (overlay[..., 3] == 255).sum() > (text_only[..., 3] == 255).sum()  # "AI" and its frame
    noise = (np.random.default_rng(5).random((height // 8, width // 8, 3)) * 255).astype("uint8")
    plain = Image.fromarray(noise).resize((width, height), Image.Resampling.LANCZOS)
    path = save(burn_label(plain, "AI-generated", LabelStyle.EU_AI), tmp_path / "eu.jpg")
    disclose(path, dataclasses.replace(JOB, visible_label_style="eu-ai"), material)
    report = verify_file(path, material.ca_pem)
    assert report.ok, report.problems()  # the manifest names the style; verify draws the icon too
    with Image.open(path) as image:
        assert not label_present(image.convert("RGB"), "AI-generated")[0]  # it is not the text label


def test_the_resident_exiftool_outlives_the_thread_that_first_needed_it(tmp_path: Path) -> None:
    """PyExifTool asks the kernel to kill exiftool when the thread that started it ends; a
    web request's worker thread or a prepare pass's thread ends long before vibot does."""
    image = tmp_path / "plain.jpg"
    Image.new("RGB", (32, 32), "teal").save(image)
    if xmp_layer._resident.cache_info().currsize:  # start afresh: none running in this process
        xmp_layer._resident().terminate()
    xmp_layer._forget_in_child()
    started = threading.Thread(target=xmp_layer.write, args=(image, "AI-generated: from a thread"))
    started.start()
    started.join()
    resident = xmp_layer._resident()
    time.sleep(0.3)  # the kernel's signal, had it been sent, has landed by now
    assert resident._process.poll() is None, "exiftool died with the thread that started it"
    assert xmp_layer.read(image).description == "AI-generated: from a thread"
    assert xmp_layer._resident() is resident  # the same exiftool, not a restarted one


def test_exiftool_is_still_running_when_vibot_stops_it_at_exit(tmp_path: Path) -> None:
    """Exit joins a thread pool's threads before the exit handlers run: exiftool started
    from such a thread was killed first, and stopping it warned that it had died."""
    image = tmp_path / "plain.jpg"
    Image.new("RGB", (32, 32), "teal").save(image)
    code = (
        "import atexit, sys, threading, time\n"
        "from content.disclosure import xmp\n"
        f"worker = threading.Thread(target=xmp.write, args=({str(image)!r}, 'AI-generated'))\n"
        "worker.start(); worker.join()\n"
        "atexit.register(time.sleep, 0.3)  # runs before exiftool is stopped: a signal would land\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "ExifTool" not in done.stderr, done.stderr

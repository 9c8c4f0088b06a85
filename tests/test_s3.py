"""Media in S3-compatible storage. The server is moto's standalone S3 server (the real S3
protocol over HTTP), started on 127.0.0.1 by these tests; vibot talks to it through boto3.

moto stores the SHA-256 sent with each upload without checking it (S3, MinIO and R2 do
check it and refuse a mismatch), so what is refused here is what vibot checks itself:
every download against its content address, and every upload read back."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.publishing import publish_pass
from bot.review import approve, get_post
from content.errors import NotFoundError, StorageError
from storage.media import S3MediaStore, open_store, s3_client
from tests.fakes.graph_server import VERSION, FakeGraph, fake_graph
from tests.support.cli import cli_here
from tests.support.personas import GRAPH_ACCOUNT
from tests.support.serving import free_port
from tests.support.web import SiteBuilder, copy_with_persona, home_app, login, running


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline and server.poll() is None, "moto's S3 server did not start"
            time.sleep(0.1)
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket; the credentials come from the environment, as they do for vibot."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "vibot-test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "vibot-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    name = f"vibot-{uuid.uuid4().hex[:12]}"
    s3_client(s3_server).create_bucket(Bucket=name)
    return name


def sha256_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_file_goes_up_by_its_hash_and_comes_back_the_same_on_another_machine(
    tmp_path: Path, s3_server: str, bucket: str
) -> None:
    data = os.urandom(300_000)
    source = tmp_path / "photo.JPG"
    source.write_bytes(data)
    store = open_store(f"s3://{bucket}/vibot", tmp_path / "one", s3_server)
    assert isinstance(store, S3MediaStore)
    stored = store.add(source)
    assert stored.relative_path == f"{stored.sha256[:2]}/{stored.sha256}.jpg"
    head = s3_client(s3_server).head_object(
        Bucket=bucket, Key=f"vibot/{stored.relative_path}", ChecksumMode="ENABLED"
    )
    assert head["ContentLength"] == len(data) and head["ChecksumSHA256"] == sha256_base64(data)
    # The same bytes again: already there by their hash, nothing is sent.
    assert not store.upload(source, stored.relative_path, stored.sha256)

    elsewhere = open_store(f"s3://{bucket}/vibot", tmp_path / "two", s3_server)
    fetched = elsewhere.path(stored.relative_path)
    assert fetched.read_bytes() == data and fetched.is_relative_to(tmp_path / "two")
    url = elsewhere.url(stored.relative_path, 3600)
    assert url is not None and url.startswith(f"{s3_server}/{bucket}/vibot/") and "Signature=" in url
    assert httpx.get(url).content == data
    with pytest.raises(NotFoundError):
        elsewhere.path(f"ab/ab{'0' * 62}.jpg")  # a name the store never had
    with pytest.raises(NotFoundError):
        elsewhere.path("../../etc/passwd")


def test_an_object_whose_bytes_do_not_match_its_hash_is_refused(
    tmp_path: Path, s3_server: str, bucket: str
) -> None:
    source = tmp_path / "photo.jpg"
    source.write_bytes(os.urandom(50_000))
    stored = open_store(f"s3://{bucket}", tmp_path / "one", s3_server).add(source)
    # Someone replaces the object in the bucket.
    s3_client(s3_server).put_object(Bucket=bucket, Key=stored.relative_path, Body=b"not the photo")
    fresh = open_store(f"s3://{bucket}", tmp_path / "two", s3_server)
    with pytest.raises(StorageError, match="do not match its SHA-256 name — refused"):
        fresh.path(stored.relative_path)
    assert not (tmp_path / "two" / stored.relative_path).exists()  # nothing damaged is cached
    assert not list((tmp_path / "two").glob(".incoming-*"))
    # An upload finds the damaged object by its checksum and puts the right bytes back.
    store = open_store(f"s3://{bucket}", tmp_path / "one", s3_server)
    assert isinstance(store, S3MediaStore)
    assert store.upload(source, stored.relative_path, stored.sha256)
    assert fresh.path(stored.relative_path).read_bytes() == source.read_bytes()


def test_a_bad_store_setting_is_one_line_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "personas").mkdir()
    done = cli_here(monkeypatch, tmp_path, "media", "migrate", "--to", "ftp://files.example.com/vibot")
    assert done.returncode == 2
    assert done.stderr == (
        "error: --to 'ftp://files.example.com/vibot' is not an S3 location — write it like "
        "s3://my-bucket/vibot (a bucket name of lowercase letters, digits, dots and dashes, "
        "then an optional prefix)\n"
    )


@pytest.mark.slow
def test_the_graph_api_fetches_media_through_a_presigned_url(
    tmp_path: Path,
    site_templates: SiteBuilder,
    s3_server: str,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    template = site_templates(("photo", "carousel", "reel"))  # the run's shared one
    home = copy_with_persona(template, tmp_path / "home", account=GRAPH_ACCOUNT)
    location = f"s3://{bucket}/vibot"
    moved = cli_here(monkeypatch, home, "media", "migrate", "--to", location, VIBOT_S3_ENDPOINT_URL=s3_server)
    assert moved.returncode == 0, moved.stderr
    assert f"copied to {location}, 0 already there" in moved.stdout
    for cached in (home / "media").glob("??/*"):
        cached.unlink()  # a machine that has only the bucket
    graph: FakeGraph
    with fake_graph() as graph:
        monkeypatch.setenv("TESS_IG_USER_ID", graph.ig_user_id)
        monkeypatch.setenv("TESS_IG_TOKEN", graph.token)
        app = home_app(
            home,
            graph_api_url=graph.url,
            graph_api_version=VERSION,
            media_store=location,
            s3_endpoint_url=s3_server,
        )  # no VIBOT_PUBLIC_BASE_URL: the platform fetches from the bucket
        post_id = template.posts["photo"]
        approve(app, post_id, "tester")
        report = publish_pass(app, until=datetime.now(UTC) + timedelta(days=1))
        assert report.published == [post_id], report
        (container,) = graph.containers.values()
    url = container.params["image_url"]
    assert url.startswith(f"{s3_server}/{bucket}/vibot/") and "Signature=" in url and "Expires=" in url
    expires = int(httpx.URL(url).params["Expires"])
    assert abs(expires - (time.time() + 6 * 3600)) < 120  # presigned for 6 h
    asset_sha = container.fetched_sha256[0]
    assert asset_sha in url and (home / "media" / asset_sha[:2]).is_dir()  # fetched by its hash

    # The review UI streams what only the bucket has, and its health page checks the bucket.
    reel = get_post(app, template.posts["reel"]).media[0]
    assert not (home / "media" / reel.path).exists()
    with running(app, template.posts) as site, httpx.Client(base_url=site.url) as reviewer:
        assert login(reviewer).status_code == 303
        streamed = reviewer.get(f"/media/{reel.id}")
        assert streamed.status_code == 200 and hashlib.sha256(streamed.content).hexdigest() == reel.sha256
        health = reviewer.get("/health").text
    assert f"{location} reachable" in health and "for the media cache" in health


@pytest.mark.slow
def test_a_migration_killed_midway_resumes_and_copies_everything_once(
    tmp_path: Path, s3_server: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "personas").mkdir(parents=True)
    store = open_store(None, home / "media", None)
    files = []
    for number in range(60):
        source = tmp_path / f"{number}.jpg"
        source.write_bytes(os.urandom(40_000))
        files.append(store.add(source))
    location = f"s3://{bucket}/moved"
    env = {**os.environ, "VIBOT_HOME": str(home), "VIBOT_PERSONAS_DIR": str(home / "personas"),
           "VIBOT_S3_ENDPOINT_URL": s3_server}  # fmt: skip
    migration = subprocess.Popen(
        [sys.executable, "-m", "bot", "media", "migrate", "--to", location],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip

    def copied() -> int:
        listed = s3_client(s3_server).list_objects_v2(Bucket=bucket, Prefix="moved/")
        return int(listed.get("KeyCount", 0))

    deadline = time.monotonic() + 60
    while copied() < 5 and migration.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    migration.send_signal(signal.SIGKILL)
    _, errors = migration.communicate(timeout=30)
    before = copied()
    assert migration.returncode == -signal.SIGKILL and 5 <= before < len(files), errors

    resumed = cli_here(
        monkeypatch, home, "media", "migrate", "--to", location, VIBOT_S3_ENDPOINT_URL=s3_server
    )
    assert resumed.returncode == 0, resumed.stderr
    sent, kept = (int(word) for word in resumed.stdout.split() if word.isdigit())
    # What was there is kept (give or take the upload the kill cut off), the rest is sent.
    assert before - 1 <= kept <= before + 1 and sent + kept == len(files)
    s3 = s3_client(s3_server)
    for stored in files:
        head = s3.head_object(Bucket=bucket, Key=f"moved/{stored.relative_path}", ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(stored.sha256)).decode()
    again = cli_here(monkeypatch, home, "media", "migrate", "--to", location, VIBOT_S3_ENDPOINT_URL=s3_server)
    assert f"0 file(s) copied to {location}, {len(files)} already there" in again.stdout

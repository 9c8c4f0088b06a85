"""One contract every publisher keeps, run over each registered publisher (the way
APScheduler runs one suite over every data store): the AI flag on every post, exactly once
across a crash on either side of the step that cannot be undone, a refused login that
holds the account, a rate limit that cools it down, and no secret in any message.

A publisher added to bot/publishers fails `test_every_publisher_brings_a_harness` until it
adds its harness here, with its fake."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from instagrapi import exceptions as ig

from bot.publishers import InFlight, Publisher, PublishRequest, registry
from bot.publishers.graph import GraphConfig, GraphPublisher
from bot.publishers.outbox import OutboxPublisher
from bot.publishers.private import PrivateConfig, PrivatePublisher
from bot.publishers.threads import ThreadsPublisher
from bot.publishers.tiktok import TikTokConfig, TikTokPublisher
from bot.publishers.youtube import YouTubeConfig, YouTubePublisher
from content.errors import AccountHeldError, RateLimitedError
from tests.fakes import serve
from tests.fakes.graph_server import INSTAGRAM, THREADS, Names, fake_graph
from tests.fakes.tiktok_server import fake_tiktok
from tests.fakes.youtube_server import fake_youtube
from tests.support.instagrapi import BoundaryClient
from tests.support.personas import BASE_PERSONA
from tests.support.posts import publish_request
from tests.support.web import SiteBuilder, copy_of

Received = tuple[str, bool]  # (caption, whether the platform's AI flag came with it)


@dataclass
class Harness:
    publisher: Publisher
    received: Callable[[], list[Received]]  # what the platform holds, in order
    refuse_login: Callable[[], None] | None  # None: no account to refuse (the outbox)
    rate_limit: Callable[[], None] | None
    secret: str  # the token or password that must never appear in a message


@dataclass(frozen=True)
class Reel:
    request: PublishRequest
    files: dict[str, Path]  # sha256 → file, for platforms that fetch media by URL


HarnessFactory = Callable[[Path, Reel], Any]  # a context manager yielding a Harness


@contextmanager
def outbox_harness(tmp_path: Path, reel: Reel) -> Iterator[Harness]:
    publisher = OutboxPublisher(tmp_path / "outbox")

    def received() -> list[Received]:
        path = tmp_path / "outbox" / "published.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [(r["caption"], r["is_ai_generated"] is True) for r in map(json.loads, lines)]

    yield Harness(publisher, received, None, None, "")


@contextmanager
def media_server(files: dict[str, Path]) -> Iterator[str]:
    """The public media URLs a platform fetches, as vibot's web server would serve them."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            found = files.get(self.path.strip("/"))
            raw = found.read_bytes() if found else b""
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

    with serve(Handler) as url:
        yield url


@contextmanager
def meta_harness(names: Names, publisher_class: type[GraphPublisher], reel: Reel) -> Iterator[Harness]:
    """Meta's container protocol, as Instagram's Graph API or as Threads names it."""
    with fake_graph(names=names) as meta, media_server(reel.files) as media:
        config = GraphConfig(meta.url, names.version, meta.ig_user_id, meta.token)
        publisher = publisher_class(config, lambda post_id, sha: f"{media}/{sha}", sleep=lambda _: None)
        disclosure = BASE_PERSONA["disclosure"]["caption_line"]

        def received() -> list[Received]:
            containers = [meta.containers[p["container"]].params for p in meta.published]
            if names is THREADS:  # no AI field: the disclosure line opening the text is its flag
                return [(c["text"], c["text"].startswith(disclosure)) for c in containers]
            return [(c["caption"], c.get("is_ai_generated") == "true") for c in containers]

        def refuse_login() -> None:
            meta.token_expired = True

        def rate_limit() -> None:
            meta.fail_next[f"POST {names.create}"] = [429]

        yield Harness(publisher, received, refuse_login, rate_limit, meta.token)
        publisher.close()


def graph_harness(tmp_path: Path, reel: Reel) -> Any:
    return meta_harness(INSTAGRAM, GraphPublisher, reel)


def threads_harness(tmp_path: Path, reel: Reel) -> Any:
    return meta_harness(THREADS, ThreadsPublisher, reel)


@contextmanager
def tiktok_harness(tmp_path: Path, reel: Reel) -> Iterator[Harness]:
    with fake_tiktok() as tiktok, media_server(reel.files) as media:
        config = TikTokConfig(tiktok.url, tiktok.token, "PUBLIC_TO_EVERYONE")
        publisher = TikTokPublisher(config, lambda post_id, sha: f"{media}/{sha}", sleep=lambda _: None)

        def received() -> list[Received]:
            return [(p.post_info["title"], p.post_info.get("is_aigc") is True) for p in tiktok.published()]

        def refuse_login() -> None:
            tiktok.token = "act.rotated-elsewhere"

        def rate_limit() -> None:
            tiktok.spam_next = True

        yield Harness(publisher, received, refuse_login, rate_limit, tiktok.token)
        publisher.close()


@contextmanager
def youtube_harness(tmp_path: Path, reel: Reel) -> Iterator[Harness]:
    with fake_youtube() as youtube:
        config = YouTubeConfig(youtube.url, youtube.token, "public", 10_000, tmp_path / "quota.json", "p")
        publisher = YouTubePublisher(config)

        def received() -> list[Received]:
            return [
                (v["snippet"]["description"], v["status"]["containsSyntheticMedia"] is True)
                for v in youtube.videos
            ]

        def refuse_login() -> None:
            youtube.token = "ya29.rotated-elsewhere"

        def rate_limit() -> None:
            youtube.quota_used = youtube.quota_per_day

        yield Harness(publisher, received, refuse_login, rate_limit, youtube.token)
        publisher.close()


@contextmanager
def instagrapi_harness(tmp_path: Path, reel: Reel) -> Iterator[Harness]:
    client = BoundaryClient()
    password = "pw-secret-not-shown"
    publisher = PrivatePublisher(PrivateConfig("tess.test", password, tmp_path / "session.json"), client)

    def received() -> list[Received]:
        # The private API's AI label is the account's: set at login, before any upload.
        names = [name for name, _ in client.calls]
        if "clip_upload" not in names:
            return []
        labelled = ("ai_info", True) in client.calls and names.index("ai_info") < names.index("clip_upload")
        return [(m["caption"]["text"], labelled) for m in client.published]

    def refuse_login() -> None:
        publisher._logged_in = False  # the next call logs in again, and Instagram says no
        client.fail["login"] = ig.BadPassword()

    def rate_limit() -> None:
        client.fail["clip_upload"] = ig.PleaseWaitFewMinutes()

    BoundaryClient.fail = {}
    yield Harness(publisher, received, refuse_login, rate_limit, password)
    BoundaryClient.fail = {}


HARNESSES: dict[str, HarnessFactory] = {
    "outbox": outbox_harness,
    "graph": graph_harness,
    "youtube": youtube_harness,
    "instagrapi": instagrapi_harness,
    "threads": threads_harness,
    "tiktok": tiktok_harness,
}
PUBLISHERS = sorted(HARNESSES)
WITH_ACCOUNTS = [name for name in PUBLISHERS if name != "outbox"]  # the outbox has no login or limits


@pytest.fixture(scope="module")
def reel(site_templates: SiteBuilder, tmp_path_factory: pytest.TempPathFactory) -> Reel:
    """A generated, disclosed reel in review (the site template the Graph tests share)."""
    template = site_templates(("photo", "carousel", "reel"))
    app = copy_of(template, tmp_path_factory.mktemp("contract") / "home")
    request = publish_request(app, template.posts["reel"], marker="m-1")
    app.engine.dispose()
    return Reel(request, dict(zip(request.media_sha256, request.media, strict=True)))


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Reel:
    """A post whose files are only bytes: enough for what happens before a platform looks at
    them (a refused login, a rate limit), without generating a reel for the fast suite."""
    folder = tmp_path_factory.mktemp("stand-in")
    video, cover = folder / "reel.mp4", folder / "cover.jpg"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42 stand-in")
    cover.write_bytes(b"\xff\xd8\xff stand-in")
    files = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in (video, cover)}
    caption = f"{BASE_PERSONA['disclosure']['caption_line']}\n\nHarbour at dawn #test"
    return Reel(PublishRequest(1, "tess", "reel", caption, [video, cover], list(files), "m-1"), files)


@pytest.fixture(params=PUBLISHERS)
def harness(request: pytest.FixtureRequest, tmp_path: Path, reel: Reel) -> Iterator[Harness]:
    with HARNESSES[request.param](tmp_path, reel) as made:
        yield made


@pytest.fixture(params=WITH_ACCOUNTS)
def account(request: pytest.FixtureRequest, tmp_path: Path, stand_in: Reel) -> Iterator[Harness]:
    with HARNESSES[request.param](tmp_path, stand_in) as made:
        assert made.refuse_login is not None and made.rate_limit is not None
        yield made


def test_every_publisher_brings_a_harness() -> None:
    assert set(registry()) == set(HARNESSES), "a new publisher adds its harness (and fake) here"


def in_flight(request: PublishRequest, handle: str | None, started: datetime) -> InFlight:
    return InFlight(request.persona_id, request.marker, request.caption, started, handle, frozenset())


@pytest.mark.slow
def test_a_post_reaches_the_platform_once_with_its_ai_flag(harness: Harness, reel: Reel) -> None:
    started = datetime.now(UTC)
    handles: list[str] = []
    remote = harness.publisher.publish(reel.request, handles.append)
    assert harness.received() == [(reel.request.caption, True)]
    # A crash after the irreversible step, before vibot recorded it: reconciliation finds
    # this very post from what was stored, and nothing is sent again.
    found = harness.publisher.find(in_flight(reel.request, handles[-1] if handles else None, started))
    assert found is not None and found.remote_id == remote.remote_id
    assert len(harness.received()) == 1


@pytest.mark.slow
def test_a_crash_before_the_irreversible_step_leaves_nothing_to_find(harness: Harness, reel: Reel) -> None:
    class Killed(Exception):
        pass

    stored: list[str] = []

    def killed(handle: str) -> None:
        stored.append(handle)
        raise Killed

    started = datetime.now(UTC)
    try:
        harness.publisher.publish(reel.request, killed)
    except Killed:
        # Killed right after its handle was stored: the platform holds nothing, and asking
        # with that handle says so, so the post is sent again, once.
        assert harness.received() == []
        assert harness.publisher.find(in_flight(reel.request, stored[0], started)) is None
        assert harness.publisher.find(in_flight(reel.request, None, started)) is None
    else:  # no step before its one atomic call: it went out, and only its own attempt finds it
        other = InFlight("tess", "another-attempt", "another caption", started, None, frozenset())
        assert harness.publisher.find(other) is None


def test_a_refused_login_holds_the_account_without_showing_the_secret(
    account: Harness, stand_in: Reel
) -> None:
    assert account.refuse_login is not None
    account.refuse_login()
    with pytest.raises(AccountHeldError) as held:
        account.publisher.publish(stand_in.request)
    assert account.secret not in str(held.value) and account.received() == []


def test_a_rate_limit_cools_the_account_down_without_showing_the_secret(
    account: Harness, stand_in: Reel
) -> None:
    assert account.rate_limit is not None
    account.rate_limit()
    with pytest.raises(RateLimitedError) as waited:
        account.publisher.publish(stand_in.request)
    assert waited.value.retry_after_s > 0 and account.secret not in str(waited.value)
    assert account.received() == []

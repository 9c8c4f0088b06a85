"""The Instagram Graph API publisher against a fake Graph API on 127.0.0.1 that fetches
every media file from vibot's public URL, as Meta does, and checks the bytes."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import col, select

from bot.accounts import resume, state_of
from bot.context import App
from bot.public_media import make_token, public_url, read_token, signing_key
from bot.publishers.graph import GraphConfig, GraphPublisher
from bot.publishing import publish_pass
from bot.review import approve, edit_caption, get_post
from content.errors import PublishRejectedError, RateLimitedError
from storage.db import session_scope
from storage.lifecycle import add_planned
from storage.models import AccountState, Post, PublishAttempt, utcnow
from storage.status import PostStatus
from tests.fakes import serve
from tests.fakes.graph_server import VERSION, FakeGraph, fake_graph
from tests.support.forked import Zygote
from tests.support.personas import GRAPH_ACCOUNT, make_app, write_persona
from tests.support.posts import approved_copies, publish_request, ready_post
from tests.support.serving import free_port, serving
from tests.support.web import SiteBuilder, SiteTemplate, copy_with_persona, home_app


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with fake_graph() as fake:
        yield fake


def served_app(home: Path, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch, port: int) -> App:
    """The app of `home` publishing to the fake Graph API, its media served on `port`."""
    monkeypatch.setenv("TESS_IG_USER_ID", graph.ig_user_id)
    monkeypatch.setenv("TESS_IG_TOKEN", graph.token)
    return home_app(
        home, public_base_url=f"http://127.0.0.1:{port}", graph_api_url=graph.url, graph_api_version=VERSION
    )


@pytest.fixture
def served(
    tmp_path: Path, site_templates: SiteBuilder, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> Iterator[App]:
    """A persona publishing with graph, and vibot's public media server on 127.0.0.1; photos
    in review wait in a pool for `approved` (generated once per run)."""
    template = site_templates(PHOTOS)
    home = graph_home(template, tmp_path / "home")
    port = free_port()
    app = served_app(home, graph, monkeypatch, port)
    PHOTO_POOL[home] = list(template.posts.values())
    with serving(app, port):
        yield app
    PHOTO_POOL.pop(home, None)
    app.engine.dispose()


PHOTOS = ("photo",) * 4
PHOTO_POOL: dict[Path, list[int]] = {}  # home → photo posts in review not yet taken by a test


def graph_home(template: SiteTemplate, home: Path) -> Path:
    """A copy of a generated home whose persona publishes through the Graph API."""
    return copy_with_persona(template, home, account=GRAPH_ACCOUNT)


@pytest.fixture
def served_posts(
    tmp_path: Path, site_templates: SiteBuilder, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[App, dict[str, int]]]:
    """Like `served`, with a photo, a carousel and a reel in review (generated once per run)."""
    template = site_templates(("photo", "carousel", "reel"))
    home = graph_home(template, tmp_path / "home")
    port = free_port()
    app = served_app(home, graph, monkeypatch, port)
    with serving(app, port):
        yield app, template.posts
    app.engine.dispose()


def approved(app: App, fmt: str = "photo") -> int:
    """An approved post: a generated photo from the pool, else one made now."""
    pool = PHOTO_POOL.get(app.settings.home, [])
    post_id = pool.pop(0) if fmt == "photo" and pool else ready_post(app, fmt=fmt)
    approve(app, post_id, "tester")
    return post_id


def publisher(
    app: App, graph: FakeGraph, sleeps: list[float] | None = None, **changes: Any
) -> GraphPublisher:
    config = GraphConfig(
        base_url=graph.url, version=VERSION, ig_user_id=graph.ig_user_id, access_token=graph.token
    )
    recorded = sleeps if sleeps is not None else []
    return GraphPublisher(
        GraphConfig(**{**config.__dict__, **changes}),
        lambda post_id, sha: public_url(app, post_id, sha),
        sleep=recorded.append,
    )


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["photo", "carousel", "reel"])
def test_each_format_goes_out_with_the_exact_signed_bytes(
    served_posts: tuple[App, dict[str, int]], graph: FakeGraph, fmt: str
) -> None:
    served, posts = served_posts
    post_id = posts[fmt]
    approve(served, post_id, "tester")
    report = publish_pass(served, until=datetime.now(UTC) + timedelta(days=1))
    assert report.published == [post_id], report
    view = get_post(served, post_id)
    assert view.post.status == PostStatus.PUBLISHED
    (published,) = graph.published
    parent = graph.containers[published["container"]]
    sent = [m.sha256 for m in view.media]
    assert parent.params["is_ai_generated"] == "true" and parent.params["caption"] == view.post.caption
    if fmt == "carousel":
        children = [graph.containers[c] for c in parent.params["children"].split(",")]
        assert [c.fetched_sha256[0] for c in children] == sent  # Meta received exactly these bytes
        assert all("is_ai_generated" not in c.params and "caption" not in c.params for c in children)
        assert parent.params["media_type"] == "CAROUSEL"
    elif fmt == "reel":
        assert parent.params["media_type"] == "REELS" and parent.fetched_sha256 == sent  # video, cover
    else:
        assert parent.fetched_sha256 == sent
    assert view.attempts[0].remote_id == published["id"]
    assert view.attempts[0].permalink == published["permalink"]  # read back and stored


@pytest.mark.slow
def test_the_container_is_polled_with_growing_intervals(served: App, graph: FakeGraph) -> None:
    graph.polls_in_progress = 4
    sleeps: list[float] = []
    remote = publisher(served, graph, sleeps).publish(publish_request(served, approved(served)))
    assert sleeps == [2.0, 3.0, 4.5, 6.75]
    assert remote.permalink and remote.permalink.startswith("https://www.instagram.com/p/")


def test_a_spec_error_fails_the_post_with_the_reason(served: App, graph: FakeGraph) -> None:
    graph.fail_next["POST media"] = [2207009]
    post_id = approved(served)
    report = publish_pass(served)
    post = get_post(served, post_id).post
    assert post.status == PostStatus.FAILED and "2207009" in (post.review_note or "")
    assert report.failed and not graph.published


def test_a_container_that_errors_is_refused(served: App, graph: FakeGraph) -> None:
    graph.container_outcome = "Error: The aspect ratio is not supported (2207009)"
    with pytest.raises(PublishRejectedError, match="2207009"):
        publisher(served, graph).publish(publish_request(served, approved(served)))


def test_a_rate_limit_pauses_the_account_without_publishing(served: App, graph: FakeGraph) -> None:
    graph.fail_next["POST media"] = [429]
    first, second = approved(served), approved(served)
    report = publish_pass(served)
    assert "rate limit" in report.paused["tess"]
    assert {get_post(served, p).post.status for p in (first, second)} == {PostStatus.APPROVED}
    assert graph.calls.count("POST media") == 1  # the second post was not tried in this pass
    with pytest.raises(RateLimitedError) as caught:
        graph.fail_next["POST media"] = [429]
        publisher(served, graph).publish(publish_request(served, first))
    assert caught.value.retry_after_s == 120


def test_a_server_error_is_retried(served: App, graph: FakeGraph) -> None:
    graph.fail_next["POST media"] = [500, 503]
    sleeps: list[float] = []
    publisher(served, graph, sleeps, poll_first_s=0.5).publish(publish_request(served, approved(served)))
    assert len(graph.published) == 1 and sleeps[:2] == [1.0, 2.0]


def test_quota_used_up_publishes_nothing(served: App, graph: FakeGraph) -> None:
    graph.quota_usage = graph.quota_total
    with pytest.raises(RateLimitedError, match="quota is used up"):
        publisher(served, graph).publish(publish_request(served, approved(served)))
    assert graph.calls == ["GET content_publishing_limit"]


def test_an_expired_token_holds_the_account(served: App, graph: FakeGraph) -> None:
    graph.token_expired = True
    post_id = approved(served)
    report = publish_pass(served)
    assert "access token was refused" in report.paused["tess"] and "renew it" in report.paused["tess"]
    assert graph.token not in report.paused["tess"]  # the secret never appears
    assert get_post(served, post_id).post.status == PostStatus.APPROVED


@pytest.mark.slow
def test_a_timeout_after_media_publish_is_reconciled_without_a_duplicate(
    served: App, graph: FakeGraph
) -> None:
    graph.hang_after_publish_s = 1.5  # Meta publishes, the answer never arrives in time
    app = App(served.settings.model_copy(update={"graph_request_timeout_s": 0.5}))
    post_id = approved(app)
    first = publish_pass(app)
    assert "sent but not answered" in first.errors[post_id]
    assert get_post(app, post_id).post.status == PostStatus.PUBLISHING  # unclear: not retried blindly
    graph.hang_after_publish_s = 0
    second = publish_pass(app)
    assert second.reconciled == [post_id] and not second.published
    view = get_post(app, post_id)
    assert view.post.status == PostStatus.PUBLISHED and len(graph.published) == 1  # no duplicate
    assert view.attempts[0].remote_id == graph.published[0]["id"]
    app.engine.dispose()


def test_public_media_urls_are_signed_single_post_and_expire(served: App) -> None:
    post_id = approved(served)
    asset = get_post(served, post_id).media[0]
    url = public_url(served, post_id, asset.sha256)
    assert httpx.get(url).content == served.media.path(asset.path).read_bytes()
    key = signing_key(served)
    token = url.rsplit("/", 1)[1]
    assert read_token(key, token) is not None
    base = url.rsplit("/", 1)[0]
    forged = make_token(b"another key", post_id, asset.sha256)
    expired = make_token(key, post_id, asset.sha256, ttl_s=-1)
    other_post = make_token(key, post_id + 1, asset.sha256)
    # The last two characters changed (one token in 4,096 already ends in "AA").
    tampered = token[:-2] + ("BA" if token.endswith("AA") else "AA")
    for bad in (forged, expired, other_post, tampered, "..%2F..%2Fvibot.db", "x.y"):
        assert httpx.get(f"{base}/{bad}").status_code == 404, bad
    with_date = datetime.now(UTC) + timedelta(days=1)
    assert read_token(key, make_token(key, post_id, asset.sha256), now=with_date.timestamp()) is None


# --- account states, limits and notifications ---------------------------------------------


@pytest.mark.slow
def test_a_rate_limit_cools_the_account_down_across_passes(served: App, graph: FakeGraph) -> None:
    graph.fail_next["POST media"] = [429]
    post_id = approved(served)
    publish_pass(served)
    state = state_of(served, "tess", "instagram")
    assert state.state == "cooling" and state.until is not None
    assert state.until - utcnow() > timedelta(seconds=100)  # Retry-After: 120
    calls = len(graph.calls)
    assert "cooling down" in publish_pass(served).paused["tess"]
    assert len(graph.calls) == calls  # no call at all while cooling
    with session_scope(served.engine) as session:  # the cool-down passes
        row = session.get(AccountState, ("tess", "instagram"))
        assert row is not None
        row.until = utcnow() - timedelta(seconds=1)
        session.add(row)
    assert publish_pass(served).published == [post_id]


@pytest.mark.slow
def test_a_held_account_waits_for_a_person_and_says_so(
    served: App, graph: FakeGraph, hook: list[dict]
) -> None:  # type: ignore[type-arg]
    graph.token_expired = True
    post_id = approved(served)
    publish_pass(served)
    assert state_of(served, "tess", "instagram").state == "held"
    (message,) = hook
    assert "held" in message["text"] and message["content"] == message["text"]
    assert "vibot account resume tess" in message["text"] and graph.token not in message["text"]
    graph.token_expired = False
    assert "held" in publish_pass(served).paused["tess"]  # still held: a person must act
    resume(served, "tess")
    assert publish_pass(served).published == [post_id]


def test_a_failed_post_is_notified(served: App, graph: FakeGraph, hook: list[dict]) -> None:  # type: ignore[type-arg]
    graph.fail_next["POST media"] = [2207009]
    post_id = approved(served)
    publish_pass(served)
    (message,) = hook
    assert f"post {post_id}" in message["text"] and "2207009" in message["text"]


@pytest.mark.slow
def test_daily_cap_and_spacing_hold_back_later_posts(tmp_path: Path, tiny_model: Path) -> None:
    home = tmp_path / "home"
    write_persona(home / "personas", account={"daily_cap": 2, "min_spacing": "1h"})
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)
    first, second = approved(app), approved(app)
    report = publish_pass(app)
    assert report.published == [first] and "at least 1h apart" in report.paused["tess"]
    assert get_post(app, second).post.status == PostStatus.APPROVED
    with session_scope(app.engine) as session:  # an hour later
        attempt = session.exec(select(PublishAttempt).where(PublishAttempt.post_id == first)).one()
        attempt.finished_at = utcnow() - timedelta(hours=2)
        session.add(attempt)
    assert publish_pass(app).published == [second]
    third = approved(app)
    with session_scope(app.engine) as session:
        for attempt in session.exec(select(PublishAttempt)).all():
            attempt.finished_at = utcnow() - timedelta(hours=3)
            session.add(attempt)
    assert "reach the daily cap of 2" in publish_pass(app).paused["tess"]
    assert get_post(app, third).post.status == PostStatus.APPROVED
    app.engine.dispose()


@pytest.fixture
def hook(served: App, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:  # type: ignore[type-arg]
    """A webhook receiver on 127.0.0.1, set as VIBOT_NOTIFY_URL of the served app."""
    received: list[dict] = []  # type: ignore[type-arg]

    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

    with serve(Receiver) as url:
        served.settings.notify_url = SecretStr(url)
        yield received


@pytest.mark.slow
def test_sigkill_at_random_moments_with_the_graph_publisher(served: App, graph: FakeGraph) -> None:
    """The spine's crash test against the fake Graph API: `vibot publish` killed right after
    Meta recorded a publication, again and again; reconciliation starts from the container."""
    count = 8
    now = datetime.now(UTC)
    with session_scope(served.engine) as session:
        planned = add_planned(
            session,
            [
                {"persona_id": "tess", "slot_utc": now - timedelta(minutes=30) + timedelta(seconds=i),
                 "timezone": "Europe/Berlin", "format": "photo", "pillar": "travel",
                 "scene": f"harbour, pier {i}", "seed": i}
                for i in range(count)
            ],
        )  # fmt: skip
    ids = [p.id for p in planned if p.id is not None]
    approved_copies(served, ids, "crash-test")
    settings = served.settings
    env = {
        **os.environ,
        "VIBOT_HOME": str(settings.home),
        "VIBOT_PERSONAS_DIR": str(settings.personas_dir),
        "VIBOT_DATABASE_URL": settings.db_url,
        "VIBOT_PUBLIC_BASE_URL": str(settings.public_base_url),
        "VIBOT_GRAPH_API_URL": graph.url,
        "VIBOT_GRAPH_API_VERSION": VERSION,
        "VIBOT_LOG_LEVEL": "WARNING",
    }
    publish = ["publish", "--until", "2100-01-01T00:00"]
    rng = random.Random(99)
    killed_in_flight = 0
    with Zygote(env) as zygote:  # each run a process of its own, forked after vibot's imports
        for _ in range(30):
            before = len(graph.published)
            process = zygote.start(*publish)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and process.poll() is None and len(graph.published) <= before:
                time.sleep(0.0005)
            time.sleep(rng.uniform(0.0, 0.02))  # between Meta's answer and vibot's commit, give or take
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            with session_scope(served.engine) as session:
                states = Counter(str(p.status) for p in session.exec(select(Post)))
            killed_in_flight += bool(states["publishing"])
            if states["published"] == count:
                break
    command = [sys.executable, "-m", "bot", *publish]  # the last run: a fresh interpreter
    final = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr
    captions = Counter(m["caption"] for m in graph.published)
    assert len(captions) == count and set(captions.values()) == {1}, "each post exactly once"
    with session_scope(served.engine) as session:
        mine = session.exec(select(Post).where(col(Post.id).in_(ids))).all()
        assert {str(p.status) for p in mine} == {str(PostStatus.PUBLISHED)}
    assert killed_in_flight >= 2, "the kills should land while a post is being published"


KILL_POINTS = [
    ("POST media", 1, "before"),  # no container yet
    ("POST media", 1, "after"),  # a container, its id never heard of
    ("GET node", 1, "after"),  # container ready, its handle not yet stored
    ("POST media_publish", 1, "before"),  # handle stored, never published
    ("POST media_publish", 1, "after"),  # published, the answer lost
    ("GET node", 2, "after"),  # published, permalink asked, nothing committed
]


@pytest.fixture(scope="module")
def twin_posts(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> tuple[Path, list[int]]:
    """A home with two approved photo posts whose captions are identical, generated once."""
    home = tmp_path_factory.mktemp("twins") / "home"
    account = GRAPH_ACCOUNT
    write_persona(home / "personas", account=account, pipeline={"image": {"steps": 2, "size": "320x400"}})
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)
    now = datetime.now(UTC)
    first = ready_post(app, slot=now - timedelta(minutes=20))
    second = ready_post(app, slot=now - timedelta(minutes=10))
    edit_caption(app, second, get_post(app, first).post.caption or "", by="tester")
    assert get_post(app, first).post.caption == get_post(app, second).post.caption
    for post_id in (first, second):
        approve(app, post_id, "tester")
    app.engine.dispose()
    return home, [first, second]


@pytest.mark.slow
@pytest.mark.parametrize("kill_at", KILL_POINTS, ids=lambda k: f"{k[2]}-{k[0].replace(' ', '-')}-{k[1]}")
def test_two_posts_with_one_caption_each_go_out_once_whatever_dies_when(
    tmp_path: Path,
    twin_posts: tuple[Path, list[int]],
    graph: FakeGraph,
    monkeypatch: pytest.MonkeyPatch,
    kill_at: tuple[str, int, str],
) -> None:
    """The first post is published; `vibot publish` is killed at one point of the second's
    flow; the next pass must publish the second exactly once — never claim the first's media."""
    template, (first, second) = twin_posts
    home = tmp_path / "home"
    shutil.copytree(template, home)
    port = free_port()
    app = served_app(home, graph, monkeypatch, port)
    with serving(app, port):
        first_slot = get_post(app, first).post.slot_utc
        assert publish_pass(app, until=first_slot).published == [first]
        graph.calls.clear()
        graph.kill_at = kill_at
        env = {
            **os.environ,
            "VIBOT_HOME": str(home),
            "VIBOT_PERSONAS_DIR": str(home / "personas"),
            "VIBOT_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "VIBOT_GRAPH_API_URL": graph.url,
            "VIBOT_GRAPH_API_VERSION": VERSION,
            "VIBOT_LOG_LEVEL": "WARNING",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "publish", "--until", "2100-01-01T00:00"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        graph.victim_pid = process.pid
        assert process.wait(timeout=60) == -signal.SIGKILL, "the fake should have killed vibot"
        report = publish_pass(app, until=datetime(2100, 1, 1, tzinfo=UTC))
        assert report.needs_reconcile == [] and report.errors == {}
    assert len(graph.published) == 2, f"published {len(graph.published)} times"
    containers = [graph.containers[m["container"]] for m in graph.published]
    with session_scope(app.engine) as session:
        remote = {
            a.post_id: a.remote_id for a in session.exec(select(PublishAttempt)) if a.outcome == "published"
        }
        assert {str(p.status) for p in session.exec(select(Post))} == {str(PostStatus.PUBLISHED)}
    assert sorted(remote) == [first, second] and len(set(remote.values())) == 2
    for post_id in (first, second):
        media_id = remote[post_id]
        container = containers[[m["id"] for m in graph.published].index(media_id)]
        assert container.fetched_sha256 == [get_post(app, post_id).media[0].sha256], "each id is its post's"
    app.engine.dispose()

"""TikTok: Direct Post through the Content Posting API v2, against a fake on 127.0.0.1
that follows its flow, envelope and errors, fetching vibot's signed media URLs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.context import App
from bot.publishers import InFlight, PublishRequest
from bot.publishers.tiktok import PHOTO_MARK, TikTokConfig, TikTokPublisher
from bot.publishing import publish_pass
from bot.review import approve, get_post
from content.errors import PublishError, PublishRejectedError, RateLimitedError
from storage.status import PostStatus
from tests.fakes.tiktok_server import FakeTikTok, fake_tiktok
from tests.support.serving import free_port, serving
from tests.support.web import SiteBuilder, copy_with_persona, home_app


@pytest.fixture
def tiktok() -> Iterator[FakeTikTok]:
    with fake_tiktok(requests_per_minute=1000) as fake:
        yield fake


@pytest.fixture
def creator(
    tmp_path: Path, site_templates: SiteBuilder, tiktok: FakeTikTok, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[App, dict[str, int]]]:
    template = site_templates(("photo", "carousel", "reel"))
    account = {"publisher": "tiktok", "token_env": "TESS_TT", "privacy": "SELF_ONLY"}
    home = copy_with_persona(template, tmp_path / "home", account=account)
    monkeypatch.setenv("TESS_TT", tiktok.token)
    port = free_port()
    app = home_app(home, public_base_url=f"http://127.0.0.1:{port}", tiktok_api_url=tiktok.url)
    with serving(app, port):
        yield app, template.posts
    app.engine.dispose()


@pytest.mark.slow
def test_a_reel_and_photos_go_out_once_with_is_aigc(
    creator: tuple[App, dict[str, int]], tiktok: FakeTikTok
) -> None:
    app, posts = creator
    for fmt in ("photo", "carousel", "reel"):
        approve(app, posts[fmt], "tester")
    report = publish_pass(app, until=datetime.now(UTC) + timedelta(days=1))
    assert sorted(report.published) == sorted(posts.values()), report
    assert len(tiktok.published()) == 3
    for fmt, post_id in posts.items():
        view = get_post(app, post_id)
        sent = [m.sha256 for m in view.media]
        (publish,) = [p for p in tiktok.published() if str(p.post_id) == view.attempts[0].remote_id]
        assert publish.post_info["is_aigc"] is True and publish.post_info["privacy_level"] == "SELF_ONLY"
        if fmt == "reel":
            assert publish.post_info["title"] == view.post.caption
            assert hashlib.sha256(publish.received).hexdigest() == sent[0]  # the signed bytes, once
        else:
            assert publish.post_info["description"] == view.post.caption
            assert publish.photos_sha256 == sent  # pulled from vibot's URLs, byte for byte
        assert view.attempts[0].permalink == f"https://www.tiktok.com/video/{publish.post_id}"
    assert tiktok.calls.count("upload") == 1


@pytest.mark.slow
def test_an_unaudited_app_posting_publicly_is_refused_with_the_fix(
    creator: tuple[App, dict[str, int]], tiktok: FakeTikTok
) -> None:
    app, posts = creator
    tiktok.audited = False
    persona = app.settings.personas_dir / "tess.yaml"
    data = yaml.safe_load(persona.read_text())
    data["account"]["privacy"] = "PUBLIC_TO_EVERYONE"
    persona.write_text(yaml.safe_dump(data))
    public = App(app.settings)
    approve(public, posts["photo"], "tester")
    report = publish_pass(public, until=datetime.now(UTC) + timedelta(days=1))
    assert report.published == [] and "set account.privacy: SELF_ONLY" in report.failed[posts["photo"]]
    assert get_post(public, posts["photo"]).post.status == PostStatus.FAILED
    public.engine.dispose()


def stand_in(folder: Path) -> PublishRequest:
    video = folder / "reel.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(200)))
    sha = hashlib.sha256(video.read_bytes()).hexdigest()
    return PublishRequest(1, "tess", "reel", "AI-generated.\n\nDawn", [video], [sha], "m-1")


def publisher(tiktok: FakeTikTok, privacy: str = "PUBLIC_TO_EVERYONE") -> TikTokPublisher:
    return TikTokPublisher(
        TikTokConfig(tiktok.url, tiktok.token, privacy), lambda p, s: "", sleep=lambda _: None
    )


def test_six_requests_a_minute_then_a_cool_down(tmp_path: Path) -> None:
    with fake_tiktok() as tiktok:
        client = publisher(tiktok)
        request = stand_in(tmp_path)
        client.publish(request)  # creator_info, init, status: 3 requests
        client.publish(request)  # 6
        with pytest.raises(RateLimitedError, match="rate_limit_exceeded") as waited:
            client.publish(request)
        assert waited.value.retry_after_s == 60.0 and len(tiktok.published()) == 2


def test_a_privacy_level_the_creator_lacks_is_refused_before_posting(tmp_path: Path) -> None:
    with fake_tiktok() as tiktok:
        with pytest.raises(PublishRejectedError, match=r"set account\.privacy to one of PUBLIC_TO_EVERYONE"):
            publisher(tiktok, "FOLLOWER_OF_CREATOR").publish(stand_in(tmp_path))
        assert tiktok.publishes == {}


def test_an_unanswered_upload_is_found_and_a_photo_init_is_never_guessed(tmp_path: Path) -> None:
    with fake_tiktok(drop_upload_answer=True) as tiktok:
        client = publisher(tiktok)
        request = stand_in(tmp_path)
        handles: list[str] = []
        started = datetime.now(UTC)
        with pytest.raises(PublishError, match="reconciling"):
            client.publish(request, handles.append)
        found = client.find(InFlight("tess", "m-1", request.caption, started, handles[0], frozenset()))
        assert found is not None and found.remote_id == str(tiktok.published()[0].post_id)
        assert tiktok.calls.count("upload") == 1
        with pytest.raises(PublishError, match="check the account"):
            client.find(InFlight("tess", "m-2", "photos", started, PHOTO_MARK, frozenset()))

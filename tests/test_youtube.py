"""YouTube Shorts: a reel goes out once, with YouTube's synthetic-media flag, through the
Data API's resumable upload (a fake on 127.0.0.1 speaking its protocol and errors)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.accounts import state_of
from bot.context import App
from bot.publishers import InFlight, PublishRequest
from bot.publishers.youtube import YouTubeConfig, YouTubePublisher, title_of
from bot.publishing import publish_pass
from bot.review import approve, get_post
from content.errors import AccountHeldError, PersonaError, PublishError, RateLimitedError
from content.persona import load_persona
from storage.status import PostStatus
from tests.fakes.youtube_server import FakeYouTube, fake_youtube
from tests.support.personas import persona_data
from tests.support.posts import publish_request
from tests.support.web import SiteBuilder, copy_with_persona, home_app

FORMATS = ("photo", "carousel", "reel")  # the template the Graph tests share


@pytest.fixture
def youtube() -> Iterator[FakeYouTube]:
    with fake_youtube() as fake:
        yield fake


@pytest.fixture
def channel(
    tmp_path: Path, site_templates: SiteBuilder, youtube: FakeYouTube, monkeypatch: pytest.MonkeyPatch
) -> tuple[App, dict[str, int]]:
    """A copy of a generated home (a photo, a carousel, a reel in review) whose persona posts
    Shorts to the fake YouTube."""
    template = site_templates(FORMATS)
    account = {"publisher": "youtube", "token_env": "TESS_YT_TOKEN", "privacy": "unlisted"}
    home = copy_with_persona(template, tmp_path / "home", account=account, schedule={"reel_share": 1.0})
    monkeypatch.setenv("TESS_YT_TOKEN", youtube.token)
    return home_app(home, youtube_api_url=youtube.url), template.posts


def publisher(app: App, youtube: FakeYouTube, **changes: object) -> YouTubePublisher:
    settings = {
        "base_url": youtube.url,
        "access_token": youtube.token,
        "privacy": "public",
        "quota_per_day": 10_000,
        "quota_file": app.settings.home / "quota" / "youtube.json",
        "project": "default",
        **changes,
    }
    return YouTubePublisher(YouTubeConfig(**settings))  # type: ignore[arg-type]


def in_flight(request: PublishRequest, handle: str | None) -> InFlight:
    return InFlight("tess", request.marker, request.caption, datetime.now(UTC), handle, frozenset())


@pytest.mark.slow
def test_a_reel_goes_out_once_as_a_short_with_the_synthetic_media_flag(
    channel: tuple[App, dict[str, int]], youtube: FakeYouTube
) -> None:
    app, posts = channel
    post_id = posts["reel"]
    approve(app, post_id, "tester")
    report = publish_pass(app, until=datetime.now(UTC) + timedelta(days=1))
    assert report.published == [post_id], report
    view = get_post(app, post_id)
    (video,) = youtube.videos
    assert (
        video["status"]["containsSyntheticMedia"] is True and video["status"]["privacyStatus"] == "unlisted"
    )
    caption = view.post.caption or ""
    assert video["snippet"]["description"] == caption and video["snippet"]["title"] == title_of(caption)
    assert youtube.uploaded_sha256 == [view.media[0].sha256]  # the approved, signed bytes
    assert view.attempts[0].remote_id == video["id"]
    assert view.attempts[0].permalink == f"https://www.youtube.com/shorts/{video['id']}"
    assert youtube.quota_used == 100
    assert publish_pass(app, until=datetime.now(UTC) + timedelta(days=1)).published == []


@pytest.mark.slow
def test_a_photo_is_refused_by_the_spec_before_any_call(
    channel: tuple[App, dict[str, int]], youtube: FakeYouTube
) -> None:
    app, posts = channel
    approve(app, posts["photo"], "tester")
    report = publish_pass(app, until=datetime.now(UTC) + timedelta(days=1))
    assert report.published == [] and youtube.calls == [] and youtube.quota_used == 0
    view = get_post(app, posts["photo"])
    assert view.post.status == PostStatus.IN_REVIEW  # back with the reason, nothing spent
    assert any("YouTube does not take photo posts" in e.message for e in view.events)


@pytest.mark.slow
def test_a_crash_at_each_step_publishes_exactly_once(
    channel: tuple[App, dict[str, int]], youtube: FakeYouTube
) -> None:
    app, posts = channel
    client = publisher(app, youtube)
    request = publish_request(app, posts["reel"])
    # Killed before the session existed: nothing to find.
    assert client.find(in_flight(request, None)) is None
    # Killed after the session URL was stored, before the bytes: YouTube has nothing (308).
    handles: list[str] = []

    class Killed(Exception):
        pass

    def killed_after_storing(handle: str) -> None:
        handles.append(handle)
        raise Killed

    with pytest.raises(Killed):
        client.publish(request, killed_after_storing)
    assert client.find(in_flight(request, handles[0])) is None and youtube.videos == []
    # Killed after the bytes arrived, before the answer: the session hands back the video.
    youtube.drop_upload_answer = True
    with pytest.raises(PublishError, match="reconciling"):
        client.publish(request, handles.append)
    found = client.find(in_flight(request, handles[-1]))
    assert found is not None and [v["id"] for v in youtube.videos] == [found.remote_id]
    assert youtube.calls.count("upload") == 1  # found, not sent again
    # A session YouTube no longer knows cannot tell: a person decides.
    with pytest.raises(PublishError, match="check the channel"):
        client.find(in_flight(request, handles[0].replace("upload_id=", "upload_id=gone")))
    client.close()


@pytest.mark.slow
def test_quota_and_a_refused_token_pause_the_account_and_never_show_the_token(
    channel: tuple[App, dict[str, int]], youtube: FakeYouTube
) -> None:
    app, posts = channel
    request = publish_request(app, posts["reel"])
    client = publisher(app, youtube, quota_per_day=100)
    client.publish(request)
    with pytest.raises(RateLimitedError) as waited:  # counted here: no call spent to learn it
        client.publish(request)
    assert youtube.calls.count("start") == 1 and 60 <= waited.value.retry_after_s <= 25 * 3600
    youtube.quota_used = youtube.quota_per_day  # YouTube's own count says no
    with pytest.raises(RateLimitedError, match="quotaExceeded"):
        publisher(app, youtube, project="other").publish(request)
    with pytest.raises(AccountHeldError) as held:
        publisher(app, youtube, access_token="ya29.expired-secret-token").publish(request)
    assert "expired-secret-token" not in str(held.value) and youtube.token not in str(held.value)
    # Through the publish pass: the refused token holds the account, with the reason.
    app_with_bad_token = App(app.settings.model_copy(update={"youtube_api_url": youtube.url}))
    youtube.token = "ya29.rotated"
    youtube.quota_used = 0
    approve(app_with_bad_token, posts["reel"], "tester")
    report = publish_pass(app_with_bad_token, until=datetime.now(UTC) + timedelta(days=1))
    assert report.published == [] and state_of(app_with_bad_token, "tess", "youtube").state == "held"
    assert "ya29" not in str(report) and "ya29" not in (
        state_of(app_with_bad_token, "tess", "youtube").reason or ""
    )


def test_titles_follow_youtubes_rules() -> None:
    caption = "Tess is a virtual influencer; this post is AI-generated.\n\nDawn <at> the harbour " + "x" * 200
    title = title_of(caption)
    assert len(title) == 100 and "<" not in title and title.startswith("Dawn at the harbour")
    assert title_of("Only the disclosure line.") == "Only the disclosure line."


def test_a_youtube_persona_must_post_only_reels(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(persona_data(account={"publisher": "youtube", "token_env": "T"})))
    with pytest.raises(PersonaError) as raised:
        load_persona(path)
    assert "schedule.reel_share: YouTube takes only reel posts, so every post must be a reel" in str(
        raised.value.problems[0]
    )

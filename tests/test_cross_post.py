"""One persona on four platforms: an approved post fans out to one publication per platform,
each exactly once with its own AI flag and caption, and one platform's trouble leaves the
others alone. Every platform is its fake on 127.0.0.1, fetching vibot's signed media URLs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from bot.accounts import resume, state_of
from bot.captioning import regenerate_caption
from bot.context import App
from bot.publishing import publish_pass
from bot.review import approve, captions_of, get_post
from content.errors import UserError
from storage.status import PostStatus, PublicationStatus
from tests.fakes.graph_server import INSTAGRAM, THREADS, FakeGraph, fake_graph
from tests.fakes.tiktok_server import FakeTikTok, fake_tiktok
from tests.fakes.youtube_server import FakeYouTube, fake_youtube
from tests.support.serving import free_port, serving
from tests.support.web import SiteBuilder, copy_with_persona, csrf_of, home_app, login

ACCOUNTS = [
    {"publisher": "graph", "user_id_env": "TESS_IG_ID", "token_env": "TESS_IG"},
    {"publisher": "threads", "user_id_env": "TESS_TH_ID", "token_env": "TESS_TH"},
    {"publisher": "tiktok", "token_env": "TESS_TT", "privacy": "SELF_ONLY"},
    {"publisher": "youtube", "token_env": "TESS_YT", "privacy": "unlisted"},
]


@dataclass
class Platforms:
    instagram: FakeGraph
    threads: FakeGraph
    tiktok: FakeTikTok
    youtube: FakeYouTube

    def counts(self) -> dict[str, int]:
        return {
            "instagram": len(self.instagram.published),
            "threads": len(self.threads.published),
            "tiktok": len(self.tiktok.published()),
            "youtube": len(self.youtube.videos),
        }


@pytest.fixture
def everywhere(
    tmp_path: Path, site_templates: SiteBuilder, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[App, dict[str, int], Platforms]]:
    """A generated home whose persona lists an account on each platform, every fake running,
    and vibot's public media server up (Meta and TikTok pull the files)."""
    template = site_templates(("photo", "carousel", "reel"))
    home = copy_with_persona(template, tmp_path / "home")
    persona = home / "personas" / "tess.yaml"
    data = yaml.safe_load(persona.read_text())
    pacing = {key: data["account"][key] for key in ("daily_cap", "min_spacing")}  # off, as in every test
    del data["account"]
    data["accounts"] = [{**account, **pacing} for account in ACCOUNTS]
    persona.write_text(yaml.safe_dump(data))
    with ExitStack() as stack:
        fakes = Platforms(
            stack.enter_context(fake_graph(names=INSTAGRAM)),
            stack.enter_context(fake_graph(names=THREADS)),
            stack.enter_context(fake_tiktok(requests_per_minute=1000)),
            stack.enter_context(fake_youtube()),
        )
        for name, value in {
            "TESS_IG_ID": fakes.instagram.ig_user_id,
            "TESS_IG": fakes.instagram.token,
            "TESS_TH_ID": fakes.threads.ig_user_id,
            "TESS_TH": fakes.threads.token,
            "TESS_TT": fakes.tiktok.token,
            "TESS_YT": fakes.youtube.token,
        }.items():
            monkeypatch.setenv(name, value)
        port = free_port()
        app = home_app(
            home,
            public_base_url=f"http://127.0.0.1:{port}",
            graph_api_url=fakes.instagram.url,
            graph_api_version=INSTAGRAM.version,
            threads_api_url=fakes.threads.url,
            threads_api_version=THREADS.version,
            tiktok_api_url=fakes.tiktok.url,
            youtube_api_url=fakes.youtube.url,
        )
        stack.enter_context(serving(app, port))
        yield app, template.posts, fakes
        app.engine.dispose()


def states(app: App, post_id: int) -> dict[str, PublicationStatus]:
    return {p.platform: PublicationStatus(p.status) for p in get_post(app, post_id).publications}


@pytest.mark.slow
def test_a_cross_posted_reel_goes_everywhere_once_and_tiktok_trouble_stays_on_tiktok(
    everywhere: tuple[App, dict[str, int], Platforms],
) -> None:
    app, posts, fakes = everywhere
    reel, photo = posts["reel"], posts["photo"]
    # Made before the persona listed four platforms: no caption for the others yet, so it
    # cannot be approved until it has one; a new caption brings one per platform.
    with pytest.raises(UserError, match="has no caption for Threads"):
        approve(app, reel, "tester")
    for post_id in (reel, photo):
        regenerate_caption(app, post_id, "tester")
    captions = captions_of(get_post(app, reel).post, app.persona("tess"))
    assert list(captions) == ["instagram", "threads", "tiktok", "youtube"] and all(captions.values())
    assert list(captions_of(get_post(app, photo).post, app.persona("tess"))) == [
        "instagram",
        "threads",
        "tiktok",
    ]  # YouTube takes reels only
    with httpx.Client(base_url=str(app.settings.public_base_url), follow_redirects=False) as browser:
        login(browser)  # the reviewer edits the Threads caption on the post page
        page = browser.get(f"/posts/{reel}").text
        assert 'id="caption-threads"' in page and 'data-limit="500"' in page and "Caption for YouTube" in page
        data = {
            "csrf": csrf_of(browser),
            "platform": "threads",
            "caption": "Harbour lights, in 500 characters or fewer.",
        }
        assert browser.post(f"/posts/{reel}/caption", data=data).status_code == 303
        data["platform"] = "bluesky"
        refused = browser.post(f"/posts/{reel}/caption", data=data)
        assert refused.status_code == 409 and "does not go to &#39;bluesky&#39;" in refused.text
    for post_id in (reel, photo):
        approve(app, post_id, "tester")

    fakes.tiktok.spam_next = True  # TikTok's spam_risk_too_many_posts on its first post
    until = datetime.now(UTC) + timedelta(days=1)
    first = publish_pass(app, until=until)
    assert fakes.counts() == {"instagram": 2, "threads": 2, "tiktok": 0, "youtube": 1}, first
    assert states(app, reel) == {
        "instagram": PublicationStatus.PUBLISHED,
        "threads": PublicationStatus.PUBLISHED,
        "tiktok": PublicationStatus.PENDING,
        "youtube": PublicationStatus.PUBLISHED,
    }
    assert get_post(app, reel).post.status == PostStatus.PUBLISHING  # TikTok is still to go
    assert state_of(app, "tess", "tiktok").state == "cooling"
    assert state_of(app, "tess", "instagram").state == "active"
    assert first.waiting == {"tess on TikTok": 2} and "tess on TikTok" in first.paused
    assert "tess on TikTok cooling down" in (first.waiting_line() or "")

    resume(app, "tess", "tiktok")  # as a person does once the platform lets the account post
    second = publish_pass(app, until=until)
    assert fakes.counts() == {"instagram": 2, "threads": 2, "tiktok": 2, "youtube": 1}, second
    assert sorted(second.published) == sorted([reel, photo])
    assert publish_pass(app, until=until).published == []  # and never again
    assert fakes.counts() == {"instagram": 2, "threads": 2, "tiktok": 2, "youtube": 1}

    view = get_post(app, reel)
    assert view.post.status == PostStatus.PUBLISHED
    flags = {p.platform: p.ai_flag for p in view.publications}
    assert flags == {
        "instagram": "is_ai_generated=true",
        "threads": "none in the API (the caption line and the visible label)",
        "tiktok": "is_aigc=true",
        "youtube": "status.containsSyntheticMedia=true",
    }
    assert all(p.permalink and p.remote_id for p in view.publications)
    # What each platform was told, and with which caption.
    (ig,) = [p for p in fakes.instagram.published if p["id"] == _remote(view, "instagram")]
    container = fakes.instagram.containers[ig["container"]].params
    assert container["is_ai_generated"] == "true" and container["caption"] == view.post.caption
    (th,) = [p for p in fakes.threads.published if p["id"] == _remote(view, "threads")]
    text = fakes.threads.containers[th["container"]].params["text"]
    assert text == captions_of(view.post, app.persona("tess"))["threads"]  # its own caption
    assert "Harbour lights, in 500 characters or fewer." in text and text != view.post.caption
    assert text.splitlines()[0] == app.persona("tess").disclosure.caption_line
    (tt,) = [p for p in fakes.tiktok.published() if str(p.post_id) == _remote(view, "tiktok")]
    assert tt.post_info["is_aigc"] is True and tt.post_info["title"] == captions["tiktok"]
    (video,) = fakes.youtube.videos
    assert video["status"]["containsSyntheticMedia"] is True


def _remote(view: object, platform: str) -> str:
    publications = view.publications  # type: ignore[attr-defined]
    return next(p.remote_id for p in publications if p.platform == platform)

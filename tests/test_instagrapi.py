"""The instagrapi publisher, tested at the boundary of instagrapi's `Client` (it has no
transport seam): a real Client whose network-facing methods and HTTP session are
replaced, raising instagrapi's real exception classes."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from instagrapi import Client
from instagrapi import exceptions as ig

from bot.context import App
from bot.publishers import InFlight
from bot.publishers.private import PrivateConfig, PrivatePublisher
from bot.publishing import publish_pass
from bot.review import approve, get_post
from content.errors import AccountHeldError, RateLimitedError
from storage.status import PostStatus
from tests.support.instagrapi import BoundaryClient
from tests.support.personas import make_app, write_persona
from tests.support.posts import publish_request, ready_post
from tests.support.web import SiteBuilder, copy_of

SEED = "JBSWY3DPEHPK3PXP"


@pytest.fixture(autouse=True)
def clean_failures() -> None:
    BoundaryClient.fail = {}


def publisher_for_test(tmp_path: Path, client: BoundaryClient | None = None) -> PrivatePublisher:
    config = PrivateConfig("tess.test", "pw", tmp_path / "sessions" / "tess.json", totp_seed=SEED)
    return PrivatePublisher(config, client or BoundaryClient())


@pytest.mark.parametrize("fmt", ["photo", "carousel", pytest.param("reel", marks=pytest.mark.slow)])
def test_the_exact_signed_bytes_go_up(site_templates: SiteBuilder, tmp_path: Path, fmt: str) -> None:
    # Generated once per run, and shared: the web tests' photo and carousel, the reel's site.
    template = site_templates(("photo", "carousel", "reel") if fmt == "reel" else ("photo", "carousel"))
    app = copy_of(template, tmp_path / "home")
    post_id = template.posts[fmt]
    client = BoundaryClient()
    sent = publish_request(app, post_id)
    remote = publisher_for_test(tmp_path, client).publish(sent)
    files = [path.read_bytes() for path in sent.media]
    names = [name for name, _ in client.calls]
    assert names[:2] == ["login", "ai_info"] and ("ai_info", True) in client.calls
    if fmt == "reel":
        ((_, (video, cover)),) = [c for c in client.calls if c[0] == "clip_upload"]
        assert (video, cover) == (files[0], files[1])
    else:
        assert client.uploads.received == files  # byte for byte: XMP and C2PA survive
        configure = "album_configure" if fmt == "carousel" else "photo_configure"
        assert configure in names
    assert remote.permalink and remote.permalink.startswith("https://www.instagram.com/p/")


def test_the_session_is_saved_private_and_reused(sqlite_app: App, tmp_path: Path) -> None:
    app = sqlite_app  # what goes up does not depend on the database
    post_id = ready_post(app)
    first = BoundaryClient()
    publisher_for_test(tmp_path, first).publish(publish_request(app, post_id))
    saved = tmp_path / "sessions" / "tess.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    second = BoundaryClient()
    publisher_for_test(tmp_path, second).client()
    assert second.get_settings()["uuids"] == first.get_settings()["uuids"]  # the same device and session
    ((_, (username, code)),) = [c for c in second.calls if c[0] == "login"]
    assert username == "tess.test" and code == Client.totp_generate_code(SEED) and len(code) == 6


def test_a_challenge_holds_the_account(tmp_path: Path) -> None:
    BoundaryClient.fail = {"login": ig.ChallengeRequired()}
    with pytest.raises(AccountHeldError, match=r"ChallengeRequired.*vibot account resume"):
        publisher_for_test(tmp_path).client()


def test_please_wait_cools_the_account_down(sqlite_app: App, tmp_path: Path) -> None:
    app = sqlite_app  # what goes up does not depend on the database
    BoundaryClient.fail = {"photo_configure": ig.PleaseWaitFewMinutes()}
    with pytest.raises(RateLimitedError, match="PleaseWaitFewMinutes") as caught:
        publisher_for_test(tmp_path).publish(publish_request(app, ready_post(app)))
    assert caught.value.retry_after_s == 1800


@pytest.mark.slow
def test_a_feedback_block_in_a_pass_holds_the_account_and_tries_nothing_more(
    tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    account = {"publisher": "instagrapi", "username_env": "TESS_IG_USER", "password_env": "TESS_IG_PASSWORD"}
    write_persona(home / "personas", account=account, pipeline={"image": {"steps": 2, "size": "320x400"}})
    monkeypatch.setenv("TESS_IG_USER", "tess.test")
    monkeypatch.setenv("TESS_IG_PASSWORD", "pw")
    monkeypatch.setattr("instagrapi.Client", BoundaryClient)
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)
    first, second = ready_post(app), ready_post(app)
    for post_id in (first, second):
        approve(app, post_id, "tester")
    BoundaryClient.fail = {"photo_configure": ig.FeedbackRequired()}
    report = publish_pass(app)
    assert "FeedbackRequired" in report.paused["tess"]
    assert {get_post(app, p).post.status for p in (first, second)} == {PostStatus.APPROVED}
    assert "held" in publish_pass(app).paused["tess"]  # and stays held until a person resumes it
    app.engine.dispose()


def test_reconciliation_starts_from_the_handle_and_never_takes_another_posts_media(
    sqlite_app: App, tmp_path: Path
) -> None:
    app = sqlite_app  # what goes up does not depend on the database
    """Two posts with one caption: the second's dead attempt is never given the first's media."""
    sent = publish_request(app, ready_post(app))
    client = BoundaryClient()
    publisher = publisher_for_test(tmp_path, client)
    handles: list[str] = []
    first = publisher.publish(sent, handles.append)
    assert handles and handles[0].isdigit()  # the upload id, reported before configuring
    since = datetime.now(UTC) - timedelta(minutes=5)

    def attempt(handle: str | None, claimed: set[str]) -> InFlight:
        return InFlight("tess", "attempt-2", sent.caption, since, handle, frozenset(claimed))

    assert publisher.find(attempt(None, set())) is None  # died before configuring: not published
    assert publisher.find(attempt("123", {first.remote_id})) is None  # the only match is claimed
    found = publisher.find(attempt("123", set()))
    assert found is not None and found.remote_id == first.remote_id  # the attempt's own media
    second = publisher.publish(sent)  # the retry goes out under the same caption
    again = publisher.find(attempt("456", {first.remote_id}))
    assert again is not None and again.remote_id == second.remote_id != first.remote_id

"""Threads: Meta's container protocol under the Threads API's names, against the fake
Graph server in its Threads guise on 127.0.0.1, fetching vibot's signed media URLs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.context import App
from bot.publishing import publish_pass
from bot.review import approve, edit_caption, get_post
from content.errors import UserError
from storage.status import PostStatus
from tests.fakes.graph_server import THREADS, FakeGraph, fake_graph
from tests.support.personas import BASE_PERSONA
from tests.support.serving import free_port, serving
from tests.support.web import SiteBuilder, copy_with_persona, home_app


@pytest.fixture
def threads() -> Iterator[FakeGraph]:
    with fake_graph(names=THREADS) as fake:
        yield fake


@pytest.fixture
def profile(
    tmp_path: Path, site_templates: SiteBuilder, threads: FakeGraph, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[App, dict[str, int]]]:
    """A generated home (a photo, a carousel and a reel in review) whose persona posts to
    Threads, with vibot's public media server running."""
    template = site_templates(("photo", "carousel", "reel"))
    account = {"publisher": "threads", "user_id_env": "TESS_TH_ID", "token_env": "TESS_TH"}
    home = copy_with_persona(template, tmp_path / "home", account=account)
    monkeypatch.setenv("TESS_TH_ID", threads.ig_user_id)
    monkeypatch.setenv("TESS_TH", threads.token)
    port = free_port()
    app = home_app(
        home,
        public_base_url=f"http://127.0.0.1:{port}",
        threads_api_url=threads.url,
        threads_api_version=THREADS.version,
    )
    with serving(app, port):
        yield app, template.posts
    app.engine.dispose()


@pytest.mark.slow
def test_every_format_goes_out_once_with_the_exact_bytes(
    profile: tuple[App, dict[str, int]], threads: FakeGraph
) -> None:
    app, posts = profile
    for fmt in ("photo", "carousel", "reel"):
        approve(app, posts[fmt], "tester")
    report = publish_pass(app, until=datetime.now(UTC) + timedelta(days=1))
    assert sorted(report.published) == sorted(posts.values()), report
    for fmt, post_id in posts.items():
        view = get_post(app, post_id)
        attempt = view.attempts[0]
        (published,) = [p for p in threads.published if p["id"] == attempt.remote_id]
        parent = threads.containers[published["container"]].params
        assert parent["text"] == view.post.caption and "caption" not in parent
        assert "is_ai_generated" not in parent  # Threads has no such field: the caption and label carry it
        sent = [m.sha256 for m in view.media]
        if fmt == "carousel":
            assert parent["media_type"] == "CAROUSEL"
            children = [threads.containers[c] for c in parent["children"].split(",")]
            assert [c.fetched_sha256[0] for c in children] == sent
        elif fmt == "reel":
            assert parent["media_type"] == "VIDEO"
            assert threads.containers[published["container"]].fetched_sha256 == sent[:1]  # no cover
        else:
            assert parent["media_type"] == "IMAGE"
            assert threads.containers[published["container"]].fetched_sha256 == sent
        assert attempt.permalink and attempt.permalink.startswith("https://www.threads.net/@tess/post/")
    assert threads.calls.count("POST threads_publish") == 3
    assert publish_pass(app, until=datetime.now(UTC) + timedelta(days=1)).published == []


def with_account(app: App, account: dict[str, object]) -> App:
    """The same home with the persona's account replaced, as a person editing its file would."""
    persona = app.settings.personas_dir / "tess.yaml"
    data = yaml.safe_load(persona.read_text())
    data["account"] = {**BASE_PERSONA["account"], **account}
    persona.write_text(yaml.safe_dump(data))
    return App(app.settings)


@pytest.mark.slow
def test_a_caption_over_500_characters_is_refused_before_any_call(
    profile: tuple[App, dict[str, int]], threads: FakeGraph
) -> None:
    app, posts = profile
    post_id = posts["photo"]
    with pytest.raises(UserError, match="Threads allows 500"):
        edit_caption(app, post_id, "x" * 600, "tester")  # the review check reads the same spec
    # Written and approved for Instagram (2,200), then the persona moved to Threads: the
    # pre-upload check refuses it before a call of the account's quota is spent.
    instagram = with_account(app, {"publisher": "outbox"})
    edit_caption(instagram, post_id, "y" * 600, "tester")
    approve(instagram, post_id, "tester")
    instagram.engine.dispose()
    moved = with_account(app, {"publisher": "threads", "user_id_env": "TESS_TH_ID", "token_env": "TESS_TH"})
    report = publish_pass(moved, until=datetime.now(UTC) + timedelta(days=1))
    assert report.published == [] and threads.calls == []
    assert "Threads allows 500" in report.refused[post_id]
    assert get_post(moved, post_id).post.status == PostStatus.IN_REVIEW
    moved.engine.dispose()

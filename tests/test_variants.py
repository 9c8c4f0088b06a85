"""Caption variants: one caption per platform of a persona on several, made within each
platform's limits, shown and edited in review, and covered by the approval."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.context import App
from bot.publishing import publish_pass
from bot.review import approve, captions_of, edit_caption, get_post, settle
from content.captions import CaptionRequest, LLMConfig, compose, fit_caption, write_caption
from content.disclosure import has_disclosure
from content.errors import UserError
from content.persona import Persona, load_persona
from content.platforms import platforms
from storage.db import session_scope
from storage.lifecycle import move_publication
from storage.models import Post
from storage.status import PostStatus
from storage.status import PublicationStatus as P
from tests.fakes.openai_server import FakeOpenAI, completion, draft, fake_openai
from tests.support.personas import make_app, write_persona
from tests.support.posts import killed_mid_publish, ready_post

PACING = {"daily_cap": 50, "min_spacing": "0m"}
ON_TWO = [
    {"publisher": "outbox", **PACING},
    {"publisher": "threads", "user_id_env": "TESS_TH_ID", "token_env": "TESS_TH", **PACING},
]


@pytest.fixture
def persona(tmp_path: Path) -> Persona:
    return load_persona(write_persona(tmp_path, accounts=ON_TWO, voice={"hashtags": {"always": ["#test"]}}))


def test_a_long_caption_is_cut_to_threads_keeping_the_disclosure(persona: Persona) -> None:
    words = " ".join(f"harbour{i}" for i in range(120))
    caption = compose(persona, f"{words}.", ["#sunrise", "#coffee"])
    assert len(caption) > 500
    threads = fit_caption(caption, persona, platforms()["threads"])
    assert len(threads) <= 500 and has_disclosure(threads, _disclosure(persona))
    lines = threads.splitlines()
    assert lines[0] == persona.disclosure.caption_line
    assert "…" in threads and "#AIgenerated" in threads.split() and "#test" in threads.split()
    assert fit_caption(caption, persona, platforms()["instagram"]) == caption  # fits: unchanged


def test_mandatory_hashtags_outlast_the_others_when_a_platform_caps_them(persona: Persona) -> None:
    instagram = platforms()["instagram"]
    tags = [f"#t{i}" for i in range(40)]
    caption = compose(persona, "Harbour at dawn.", tags, sponsored=True)
    fitted = fit_caption(caption, persona, instagram)
    kept = [word for word in fitted.split() if word.startswith("#")]
    assert len(kept) == instagram.hashtag_limit and kept[:2] == ["#ad", "#AIgenerated"]


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        yield fake


def test_the_llm_writes_every_platforms_caption_in_one_call(persona: Persona, server: FakeOpenAI) -> None:
    missing = completion(draft())
    threads = {"platform": "threads", "caption": "Dawn, coffee, gulls.", "hashtags": ["#harbour"]}
    server.reply(missing, completion(draft(variants=[threads])))
    config = LLMConfig(model="fake-model", base_url=server.url, api_key="sk-test", timeout_s=5.0)
    request = CaptionRequest(persona, "travel", "harbour at dawn", "photo", seed=1)
    result = write_caption(request, config)
    assert result.writer == "llm" and len(server.requests) == 2
    assert "threads (Threads, under" in server.requests[0]["messages"][0]["content"]
    assert "variants has no Threads caption" in server.requests[1]["messages"][-1]["content"]
    assert result.variants == {"threads": compose(persona, "Dawn, coffee, gulls.", ["#harbour"])}


@pytest.fixture
def on_two(tmp_path: Path, tiny_model: Path) -> App:
    home = tmp_path / "home"
    write_persona(home / "personas", accounts=ON_TWO)
    return make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)


def test_variants_are_edited_in_review_and_covered_by_the_approval(on_two: App) -> None:
    app = on_two
    post_id = ready_post(app)
    view = get_post(app, post_id)
    captions = captions_of(view.post, app.persona("tess"))
    assert list(captions) == ["instagram", "threads"] and captions["threads"]
    with pytest.raises(UserError, match="Threads allows 500"):
        edit_caption(app, post_id, "x" * 600, "ana", platform="threads")
    with pytest.raises(UserError, match="does not go to 'tiktok' — use one of instagram, threads"):
        edit_caption(app, post_id, "Hello", "ana", platform="tiktok")
    edit_caption(app, post_id, "Gulls and espresso.", "ana", platform="threads")
    approve(app, post_id, "ana")
    edit_caption(app, post_id, "Gulls, espresso, dawn.", "ana", platform="threads")
    assert get_post(app, post_id).post.status == PostStatus.IN_REVIEW  # an edit re-opens review
    approve(app, post_id, "ana")
    # Changed behind vibot's back after approval: refused, back to review, nothing sent.
    with session_scope(app.engine) as session:
        variants = {"threads": captions_of(get_post(app, post_id).post, app.persona("tess"))["threads"] + "!"}
        session.execute(
            sa.update(Post).where(Post.id == post_id).values(caption_variants=json.dumps(variants))
        )  # type: ignore[arg-type]
    report = publish_pass(app)
    assert "a platform's caption changed after approval" in report.refused[post_id]
    assert get_post(app, post_id).post.status == PostStatus.IN_REVIEW


def _disclosure(persona: Persona):  # type: ignore[no-untyped-def]
    from content.captions import caption_disclosure

    return caption_disclosure(persona)


def test_each_platform_is_settled_on_its_own(on_two: App) -> None:
    app = on_two
    post_id = ready_post(app)
    approve(app, post_id, "ana")
    for platform, publisher in (("instagram", "outbox"), ("threads", "threads")):
        killed_mid_publish(app, post_id, publisher, platform)
        with session_scope(app.engine) as session:
            move_publication(session, post_id, platform, P.PUBLISHING, P.NEEDS_RECONCILE, note="timeout")
    assert get_post(app, post_id).post.status == PostStatus.NEEDS_RECONCILE
    with pytest.raises(UserError, match="waits on instagram, threads — pick one with --platform"):
        settle(app, post_id, "published", "ana")
    settle(app, post_id, "skip", "ana", platform="threads")
    assert get_post(app, post_id).post.status == PostStatus.NEEDS_RECONCILE  # Instagram still waits
    settle(app, post_id, "published", "ana", "https://www.instagram.com/p/X/")  # the one left
    view = get_post(app, post_id)
    assert view.post.status == PostStatus.PUBLISHED
    assert {p.platform: (p.status, p.permalink) for p in view.publications} == {
        "instagram": ("published", "https://www.instagram.com/p/X/"),
        "threads": ("skipped", None),
    }

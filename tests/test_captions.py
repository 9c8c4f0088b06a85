"""The caption writer against a fake OpenAI-compatible server, over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.captioning import cost_of, regenerate_caption
from bot.context import App
from bot.prepare import prepare_post
from bot.publishing import publish_pass
from bot.review import approve, get_post
from content.captions import CaptionRequest, LLMConfig, similarity, write_caption
from content.errors import UserError
from content.persona import Persona, load_persona
from storage.db import session_scope
from storage.models import LLMUsage
from storage.status import PostStatus
from tests.fakes.openai_server import FakeOpenAI, Reply, completion, draft, error, fake_openai
from tests.support.personas import write_persona
from tests.support.posts import planned_post

LINE = "Tess is a virtual influencer; this post is AI-generated."
RECENT = f"{LINE}\n\nSunday market stroll with fresh figs and loud gulls.\n\n#AIgenerated #test"


@pytest.fixture
def persona(tmp_path: Path) -> Persona:
    return load_persona(
        write_persona(
            tmp_path,
            voice={"hashtags": {"always": ["#test"], "max": 4}, "banned_words": ["cheap"], "tone": "warm"},
        )
    )


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        yield fake


def config(server: FakeOpenAI, **overrides: Any) -> LLMConfig:
    values: dict[str, Any] = {
        "model": "fake-model",
        "base_url": server.url,
        "api_key": "sk-test-123",
        "timeout_s": 5.0,
        "max_retries": 2,
        "max_rewrites": 2,
        "price_in_per_mtok": 2.5,
        "price_out_per_mtok": 10.0,
    }
    return LLMConfig(**{**values, **overrides})


def request(persona: Persona, **overrides: Any) -> CaptionRequest:
    values: dict[str, Any] = {
        "persona": persona,
        "pillar": "travel",
        "scene": "harbour at dawn",
        "format": "photo",
        "seed": 1,
        "recent_captions": (RECENT,),
    }
    return CaptionRequest(**{**values, **overrides})


def last_feedback(server: FakeOpenAI) -> str:
    return str(server.requests[-1]["messages"][-1]["content"])


def test_structured_success(persona: Persona, server: FakeOpenAI) -> None:
    server.reply(completion(draft()))
    result = write_caption(request(persona), config(server))
    assert result.writer == "llm" and result.flags == []
    assert result.caption == (
        f"{LINE}\n\nGolden light over the harbour, coffee in hand.\n\n#AIgenerated #test #harbour #goldenhour"
    )
    assert result.alt_text.startswith("A woman with freckles")
    assert result.image_brief is not None and result.image_brief.camera == "35mm, eye level"
    assert result.motion_brief == "slow push-in towards the water"
    (sent,) = server.requests
    assert sent["model"] == "fake-model" and sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["strict"] is True
    assert set(sent["response_format"]["json_schema"]["schema"]["required"]) == {
        "caption",
        "hashtags",
        "alt_text",
        "image_brief",
        "motion_brief",
        "variants",
    }
    assert server.headers[0]["authorization"] == "Bearer sk-test-123"
    assert "Sunday market stroll" in sent["messages"][1]["content"]  # recent captions are context
    assert "cheap" in sent["messages"][0]["content"] and "warm" in sent["messages"][0]["content"]
    assert result.usage[0].tokens_in == 120 and result.cost_usd == pytest.approx(120 * 2.5e-6 + 60 * 10e-6)


def test_invalid_json_is_sent_back_then_accepted(persona: Persona, server: FakeOpenAI) -> None:
    server.reply(completion("Sure! Here is your caption: golden light"), completion(draft()))
    result = write_caption(request(persona), config(server))
    assert result.writer == "llm" and len(server.requests) == 2
    assert "the reply was not the JSON object asked for" in last_feedback(server)
    assert [u.outcome for u in result.usage] == ["rewritten", "accepted"]


def test_a_fenced_json_reply_from_a_local_model_is_accepted(persona: Persona, server: FakeOpenAI) -> None:
    server.reply(completion(f"```json\n{draft()}\n```"))
    assert write_caption(request(persona), config(server)).writer == "llm"


def test_a_refusal_falls_back_to_templates_and_flags(persona: Persona, server: FakeOpenAI) -> None:
    server.reply(completion(None, refusal="I can't help with that."))
    result = write_caption(request(persona), config(server))
    assert result.writer == "template" and result.caption.startswith(LINE)
    assert result.flags == [
        "LLM caption failed (the model refused: I can't help with that.); template caption used"
    ]
    assert len(server.requests) == 1 and result.usage[0].outcome == "refused"


def test_429_is_retried_with_backoff_then_succeeds(persona: Persona, server: FakeOpenAI) -> None:
    server.reply(
        Reply(
            429, {"error": {"message": "slow down", "type": "rate_limit"}}, headers={"retry-after-ms": "20"}
        ),
        completion(draft()),
    )
    result = write_caption(request(persona), config(server))
    assert result.writer == "llm" and len(server.requests) == 2


def test_server_errors_are_retried(persona: Persona, server: FakeOpenAI) -> None:
    server.reply(
        Reply(503, {"error": {"message": "overloaded"}}, headers={"retry-after-ms": "20"}),
        completion(draft()),
    )
    assert write_caption(request(persona), config(server)).writer == "llm"


def test_429_every_time_falls_back(persona: Persona, server: FakeOpenAI) -> None:
    busy = Reply(429, {"error": {"message": "slow down"}}, headers={"retry-after-ms": "10"})
    server.reply(busy, busy, busy)
    result = write_caption(request(persona), config(server, max_retries=2))
    assert result.writer == "template" and len(server.requests) == 3
    assert result.flags == ["LLM caption failed (rate limited (429) after retries); template caption used"]


def test_a_timeout_falls_back_to_templates(persona: Persona, server: FakeOpenAI) -> None:
    server.reply(Reply(body=completion(draft()), delay_s=1.5))
    result = write_caption(request(persona), config(server, timeout_s=0.3, max_retries=0))
    assert result.writer == "template"
    assert result.flags == ["LLM caption failed (the server did not answer in time); template caption used"]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        pytest.param(
            draft("Cheap flights got me here, no regrets."),
            "the caption uses banned words: cheap",
            id="banned",
        ),
        pytest.param(
            draft("Harbour " * 400),
            "characters with the disclosure line and hashtags; Instagram allows 2200",
            id="too-long",
        ),
        pytest.param(
            draft("Sunday market stroll with fresh figs and loud gulls!"),
            "too close to a recent caption",
            id="near-duplicate",
        ),
        pytest.param(
            draft("I'm a real person, not a bot, I promise."),
            "claims the persona is a real human",
            id="human-claim",
        ),
        pytest.param(
            draft(hashtags=[f"#t{i}" for i in range(9)]),
            "9 hashtags given in the caption; at most 4",
            id="hashtags",
        ),
        pytest.param(draft(hashtags=["travel"]), "these are not hashtags: travel", id="not-a-hashtag"),
    ],
)
def test_a_reply_breaking_a_rule_is_rewritten(
    persona: Persona, server: FakeOpenAI, bad: str, reason: str
) -> None:
    server.reply(completion(bad), completion(draft()))
    result = write_caption(request(persona), config(server))
    assert result.writer == "llm" and len(server.requests) == 2
    assert reason in last_feedback(server)
    assert server.requests[1]["messages"][-2] == {"role": "assistant", "content": bad}


def test_rewrites_run_out_then_templates_and_a_flag(persona: Persona, server: FakeOpenAI) -> None:
    bad = completion(draft("So cheap!"))
    server.reply(bad, bad, bad)
    result = write_caption(request(persona), config(server, max_rewrites=2))
    assert result.writer == "template" and len(server.requests) == 3
    assert result.flags == [
        "LLM caption failed (the caption still broke a rule after 2 rewrite(s): "
        "the caption uses banned words: cheap — never use them); template caption used"
    ]
    assert [u.outcome for u in result.usage] == ["rewritten"] * 3


def test_servers_without_json_schema_get_json_mode(persona: Persona, server: FakeOpenAI) -> None:
    server.rejected_formats = {"json_schema"}
    server.reply(completion(draft()), completion(draft("Second harbour morning, different light.")))
    assert write_caption(request(persona), config(server)).writer == "llm"
    assert [r.get("response_format", {}).get("type") for r in server.requests] == [
        "json_schema",
        "json_object",
    ]
    write_caption(request(persona), config(server))  # the accepted mode is remembered
    assert server.requests[-1]["response_format"]["type"] == "json_object"


def test_servers_without_any_response_format_get_a_plain_prompt(persona: Persona, server: FakeOpenAI) -> None:
    server.rejected_formats = {"json_schema", "json_object"}
    server.reply(completion(draft()))
    assert write_caption(request(persona), config(server)).writer == "llm"
    assert "response_format" not in server.requests[-1]


def test_sponsored_posts_put_ad_first(persona: Persona, server: FakeOpenAI) -> None:
    server.reply(completion(draft()))
    result = write_caption(request(persona, sponsored=True), config(server))
    assert result.caption.splitlines()[-1].split()[:2] == ["#ad", "#AIgenerated"]
    assert "sponsored" in server.requests[0]["messages"][1]["content"]


def test_no_model_configured_means_templates_and_no_request(persona: Persona) -> None:
    result = write_caption(request(persona), None)
    assert result.writer == "template" and result.flags == [] and result.caption.startswith(LINE)


def test_template_captions_do_not_repeat_a_recent_caption(persona: Persona) -> None:
    """Same scene again (e.g. adjacent slots): the next template, until none is left, then a flag."""
    recent: tuple[str, ...] = ()
    captions = []
    for _ in persona.voice.templates:
        result = write_caption(request(persona, recent_captions=recent), None)
        assert result.flags == []
        captions.append(result.caption)
        recent = (result.caption, *recent)
    assert len(set(captions)) == len(persona.voice.templates) == 3
    last = write_caption(request(persona, recent_captions=recent), None)
    assert last.caption in captions and last.flags == [
        "every caption template repeats a recent caption of this persona — write a new one "
        "(or add templates to voice.templates)"
    ]


def test_the_daily_budget_stops_llm_calls(persona: Persona, server: FakeOpenAI) -> None:
    result = write_caption(request(persona, spent_today_usd=0.5), config(server, daily_budget_usd=0.5))
    assert result.writer == "template" and server.requests == []
    assert result.flags == [
        "the daily LLM budget of $0.50 for tess is spent ($0.5000); template caption used"
    ]


def test_similarity_is_explainable() -> None:
    assert similarity("golden light over the harbour", "golden light over the harbour #x") == 1.0
    swapped = similarity(
        "golden light over the old harbour this morning", "golden light over the old harbour this evening"
    )
    assert 0.6 < swapped < 1.0
    assert similarity("golden light over the harbour", "rainy noodle bar downtown") == 0.0
    assert similarity("", "") == 0.0


def test_the_api_key_never_reaches_a_flag(persona: Persona, server: FakeOpenAI) -> None:
    server.reply(error(401, "Incorrect API key provided: sk-test-123"))
    result = write_caption(request(persona), config(server))
    assert result.writer == "template" and "sk-test-123" not in json.dumps(result.flags)
    assert result.flags == [
        "LLM caption failed (the API key was refused (401) — check OPENAI_API_KEY); template caption used"
    ]


# --- inside vibot: the caption stage, costs, budgets and `vibot caption --regenerate` ------------


def llm_app(app: App, server: FakeOpenAI, **settings: Any) -> App:
    values: dict[str, Any] = {
        "llm_model": "fake-model",
        "openai_base_url": server.url,
        "llm_price_in_per_mtok": 2.5,
        "llm_price_out_per_mtok": 10.0,
        "llm_max_retries": 0,
    }
    return App(app.settings.model_copy(update={**values, **settings}))


@pytest.mark.slow
def test_prepare_uses_the_llm_and_records_cost(sqlite_app: App, server: FakeOpenAI) -> None:
    app = llm_app(sqlite_app, server)
    server.reply(completion(draft()))
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=2))
    assert prepare_post(app, post_id)
    post = get_post(app, post_id).post
    assert post.caption_writer == "llm" and post.caption is not None and "Golden light" in post.caption
    assert post.prompt == (
        "t3ss woman, photo of a woman, harbour wall at sunrise, linen shirt, calm, 35mm, eye level, travel"
    )
    assert post.alt_text is not None and json.loads(post.image_brief or "{}")["mood"] == "calm"
    with session_scope(app.engine) as session:
        assert cost_of(session, post_id) == pytest.approx(120 * 2.5e-6 + 60 * 10e-6)
        (usage,) = session.exec(select(LLMUsage)).all()
    assert (usage.persona_id, usage.outcome, usage.tokens_out) == ("tess", "accepted", 60)


@pytest.mark.slow
def test_the_persona_budget_counts_todays_spend(sqlite_app: App, server: FakeOpenAI) -> None:
    app = llm_app(sqlite_app, server, llm_daily_budget_usd=0.0005)
    server.reply(completion(draft(), tokens=(100, 100)))  # $0.00125: over budget after one post
    first = planned_post(app, datetime.now(UTC) + timedelta(hours=2))
    second = planned_post(app, datetime.now(UTC) + timedelta(hours=8))
    prepare_post(app, first)
    prepare_post(app, second)
    assert get_post(app, first).post.caption_writer == "llm"
    later = get_post(app, second).post
    assert later.caption_writer == "template" and len(server.requests) == 1
    assert "daily LLM budget of $0.00 for tess is spent" in (later.review_flags or "")


@pytest.mark.slow
def test_regenerate_through_the_cli_sends_an_approved_post_back_to_review(
    sqlite_app: App, server: FakeOpenAI
) -> None:
    post_id = planned_post(sqlite_app, datetime.now(UTC) + timedelta(hours=2))
    prepare_post(sqlite_app, post_id)  # templates: no model configured yet
    approve(sqlite_app, post_id, by="ana")
    server.reply(completion(draft("A new morning, a new harbour story.")))
    home = sqlite_app.settings.home
    result = subprocess.run(
        [sys.executable, "-m", "bot", "caption", str(post_id), "--regenerate", "--by", "ana"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={
            **os.environ,
            "VIBOT_HOME": str(home),
            "VIBOT_PERSONAS_DIR": str(home / "personas"),
            "VIBOT_DATABASE_URL": sqlite_app.settings.db_url,
            "VIBOT_LLM_MODEL": "fake-model",
            "OPENAI_BASE_URL": server.url,
            "OPENAI_API_KEY": "sk-cli-secret",
        },
    )
    assert result.returncode == 0, result.stderr
    assert f"post {post_id}: new caption by the llm writer; it is in review" in result.stdout
    assert "sk-cli-secret" not in result.stdout + result.stderr
    post = get_post(sqlite_app, post_id).post
    assert post.status == PostStatus.IN_REVIEW and "A new morning" in (post.caption or "")
    assert post.caption is not None and post.caption.startswith(LINE)
    assert server.headers[0]["authorization"] == "Bearer sk-cli-secret"


def test_regenerate_refuses_a_published_post(sqlite_app: App) -> None:
    post_id = planned_post(sqlite_app, datetime.now(UTC) - timedelta(minutes=1))
    prepare_post(sqlite_app, post_id)
    approve(sqlite_app, post_id, by="ana")
    publish_pass(sqlite_app)
    with pytest.raises(
        UserError, match="is published; only posts in review or approved can get a new caption"
    ):
        regenerate_caption(sqlite_app, post_id, by="ana")


def test_without_a_key_or_a_server_templates_are_used(sqlite_app: App, persona: Persona) -> None:
    from bot.captioning import llm_config

    no_key = sqlite_app.settings.model_copy(update={"llm_model": "gpt-x"})
    assert llm_config(no_key, persona) is None
    local = no_key.model_copy(update={"openai_base_url": "http://127.0.0.1:11434/v1"})
    config = llm_config(local, persona)
    assert config is not None and config.api_key is None and config.model == "gpt-x"
    overridden = persona.model_copy(
        update={
            "voice": persona.voice.model_copy(
                update={"llm": persona.voice.llm.model_copy(update={"model": "llama3", "temperature": 0.2})}
            )
        }
    )
    config = llm_config(local, overridden)
    assert config is not None and (config.model, config.temperature) == ("llama3", 0.2)


def test_a_template_too_long_for_the_platform_is_flagged_for_the_reviewer(tmp_path: Path) -> None:
    long_template = "Morning light over the {scene}, " + "and the long story of the day " * 20
    account = {"publisher": "threads", "user_id_env": "TESS_TH_ID", "token_env": "TESS_TH"}
    threads = load_persona(write_persona(tmp_path, account=account, voice={"templates": [long_template]}))
    result = write_caption(request(threads, recent_captions=()), None)
    assert len(result.caption) > 500
    assert any("Threads allows 500 — shorten it by" in flag for flag in result.flags)
    outbox = load_persona(write_persona(tmp_path, "outbox.yaml", voice={"templates": [long_template]}))
    assert write_caption(request(outbox, recent_captions=()), None).flags == []  # fits Instagram's 2,200

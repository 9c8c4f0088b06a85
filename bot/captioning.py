"""The caption stage as the daemon runs it: the writer's settings, what it needs to
know (recent captions, today's spend), and what it cost."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from bot.context import App
from bot.settings import Settings
from content.captions import (
    RECENT_CAPTIONS,
    CaptionRequest,
    CaptionResult,
    LLMConfig,
    llm_payload,
    write_caption,
)
from content.errors import PostNotFoundError, UserError
from content.images.prompt import photo_prompt
from content.persona import Persona
from storage import audit
from storage.db import session_scope
from storage.lifecycle import record_event, set_fields, transition
from storage.media import sha256_text
from storage.models import LLMUsage, Post
from storage.status import PostStatus


def llm_config(settings: Settings, persona: Persona) -> LLMConfig | None:
    """The LLM settings for a persona (its overrides win), or None: use templates.

    Without a model, or with neither an API key (OpenAI) nor a base URL (a local
    server), there is nothing to call: templates it is.
    """
    overrides = persona.voice.llm
    model = overrides.model or settings.llm_model
    if not model or not (settings.openai_api_key or settings.openai_base_url):
        return None
    return LLMConfig(
        model=model,
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
        temperature=overrides.temperature if overrides.temperature is not None else settings.llm_temperature,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        max_rewrites=settings.llm_max_rewrites,
        price_in_per_mtok=settings.llm_price_in_per_mtok,
        price_out_per_mtok=settings.llm_price_out_per_mtok,
        daily_budget_usd=overrides.daily_budget_usd
        if overrides.daily_budget_usd is not None
        else settings.llm_daily_budget_usd,
    )


def spent_today(session: Session, persona: Persona, now: datetime) -> float:
    """What the persona's captions cost since midnight in its own time zone."""
    midnight = datetime.combine(now.astimezone(persona.zone).date(), time(), tzinfo=persona.zone)
    total = session.exec(
        select(func.coalesce(func.sum(LLMUsage.cost_usd), 0.0)).where(
            LLMUsage.persona_id == persona.id, col(LLMUsage.at) >= midnight.astimezone(UTC)
        )
    ).one()
    return float(total)


def recent_captions(session: Session, persona_id: str, exclude: int | None) -> tuple[str, ...]:
    rows = session.exec(
        select(Post.caption)
        .where(Post.persona_id == persona_id, col(Post.caption).is_not(None), Post.id != (exclude or -1))
        .order_by(col(Post.updated_at).desc())
        .limit(RECENT_CAPTIONS)
    ).all()
    return tuple(caption for caption in rows if caption)


def write_for(app: App, post: Post, persona: Persona) -> CaptionResult:
    with session_scope(app.engine) as session:
        request = CaptionRequest(
            persona=persona,
            pillar=post.pillar,
            scene=post.scene,
            format=post.format,
            seed=post.seed,
            recent_captions=recent_captions(session, persona.id, post.id),
            spent_today_usd=spent_today(session, persona, datetime.now(UTC)),
            similarity_max=app.settings.caption_similarity_max,
        )
    return write_caption(request, llm_config(app.settings, persona))


def record_usage(session: Session, post_id: int, persona_id: str, result: CaptionResult) -> None:
    for call in result.usage:
        session.add(
            LLMUsage(
                post_id=post_id,
                persona_id=persona_id,
                model=call.model,
                tokens_in=call.tokens_in,
                tokens_out=call.tokens_out,
                cost_usd=call.cost_usd,
                outcome=call.outcome,
            )
        )
    for flag in result.flags:
        record_event(session, post_id, "caption", flag)


def caption_fields(persona: Persona, post: Post, result: CaptionResult) -> dict[str, Any]:
    return {
        "caption": result.caption,
        "prompt": photo_prompt(persona, post.pillar, post.scene, result.image_brief),
        **llm_payload(result),
    }


def regenerate_caption(app: App, post_id: int, by: str) -> CaptionResult:
    """Write a new caption for a post in review or approved; it goes (back) to review.
    The media stays: the new image brief is kept for the next image regeneration."""
    with session_scope(app.engine) as session:
        post = session.get(Post, post_id)
        if post is None:
            raise PostNotFoundError(post_id)
    if post.status not in (PostStatus.IN_REVIEW, PostStatus.APPROVED):
        raise UserError(
            f"post {post_id} is {post.status}; only posts in review or approved can get a new caption"
        )
    persona = app.persona(post.persona_id)
    result = write_for(app, post, persona)
    fields = caption_fields(persona, post, result)
    fields.pop("prompt")  # the media was made from the old prompt; keep them consistent
    with session_scope(app.engine) as session:
        if post.status == PostStatus.APPROVED:
            transition(
                session,
                post_id,
                PostStatus.APPROVED,
                PostStatus.IN_REVIEW,
                note=f"caption regenerated by {by}",
                **fields,
            )
        else:
            set_fields(session, post_id, PostStatus.IN_REVIEW, **fields)
        record_event(session, post_id, "caption", f"caption regenerated by {by} ({result.writer})")
        record_usage(session, post_id, persona.id, result)
        audit.record(
            session, "edited", post_id, by, platform="all", writer=result.writer,
            caption_sha256=sha256_text(result.caption),
        )  # fmt: skip
    app.write_audit()
    return result


def flags_of(post: Post) -> list[str]:
    return list(json.loads(post.review_flags)) if post.review_flags else []


def cost_of(session: Session, post_id: int) -> float:
    total = session.execute(
        sa.select(func.coalesce(func.sum(LLMUsage.cost_usd), 0.0)).where(col(LLMUsage.post_id) == post_id)
    ).scalar_one()
    return float(total)

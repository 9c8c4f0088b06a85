"""Planning: ask the pure planner for new slots and store them as planned posts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.context import App
from content.adapt import Outcome
from content.persona import Persona
from content.plan import Slot, plan_slots
from storage.db import session_scope
from storage.lifecycle import add_planned
from storage.models import Post


def _existing_slots(app: App, persona: Persona, start: datetime, end: datetime) -> list[Slot]:
    since = start - timedelta(days=persona.schedule.scene_repeat_days)
    with session_scope(app.engine) as session:
        posts = session.exec(
            select(Post).where(
                Post.persona_id == persona.id, col(Post.slot_utc) >= since, col(Post.slot_utc) < end
            )
        ).all()
    return [
        Slot(p.persona_id, p.slot_utc, p.timezone, p.format, p.pillar, p.scene, p.seed)  # type: ignore[arg-type]
        for p in posts
    ]


def plan_persona(
    app: App, persona: Persona, start: datetime, days: int, outcomes: Sequence[Outcome] | None = None
) -> list[Post]:
    """Plan and store new slots. A persona with `schedule.adapt` is fed what its published
    posts did (`outcomes`, or else what insights measured); each slot keeps its reason."""
    from bot.analytics import outcomes_for  # the web page's module, not needed to plan otherwise

    if outcomes is None:
        outcomes = outcomes_for(app, persona)
    end = start + timedelta(days=days)
    existing = _existing_slots(app, persona, start, end)
    slots = plan_slots(persona, start, days, existing, seed=app.settings.plan_seed, outcomes=outcomes)
    with session_scope(app.engine) as session:
        return add_planned(
            session,
            [
                {
                    "persona_id": s.persona_id,
                    "slot_utc": s.slot_utc,
                    "timezone": s.timezone,
                    "format": s.format,
                    "pillar": s.pillar,
                    "scene": s.scene,
                    "seed": s.seed,
                    "plan_reason": s.reason or None,
                }
                for s in slots
            ],
        )

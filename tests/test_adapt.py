"""The planner that adapts: Thompson sampling over pillars and posting hours, inside the
persona's own bounds, deterministic for a seed, and exactly today's plan when it is off."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import select

from bot.context import App
from bot.planning import plan_persona
from content.adapt import Outcome
from content.persona import Persona, load_persona
from content.plan import Slot, plan_slots
from storage.db import session_scope
from storage.models import Post
from tests.support.personas import write_persona

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
FOUR_PILLARS = [
    {"name": name, "weight": 1, "scenes": [f"{name} one", f"{name} two", f"{name} three"]}
    for name in ("travel", "food", "fashion", "fitness")
]
TRUE_RATE = {"travel": 0.06, "food": 0.03, "fashion": 0.03, "fitness": 0.03}  # travel is 2× better
ADAPT = {"pillars": True, "windows": True, "explore": 0.2, "min_weight": 0.1, "metric": "engagement_rate"}


def persona(tmp_path: Path, **overrides: Any) -> Persona:
    return load_persona(write_persona(tmp_path, **overrides))


def fingerprint(slots: list[Slot]) -> str:
    text = "\n".join(f"{s.slot_utc.isoformat()} {s.format} {s.pillar} {s.scene} {s.seed}" for s in slots)
    return hashlib.sha256(text.encode()).hexdigest()


def test_with_adaptation_off_the_plan_is_exactly_todays(tmp_path: Path) -> None:
    """The fingerprint is of the planner before adaptation existed (same persona, seed)."""
    p = persona(
        tmp_path,
        schedule={
            "posts_per_week": 6,
            "reel_share": 0.3,
            "carousel_share": 0.2,
            "windows": ["mon-fri 08:00-10:00", "sat,sun 11:00-14:00"],
        },
    )
    results = [Outcome("food", 9, 0, 0.2)] * 20  # results are ignored without `adapt`
    for outcomes in ((), results):
        slots = plan_slots(p, START, 90, seed=7, outcomes=outcomes)
        assert len(slots) == 77
        assert fingerprint(slots) == "4f8eb5261e70677a700a54ecde5d0d36f4fc10693fe4bdd7c3dcdfdd7eeb67ff"
        assert all(s.reason == "" for s in slots)


def simulate(p: Persona, weeks: int, adaptive: bool) -> tuple[list[Slot], float]:
    """Plan a week, let the simulated audience answer, plan the next: (slots, regret)."""
    audience = np.random.default_rng(99)
    outcomes: list[Outcome] = []
    slots: list[Slot] = []
    regret = 0.0
    for week in range(weeks):
        planned = plan_slots(
            p, START + timedelta(weeks=week), 7, slots, seed=3, outcomes=outcomes if adaptive else ()
        )
        for slot in planned:
            local = slot.slot_utc.astimezone(p.zone)
            value = TRUE_RATE[slot.pillar] * float(np.exp(audience.normal(0, 0.5)))
            outcomes.append(Outcome(slot.pillar, local.hour, 0, value))
            regret += max(TRUE_RATE.values()) - TRUE_RATE[slot.pillar]
        slots += planned
    return slots, regret


def test_a_pillar_twice_as_good_wins_most_slots_and_no_pillar_starves(tmp_path: Path) -> None:
    p = persona(
        tmp_path,
        pillars=FOUR_PILLARS,
        schedule={"posts_per_week": 7, "windows": ["daily 08:00-12:00"], "min_gap": "2h", "adapt": ADAPT},
    )
    adaptive, adaptive_regret = simulate(p, 12, adaptive=True)
    _, fixed_regret = simulate(p, 12, adaptive=False)
    last_weeks = [s for s in adaptive if s.slot_utc >= START + timedelta(weeks=8)]
    shares = Counter(s.pillar for s in last_weeks)
    assert shares["travel"] / len(last_weeks) >= 0.6, shares
    # min_weight is a share of each week's allocation; whole slots round it, and the
    # rounding carries over the weeks, so over the run every pillar is at most a slot short.
    overall = Counter(s.pillar for s in adaptive)
    assert all(overall[name] >= 0.1 * len(adaptive) - 1 for name in TRUE_RATE), overall
    assert adaptive_regret < 0.7 * fixed_regret, (adaptive_regret, fixed_regret)
    # Every slot says why: the arm, how it did, over how many posts.
    assert "travel: " in last_weeks[0].reason or any("travel: " in s.reason for s in last_weeks)
    assert any("× the others' median engagement rate over" in s.reason for s in last_weeks)
    # The bounds held: the cadence, the windows, the gap.
    weeks = Counter(s.slot_utc.astimezone(p.zone).isocalendar()[:2] for s in adaptive)
    assert set(weeks.values()) == {7}
    assert all(8 <= s.slot_utc.astimezone(p.zone).hour < 12 for s in adaptive)
    assert all(b.slot_utc - a.slot_utc >= timedelta(hours=2) for a, b in pairwise(adaptive))


def test_adaptation_is_deterministic_for_a_seed_and_stays_in_the_windows(tmp_path: Path) -> None:
    p = persona(
        tmp_path,
        pillars=FOUR_PILLARS,
        schedule={
            "posts_per_week": 5,
            "windows": ["mon-fri 08:00-11:00", "sat,sun 17:00-20:00"],
            "adapt": ADAPT,
        },
    )
    results = [Outcome("fitness", 18, 1, 0.09)] * 6 + [Outcome("food", 9, 0, 0.01)] * 6
    first = plan_slots(p, START, 28, seed=5, outcomes=results)
    assert first == plan_slots(p, START, 28, seed=5, outcomes=results)
    assert first != plan_slots(p, START, 28, seed=6, outcomes=results)
    for slot in first:
        local = slot.slot_utc.astimezone(p.zone)
        bounds = (17, 20) if local.weekday() >= 5 else (8, 11)
        assert bounds[0] <= local.hour < bounds[1]
        assert slot.reason  # pillar and hour, each with its reason
    assert Counter(s.pillar for s in first)["fitness"] > Counter(s.pillar for s in first)["food"]


def test_the_reason_is_stored_with_each_planned_post(sqlite_app: App, tmp_path: Path) -> None:
    p = persona(tmp_path, schedule={"posts_per_week": 3, "adapt": ADAPT})
    results = [Outcome("travel", 8, 0, 0.08)] * 5 + [Outcome("food", 9, 0, 0.02)] * 5
    added = plan_persona(sqlite_app, p, START, 14, outcomes=results)
    assert added and all(post.plan_reason for post in added)
    with session_scope(sqlite_app.engine) as session:
        stored = session.exec(select(Post).where(Post.persona_id == p.id)).all()
    assert {post.plan_reason for post in stored} == {post.plan_reason for post in added}
    assert any("travel: " in (post.plan_reason or "") for post in stored)

"""The planner: time zones and DST, windows, cadence, gaps, shares, scenes, determinism."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from content.persona import Persona, load_persona
from content.plan import plan_slots
from tests.support.personas import write_persona


def persona(tmp_path: Path, **overrides: Any) -> Persona:
    return load_persona(write_persona(tmp_path, **overrides))


def local_week(slot_utc: datetime, p: Persona) -> tuple[int, int]:
    return slot_utc.astimezone(p.zone).isocalendar()[:2]


def test_slots_fall_inside_the_windows_in_local_time(tmp_path: Path) -> None:
    p = persona(
        tmp_path,
        timezone="America/New_York",
        schedule={"windows": ["mon-fri 08:00-09:30", "sat,sun 10:00-12:00"]},
    )
    slots = plan_slots(p, datetime(2026, 1, 5, tzinfo=UTC), 56)
    assert slots
    for slot in slots:
        local = slot.slot_utc.astimezone(p.zone)
        weekend = local.weekday() >= 5
        start, end = ((10, 0), (12, 0)) if weekend else ((8, 0), (9, 30))
        assert start <= (local.hour, local.minute) < end, local
        assert local.minute % 5 == 0


def test_each_full_week_gets_posts_per_week(tmp_path: Path) -> None:
    p = persona(tmp_path, schedule={"posts_per_week": 5})
    start = datetime(2026, 1, 4, 23, 0, tzinfo=UTC)  # Monday 00:00 in Berlin
    slots = plan_slots(p, start, 28)
    assert Counter(local_week(s.slot_utc, p) for s in slots) == {
        (2026, 2): 5,
        (2026, 3): 5,
        (2026, 4): 5,
        (2026, 5): 5,
    }


def test_dst_autumn_week_keeps_local_wall_times(tmp_path: Path) -> None:
    # Berlin leaves summer time on Sunday 25 October 2026: UTC+2 before, UTC+1 after.
    p = persona(tmp_path, schedule={"posts_per_week": 7, "windows": ["daily 08:00-08:05"], "min_gap": "1h"})
    slots = plan_slots(p, datetime(2026, 10, 18, 22, 0, tzinfo=UTC), 14)
    locals_ = [s.slot_utc.astimezone(p.zone) for s in slots]
    assert len(slots) == 14
    assert all((t.hour, t.minute) == (8, 0) for t in locals_)
    offsets = {t.date().isoformat(): t.utcoffset() for t in locals_}
    assert offsets["2026-10-24"] == timedelta(hours=2)
    assert offsets["2026-10-25"] == timedelta(hours=1)
    assert [s.slot_utc.hour for s in slots[:6]] == [6] * 6 and slots[7].slot_utc.hour == 7


def test_dst_spring_gap_moves_forward_to_a_real_instant(tmp_path: Path) -> None:
    # 02:00-03:00 does not exist in Berlin on Sunday 29 March 2026.
    p = persona(tmp_path, schedule={"posts_per_week": 1, "windows": ["sun 02:00-02:30"]})
    (slot,) = plan_slots(p, datetime(2026, 3, 23, tzinfo=UTC), 7)
    local = slot.slot_utc.astimezone(p.zone)
    assert local.date().isoformat() == "2026-03-29"
    assert local.hour == 3 and local.utcoffset() == timedelta(hours=2)
    assert slot.slot_utc.astimezone(p.zone).astimezone(UTC) == slot.slot_utc


def test_planning_again_never_duplicates_and_extends(tmp_path: Path) -> None:
    p = persona(tmp_path)
    start = datetime(2026, 2, 2, 7, tzinfo=UTC)
    first = plan_slots(p, start, 14)
    assert plan_slots(p, start, 14, planned=first) == []
    longer = plan_slots(p, start, 28, planned=first)
    assert {s.slot_utc for s in longer}.isdisjoint({s.slot_utc for s in first})
    all_at_once = plan_slots(p, start, 28)
    assert sorted(s.slot_utc for s in first + longer) == [s.slot_utc for s in all_at_once]


def test_a_later_start_in_the_same_week_adds_nothing_planned_before(tmp_path: Path) -> None:
    p = persona(tmp_path)
    first = plan_slots(p, datetime(2026, 2, 2, 0, tzinfo=UTC), 7)
    again = plan_slots(p, datetime(2026, 2, 4, 12, tzinfo=UTC), 5, planned=first)
    weeks = Counter(local_week(s.slot_utc, p) for s in first + again)
    assert all(count <= p.schedule.posts_per_week for count in weeks.values())


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    p = persona(tmp_path)
    start = datetime(2026, 5, 1, tzinfo=UTC)
    assert plan_slots(p, start, 30, seed=7) == plan_slots(p, start, 30, seed=7)
    assert plan_slots(p, start, 30, seed=7) != plan_slots(p, start, 30, seed=8)


def test_minimum_gap_between_posts(tmp_path: Path) -> None:
    p = persona(tmp_path, schedule={"posts_per_week": 14, "windows": ["daily 08:00-20:00"], "min_gap": "4h"})
    slots = plan_slots(p, datetime(2026, 6, 1, tzinfo=UTC), 21)
    assert len(slots) > 21  # more than one a day fits
    assert all(b.slot_utc - a.slot_utc >= timedelta(hours=4) for a, b in pairwise(slots))


def test_reel_and_carousel_shares_per_week(tmp_path: Path) -> None:
    p = persona(tmp_path, schedule={"posts_per_week": 5, "reel_share": 0.4, "carousel_share": 0.2})
    slots = plan_slots(p, datetime(2026, 1, 4, 23, 0, tzinfo=UTC), 28)
    per_week = Counter((local_week(s.slot_utc, p), s.format) for s in slots)
    for week in {local_week(s.slot_utc, p) for s in slots}:
        assert (per_week[(week, "reel")], per_week[(week, "carousel")], per_week[(week, "photo")]) == (
            2,
            1,
            2,
        )


def test_no_scene_repeats_within_the_repeat_window(tmp_path: Path) -> None:
    scenes = [f"scene {i}" for i in range(12)]
    p = persona(
        tmp_path,
        pillars=[{"name": "only", "scenes": scenes}],
        schedule={"posts_per_week": 3, "scene_repeat_days": 21},
    )
    slots = plan_slots(p, datetime(2026, 3, 2, tzinfo=UTC), 84)
    last_seen: dict[str, datetime] = {}
    for slot in slots:
        if slot.scene in last_seen:
            assert slot.slot_utc - last_seen[slot.scene] >= timedelta(days=21)
        last_seen[slot.scene] = slot.slot_utc


def test_pillar_weights_shape_the_mix(tmp_path: Path) -> None:
    p = persona(
        tmp_path,
        pillars=[
            {"name": "big", "weight": 3, "scenes": ["a", "b"]},
            {"name": "small", "weight": 1, "scenes": ["c", "d"]},
        ],
    )
    slots = plan_slots(p, datetime(2026, 1, 1, tzinfo=UTC), 364)
    share = Counter(s.pillar for s in slots)["big"] / len(slots)
    assert 0.65 < share < 0.85


def test_start_must_be_aware(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_slots(persona(tmp_path), datetime(2026, 1, 1), 7)

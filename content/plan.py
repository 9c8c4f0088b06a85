"""The content calendar: persona + horizon + what is already planned → new slots.

A pure function. Each local week gets a deterministic list of candidate slots
(seeded by persona id, week and seed), so planning the same week again yields
the same candidates and only the missing ones are added: re-planning never
duplicates a slot, and a longer horizon extends a shorter one.

A persona with `schedule.adapt` has its candidates' pillars, and the hour inside each
window, chosen by content/adapt.py from the outcomes passed in; every other rule (cadence,
windows, gaps, shares, scenes) applies unchanged. Without it the plan is exactly as before.
"""

from __future__ import annotations

import bisect
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np

from content.adapt import Allocation, Outcome, allocate, apportion, arm_stats, hour_arm
from content.persona import Persona
from content.timing import Window

PostFormat = Literal["photo", "carousel", "reel"]
SLOT_MINUTES = 5  # slots fall on 5-minute marks: tidy for people, plenty of choice


@dataclass(frozen=True)
class Slot:
    """One planned post: when (UTC and the persona's zone), what, and its generation seed."""

    persona_id: str
    slot_utc: datetime
    timezone: str
    format: PostFormat
    pillar: str
    scene: str
    seed: int
    reason: str = ""  # why the adaptive planner chose this pillar and hour; "" when it did not


@dataclass(frozen=True)
class _Candidate:
    slot_utc: datetime
    format: PostFormat
    pillar: str
    scene_pick: float
    seed: int
    day: date
    window: int  # index into the persona's windows
    reason: str = ""


@dataclass(frozen=True)
class _Allocations:
    """What the adaptive planner plays, drawn once per plan: the statistics do not change
    between the weeks of one plan, so neither does the posterior."""

    pillars: Allocation | None = None
    hours: dict[int, Allocation] = field(default_factory=dict)  # window index → its hours
    reasons: dict[tuple[int, str], str] = field(default_factory=dict)  # worded once per arm

    def reason(self, allocation: Allocation, arm: str, metric: str) -> str:
        key = (id(allocation), arm)
        if key not in self.reasons:
            self.reasons[key] = allocation.reason(arm, metric)
        return self.reasons[key]


def _allocations(persona: Persona, outcomes: Sequence[Outcome], seed: int) -> _Allocations:
    adapt = persona.schedule.adapt
    if adapt is None:
        return _Allocations()
    rng = np.random.default_rng([zlib.crc32(persona.id.encode()), seed])
    pillars = None
    if adapt.pillars:
        weights = {pillar.name: pillar.weight for pillar in persona.pillars}
        pillars = allocate(weights, arm_stats(outcomes, "pillar"), adapt.explore, adapt.min_weight, rng)
    hours = {}
    if adapt.windows:
        stats = arm_stats(outcomes, "hour")
        for index, window in enumerate(persona.schedule.windows):
            own = {hour_arm(index, hour): float(minutes) for hour, minutes in _window_hours(window).items()}
            hours[index] = allocate(own, stats, adapt.explore, adapt.min_weight, rng)
    return _Allocations(pillars, hours)


def to_utc(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A local wall time as UTC; a time skipped by a DST change moves forward by the gap."""
    local = datetime.combine(day, clock, tzinfo=zone)
    return local.astimezone(UTC)


def _week_start(moment: datetime, zone: ZoneInfo) -> date:
    local_day = moment.astimezone(zone).date()
    return local_day - timedelta(days=local_day.weekday())


def _window_days(week: date, windows: Sequence[Window]) -> list[tuple[date, int, Window]]:
    return [
        (week + timedelta(days=offset), index, window)
        for offset in range(7)
        for index, window in enumerate(windows)
        if offset in window.days
    ]


def _pick_window_days(
    rng: random.Random, options: list[tuple[date, int, Window]], count: int
) -> list[tuple[date, int, Window]]:
    """Spread posts over distinct days first; a second post on a day only when needed."""
    shuffled = rng.sample(options, len(options))
    chosen: list[tuple[date, int, Window]] = []
    used_days: set[date] = set()
    for day, index, window in shuffled:
        if len(chosen) < count and day not in used_days:
            chosen.append((day, index, window))
            used_days.add(day)
    while len(chosen) < count and shuffled:
        chosen.append(shuffled[len(chosen) % len(shuffled)])
    return chosen


def _formats(rng: random.Random, persona: Persona, count: int) -> list[PostFormat]:
    reels = round(count * persona.schedule.reel_share)
    carousels = min(round(count * persona.schedule.carousel_share), count - reels)
    photos = count - reels - carousels
    reel: PostFormat = "reel"
    carousel: PostFormat = "carousel"
    photo: PostFormat = "photo"
    formats = [reel] * reels + [carousel] * carousels + [photo] * photos
    rng.shuffle(formats)
    return formats


def _week_candidates(persona: Persona, week: date, seed: int) -> list[_Candidate]:
    rng = random.Random(f"{persona.id}:{week.isoformat()}:{seed}")
    count = persona.schedule.posts_per_week
    options = _window_days(week, persona.schedule.windows)
    if not options or count == 0:
        return []
    zone = persona.zone
    pillars = [pillar.name for pillar in persona.pillars]
    weights = [pillar.weight for pillar in persona.pillars]
    candidates = []
    for (day, index, window), post_format in zip(
        _pick_window_days(rng, options, count), _formats(rng, persona, count), strict=True
    ):
        steps = max(window.minutes() // SLOT_MINUTES, 1)
        minute = window.start.hour * 60 + window.start.minute + rng.randrange(steps) * SLOT_MINUTES
        clock = time(minute // 60, minute % 60)
        candidates.append(
            _Candidate(
                slot_utc=to_utc(day, clock, zone),
                format=post_format,
                pillar=rng.choices(pillars, weights)[0],
                scene_pick=rng.random(),
                seed=rng.randrange(2**31),
                day=day,
                window=index,
            )
        )
    return sorted(candidates, key=lambda c: c.slot_utc)


def _window_hours(window: Window) -> dict[int, int]:
    """Each clock hour the window touches → how many of its minutes fall in that hour."""
    start = window.start.hour * 60 + window.start.minute
    end = start + window.minutes()
    return {
        hour: min(end, (hour + 1) * 60) - max(start, hour * 60)
        for hour in range(start // 60, (end - 1) // 60 + 1)
        if min(end, (hour + 1) * 60) > max(start, hour * 60)
    }


def _adapted(
    persona: Persona, week: date, seed: int, candidates: list[_Candidate], plays: _Allocations
) -> list[_Candidate]:
    """The week's candidates with pillars and hours chosen from what the audience did."""
    adapt = persona.schedule.adapt
    if adapt is None or not candidates:
        return candidates
    # Its own generator: the candidates' draws stay exactly as without adaptation.
    rng = random.Random(f"{persona.id}:{week.isoformat()}:{seed}:adapt")
    turn = week.toordinal() // 7
    pillars = [c.pillar for c in candidates]
    reasons: list[list[str]] = [[] for _ in candidates]
    if plays.pillars is not None:
        pillars = apportion(plays.pillars, len(candidates), rng, turn)
        for i, pillar in enumerate(pillars):
            reasons[i].append(plays.reason(plays.pillars, pillar, adapt.metric))
    times = [c.slot_utc for c in candidates]
    for index, allocation in plays.hours.items():
        members = [i for i, c in enumerate(candidates) if c.window == index]
        if not members:
            continue
        window = persona.schedule.windows[index]
        by_arm = {hour_arm(index, hour): hour for hour in _window_hours(window)}
        for i, arm in zip(members, apportion(allocation, len(members), rng, turn), strict=True):
            times[i] = _time_in_hour(persona, candidates[i].day, window, by_arm[arm], rng)
            reasons[i].append(plays.reason(allocation, arm, adapt.metric))
    adapted = [
        _Candidate(
            times[i], c.format, pillars[i], c.scene_pick, c.seed, c.day, c.window, "; ".join(reasons[i])
        )
        for i, c in enumerate(candidates)
    ]
    return sorted(adapted, key=lambda c: c.slot_utc)


def _time_in_hour(persona: Persona, day: date, window: Window, hour: int, rng: random.Random) -> datetime:
    """A 5-minute mark inside both the window and the clock hour."""
    start = max(window.start.hour * 60 + window.start.minute, hour * 60)
    end = min(window.start.hour * 60 + window.start.minute + window.minutes(), (hour + 1) * 60)
    steps = max((end - start) // SLOT_MINUTES, 1)
    minute = start + rng.randrange(steps) * SLOT_MINUTES
    return to_utc(day, time(minute // 60, minute % 60), persona.zone)


def _pick_scene(persona: Persona, candidate: _Candidate, history: Sequence[Slot]) -> str:
    """A scene of the pillar not used within scene_repeat_days, else the least recent one.
    (`history` may be only the slots within scene_repeat_days: the answer is the same.)"""
    scenes = persona.pillar(candidate.pillar).scenes
    window = timedelta(days=persona.schedule.scene_repeat_days)
    last_used: dict[str, timedelta] = {}
    for slot in history:
        if slot.scene in scenes:
            distance = abs(slot.slot_utc - candidate.slot_utc)
            last_used[slot.scene] = min(distance, last_used.get(slot.scene, distance))
    fresh = [scene for scene in scenes if last_used.get(scene, timedelta.max) >= window]
    if fresh:
        return fresh[int(candidate.scene_pick * len(fresh))]
    return max(scenes, key=lambda scene: last_used[scene])


def plan_slots(
    persona: Persona,
    start: datetime,
    days: int,
    planned: Sequence[Slot] = (),
    seed: int = 0,
    outcomes: Sequence[Outcome] = (),
) -> list[Slot]:
    """New slots for `persona` in [start, start + days), given the slots already planned.

    `planned` should hold the persona's slots from at least `scene_repeat_days`
    before `start` to the end of the horizon; it is never modified. `outcomes` are what
    the persona's published posts did, for a persona with `schedule.adapt`.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    end = start + timedelta(days=days)
    zone = persona.zone
    history = [slot for slot in planned if slot.persona_id == persona.id]
    taken = {slot.slot_utc for slot in history}
    # Every slot so far, in time order: the gap and scene rules look only near a candidate.
    timeline = sorted(history, key=lambda s: s.slot_utc)
    times = [s.slot_utc for s in timeline]
    scene_window = timedelta(days=persona.schedule.scene_repeat_days)
    per_week: dict[date, int] = {}
    for slot in history:
        week = _week_start(slot.slot_utc, zone)
        per_week[week] = per_week.get(week, 0) + 1
    new_slots: list[Slot] = []
    plays = _allocations(persona, outcomes, seed)
    week = _week_start(start, zone)
    while datetime.combine(week, time(), tzinfo=zone) < end:
        for candidate in _adapted(persona, week, seed, _week_candidates(persona, week, seed), plays):
            if not start <= candidate.slot_utc < end or candidate.slot_utc in taken:
                continue
            if per_week.get(week, 0) >= persona.schedule.posts_per_week:
                break
            moment, gap = candidate.slot_utc, persona.schedule.min_gap
            if bisect.bisect_right(times, moment - gap) < bisect.bisect_left(times, moment + gap):
                continue  # another slot closer than min_gap
            near = timeline[
                bisect.bisect_right(times, moment - scene_window) : bisect.bisect_left(
                    times, moment + scene_window
                )
            ]
            slot = Slot(
                persona_id=persona.id,
                slot_utc=candidate.slot_utc,
                timezone=persona.timezone,
                format=candidate.format,
                pillar=candidate.pillar,
                scene=_pick_scene(persona, candidate, near),
                seed=candidate.seed,
                reason=candidate.reason,
            )
            new_slots.append(slot)
            at = bisect.bisect_left(times, slot.slot_utc)
            times.insert(at, slot.slot_utc)
            timeline.insert(at, slot)
            taken.add(slot.slot_utc)
            per_week[week] = per_week.get(week, 0) + 1
        week += timedelta(days=7)
    return sorted(new_slots, key=lambda s: s.slot_utc)

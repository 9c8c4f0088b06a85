"""The adaptive planner's arithmetic: Thompson sampling over what each arm's posts did.

An arm is a pillar, or a posting hour inside one of the persona's windows. Each published
post's metric (engagement rate by default) is a draw from its arm; on the log scale an
arm's mean has a normal posterior, shrunk toward the persona's overall mean by a prior
worth PRIOR_POSTS posts, with the spread of all the persona's posts as the noise. The
share of Thompson draws in which an arm comes out best is how often it is worth playing.

What the planner plays is a mixture that never leaves the persona's own bounds:
(1 - explore) × that share + explore × the persona's own weights, then every arm raised to
at least `min_weight` (and the rest scaled down to make room). Pure and deterministic:
the statistics come in, a seeded generator draws.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

PRIOR_POSTS = 2.0  # how many posts' worth of belief the persona's overall mean is
DEFAULT_SPREAD = 0.5  # log-scale noise before there are posts to measure it
DRAWS = 512


@dataclass(frozen=True)
class Outcome:
    """What one published post did, as the planner needs it."""

    pillar: str
    hour: int  # local hour of the slot
    window: int  # index of the persona's posting window the slot fell in
    value: float  # the metric, > 0 (engagement rate, reach, …)


@dataclass(frozen=True)
class ArmStats:
    arm: str
    posts: int
    mean_log: float  # of the metric
    var_log: float  # the spread of the arm's own posts, on the log scale
    median_ratio: float  # the arm's median over the other arms' median: the "2.1×" people read


@dataclass(frozen=True)
class Allocation:
    weights: dict[str, float]  # arm → share of slots, summing to 1
    stats: dict[str, ArmStats]

    def reason(self, arm: str, metric: str) -> str:
        """Why an arm was played, in words: "travel: 2.1× median engagement rate over 14 posts"."""
        found = self.stats.get(arm)
        if found is None or found.posts == 0:
            return f"{arm}: no results yet — explored ({self.weights.get(arm, 0.0):.0%} of slots)"
        words = metric.replace("_", " ")
        return f"{arm}: {found.median_ratio:.1f}× the others' median {words} over {found.posts} posts"


def arm_stats(outcomes: Sequence[Outcome], arm_of: str) -> dict[str, ArmStats]:
    """Per arm: how many posts, their log metric's mean and spread, and their median
    against the other arms'. `arm_of` is "pillar" or "hour"."""
    groups: dict[str, list[float]] = {}
    for outcome in outcomes:
        if outcome.value > 0:
            key = outcome.pillar if arm_of == "pillar" else hour_arm(outcome.window, outcome.hour)
            groups.setdefault(key, []).append(outcome.value)
    stats = {}
    for arm, group in groups.items():
        others = [v for other, values in groups.items() if other != arm for v in values]
        ratio = statistics.median(group) / statistics.median(others) if others else 1.0
        logs = [math.log(v) for v in group]
        mean = sum(logs) / len(logs)
        variance = sum((x - mean) ** 2 for x in logs) / len(logs)
        stats[arm] = ArmStats(arm, len(group), mean, variance, ratio)
    return stats


@functools.lru_cache(maxsize=1024)
def hour_arm(window: int, hour: int) -> str:
    return f"window {window + 1}, {hour:02d}:00"


def allocate(
    base: Mapping[str, float],
    stats: Mapping[str, ArmStats],
    explore: float,
    min_weight: float,
    rng: np.random.Generator,
) -> Allocation:
    """The share of slots each arm of `base` (arm → the persona's own weight) gets."""
    arms = list(base)
    total = sum(base.values())
    own = np.array([base[a] / total for a in arms])
    played = [stats[a] for a in arms if a in stats and stats[a].posts > 0]
    if not played:
        return Allocation(_floored(dict(zip(arms, own.tolist(), strict=True)), min_weight), dict(stats))
    overall = sum(s.mean_log * s.posts for s in played) / sum(s.posts for s in played)
    spread = _spread(played)
    posts = np.array([stats[a].posts if a in stats else 0 for a in arms], dtype=float)
    means = np.array([stats[a].mean_log if a in stats else overall for a in arms])
    centre = (posts * means + PRIOR_POSTS * overall) / (posts + PRIOR_POSTS)
    scale = spread / np.sqrt(posts + PRIOR_POSTS)
    draws = rng.normal(centre, scale, size=(DRAWS, len(arms)))
    best = np.bincount(draws.argmax(axis=1), minlength=len(arms)) / DRAWS
    mixed = (1 - explore) * best + explore * own
    return Allocation(_floored(dict(zip(arms, mixed.tolist(), strict=True)), min_weight), dict(stats))


def _spread(played: Sequence[ArmStats]) -> float:
    """The log-scale noise of one post: the arms' own spreads pooled, at least a little."""
    degrees = sum(s.posts - 1 for s in played)
    if degrees < 3:
        return DEFAULT_SPREAD
    return max(math.sqrt(sum(s.var_log * s.posts for s in played) / degrees), 0.05)


def _floored(weights: dict[str, float], min_weight: float) -> dict[str, float]:
    """Every arm at least `min_weight` (when that is possible), the rest scaled to fit."""
    floor = min(min_weight, 1.0 / len(weights))
    fixed: set[str] = set()
    result = dict(weights)
    for _ in range(len(weights)):
        free = [a for a in result if a not in fixed]
        budget = 1.0 - floor * len(fixed)
        free_total = sum(weights[a] for a in free) or 1.0
        for arm in free:
            result[arm] = weights[arm] / free_total * budget
        low = [a for a in free if result[a] < floor - 1e-12]
        if not low:
            break
        for arm in low:
            result[arm] = floor
            fixed.add(arm)
    return result


GOLDEN = (5**0.5 - 1) / 2


def apportion(allocation: Allocation, count: int, rng: random.Random, turn: int = 0) -> list[str]:
    """`count` arms in the allocation's shares, in a seeded order: systematic sampling, so
    a week's slots follow the shares as closely as whole slots can (7 slots at 70 % is 5
    of one arm, not anywhere from 2 to 7 as independent draws would give). The sampling's
    offset steps by the golden ratio from one `turn` (week) to the next, so the fractions
    a week rounds away add up over the weeks instead of falling on the same arms."""
    arms = list(allocation.weights)
    edges = list(itertools.accumulate(allocation.weights[a] for a in arms))
    edges = [edge / edges[-1] for edge in edges]
    offset = (turn * GOLDEN) % 1.0
    last = len(arms) - 1
    # Plain Python: a week has a handful of slots, where numpy's per-call cost dominates.
    picked = [arms[min(bisect.bisect_left(edges, (offset + i) / count), last)] for i in range(count)]
    rng.shuffle(picked)
    return picked

"""Benchmark: plan 100 personas × 90 days, then plan again (nothing new to add), then
plan with adaptation on (schedule.adapt, pillars and window hours) from 200 results each.

python benchmarks/plan.py [--personas 100] [--days 90]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime

from content.adapt import Outcome
from content.persona import Persona
from content.plan import plan_slots

ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "America/Sao_Paulo"]


def persona(index: int, adapt: bool = False) -> Persona:
    adaptation = {"adapt": {"pillars": True, "windows": True}} if adapt else {}
    return Persona.model_validate(
        {
            "id": f"p{index}",
            "name": f"Persona {index}",
            "timezone": ZONES[index % len(ZONES)],
            "disclosure": {"caption_line": "This account is a virtual influencer; posts are AI-generated."},
            "appearance": {"base_prompt": "photo of a person"},
            "pillars": [
                {"name": f"pillar{j}", "weight": j + 1, "scenes": [f"scene {j}.{k}" for k in range(8)]}
                for j in range(4)
            ],
            "schedule": {
                "posts_per_week": 3 + index % 12,
                "reel_share": 0.3,
                "carousel_share": 0.2,
                "windows": ["mon-fri 07:30-09:30", "mon-fri 18:00-21:00", "sat,sun 10:00-13:00"],
                "min_gap": "3h",
                "scene_repeat_days": 10,
                **adaptation,
            },
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--personas", type=int, default=100)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    personas = [persona(i) for i in range(args.personas)]
    start = datetime(2026, 12, 1, tzinfo=UTC)

    began = time.perf_counter()
    planned = {p.id: plan_slots(p, start, args.days) for p in personas}
    first = time.perf_counter() - began
    slots = sum(len(s) for s in planned.values())

    began = time.perf_counter()
    again = sum(len(plan_slots(p, start, args.days, planned[p.id])) for p in personas)
    second = time.perf_counter() - began

    print(
        f"plan {args.personas} personas × {args.days} days: {slots} slots in {first:.2f} s "
        f"({first / args.personas * 1000:.1f} ms a persona)"
    )
    print(f"plan again over the same horizon: {again} new slots in {second:.2f} s")

    rng = random.Random(1)
    results = [
        Outcome(
            f"pillar{rng.randrange(4)}",
            rng.choice([8, 18, 19, 20, 11]),
            rng.randrange(3),
            rng.uniform(0.01, 0.1),
        )
        for _ in range(200)
    ]
    adaptive = [persona(i, adapt=True) for i in range(args.personas)]
    began = time.perf_counter()
    slots = sum(len(plan_slots(p, start, args.days, outcomes=results)) for p in adaptive)
    third = time.perf_counter() - began
    print(
        f"plan with adaptation on (pillars and hours, 200 results a persona): {slots} slots in {third:.2f} s "
        f"({third / args.personas * 1000:.1f} ms a persona)"
    )


if __name__ == "__main__":
    main()

"""Benchmark: the analytics page with 10,000 posts' metrics, over loopback HTTP.

    python benchmarks/analytics.py [--posts 10000] [--requests 100]

Starts the real server (`vibot web`, a separate process) on a database holding `--posts`
published posts, each with its seven latest metrics (what bot/insights.py keeps), written
in bulk; logs in and measures the page for the persona, for all personas, and the CSV.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from benchmarks.web import PASSWORD, PERSONA, logged_in, report, timed, web_server
from bot.context import App
from bot.insights import LATEST, POST_METRICS
from bot.settings import Settings
from bot.web.auth import add_user
from storage.models import Metric, Post


def build(app: App, total: int) -> None:
    rng = random.Random(1)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    posts = [
        {
            "persona_id": "bench", "slot_utc": start + timedelta(hours=7 * i), "timezone": "Europe/Berlin",
            "format": rng.choice(["photo", "carousel", "reel"]), "pillar": f"pillar {i % 5}", "scene": "s",
            "seed": i, "status": "published", "created_at": start, "updated_at": start,
        }
        for i in range(total)
    ]  # fmt: skip
    with app.engine.begin() as connection:
        connection.execute(sa.insert(Post), posts)
        ids = connection.execute(sa.select(Post.id)).scalars().all()  # type: ignore[call-overload]
        rows = []
        for post_id in ids:
            reach = rng.randint(500, 20_000)
            numbers = {"reach": reach, "views": 2 * reach, "likes": reach // 25, "comments": 4, "saved": 6,
                       "shares": 3, "total_interactions": reach // 25 + 13}  # fmt: skip
            rows += [
                {
                    "persona_id": "bench", "platform": "instagram", "subject": f"post:{post_id}",
                    "post_id": post_id, "metric": metric, "checkpoint": LATEST,
                    "value": float(numbers[metric]), "measured_at": start, "source": "graph",
                }
                for metric in POST_METRICS
            ]  # fmt: skip
        connection.execute(sa.insert(Metric), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vibot-bench-analytics-") as tmp:
        home = Path(tmp)
        (home / "personas").mkdir()
        (home / "personas" / "bench.yaml").write_text(PERSONA)
        app = App(Settings(home=home, personas_dir=home / "personas", _env_file=None))  # type: ignore[call-arg]
        started = time.perf_counter()
        build(app, args.posts)
        add_user(app, "bench", PASSWORD)
        app.engine.dispose()
        took = time.perf_counter() - started
        print(f"set-up: {args.posts} published posts with their metrics in {took:.1f} s")
        with web_server(home) as url:
            client = logged_in(url)
            assert 'id="analytics-data"' in client.get("/analytics/bench").text
            report("analytics page, one persona", timed(client, "/analytics/bench", args.requests))
            report("analytics page, all personas", timed(client, "/analytics", args.requests))
            report(
                "analytics CSV, one persona",
                timed(client, "/analytics.csv?persona=bench", args.requests // 4),
            )


if __name__ == "__main__":
    main()

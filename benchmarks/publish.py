"""Benchmark: one publish pass over a database with 100,000 posts.

    python benchmarks/publish.py [--posts 100000] [--due 100] [--database-url URL]

Most posts are history (published, skipped, rejected) or future (planned, in
review); `--due` of them are approved and due now. The set-up writes rows in
bulk, bypassing the lifecycle on purpose: it builds history, it does not
make it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bot.context import App
from bot.publishing import publish_pass
from bot.settings import Settings
from storage.media import DiskMediaStore, sha256_text
from storage.models import Approval, MediaAsset, Post

PERSONA = """\
id: bench
name: Bench
timezone: Europe/Berlin
disclosure: {caption_line: "Bench is a virtual influencer; this post is AI-generated."}
appearance: {base_prompt: photo}
pillars: [{name: p, scenes: [s]}]
schedule: {posts_per_week: 7, windows: ["daily 08:00-20:00"], grace: 2h}
"""
CAPTION = "Bench is a virtual influencer; this post is AI-generated.\n\nHello\n\n#AIgenerated"
HISTORY = ["published", "skipped", "rejected", "planned", "in_review", "published", "published"]


def build(app: App, total: int, due: int) -> None:
    now = datetime.now(UTC)
    sample = app.settings.home / "sample.jpg"
    sample.write_bytes(b"\xff\xd8" + b"x" * 200_000 + b"\xff\xd9")
    stored = DiskMediaStore(app.settings.media_dir).add(sample)
    rows = []
    for i in range(total):
        if i < due:
            status, slot = "approved", now - timedelta(minutes=30) + timedelta(seconds=i)
        else:
            status = HISTORY[i % len(HISTORY)]
            offset = timedelta(hours=i) if status in ("planned", "in_review") else -timedelta(hours=i)
            slot = now + offset
        rows.append(
            {
                "persona_id": "bench",
                "slot_utc": slot,
                "timezone": "Europe/Berlin",
                "format": "photo",
                "pillar": "p",
                "scene": "s",
                "seed": i,
                "status": status,
                "caption": CAPTION,
                "created_at": now,
                "updated_at": now,
            }
        )
    with app.engine.begin() as connection:
        connection.execute(sa.insert(Post), rows)
        due_ids = connection.execute(sa.select(Post.id).where(Post.status == "approved")).scalars().all()
        connection.execute(
            sa.insert(MediaAsset),
            [
                {
                    "post_id": pid,
                    "position": 0,
                    "kind": "image",
                    "path": stored.relative_path,
                    "sha256": stored.sha256,
                    "mime": "image/jpeg",
                    "bytes": stored.bytes,
                    "width": 1080,
                    "height": 1350,
                    "created_at": now,
                }
                for pid in due_ids
            ],
        )
        connection.execute(
            sa.insert(Approval),
            [
                {
                    "post_id": pid,
                    "approved_by": "bench",
                    "approved_at": now,
                    "caption_sha256": sha256_text(CAPTION),
                    "media_sha256": json.dumps([stored.sha256]),
                }
                for pid in due_ids
            ],
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        home = Path(workdir)
        (home / "personas").mkdir()
        (home / "personas" / "bench.yaml").write_text(PERSONA)
        app = App(
            Settings(
                home=home,
                personas_dir=home / "personas",
                database_url=args.database_url,
                log_level="WARNING",
                _env_file=None,
            )
        )  # type: ignore[call-arg]
        from bot.log import configure_logging

        configure_logging("WARNING")
        began = time.perf_counter()
        build(app, args.posts, args.due)
        setup_s = time.perf_counter() - began
        print(f"set-up: {args.posts} posts ({args.due} due) in {setup_s:.1f} s on {app.engine.dialect.name}")
        began = time.perf_counter()
        report = publish_pass(app)
        busy = time.perf_counter() - began
        began = time.perf_counter()
        idle = publish_pass(app)
        quiet = time.perf_counter() - began
        assert len(report.published) == args.due and not idle.published
        print(
            f"publish pass: {len(report.published)} published in {busy:.2f} s "
            f"({busy / max(args.due, 1) * 1000:.1f} ms a post)"
        )
        print(f"publish pass with nothing due: {quiet * 1000:.1f} ms")


if __name__ == "__main__":
    main()

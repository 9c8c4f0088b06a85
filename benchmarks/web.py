"""Benchmark: the review queue page with 10,000 posts in review, over loopback HTTP.

    python benchmarks/web.py [--posts 10000] [--requests 300] [--concurrency 4]

Starts the real server (`vibot web`, a separate process, as in production) on a database
with `--posts` posts in review, each with a media file and a generation record, logs in
as a reviewer and measures the latency of: the queue's first page, a page deep in the
queue (keyset cursor), a post page, and the first page under concurrent clients.
The set-up writes rows in bulk, bypassing the lifecycle on purpose.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from bot.context import App
from bot.settings import Settings
from bot.web.auth import add_user
from storage.media import DiskMediaStore
from storage.models import MediaAsset, Post

PERSONA = """\
id: bench
name: Bench
timezone: Europe/Berlin
disclosure: {caption_line: "Bench is a virtual influencer; this post is AI-generated."}
appearance: {base_prompt: photo}
pillars: [{name: p, scenes: [s]}]
schedule: {posts_per_week: 7, windows: ["daily 08:00-20:00"], grace: 2h}
"""
CAPTION = (
    "Bench is a virtual influencer; this post is AI-generated.\n\n"
    + "Morning light over the harbour, coffee in hand. " * 6
    + "\n\n#AIgenerated #travel #harbour #morning"
)
RECORD = {
    "model": "black-forest-labs/FLUX.1-dev",
    "model_fingerprint": "rev 0123abcd",
    "licence": "FLUX.1 [dev] Non-Commercial License",
    "lora": {"file": "loras/bench.safetensors", "sha256": "ab" * 32, "scale": 0.9},
    "seed": 1,
    "steps": 28,
    "guidance": 3.5,
    "noise_injection": 0.1,
    "detail": 0.2,
    "grain": 0.03,
    "generated_size": "1088x1360",
    "final_size": "1080x1350",
    "upscaler": "none",
    "device": "cuda",
    "dtype": "bfloat16",
    "seconds": 2.1,
    "prompt": "b3nch woman, photo, harbour at dawn " * 4,
}
PASSWORD = "benchmark password"


def build(app: App, total: int) -> None:
    now = datetime.now(UTC)
    sample = app.settings.home / "sample.jpg"
    sample.write_bytes(b"\xff\xd8" + b"x" * 50_000 + b"\xff\xd9")
    stored = DiskMediaStore(app.settings.media_dir).add(sample)
    record = json.dumps([RECORD])
    posts = [
        {
            "persona_id": "bench",
            "slot_utc": now + timedelta(minutes=10 * i),
            "timezone": "Europe/Berlin",
            "format": "photo",
            "pillar": "p",
            "scene": "s",
            "seed": i,
            "status": "in_review",
            "caption": CAPTION,
            "alt_text": "AI-generated photo of a woman at a harbour at dawn.",
            "caption_writer": "llm",
            "review_flags": json.dumps(["mentions a place"]),
            "generation": record,
            "keep_caption": False,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(total)
    ]
    with app.engine.begin() as connection:
        connection.execute(sa.insert(Post), posts)
        ids = connection.execute(sa.select(Post.id)).scalars().all()  # type: ignore[call-overload]
        connection.execute(
            sa.insert(MediaAsset),
            [
                {
                    "post_id": post_id,
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
                for post_id in ids
            ],
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def web_server(home: Path) -> Iterator[str]:
    """`vibot web` on `home` as a separate process (as in production), once it answers: its URL."""
    port = free_port()
    env = {**os.environ, "VIBOT_HOME": str(home), "VIBOT_PERSONAS_DIR": str(home / "personas")}
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "web", "--port", str(port)], env=env, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/healthz").raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def logged_in(url: str, name: str = "bench") -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    response = client.post("/login", data={"name": name, "password": PASSWORD, "csrf": token.group(1)})
    assert response.status_code == 303, response.text
    return client


def timed(client: httpx.Client, path: str, runs: int) -> list[float]:
    client.get(path)  # warm
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return latencies


def report(name: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    print(
        f"{name:<38} n={len(ordered):<5} p50 {statistics.median(ordered):6.1f} ms   "
        f"p95 {p95:6.1f} ms   p99 {p99:6.1f} ms   max {ordered[-1]:6.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vibot-bench-web-") as tmp:
        home = Path(tmp)
        (home / "personas").mkdir()
        (home / "personas" / "bench.yaml").write_text(PERSONA)
        settings = Settings(home=home, personas_dir=home / "personas", _env_file=None)  # type: ignore[call-arg]
        app = App(settings)
        started = time.perf_counter()
        build(app, args.posts)
        # One reviewer per concurrent client: a login ends the same reviewer's other sessions.
        for name in ["bench", *(f"bench{i}" for i in range(args.concurrency))]:
            add_user(app, name, PASSWORD)
        app.engine.dispose()
        print(f"set-up: {args.posts} posts in review in {time.perf_counter() - started:.1f} s")
        with web_server(home) as url:
            client = logged_in(url)
            first = client.get("/queue").text
            assert first.count('class="card"') == 20, "the first page should hold 20 cards"
            # A page deep in the queue: follow 'next' links 250 times (5,000 posts in).
            path = "/queue"
            for _ in range(min(250, args.posts // 20 - 1)):
                following = re.search(r'rel="next" href="([^"]+)"', client.get(path).text)
                assert following is not None
                path = following.group(1).replace("&amp;", "&")
            post_id = re.search(r'id="post-(\d+)"', first)
            assert post_id is not None
            report("queue, first page (20 cards)", timed(client, "/queue", args.requests))
            report("queue, page 251 (keyset cursor)", timed(client, path, args.requests))
            report("queue, filtered by persona", timed(client, "/queue?persona=bench", args.requests))
            report("post page", timed(client, f"/posts/{post_id.group(1)}", args.requests))
            clients = [logged_in(url, f"bench{i}") for i in range(args.concurrency)]
            per_client = max(1, args.requests // args.concurrency)
            wall = time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(lambda c: timed(c, "/queue", per_client), clients))
            wall = time.perf_counter() - wall
            together = [ms for result in results for ms in result]
            report(f"queue, {args.concurrency} clients at once", together)
            print(f"throughput with {args.concurrency} clients: {len(together) / wall:.0f} pages/s")


if __name__ == "__main__":
    main()

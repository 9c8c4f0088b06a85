"""Benchmark: preparing posts through Ray actors (VIBOT_EXECUTOR=ray), and what a fleet needs.

    python benchmarks/scale.py [--posts 12] [--jobs 20] [--json]
        [--photo-s 7.1] [--reel-s 90] [--reel-share 0.3] [--personas-projected 500]

On a Ray cluster started here (`ray start`, one node with two CPUs, as the tests do) and
the tiny offline model:

- posts per minute with 1 and with 2 actors, whole posts: claim and caption, generation in
  the actor, disclosure and storage back in the daemon;
- the dispatch overhead of one job on a warm actor: its round trip minus the seconds the
  actor spent generating (what Ray and vibot add around the work);
- the daemon's peak memory with Ray connected (this process never imports torch: the
  tiny model and the LoRAs are built in a subprocess);
- the daemon's CPU time per post (disclosure, storage, the database);
- a projection for `--personas-projected` personas × 5 posts a week on N GPUs, from the
  per-photo and per-reel GPU seconds given (defaults: docs/scale.md says where each
  comes from).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.context import App
from bot.executors import RayExecutor
from bot.prepare import claim, prepare_batch
from bot.settings import Settings
from storage.db import session_scope
from storage.lifecycle import add_planned
from tests.support.personas import persona_data
from tests.support.ray_cluster import RayCluster

PERSONAS = ("ava", "ben", "cleo", "dina")
BUILD = """
import sys
from pathlib import Path
from content.images.lora import make_test_lora
from content.tiny import build_tiny_flux
home = Path(sys.argv[1])
build_tiny_flux(home / "models" / "tiny-flux")
for seed, name in enumerate(sys.argv[2:]):
    make_test_lora(home / "models" / "tiny-flux", home / "personas" / f"{name}.safetensors", seed=seed)
"""


def make_home(home: Path) -> None:
    (home / "personas").mkdir(parents=True)
    subprocess.run([sys.executable, "-c", BUILD, str(home), *PERSONAS], check=True)
    for name in PERSONAS:
        data = persona_data(id=name, appearance={"base_prompt": "photo", "lora": f"{name}.safetensors"})
        data["name"] = name.title()
        (home / "personas" / f"{name}.yaml").write_text(yaml.safe_dump(data))


def plan(app: App, count: int, first_seed: int) -> list[int]:
    slot = datetime.now(UTC) + timedelta(hours=1)
    rows = [
        {"persona_id": PERSONAS[i % len(PERSONAS)], "slot_utc": slot + timedelta(minutes=i),
         "timezone": "UTC", "format": "photo", "pillar": "travel", "scene": "harbour at dawn",
         "seed": first_seed + i}
        for i in range(count)
    ]  # fmt: skip
    with session_scope(app.engine) as session:
        return [post.id for post in add_planned(session, rows) if post.id is not None]


def throughput(app: App, actors: int, posts: int) -> dict[str, float]:
    settings = app.settings.model_copy(update={"ray_actors": actors})
    executor = RayExecutor(settings)
    try:
        prepare_batch(
            app, plan(app, len(PERSONAS), first_seed=actors * 1000), executor
        )  # warm: models loaded
        ids = plan(app, posts, first_seed=actors * 1000 + 100)
        cpu, started = time.process_time(), time.perf_counter()
        batch = prepare_batch(app, ids, executor)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert len(batch.ready) == posts, batch.failed
    finally:
        executor.close()
    return {
        "posts_per_min": round(posts / seconds * 60, 1),
        "daemon_cpu_ms_per_post": round(cpu / posts * 1000, 1),
    }


def dispatch_overhead(app: App, jobs: int) -> dict[str, float]:
    """Jobs one at a time on one warm actor: round trip minus the actor's own seconds."""
    executor = RayExecutor(app.settings.model_copy(update={"ray_actors": 1}))
    try:
        claimed = claim(app, plan(app, 1, first_seed=9000)[0])  # captioned: the brief has its prompt
        assert claimed is not None
        persona, brief = claimed.persona, claimed.post
        cold_started = time.perf_counter()
        first = executor.submit(persona, brief).result()
        cold_ms = (time.perf_counter() - cold_started - first.seconds) * 1000
        overheads = []
        for _ in range(jobs):
            started = time.perf_counter()
            made = executor.submit(persona, brief).result()
            overheads.append((time.perf_counter() - started - made.seconds) * 1000)
    finally:
        executor.close()
    overheads.sort()
    return {
        "median_ms": round(statistics.median(overheads), 1),
        "p95_ms": round(overheads[math.ceil(0.95 * len(overheads)) - 1], 1),
        "first_job_ms": round(cold_ms, 1),  # a new actor: its models loading are not in made.seconds
    }


def projection(personas: int, photo_s: float, reel_s: float, reel_share: float) -> dict[str, float]:
    """GPUs for `personas` × 5 posts a week, with the work spread over the week (lead time
    24 h lets the planner prepare a day ahead) and GPUs kept at most 50% busy on average,
    for peaks, identity-guard retries and regenerations a reviewer asks for."""
    posts = personas * 5
    gpu_s = posts * ((1 - reel_share) * photo_s + reel_share * reel_s)
    week_s = 7 * 86400
    return {
        "posts_per_week": posts,
        "gpu_hours_per_week": round(gpu_s / 3600, 1),
        "gpus_at_50pct": max(1, math.ceil(gpu_s / (week_s * 0.5))),
        "one_gpu_busy_pct": round(100 * gpu_s / week_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=12)
    parser.add_argument("--jobs", type=int, default=20, help="jobs for the dispatch overhead")
    parser.add_argument("--photo-s", type=float, default=7.1, help="GPU seconds per feed photo")
    parser.add_argument("--reel-s", type=float, default=90.0, help="GPU seconds per reel")
    parser.add_argument("--reel-share", type=float, default=0.3)
    parser.add_argument("--personas-projected", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    os.environ["HF_HUB_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory(prefix="vibot-scale-") as folder:
        home = Path(folder) / "home"
        make_home(home)
        cluster = RayCluster().start(cpus=2)
        try:
            settings = Settings(  # type: ignore[call-arg]
                home=home, personas_dir=home / "personas", _env_file=None,
                executor="ray", ray_address=cluster.address, ray_asset_cache=Path(folder) / "asset-cache",
            )  # fmt: skip
            app = App(settings)
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            results = {
                "actors_1": throughput(app, 1, args.posts),
                "actors_2": throughput(app, 2, args.posts),
                "dispatch": dispatch_overhead(app, args.jobs),
                "daemon_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "daemon_rss_before_ray_mb": round(rss_before / 1024, 1),
                "daemon_imported_torch": "torch" in sys.modules,
                "projection": projection(args.personas_projected, args.photo_s, args.reel_s, args.reel_share),
            }
        finally:
            import ray

            ray.shutdown()
            cluster.stop()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    one, two = results["actors_1"], results["actors_2"]
    print(
        f"posts/min, 1 actor : {one['posts_per_min']}  (daemon CPU {one['daemon_cpu_ms_per_post']} ms/post)"
    )
    print(
        f"posts/min, 2 actors: {two['posts_per_min']}  (daemon CPU {two['daemon_cpu_ms_per_post']} ms/post)"
    )
    dispatch = results["dispatch"]
    print(f"dispatch overhead per job: median {dispatch['median_ms']} ms, p95 {dispatch['p95_ms']} ms")
    print(f"daemon peak RSS with Ray connected: {results['daemon_peak_rss_mb']} MB (torch imported: "
          f"{results['daemon_imported_torch']})")  # fmt: skip
    print(f"projection: {json.dumps(results['projection'])}")


if __name__ == "__main__":
    main()

"""Generation on a real Ray cluster of two nodes on this machine (`ray start`), with the
persona's files moved through Ray's object store by content hash."""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from sqlmodel import select

from bot.assets import Asset, AssetCache, Slot, describe, persona_assets
from bot.context import App
from bot.executors import RayExecutor
from bot.generation import Generated, generate
from bot.prepare import Batch, brief_of, prepare_batch
from content.errors import GenerationError
from content.images.lora import make_test_lora
from content.persona import load_persona
from storage.db import session_scope
from storage.lifecycle import add_planned
from storage.models import MediaAsset, Post
from tests.support.personas import make_app, persona_data, write_persona
from tests.support.ray_cluster import RayCluster

PERSONAS = ("tess", "mara", "kai")
POSTS_EACH = 4


# --- the asset cache, without Ray ------------------------------------------------------


def test_assets_are_placed_once_by_content_and_checked(tmp_path: Path) -> None:
    folder = tmp_path / "faces"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"face a")
    (folder / "b.png").write_bytes(b"face b")
    asset = describe(folder)
    stored = {item.sha256: (folder / item.name).read_bytes() for item in asset.files}
    fetched: list[str] = []

    def fetch(sha256: str) -> bytes:
        fetched.append(sha256)
        return stored[sha256]

    cache = AssetCache(tmp_path / "cache")
    placed = cache.place(asset, fetch)
    assert sorted(p.name for p in placed.iterdir()) == ["a.png", "b.png"]
    assert (placed / "b.png").read_bytes() == b"face b"
    assert cache.place(asset, fetch) == placed and len(fetched) == 2  # the second time: no fetch
    (folder / "b.png").write_bytes(b"face b, retouched")
    assert describe(folder).key != asset.key  # a changed file is a new asset, never a stale copy

    lying = Asset((describe(folder / "a.png").files[0],), folder=False)
    with pytest.raises(GenerationError, match=r"a\.png: the bytes received do not match its SHA-256"):
        AssetCache(tmp_path / "other").place(lying, lambda _: b"something else")


def test_a_localized_persona_reads_only_the_workers_copies(tmp_path: Path) -> None:
    """Every path generation reads is rewritten, including the default references: the photos
    the LoRA was trained on, found through the record beside the LoRA."""
    from content.training.train import Paths, trained_on

    personas = tmp_path / "personas"
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "one.png").write_bytes(b"png")
    lora = personas / "tess.safetensors"
    personas.mkdir()
    lora.write_bytes(b"lora weights")
    Paths(lora).record.write_text(f'{{"images": "{photos}"}}')
    (personas / "look.cube").write_text("LUT_3D_SIZE 2\n" + "0 0 0\n" * 8)
    look = {"trigger": "t3ss", "base_prompt": "photo", "lora": "tess.safetensors", "identity": {"retries": 0}}
    persona = load_persona(write_persona(personas, appearance=look, pipeline={"post": {"lut": "look.cube"}}))
    assets = persona_assets(persona)
    assert set(assets) == {Slot.LORA, Slot.TRAINED_ON, Slot.LUT}
    blobs = {}
    for path, asset in assets.values():
        for item in asset.files:
            blobs[item.sha256] = (path / item.name if asset.folder else path).read_bytes()
    cache = tmp_path / "worker-cache"
    local = AssetCache(cache).localize(persona, {s: a for s, (_, a) in assets.items()}, blobs.__getitem__)
    assert local.appearance.lora is not None and local.appearance.lora.is_relative_to(cache)
    assert local.pipeline.post.lut is not None and local.pipeline.post.lut.is_relative_to(cache)
    trained = trained_on(local.appearance.lora)
    assert (
        trained is not None and trained.is_relative_to(cache) and (trained / "one.png").read_bytes() == b"png"
    )
    assert persona.appearance.lora == lora  # the daemon's persona is untouched


# --- on a cluster -------------------------------------------------------------------------


@pytest.fixture
def cluster() -> Iterator[RayCluster]:
    import ray

    started = RayCluster()
    try:
        yield started.start(cpus=2)  # room for a second actor when a worker node dies
    finally:
        ray.shutdown()
        started.stop()


def three_personas(home: Path, tiny_model: Path) -> None:
    """Three personas, each with a LoRA of its own (what an actor switches between)."""
    for seed, persona_id in enumerate(PERSONAS):
        lora = make_test_lora(tiny_model, home / "personas" / f"{persona_id}.safetensors", seed=seed)
        data = persona_data(
            id=persona_id,
            appearance={"trigger": f"{persona_id} woman", "base_prompt": "photo", "lora": lora.name},
        )
        (home / "personas" / f"{persona_id}.yaml").write_text(
            yaml.safe_dump({**data, "name": persona_id.title()})
        )


def ray_app(tmp_path: Path, tiny_model: Path, cluster: RayCluster, monkeypatch: pytest.MonkeyPatch) -> App:
    home = tmp_path / "home"
    three_personas(home, tiny_model)
    for name, value in {
        "VIBOT_EXECUTOR": "ray",
        "VIBOT_RAY_ADDRESS": cluster.address,
        "VIBOT_RAY_ACTORS": "2",
        "VIBOT_RAY_ASSET_CACHE": str(tmp_path / "node-cache"),
    }.items():
        monkeypatch.setenv(name, value)
    return make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)


def plan_posts(app: App, each: int, first_seed: int = 0, personas: tuple[str, ...] = PERSONAS) -> list[int]:
    slot = datetime.now(UTC) + timedelta(hours=1)
    rows = [
        {"persona_id": persona_id, "slot_utc": slot + timedelta(minutes=10 * index), "timezone": "UTC",
         "format": "photo", "pillar": "travel", "scene": "harbour at dawn",
         "seed": first_seed + 100 * index + n}
        for n, persona_id in enumerate(personas)
        for index in range(each)
    ]  # fmt: skip
    with session_scope(app.engine) as session:
        return [post.id for post in add_planned(session, rows) if post.id is not None]


def media_rows(app: App) -> Counter[int]:
    with session_scope(app.engine) as session:
        return Counter(asset.post_id for asset in session.exec(select(MediaAsset)))


def statuses(app: App) -> Counter[str]:
    with session_scope(app.engine) as session:
        return Counter(str(post.status) for post in session.exec(select(Post)))


def persona_of(app: App, post_id: int) -> str:
    with session_scope(app.engine) as session:
        post = session.get(Post, post_id)
        assert post is not None
        return post.persona_id


def within(seconds: float, work: Callable[[], Batch]) -> Batch:
    """`work()`, or a failed test after `seconds`: a cluster that hangs must not hang CI (the
    thread is a daemon; the fixture's teardown then stops the cluster under it)."""
    done: Future[Batch] = Future()

    def run() -> None:
        try:
            done.set_result(work())
        except BaseException as err:
            done.set_exception(err)

    threading.Thread(target=run, daemon=True).start()
    return done.result(timeout=seconds)


def pixels(made: Generated) -> list[np.ndarray]:  # type: ignore[type-arg]
    return [np.asarray(Image.open(io.BytesIO(item.data)).convert("RGB")) for item in made.files]


@pytest.mark.slow
def test_two_nodes_prepare_three_personas_match_local_pixels_and_survive_losing_a_node(
    tmp_path: Path, tiny_model: Path, cluster: RayCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One cluster for three checks (starting one costs ~13 CPU-seconds): posts of three
    personas across two nodes, the same pixels as generating here, and a worker node killed
    mid-batch."""
    worker = cluster.add_worker(cpus=1)
    app = ray_app(tmp_path, tiny_model, cluster, monkeypatch)
    executor = RayExecutor(app.settings)
    try:
        assert len(set(executor.nodes())) == 2  # one actor on each node

        # 1. Three personas × four posts, on two nodes, all to review with one set of media each.
        post_ids = plan_posts(app, POSTS_EACH)
        batch = within(180, lambda: prepare_batch(app, post_ids, executor))
        assert sorted(batch.ready) == sorted(post_ids) and not batch.failed and not batch.dropped
        assert statuses(app) == {"in_review": len(post_ids)}
        assert media_rows(app) == dict.fromkeys(post_ids, 1)
        assert len({made_by.rsplit(" node ", 1)[1] for made_by in batch.made_by.values()}) == 2
        for persona_id in PERSONAS:  # a persona stays on its actor, where its LoRA is loaded
            assert len({batch.made_by[i] for i in post_ids if persona_of(app, i) == persona_id}) == 1

        # 2. The same post made here, in this process, as the local executor's worker makes it.
        with session_scope(app.engine) as session:
            post = session.get(Post, post_ids[-1])
            assert post is not None
            brief, persona = brief_of(post), app.persona(post.persona_id)
        through_ray = executor.submit(persona, brief).result(timeout=120)
        here = generate(app.settings, persona, brief)
        for remote, local in zip(pixels(through_ray), pixels(here), strict=True):
            assert np.array_equal(remote, local)
        assert through_ray.records[0]["lora"]["file"].startswith(str(tmp_path / "node-cache"))  # its copy

        # 3. Three posts of a persona on the worker node's actor; the node dies (raylet and
        # all) once the first is in, with the second under way and the third waiting.
        import ray

        head = ray.get_runtime_context().get_node_id()  # this driver's node
        on_worker = next(p for p in PERSONAS if executor.nodes()[executor.lane(p)] != head)
        more = plan_posts(app, 3, first_seed=10_000, personas=(on_worker,))
        killed: list[int] = []

        def kill_after_the_first(post_id: int, error: str | None) -> None:
            if not killed:
                killed.append(cluster.kill_node(worker))  # its actor has jobs under way

        batch = within(180, lambda: prepare_batch(app, more, executor, on_done=kill_after_the_first))
        assert killed and killed[0] > 0
        where = {i: batch.made_by.get(i, "-").rsplit(" node ", 1)[-1] for i in more}
        print(f"killed the worker node ({killed[0]} processes); {batch.resent} resent; by node: {where}")
        assert batch.resent >= 1, "the lost node's jobs were sent again"
        assert sorted(batch.ready) == sorted(more) and not batch.failed
        assert statuses(app) == {"in_review": len(post_ids) + len(more)}
        assert media_rows(app) == dict.fromkeys(post_ids + more, 1)  # no orphans, no second set
    finally:
        executor.close()

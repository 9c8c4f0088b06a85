"""The prepare stage over an executor: lanes, resends after a worker died, and the limit.

The workers here are this process (generation is real, on the tiny model); what fails is
the executor's answer, as bot/executors.py reports a dead local process or Ray actor. The
real deaths are in tests/test_ray.py (a node killed) and tests/test_crash.py."""

from __future__ import annotations

from collections import Counter, OrderedDict
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import select

from bot.assets import Slot
from bot.context import App
from bot.executors import EXECUTORS, LocalExecutor, WorkerLostError
from bot.generation import Generated, PostBrief, generate
from bot.prepare import claim, prepare_batch
from bot.settings import ExecutorKind
from content.persona import Persona
from storage.db import session_scope
from storage.models import MediaAsset, Post
from storage.status import PostStatus
from tests.support.cli import cli_here
from tests.support.posts import planned_post


class DyingWorkers:
    """Generates here; the first `deaths` jobs of each post find their worker dead (or out of
    reach, `unreachable`)."""

    per_lane = 2

    def __init__(self, app: App, deaths: int, unreachable: bool = False) -> None:
        self.app, self.deaths, self.unreachable = app, deaths, unreachable
        self.sent: Counter[int] = Counter()

    def lane(self, persona_id: str) -> int:
        return 0

    def submit(self, persona: Persona, post: PostBrief) -> Future[Generated]:
        self.sent[post.id] += 1
        result: Future[Generated] = Future()
        if self.sent[post.id] <= self.deaths:
            result.set_exception(WorkerLostError("the worker died (test)", unreachable=self.unreachable))
        else:
            result.set_result(generate(self.app.settings, persona, post))
        return result

    def close(self) -> None:
        pass


def media_rows(app: App) -> Counter[int]:
    with session_scope(app.engine) as session:
        return Counter(asset.post_id for asset in session.exec(select(MediaAsset)))


def status_of(app: App, post_id: int) -> tuple[PostStatus, str | None]:
    with session_scope(app.engine) as session:
        post = session.get(Post, post_id)
        assert post is not None
        return post.status, post.review_note


def test_every_executor_kind_has_its_executor() -> None:
    assert set(EXECUTORS) == set(ExecutorKind)
    assert EXECUTORS[ExecutorKind.LOCAL] is LocalExecutor


def test_a_post_whose_worker_died_is_sent_again_and_made_once(sqlite_app: App) -> None:
    app = sqlite_app
    ids = [planned_post(app, datetime.now(UTC) + timedelta(hours=3)) for _ in range(3)]
    executor = DyingWorkers(app, deaths=app.settings.generation_retries)  # the last try lives
    batch = prepare_batch(app, ids, executor)
    assert sorted(batch.ready) == sorted(ids) and not batch.failed
    assert batch.resent == len(ids) * app.settings.generation_retries
    assert all(status_of(app, i)[0] == PostStatus.IN_REVIEW for i in ids)
    assert media_rows(app) == dict.fromkeys(ids, 1)


def test_a_post_whose_workers_keep_dying_fails_with_the_reason(sqlite_app: App) -> None:
    app = sqlite_app
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=3))
    executor = DyingWorkers(app, deaths=99)
    reported: list[tuple[int, str | None]] = []
    batch = prepare_batch(app, [post_id], executor, on_done=lambda i, e: reported.append((i, e)))
    tries = app.settings.generation_retries + 1
    assert executor.sent[post_id] == tries
    status, note = status_of(app, post_id)
    assert status == PostStatus.FAILED
    assert note == f"the worker died (test); sent {tries} times — see the worker's log"
    assert batch.failed == {post_id: note} and reported == [(post_id, note)]
    assert not media_rows(app)


@pytest.mark.slow
def test_an_unreachable_worker_is_asked_again_without_counting_a_death(sqlite_app: App) -> None:
    """A machine that died is out of reach until Ray declares it dead: more tries than the
    death limit, a second apart, and the post still gets made."""
    app = sqlite_app
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=3))
    deaths = app.settings.generation_retries + 2
    executor = DyingWorkers(app, deaths=deaths, unreachable=True)
    batch = prepare_batch(app, [post_id], executor)
    assert batch.ready == [post_id] and executor.sent[post_id] == deaths + 1
    assert status_of(app, post_id)[0] == PostStatus.IN_REVIEW


def test_a_stop_claims_nothing_new_and_finishes_what_is_under_way(sqlite_app: App) -> None:
    app = sqlite_app
    ids = [planned_post(app, datetime.now(UTC) + timedelta(hours=3)) for _ in range(4)]
    executor = DyingWorkers(app, deaths=0)
    done: list[int] = []
    batch = prepare_batch(app, ids, executor, stop=lambda: bool(done), on_done=lambda i, e: done.append(i))
    # Two were sent before the first came back (two per lane); then the stop held the rest.
    assert len(batch.ready) == 2
    assert [status_of(app, i)[0] for i in ids].count(PostStatus.PLANNED) == 2


def test_a_ray_cluster_out_of_reach_is_one_line_and_claims_nothing(
    sqlite_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.pg import _free_port

    app = sqlite_app
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=3))
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    result = cli_here(
        monkeypatch, app.settings.home, "prepare",
        VIBOT_DATABASE_URL=app.settings.db_url, VIBOT_EXECUTOR="ray", VIBOT_RAY_ADDRESS=address,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot reach the Ray cluster at VIBOT_RAY_ADDRESS={address} (")
    assert line.endswith("— start it with 'ray start --head', or set auto, HOST:PORT or ray://HOST:10001")
    assert status_of(app, post_id)[0] == PostStatus.PLANNED  # nothing was claimed


def test_the_local_worker_process_killed_is_a_lost_worker_and_is_replaced(sqlite_app: App) -> None:
    """A real spawned worker, SIGKILLed while it starts: the job reports a lost worker (which
    the prepare stage sends again, as above), and the next job gets a fresh process."""
    import os
    import signal

    app = sqlite_app
    post_id = planned_post(app, datetime.now(UTC) + timedelta(hours=3))
    claimed = claim(app, post_id)
    assert claimed is not None
    executor = LocalExecutor(app.settings)
    try:
        job = executor.submit(claimed.persona, claimed.post)
        assert executor.pool is not None
        first = executor.pool
        (pid,) = first._processes  # the one worker process, still importing
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerLostError, match="the generation worker process died"):
            job.result(timeout=60)
        assert executor.pool is None  # the broken pool is dropped; the next submit starts one
    finally:
        executor.close()


def test_the_daemon_keeps_the_most_recent_persona_files_in_the_object_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within its byte budget; an older file is put again when a job needs it."""
    from bot.assets import describe
    from bot.executors import RayExecutor

    files = {}
    for name in ("a", "b", "c"):
        files[name] = tmp_path / f"{name}.safetensors"
        files[name].write_bytes(name.encode() * 6)
    put: list[bytes] = []
    executor = RayExecutor.__new__(RayExecutor)  # its object store bookkeeping, without a cluster
    executor.ray, executor.objects = SimpleNamespace(put=lambda data: put.append(data) or data), OrderedDict()
    monkeypatch.setattr("bot.executors.OBJECT_BUDGET", 12)  # two files of 6 bytes

    def refs_for(name: str) -> dict[str, Any]:
        return executor._refs({Slot.LORA: (files[name], describe(files[name]))})

    refs_for("a"), refs_for("b"), refs_for("a")  # a is the most recent again
    assert put == [b"aaaaaa", b"bbbbbb"]
    refs_for("c")  # over budget: b, the least recent, goes
    assert list(executor.objects) == [describe(files[n]).key for n in ("a", "c")]
    refs_for("b")
    assert put[-1] == b"bbbbbb" and len(put) == 4

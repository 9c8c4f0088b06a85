"""Executors: where a claimed post's media is generated (VIBOT_EXECUTOR).

The prepare stage (bot/prepare.py) claims and captions a post, hands its brief and its
persona to an executor, and discloses and stores what comes back. An executor runs
`bot.generation.generate` somewhere with the models loaded:

- `local`: one worker process beside the daemon;
- `ray`: a pool of actors on a Ray cluster (vibot[ray]), each keeping its base model loaded
  and switching LoRAs. A persona's posts always go to the same actor (its *lane*), so the
  actor already has that persona's LoRA; each actor holds at most `per_lane` jobs, one
  running and one waiting, so it never idles between posts. Persona files travel through
  Ray's object store by content hash (bot/assets.py): the workers need no shared disk, no
  database and no media store.

A job's future gives its `Generated`, or the error generation raised, or `WorkerLostError`
when the process (or the whole machine) running it died: the prepare stage then sends the
post again, a bounded number of times.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import structlog

from bot.assets import Asset, AssetCache, Slot, persona_assets
from bot.generation import Generated, PostBrief, generate, worker_generate, worker_init
from bot.settings import ExecutorKind, Settings
from content.errors import ConfigError, VibotError
from content.persona import Persona

log = structlog.get_logger(__name__)


class WorkerLostError(VibotError):
    """The worker generating a post died (killed, out of memory, its machine gone), or
    cannot be reached for now (`unreachable`: its machine may be gone, and the cluster has
    not noticed yet)."""

    def __init__(self, message: str, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class Executor(Protocol):
    """Runs generation jobs; see the module's docstring."""

    per_lane: int  # jobs in flight on one lane

    def lane(self, persona_id: str) -> int:
        """The worker this persona's posts go to."""
        ...

    def submit(self, persona: Persona, post: PostBrief) -> Future[Generated]: ...

    def close(self) -> None: ...


def _translated(
    job: Future[Generated], error_of: Callable[[BaseException], BaseException]
) -> Future[Generated]:
    """`job`'s result, or its error as `error_of` says it (a dead worker: WorkerLostError)."""
    result: Future[Generated] = Future()

    def done(finished: Future[Generated]) -> None:
        error = finished.exception()
        if error is not None:
            result.set_exception(error_of(error))
        else:
            result.set_result(finished.result())

    job.add_done_callback(done)
    return result


class InProcessExecutor:
    """Generation in the calling process, one post at a time: `vibot prepare` with the local
    executor, where starting a worker would cost more than a few posts."""

    per_lane = 1

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def lane(self, persona_id: str) -> int:
        return 0

    def submit(self, persona: Persona, post: PostBrief) -> Future[Generated]:
        result: Future[Generated] = Future()
        try:
            result.set_result(generate(self.settings, persona, post))
        except Exception as err:
            result.set_exception(err)
        return result

    def close(self) -> None:
        pass


class LocalExecutor:
    """Today's worker: one spawned process that keeps its models loaded between posts (the
    daemon itself never imports torch). A dead worker is replaced at the next job."""

    per_lane = 1

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool: ProcessPoolExecutor | None = None

    def lane(self, persona_id: str) -> int:
        return 0

    def _pool(self) -> ProcessPoolExecutor:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=worker_init,
                initargs=(self.settings.model_dump(mode="json"),),
            )
        return self.pool

    def _lost(self, error: BaseException) -> BaseException:
        if not isinstance(error, BrokenProcessPool):
            return error
        self.pool = None  # the next job starts a fresh worker
        return WorkerLostError("the generation worker process died (out of memory? see the log)")

    def submit(self, persona: Persona, post: PostBrief) -> Future[Generated]:
        try:
            job = self._pool().submit(worker_generate, persona, post)
        except BrokenProcessPool as err:
            job = Future()
            job.set_exception(err)
        return _translated(job, self._lost)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None


# --- Ray -------------------------------------------------------------------------------


class GenerationActor:
    """A Ray actor: a worker process on some machine of the cluster, with its models loaded.
    It has the settings and nothing else of the daemon's: no database, no media store, no
    signing key."""

    def __init__(self, settings_data: dict[str, Any]) -> None:
        import ray

        self.settings = worker_init(settings_data)
        self.cache = AssetCache(self.settings.ray_asset_cache.expanduser())
        self.node_id = str(ray.get_runtime_context().get_node_id())  # a restart is a new actor
        self.where = f"{socket.gethostname()} pid {os.getpid()} node {self.node_id[:12]}"

    def node(self) -> str:
        return self.node_id

    def generate(
        self, persona: Persona, assets: dict[Slot, Asset], refs: dict[str, Any], post: PostBrief
    ) -> Generated:
        import ray

        def fetch(sha256: str) -> bytes:
            data: bytes = ray.get(refs[sha256])
            return data

        made = generate(self.settings, self.cache.localize(persona, assets, fetch), post)
        return replace(made, made_by=self.where)


def _ray_error(error: BaseException) -> BaseException:
    """What generation raised (Ray wraps it), or WorkerLostError when a process or node died."""
    import ray.exceptions

    if isinstance(error, ray.exceptions.RayTaskError):
        cause = error.cause
        return cause if isinstance(cause, BaseException) else RuntimeError(str(error).splitlines()[0])
    lost = (
        ray.exceptions.RayActorError,
        ray.exceptions.WorkerCrashedError,
        ray.exceptions.NodeDiedError,
        ray.exceptions.ObjectLostError,
        ray.exceptions.OwnerDiedError,
    )
    if isinstance(error, ray.exceptions.ActorUnavailableError):
        return WorkerLostError("the Ray worker generating it cannot be reached", unreachable=True)
    if isinstance(error, lost):
        return WorkerLostError(f"the Ray worker generating it died ({type(error).__name__})")
    return error


def _check_reachable(address: str) -> None:
    """A head that does not answer: a one-line error now (Ray itself retries for minutes)."""
    if address == "auto":
        return  # Ray finds this machine's cluster, or says at once that there is none
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"cannot reach the Ray cluster at VIBOT_RAY_ADDRESS={address} ({err}) — start it with "
            "'ray start --head', or set auto, HOST:PORT or ray://HOST:10001"
        ) from None


# The persona files the daemon keeps in Ray's object store between jobs. Each machine keeps
# its own copies on disk (bot/assets.py) and fetches a file only when it lacks it, so a file
# dropped here costs one local copy at its next job; 500 personas' LoRAs would otherwise all
# stay in the daemon's object store.
OBJECT_BUDGET = 2 << 30


class RayExecutor:
    """A pool of `GenerationActor`s on a Ray cluster; see the module's docstring."""

    per_lane = 2

    def __init__(self, settings: Settings) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("VIBOT_EXECUTOR=ray needs Ray: pip install 'vibot[ray]'") from None
        self.ray: Any = ray  # untyped: Ray's actor handles are not checked
        if not ray.is_initialized():
            started = time.perf_counter()
            _check_reachable(settings.ray_address)
            try:
                ray.init(
                    address=settings.ray_address,
                    namespace="vibot",
                    configure_logging=False,
                    log_to_driver=True,
                )
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise ConfigError(
                    f"cannot reach the Ray cluster at VIBOT_RAY_ADDRESS={settings.ray_address}: "
                    f"{str(err).splitlines()[0]} — start it with 'ray start --head', or fix the address"
                ) from None
            log.info(
                "connected to Ray",
                address=settings.ray_address,
                seconds=round(time.perf_counter() - started, 2),
            )
        gpus = int(self.ray.cluster_resources().get("GPU", 0))
        count = settings.ray_actors or max(gpus, 1)
        resources: dict[str, Any] = {"num_gpus": 1} if gpus else {"num_cpus": settings.ray_actor_cpus}
        actor_class = self.ray.remote(GenerationActor).options(
            **resources,
            max_restarts=-1,  # Ray starts a dead actor again, on any machine with room
            max_task_retries=0,  # the prepare stage decides whether a post is sent again
            scheduling_strategy="SPREAD",
        )
        settings_data = settings.model_dump(mode="json")
        self.actors: list[Any] = [actor_class.remote(settings_data) for _ in range(count)]
        self.lanes: dict[str, int] = {}
        self.objects: OrderedDict[str, tuple[Any, int]] = OrderedDict()  # file hash -> (ref, bytes)
        log.info(
            "Ray actor pool", actors=count, gpus_each=1 if gpus else 0, cpus_each=resources.get("num_cpus")
        )

    def lane(self, persona_id: str) -> int:
        """Personas are spread over the actors as they come, and keep their actor."""
        if persona_id not in self.lanes:
            load = [0] * len(self.actors)
            for taken in self.lanes.values():
                load[taken] += 1
            self.lanes[persona_id] = load.index(min(load))
        return self.lanes[persona_id]

    def _refs(self, assets: dict[Slot, tuple[Path, Asset]]) -> dict[str, Any]:
        """Each file of the persona's assets in the object store, put there once while it is
        among the most recently used `OBJECT_BUDGET` bytes. Dropping a ref here never
        breaks a job: Ray keeps an object alive while a task that was handed it runs."""
        refs = {}
        for path, asset in assets.values():
            for item in asset.files:
                if item.sha256 not in self.objects:
                    source = path / item.name if asset.folder else path
                    self.objects[item.sha256] = (self.ray.put(source.read_bytes()), item.bytes)
                self.objects.move_to_end(item.sha256)
                refs[item.sha256] = self.objects[item.sha256][0]
        while len(self.objects) > 1 and sum(size for _, size in self.objects.values()) > OBJECT_BUDGET:
            self.objects.popitem(last=False)
        return refs

    def submit(self, persona: Persona, post: PostBrief) -> Future[Generated]:
        assets = persona_assets(persona)
        actor = self.actors[self.lane(persona.id)]
        ref = actor.generate.remote(
            persona, {slot: asset for slot, (_, asset) in assets.items()}, self._refs(assets), post
        )
        return _translated(ref.future(), _ray_error)

    def nodes(self) -> list[str]:
        """The node each actor runs on (for tests and `vibot doctor`-like reports)."""
        return [str(node) for node in self.ray.get([actor.node.remote() for actor in self.actors])]

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []
        self.objects.clear()


EXECUTORS: dict[ExecutorKind, Callable[[Settings], Executor]] = {
    ExecutorKind.LOCAL: LocalExecutor,
    ExecutorKind.RAY: RayExecutor,
}
assert set(EXECUTORS) == set(ExecutorKind), "every executor needs its entry here"


def open_executor(settings: Settings) -> Executor:
    return EXECUTORS[settings.executor](settings)

"""A real Ray cluster on 127.0.0.1, started with `ray start` as an operator would: a head
node and worker nodes, each a raylet of its own with a small CPU and memory share.

`--node-ip-address=127.0.0.1` everywhere: left to itself Ray picks this machine's first
interface address, which other processes here cannot reach (FACTS.md)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psutil

from tests.support.pg import _free_port

RAY = Path(os.environ.get("VIRTUAL_ENV", Path(__file__).resolve().parents[2] / ".venv")) / "bin" / "ray"
NODE_MEMORY = str(256 << 20)  # object store per node: plenty for tiny models' media
ENV = {
    **os.environ,
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DEDUP_LOGS": "0",
    # A killed node is declared dead after ~1.5 s instead of Ray's default ~30 s.
    "RAY_health_check_initial_delay_ms": "0",
    "RAY_health_check_period_ms": "500",
    "RAY_health_check_timeout_ms": "500",
    "RAY_health_check_failure_threshold": "3",
    "RAY_prestart_worker_first_driver": "0",  # actors start their own workers: no idle ones
}
# Worker logs stay in the session folder: no log monitor process per node to forward them.
LEAN = ("--include-log-monitor=false", "--disable-usage-stats", f"--object-store-memory={NODE_MEMORY}")


class RayCluster:
    def __init__(self) -> None:
        # Short: Ray's socket paths live under it and a Unix socket path has ~100 bytes.
        self.temp = Path(tempfile.mkdtemp(prefix="vr-", dir="/tmp"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.sessions: list[int] = []  # one per node: its processes, to kill

    def _ray(self, *args: str) -> int:
        """`ray start …` in a session of its own: every process it leaves running (raylet,
        GCS, agents, workers) stays in that session, which is how `kill_node` and `stop`
        find them (`ray stop` would stop every cluster on the machine)."""
        process = subprocess.Popen(
            [str(RAY), *args], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            cwd=self.temp, start_new_session=True,
        )  # fmt: skip
        output, _ = process.communicate(timeout=120)
        if process.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args[:2])} failed: {output[-2000:]}")
        self.sessions.append(process.pid)  # a new session's id is its first process's pid
        return process.pid

    def start(self, cpus: float = 1) -> RayCluster:
        self._ray(
            "start", "--head", "--node-ip-address=127.0.0.1", f"--port={self.port}",
            f"--num-cpus={cpus}", "--num-gpus=0", "--include-dashboard=false", f"--temp-dir={self.temp}",
            f"--ray-client-server-port={_free_port()}", *LEAN,
        )  # fmt: skip
        return self

    def add_worker(self, cpus: float = 1) -> int:
        """A worker node; its session (kill_node it and the node is gone)."""
        return self._ray(
            "start", f"--address={self.address}", "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}",
            "--num-gpus=0", *LEAN,
        )  # fmt: skip

    @staticmethod
    def _in_session(session: int) -> list[psutil.Process]:
        found = []
        for process in psutil.process_iter():
            try:
                if os.getsid(process.pid) == session:
                    found.append(process)
            except (ProcessLookupError, PermissionError):
                continue
        return found

    def kill_node(self, session: int) -> int:
        """The node dies as a machine would: its raylet and every process of it, at once.
        Returns how many processes were killed."""
        processes = self._in_session(session)
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        psutil.wait_procs(processes, timeout=10)
        return len(processes)

    def stop(self) -> None:
        for session in reversed(self.sessions):
            self.kill_node(session)
        shutil.rmtree(self.temp, ignore_errors=True)

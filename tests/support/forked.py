"""`vibot` runs forked from one process that imported vibot once, for the crash tests.

They kill dozens of `vibot publish` runs with SIGKILL. A fresh interpreter spends ~1.2 s
of each importing before the first step that matters, and the tests' random moments
would mostly land there. Each run here is still a process of its own, started from the
same clean state (nothing opened before the fork) and killed by a real SIGKILL; the
final run of each test stays a fresh interpreter."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Mapping
from types import TracebackType

# The forking process: reads one JSON argument list a line, forks a run of `vibot ARGS`,
# answers its pid, then its exit code (negative: the signal that ended it).
ZYGOTE = r"""
import atexit, json, os, sys
from bot.cli import main

answers = os.fdopen(os.dup(1), "w", buffering=1)
for line in sys.stdin:
    args = json.loads(line)
    pid = os.fork()
    if pid == 0:
        quiet = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(quiet, fd)
        code = 0
        try:
            main(args)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except BaseException:
            code = 1
        atexit._run_exitfuncs()
        os._exit(code)
    answers.write(f"{pid}\n")
    _, status = os.waitpid(pid, 0)
    answers.write(f"{os.waitstatus_to_exitcode(status)}\n")
"""


class Zygote:
    """Starts `vibot ARGS` runs in the environment `env`, one at a time."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE], env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests, self.answers = self.process.stdin, self.process.stdout.fileno()
        self.pending = b""

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        with self.process:  # closes both pipes and waits
            self.process.kill()

    def start(self, *args: str) -> Run:
        self.requests.write(json.dumps(list(args)).encode() + b"\n")
        self.requests.flush()
        return Run(self, int(self.line(timeout=60)))

    def line(self, timeout: float | None) -> str | None:
        """The next answer; None when none came within `timeout` seconds."""
        while b"\n" not in self.pending:
            ready, _, _ = select.select([self.answers], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.answers, 4096)
            if not chunk:
                raise RuntimeError(f"the forking process exited ({self.process.wait()})")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return line.decode()


class Run:
    """One forked run, with the parts of `subprocess.Popen` the crash tests use."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self.zygote, self.pid = zygote, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            answer = self.zygote.line(timeout=0)
            self.returncode = int(answer) if answer is not None else None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            answer = self.zygote.line(timeout)
            if answer is None:
                raise subprocess.TimeoutExpired(f"vibot run {self.pid}", timeout or 0)
            self.returncode = int(answer)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile: its code is on its way
                os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

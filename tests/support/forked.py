"""`vibot` runs forked from one process that imported vibot once, for the crash tests.

They kill dozens of `vibot` runs with SIGKILL. A fresh interpreter spends ~1.2 s of CPU
on each importing before the first step that matters, and the tests' random moments
would mostly land there. Each run here is still a process of its own, started from the
same clean state (nothing opened before the fork) and killed by a real SIGKILL; each
test's final run stays a fresh interpreter."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

# The forking process. Each request line is {"args": [...], "log": path or null}; it forks
# a run of `vibot ARGS` (stderr to the log, or nowhere) and answers "started PID", and
# "ended PID CODE" when that run ends (CODE negative: the signal that ended it). Several
# runs may be alive at once.
ZYGOTE = r"""
import atexit, json, os, signal, sys
from bot.cli import main
import bot.daemon, bot.publishing  # what the runs import anyway: once, here

answers = os.dup(1)  # written with os.write: one atomic pipe write a line, safe in the handler

def reap(*_):
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        os.write(answers, f"ended {pid} {os.waitstatus_to_exitcode(status)}\n".encode())

signal.signal(signal.SIGCHLD, reap)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the run reaps its own children
        quiet = os.open(os.devnull, os.O_RDWR)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND) if request["log"] else quiet
        for fd, target in ((0, quiet), (1, quiet), (2, log)):
            os.dup2(target, fd)
        code = 0
        try:
            main(request["args"])
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except BaseException:
            code = 1
        atexit._run_exitfuncs()
        os._exit(code)
    os.write(answers, f"started {pid}\n".encode())
"""


class Zygote:
    """Starts `vibot ARGS` runs in the environment `env`."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE], env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.requests, self.answers = self.process.stdin, self.process.stdout.fileno()
        self.pending = b""
        self.started: list[int] = []
        self.ended: dict[int, int] = {}

    def __enter__(self) -> Zygote:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for pid in self.started:
            if pid not in self.ended:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with self.process:  # closes both pipes and waits
            self.process.kill()

    def start(self, *args: str, log: Path | None = None) -> Run:
        request = {"args": list(args), "log": str(log) if log else None}
        self.requests.write(json.dumps(request).encode() + b"\n")
        self.requests.flush()
        count = len(self.started)
        deadline = time.monotonic() + 60
        while len(self.started) == count:
            if not self.read(deadline - time.monotonic()):
                raise RuntimeError("the forking process did not start the run")
        return Run(self, self.started[-1])

    def read(self, timeout: float) -> bool:
        """Take in the answers that come within `timeout` seconds; False if none came."""
        ready, _, _ = select.select([self.answers], [], [], max(timeout, 0))
        if not ready:
            return False
        chunk = os.read(self.answers, 4096)
        if not chunk:
            raise RuntimeError(f"the forking process exited ({self.process.wait()})")
        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        for line in lines:
            kind, pid, *code = line.decode().split()
            if kind == "started":
                self.started.append(int(pid))
            else:
                self.ended[int(pid)] = int(code[0])
        return True


class Run:
    """One forked run, with the parts of `subprocess.Popen` the crash tests use."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self.zygote, self.pid = zygote, pid

    @property
    def returncode(self) -> int | None:
        return self.zygote.ended.get(self.pid)

    def poll(self) -> int | None:
        while self.returncode is None and self.zygote.read(0):
            pass
        return self.returncode

    def wait(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            if not self.zygote.read(deadline - time.monotonic()) and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"vibot run {self.pid}", timeout)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile: its code is on its way
                os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

"""The command line as a user runs it: a subprocess with its own environment."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def cli(home: Path, *args: str, personas: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "VIBOT_HOME": str(home),
        "VIBOT_PERSONAS_DIR": str(personas or home / "personas"),
        "VIBOT_LOG_LEVEL": "WARNING",
        **env,
    }
    environment.pop("VIBOT_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=home,
        check=False,
        timeout=300,
    )


def cli_here(
    monkeypatch: pytest.MonkeyPatch, home: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    """`vibot ARGS` as `cli` runs it — same entry point, environment, working folder, exit
    status and output — but in this process, without a Python start-up (~1.5 s) per call.
    For tests of what the command says; `cli` stays for the ones about whole processes."""
    from bot.cli import main
    from bot.settings import get_settings

    out, err = io.StringIO(), io.StringIO()
    get_settings.cache_clear()  # read once per process: here, once per call
    with monkeypatch.context() as patch:
        patch.chdir(home)
        patch.delenv("VIBOT_DATABASE_URL", raising=False)
        settings = {"VIBOT_HOME": str(home), "VIBOT_PERSONAS_DIR": str(home / "personas")}
        for name, value in {**settings, "VIBOT_LOG_LEVEL": "WARNING", **env}.items():
            patch.setenv(name, value)
        patch.setattr("sys.stdin", io.StringIO(stdin))
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
                code = 0
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
            finally:
                get_settings.cache_clear()
    return subprocess.CompletedProcess(["vibot", *args], code, out.getvalue(), err.getvalue())

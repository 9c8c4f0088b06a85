"""Things built once per test run and read by every xdist worker: the first worker to need
one builds it under a file lock in the run's shared temporary folder, the others wait for it.
Tests only read them (or copy them); a module- or session-scoped fixture alone is built
once per worker, which on two workers means twice."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def run_folder(factory: pytest.TempPathFactory) -> Path:
    """This run's folder, shared by its xdist workers. Each worker's temporary folder sits in
    it; without xdist the parent would be every run's, and a later run would reuse things
    an older version of the code built (or posts whose slots have passed)."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """The path `name` in this run's shared folder, made by `build(path)` the first time."""
    shared = run_folder(factory) / "built-once"
    shared.mkdir(exist_ok=True)
    path = shared / name
    done = shared / f"{name}.done"
    with FileLock(f"{path}.lock"):
        if not done.exists():
            if path.is_dir():
                shutil.rmtree(path)  # half built by a killed run
            path.unlink(missing_ok=True)
            build(path)
            done.touch()
    return path

"""Named locks that span processes (and, on PostgreSQL, machines).

SQLite: an exclusive `flock` on a file beside the database.
PostgreSQL: a session-level advisory lock held on a dedicated connection.
Either is released by the operating system or the server when the holder
dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from content.errors import LockHeldError


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"vibot:{name}".encode()).digest()[:8], "big", signed=True)


def _lock_file(engine: sa.Engine, name: str) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise LockHeldError("an in-memory database cannot be shared, so it cannot be locked")
    return Path(f"{database}.{name}.lock")


@contextmanager
def _file_lock(path: Path, name: str, wait_s: float) -> Iterator[None]:
    handle = path.open("a+")
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise LockHeldError(f"the {name} lock is held by {holder}") from None
                time.sleep(0.05)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        yield
    finally:
        handle.close()


@contextmanager
def _advisory_lock(engine: sa.Engine, name: str, wait_s: float) -> Iterator[None]:
    key = _advisory_key(name)
    deadline = time.monotonic() + wait_s
    with engine.connect() as connection:
        while not connection.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            connection.rollback()
            if time.monotonic() >= deadline:
                raise LockHeldError(f"the {name} lock is held by another vibot process")
            time.sleep(0.05)
        connection.commit()
        try:
            yield
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            connection.commit()


@contextmanager
def hold_lock(engine: sa.Engine, name: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the named lock for the block; LockHeldError if it stays taken for `wait_s`."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, name, wait_s):
            yield
    else:
        with _file_lock(_lock_file(engine, name), name, wait_s):
            yield

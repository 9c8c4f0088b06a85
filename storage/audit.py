"""The audit trail: an append-only, hash-chained JSON-lines log of every generation,
approval, edit, rejection and publication — who, when, file hashes, model and LoRA
hashes, seed, permalink.

A file and a database cannot share a transaction, so a line is written in two steps and a
crash can never split a state change from its line:

1. `record(session, …)` adds an `audit_entries` row in the same database transaction as
   the state change it describes: both commit, or neither does.
2. `write_log(engine, path)` appends the committed rows the file does not have yet, under
   an exclusive lock on the file, then marks them logged. Every operation calls it after
   committing. A crash in between leaves rows that the next call appends: a line can be
   late, never missing, and never there without its state change.

Each line holds the SHA-256 of the line before it (`prev`) and of itself without its own
hash (`hash`), so an edited, removed or reordered line breaks the chain at that line.
`verify_log` also compares every line with its database row.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import AuditEntry

GENESIS = "0" * 64  # the `prev` of the first line


def record(session: Session, kind: str, post_id: int | None, by: str, **data: Any) -> None:
    """An audit entry, committed with the caller's transaction."""
    session.add(AuditEntry(kind=kind, post_id=post_id, actor=by, data=json.dumps(data, sort_keys=True)))


def _canonical(line: dict[str, Any]) -> bytes:
    return json.dumps(line, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def line_for(entry: AuditEntry, prev: str) -> dict[str, Any]:
    """The log line of an entry, chained to the line before it."""
    line = {
        "seq": entry.id,
        "at": entry.at.isoformat(),
        "kind": entry.kind,
        "post": entry.post_id,
        "by": entry.actor,
        "data": json.loads(entry.data),
        "prev": prev,
    }
    line["hash"] = hashlib.sha256(_canonical(line)).hexdigest()
    return line


@contextmanager
def _locked(path: Path) -> Iterator[Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # one writer at a time: daemon, web and CLI alike
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(handle: Any, lines: int) -> list[dict[str, Any]]:
    """The last `lines` lines of the log (at least the last one), parsed."""
    handle.seek(0, os.SEEK_END)
    size, block, data = handle.tell(), 1 << 16, b""
    while size > 0 and data.count(b"\n") <= lines:
        step = min(block, size)
        size -= step
        handle.seek(size)
        data = handle.read(step) + data
    return [json.loads(raw) for raw in data.splitlines()[-lines:] if raw.strip()]


def _drop_torn_line(handle: Any) -> None:
    """A writer killed mid-append can leave half a line; its entries are still unlogged in
    the database, so the half goes and they are written again whole."""
    end = handle.seek(0, os.SEEK_END)
    if end == 0:
        return
    handle.seek(end - 1)
    if handle.read(1) == b"\n":
        return
    handle.seek(max(0, end - (1 << 20)))
    data = handle.read()
    handle.truncate(end - len(data) + data.rfind(b"\n") + 1)


def write_log(engine: sa.Engine, path: Path) -> int:
    """Append every committed entry the log lacks, in order; how many were appended."""
    with Session(engine, expire_on_commit=False) as session:
        pending = list(
            session.exec(
                select(AuditEntry).where(col(AuditEntry.logged).is_(False)).order_by(col(AuditEntry.id))
            )
        )
    if not pending:
        return 0
    with _locked(path) as handle:
        _drop_torn_line(handle)
        tail = _tail(handle, len(pending) + 1)
        already = {line["seq"] for line in tail}  # appended by a writer that died before marking them
        prev = tail[-1]["hash"] if tail else GENESIS
        fresh = [entry for entry in pending if entry.id not in already]
        lines = []
        for entry in fresh:
            line = line_for(entry, prev)
            lines.append(_canonical(line) + b"\n")
            prev = line["hash"]
        handle.seek(0, os.SEEK_END)
        handle.write(b"".join(lines))
        handle.flush()
        os.fsync(handle.fileno())
        with Session(engine) as session:
            session.execute(
                sa.update(AuditEntry)
                .where(col(AuditEntry.id).in_([entry.id for entry in pending]))
                .values(logged=True)
            )
            session.commit()
    return len(fresh)


@dataclass(frozen=True)
class Verdict:
    lines: int
    problem: str | None  # the first bad line and what is wrong with it; None: the log holds

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_log(engine: sa.Engine, path: Path) -> Verdict:
    """Walk the chain; the first line that was edited, removed, reordered or that differs
    from its database row is named."""
    if not path.exists():
        return Verdict(0, None)
    with Session(engine) as session:
        rows = {entry.id or 0: entry for entry in session.exec(select(AuditEntry).where(AuditEntry.logged))}
    prev, seen = GENESIS, set()
    number = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            try:
                line = json.loads(raw)
                claimed = line.pop("hash")
            except (ValueError, KeyError, AttributeError):
                return Verdict(number, f"{where}: not a log line (edited?)")
            if hashlib.sha256(_canonical(line)).hexdigest() != claimed:
                return Verdict(number, f"{where}: its content does not match its hash (edited)")
            if line.get("prev") != prev:
                return Verdict(
                    number, f"{where}: it does not follow the line before (a line removed or moved)"
                )
            entry = rows.get(line.get("seq"))
            if entry is None or line_for(entry, prev)["hash"] != claimed:
                return Verdict(number, f"{where}: it differs from the database's entry {line.get('seq')}")
            seen.add(line["seq"])
            prev = claimed
    missing = sorted(set(rows) - seen)
    if missing:
        return Verdict(number, f"{path}: entry {missing[0]} is in the database but not in the log (removed)")
    return Verdict(number, None)


def export_lines(path: Path, since: datetime | None) -> Iterator[str]:
    """The log's lines from `since` on, as they are in the file."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for raw in handle:
            if since is None or datetime.fromisoformat(json.loads(raw)["at"]) >= since:
                yield raw.rstrip("\n")

"""The media store: files named by their SHA-256 under VIBOT_HOME/media.

A file is written to a temporary name, flushed to disk and renamed into
place, so a crash never leaves a half-written file under a real name, and
the same bytes are stored once however often they are added.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from content.errors import NotFoundError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredFile:
    relative_path: str
    sha256: str
    bytes: int


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def add(self, source: Path) -> StoredFile:
        """Copy `source` into the store (its suffix is kept) and return where it lives."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".incoming-", delete=False) as out:
            with source.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        relative = f"{sha[:2]}/{sha}{source.suffix.lower()}"
        final = self.root / relative
        final.parent.mkdir(exist_ok=True)
        os.replace(out.name, final)
        return StoredFile(relative, sha, final.stat().st_size)

    def path(self, relative_path: str) -> Path:
        """The file for a stored path; refuses anything that points outside the store."""
        root = self.root.resolve()
        candidate = (root / relative_path).resolve()
        if root not in candidate.parents:
            raise NotFoundError(f"'{relative_path}' is not in the media store")
        return candidate

    def remove_incoming(self) -> None:
        """Delete temporary files left by a crash."""
        for leftover in self.root.glob(".incoming-*"):
            leftover.unlink(missing_ok=True)

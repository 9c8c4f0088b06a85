"""The outbox publisher: a local stand-in for a platform.

Each publish appends one JSON line to `outbox/published.jsonl` with a new
remote id, in a single `write` on an O_APPEND file, then fsync. A SIGKILL
can still cut that write where it crosses a page of the file (Linux stops a
write between pages for a fatal signal), so a torn last line is possible: it
is not a publication (readers skip it, and the post is sent again), and the
next write starts on a fresh line.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bot.publishers import InFlight, Progress, PublishRequest, Registration, RemoteMedia, UrlFor, no_progress
from bot.settings import Settings
from content.errors import PublishError
from content.persona import Persona
from content.platforms.instagram import OutboxAccount


class OutboxPublisher:
    name = "outbox"
    ai_flag = "none (the caption line and the visible label)"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.log_path = directory / "published.jsonl"

    def publish(self, request: PublishRequest, progress: Progress = no_progress) -> RemoteMedia:
        published_at = datetime.now(UTC)
        remote_id = f"outbox-{uuid.uuid4().hex[:16]}"
        record = {
            "remote_id": remote_id,
            "post_id": request.post_id,
            "persona": request.persona_id,
            "format": request.format,
            "marker": request.marker,
            "caption": request.caption,
            "is_ai_generated": True,  # the flag the platform it stands in for (Instagram) is sent
            "media_sha256": request.media_sha256,
            "published_at": published_at.isoformat(),
        }
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.log_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(descriptor).st_size
                if size and os.pread(descriptor, 1, size - 1) != b"\n":
                    line = b"\n" + line  # never glue a record onto a torn one
                os.write(descriptor, line)
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        except OSError as err:
            raise PublishError(f"cannot write the outbox {self.log_path}: {err.strerror}") from err
        return RemoteMedia(remote_id, request.marker, request.caption, published_at)

    def close(self) -> None:
        """Nothing to release."""

    def find(self, in_flight: InFlight) -> RemoteMedia | None:
        """The outbox keeps vibot's marker with each record: the attempt's own line or none."""
        for media in self.recent_media(in_flight.persona_id, in_flight.started_at):
            if media.marker == in_flight.marker:
                return media
        return None

    def recent_media(self, persona_id: str, since: datetime) -> list[RemoteMedia]:
        try:
            raw = self.log_path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as err:
            raise PublishError(f"cannot read the outbox {self.log_path}: {err.strerror}") from err
        found = []
        for line in raw.splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a crash is not a publication
            published_at = datetime.fromisoformat(record["published_at"])
            if record["persona"] == persona_id and published_at >= since:
                found.append(
                    RemoteMedia(record["remote_id"], record.get("marker"), record["caption"], published_at)
                )
        return found


def build(account: OutboxAccount, persona: Persona, settings: Settings, url_for: UrlFor) -> OutboxPublisher:
    return OutboxPublisher(settings.outbox_dir)


REGISTRATION = Registration(OutboxAccount, build)

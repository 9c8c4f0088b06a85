"""Publishers: where approved posts go.

A publisher publishes one post and can list what the account published
recently, each item carrying the marker vibot gave it. That second call is
what makes exactly-once possible: after a crash, vibot looks for the marker
before it ever publishes again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from bot.settings import Settings
from content.errors import ConfigError
from content.persona import Persona


@dataclass(frozen=True)
class PublishRequest:
    post_id: int
    persona_id: str
    format: str
    caption: str
    media: list[Path]  # in order; a reel's cover comes last
    media_sha256: list[str]
    marker: str  # the attempt id; the publisher must be able to find it again


@dataclass(frozen=True)
class RemoteMedia:
    remote_id: str
    marker: str | None
    caption: str
    published_at: datetime
    permalink: str | None = None


class Publisher(Protocol):
    name: str

    def publish(self, request: PublishRequest) -> RemoteMedia: ...

    def recent_media(self, persona_id: str, since: datetime) -> list[RemoteMedia]: ...


def find_by_marker(publisher: Publisher, persona_id: str, marker: str, since: datetime) -> RemoteMedia | None:
    return next((m for m in publisher.recent_media(persona_id, since) if m.marker == marker), None)


def publisher_for(persona: Persona, settings: Settings) -> Publisher:
    if persona.account.publisher == "outbox":
        from bot.publishers.outbox import OutboxPublisher

        return OutboxPublisher(settings.outbox_dir)
    raise ConfigError(f"publisher '{persona.account.publisher}' is not available in this version")

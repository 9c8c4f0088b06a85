"""Publishers: where approved posts go.

A publisher publishes one post and can list what the account published
recently, each item carrying the marker vibot gave it. That second call is
what makes exactly-once possible: after a crash, vibot looks for the marker
before it ever publishes again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
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

    def close(self) -> None: ...


def find_published(
    publisher: Publisher, persona_id: str, marker: str, caption: str, since: datetime
) -> RemoteMedia | None:
    """The account's post made by this attempt: by vibot's marker where the platform keeps
    one, otherwise by the exact caption (each caption is unique: the planner never repeats a
    scene within its window, and the caption stage refuses near-duplicates)."""
    for media in publisher.recent_media(persona_id, since):
        if media.marker == marker or (media.marker is None and media.caption == caption):
            return media
    return None


def publisher_for(persona: Persona, settings: Settings, url_for: Callable[[int, str], str]) -> Publisher:
    """The persona's publisher; `url_for(post_id, sha256)` gives a public URL for a media file."""
    if persona.account.publisher == "outbox":
        from bot.publishers.outbox import OutboxPublisher

        return OutboxPublisher(settings.outbox_dir)
    if persona.account.publisher == "graph":
        from bot.publishers.graph import GraphConfig, GraphPublisher

        account = persona.account
        return GraphPublisher(
            GraphConfig(
                base_url=settings.graph_api_url,
                version=settings.graph_api_version,
                ig_user_id=_from_env(persona, "user_id_env", account.user_id_env),
                access_token=_from_env(persona, "token_env", account.token_env),
                request_timeout_s=settings.graph_request_timeout_s,
            ),
            url_for,
        )
    if persona.account.publisher == "instagrapi":
        from bot.publishers.private import PrivateConfig, PrivatePublisher

        account = persona.account
        return PrivatePublisher(
            PrivateConfig(
                username=_from_env(persona, "username_env", account.username_env),
                password=_from_env(persona, "password_env", account.password_env),
                settings_path=settings.home / "sessions" / f"{persona.id}.json",
                totp_seed=os.environ.get(account.totp_seed_env) if account.totp_seed_env else None,
                proxy=os.environ.get(account.proxy_env) if account.proxy_env else None,
            )
        )
    raise ConfigError(f"publisher '{persona.account.publisher}' is not available in this version")


def _from_env(persona: Persona, key: str, name: str | None) -> str:
    if name is None:
        raise ConfigError(
            f"persona {persona.id} publishes with {persona.account.publisher} — set account.{key} in its file"
        )
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"persona {persona.id}: the environment variable {name} (account.{key}) is not set")
    return value

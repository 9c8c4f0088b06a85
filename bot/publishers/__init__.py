"""Publishers: where approved posts go.

A publisher publishes one post and, after a crash, tells whether an attempt went out. For
that it reports a *handle* — its own record of what it created on the platform — before the
step that cannot be undone (Graph API: the media container before `media_publish`), and vibot
stores it with the attempt. Reconciliation starts from that handle, never from the caption:
two posts may share a caption, and a caption match alone once claimed another post's
publication. Only when the handle says "published" is the remote media looked up, and never
one that another post has already claimed.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from bot.settings import Settings
from content.errors import ConfigError
from content.persona import Persona
from content.platforms import AccountBase, account_models


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


@dataclass(frozen=True)
class InFlight:
    """An attempt that died mid-publish, as vibot recorded it."""

    persona_id: str
    marker: str  # the attempt id
    caption: str
    started_at: datetime
    handle: str | None  # what the publisher reported before its irreversible step; None: not reached
    claimed: frozenset[str]  # remote ids other posts of this persona already own


Progress = Callable[[str], None]  # the publisher's handle, stored before the irreversible step


def no_progress(handle: str) -> None:
    """For a publish call whose handle nobody needs to keep (tests, one-off tools)."""


class Publisher(Protocol):
    name: str
    ai_flag: str  # how this publisher tells the platform a post is AI-made, recorded per publication

    def publish(self, request: PublishRequest, progress: Progress = no_progress) -> RemoteMedia: ...

    def find(self, in_flight: InFlight) -> RemoteMedia | None:
        """The media this attempt published, or None when it did not publish; raises
        PublishError when the platform cannot tell (a person then decides)."""
        ...

    def close(self) -> None: ...


def first_unclaimed(candidates: list[RemoteMedia], in_flight: InFlight) -> RemoteMedia | None:
    """Of the account's media with this attempt's caption since it started, the earliest that
    no other post owns (the attempt's own media is the first one after its start)."""
    # Platforms give whole seconds (Instagram: 2026-11-30T15:12:07+0000): a post made in the
    # second the attempt began must still count, so the start is cut to its second too.
    since = in_flight.started_at.replace(microsecond=0)
    matching = [
        media
        for media in candidates
        if media.caption == in_flight.caption
        and media.remote_id not in in_flight.claimed
        and media.published_at >= since
    ]
    return min(matching, key=lambda media: media.published_at, default=None)


UrlFor = Callable[[int, str], str]  # (post id, sha256) → a public URL of that media file


@dataclass(frozen=True)
class Registration:
    """A publisher module's entry in the registry: the account section it reads (whose
    `publisher:` Literal is the publisher's name) and how to build it from that section."""

    account: type[AccountBase]
    build: Callable[[Any, Persona, Settings, UrlFor], Publisher]

    @property
    def name(self) -> str:
        return self.account.publisher_name()


@cache
def registry() -> dict[str, Registration]:
    """Every publisher, by name: each module of this package that defines REGISTRATION.
    A new publisher is a new module; nothing here lists them."""
    found: dict[str, Registration] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        registration = getattr(module, "REGISTRATION", None)
        if isinstance(registration, Registration):
            found[registration.name] = registration
    missing = set(account_models()) - set(found)
    if missing:
        raise RuntimeError(f"content/platforms describes publishers with no module here: {sorted(missing)}")
    return dict(sorted(found.items()))


def publisher_for(persona: Persona, account: AccountBase, settings: Settings, url_for: UrlFor) -> Publisher:
    """The publisher for one of the persona's accounts; `url_for(post_id, sha256)` gives a
    public URL for a media file."""
    registration = registry().get(account.publisher)
    if registration is None:
        raise ConfigError(f"publisher '{account.publisher}' is not available in this version")
    return registration.build(account, persona, settings, url_for)


def from_env(persona: Persona, account: AccountBase, key: str, name: str | None) -> str:
    """The secret in the environment variable `name`, which the account's `key` names."""
    where = f"accounts[{persona.accounts.index(account)}]" if account in persona.accounts else "account"
    if name is None:
        raise ConfigError(
            f"persona {persona.id} publishes with {account.publisher} — set {where}.{key} in its file"
        )
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"persona {persona.id}: the environment variable {name} ({where}.{key}) is not set")
    return value

"""Public media URLs for platforms that fetch media by URL (the Instagram Graph API).

A URL names one media file of one post and expires:

    {VIBOT_PUBLIC_BASE_URL}/public/media/{token}
    token = base64url(post id, sha256 of the file, expiry) . base64url(HMAC-SHA256)

The HMAC key is `VIBOT_PUBLIC_URL_SECRET`, or a random key made once in
`VIBOT_HOME/secrets/public-url.key` (mode 0600). The server looks the file up by
post id and hash in the database, never by a path from the URL, so a token can
reach nothing but the media of an approved post, and only until it expires.
"""

from __future__ import annotations

import hmac
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import select

from bot.context import App
from bot.signing import b64, key_file, mac, unb64
from storage.db import session_scope
from storage.media import PRESIGNED_URL_S, DiskMediaStore
from storage.models import MediaAsset, Post
from storage.status import PostStatus

TOKEN_SECONDS = 6 * 3600  # long enough for Meta to fetch a large reel, short enough to be useless later
SERVABLE = (PostStatus.APPROVED, PostStatus.PUBLISHING, PostStatus.NEEDS_RECONCILE)


@dataclass(frozen=True)
class MediaToken:
    post_id: int
    sha256: str
    expires: int


def signing_key(app: App) -> bytes:
    configured = app.settings.public_url_secret
    if configured is not None:
        return configured.get_secret_value().encode()
    return key_file(app.settings.home / "secrets" / "public-url.key")


def make_token(
    key: bytes, post_id: int, sha256: str, ttl_s: int = TOKEN_SECONDS, now: float | None = None
) -> str:
    expires = int((now if now is not None else time.time()) + ttl_s)
    body = struct.pack(">IQ", post_id, expires) + bytes.fromhex(sha256)
    return f"{b64(body)}.{b64(mac(key, body))}"


def read_token(key: bytes, token: str, now: float | None = None) -> MediaToken | None:
    """The token's content if it is genuine and unexpired, else None."""
    try:
        body_text, signature_text = token.split(".")
        body, signature = unb64(body_text), unb64(signature_text)
    except ValueError:
        return None
    if len(body) != 44 or not hmac.compare_digest(signature, mac(key, body)):
        return None
    post_id, expires = struct.unpack(">IQ", body[:12])
    if expires < (now if now is not None else time.time()):
        return None
    return MediaToken(post_id, body[12:].hex(), expires)


def public_url(app: App, post_id: int, sha256: str) -> str:
    """Where a platform fetches one of a post's files: the media store's own URL (a
    presigned S3 GET), else vibot's public media server."""
    if not isinstance(app.media, DiskMediaStore):
        with session_scope(app.engine) as session:
            asset = session.exec(
                select(MediaAsset).where(MediaAsset.post_id == post_id, MediaAsset.sha256 == sha256)
            ).first()
        direct = app.media.url(asset.path, PRESIGNED_URL_S) if asset is not None else None
        if direct is not None:
            return direct
    base = app.settings.public_base_url
    if base is None:
        from content.errors import ConfigError

        raise ConfigError(
            "the Graph API fetches media by URL — set VIBOT_PUBLIC_BASE_URL to where vibot's web "
            "server is reachable from the internet (e.g. https://vibot.example.com)"
        )
    return f"{base.rstrip('/')}/public/media/{make_token(signing_key(app), post_id, sha256)}"


def resolve(app: App, token: str) -> tuple[Path, str] | None:
    """The file and MIME type a token grants, or None (unknown, expired, not approved)."""
    found = read_token(signing_key(app), token)
    if found is None:
        return None
    with session_scope(app.engine) as session:
        post = session.get(Post, found.post_id)
        if post is None or post.status not in SERVABLE:
            return None
        asset = session.exec(
            select(MediaAsset).where(MediaAsset.post_id == found.post_id, MediaAsset.sha256 == found.sha256)
        ).first()
    if asset is None:
        return None
    return app.media.path(asset.path), asset.mime

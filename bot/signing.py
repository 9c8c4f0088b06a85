"""Server keys and the HMAC-signed values made with them (public media URLs, the login form's
CSRF token, reviewers' device cookies).

A key is made once in `VIBOT_HOME/secrets/` (mode 0600) and read once per process. Decoding is
strict: a token with one character added, removed or changed, or written with padding, is not
the token that was issued, so it is refused before the MAC is even looked at.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import time
from functools import cache
from pathlib import Path

_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*$")


@cache
def key_file(path: Path) -> bytes:
    """The key in `path`, made once: read from disk once per process, not per request."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return path.read_bytes()
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    """Unpadded base64url, exactly as `b64` writes it; ValueError for anything else."""
    if not _BASE64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as err:
        raise ValueError(str(err)) from None
    if b64(raw) != text:  # unused low bits set: another spelling of the same bytes
        raise ValueError("not the canonical spelling")
    return raw


def mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()


def seal(key: bytes, purpose: str, value: str, ttl_s: float, now: float | None = None) -> str:
    """`value` signed for one purpose until `ttl_s` from now: readable, not forgeable."""
    expires = int((now if now is not None else time.time()) + ttl_s)
    body = f"{purpose}|{expires}|{value}".encode()
    return f"{b64(body)}.{b64(mac(key, body))}"


def unseal(key: bytes, purpose: str, token: str, now: float | None = None) -> str | None:
    """The value `seal` signed for this purpose, or None (forged, expired, other purpose)."""
    try:
        body_text, signature_text = token.split(".")
        body, signature = unb64(body_text), unb64(signature_text)
        stated, expires, value = body.decode().split("|", 2)
        expired = int(expires) < (now if now is not None else time.time())
    except ValueError:
        return None
    if not hmac.compare_digest(signature, mac(key, body)) or stated != purpose or expired:
        return None
    return value

"""Reviewers, their passwords and their browser sessions.

Passwords are hashed with argon2id (argon2-cffi's defaults: 64 MiB, 3 passes — memory-hard,
so a stolen database is slow to crack on GPUs). A session is a random token in an HttpOnly
cookie; the database keeps only its SHA-256 and a CSRF token that every form sends back.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from hmac import compare_digest

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import col, delete, select

from bot.context import App
from bot.signing import key_file, seal, unseal
from content.errors import NotFoundError, UserError
from storage.db import read_scope, session_scope
from storage.models import WebSession, WebUser, utcnow

HASHER = PasswordHasher()
# Checked against when the name is unknown, so a login takes as long either way and the
# timing does not tell which names exist.
_DUMMY_HASH = HASHER.hash("not a password of anyone")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 10


@dataclass(frozen=True)
class Reviewer:
    name: str
    csrf_token: str


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise UserError(
            f"reviewer name '{name}': use 1–64 letters, digits, '.', '_', '-' or '@', starting with a "
            "letter or digit"
        )


def add_user(app: App, name: str, password: str, replace: bool = False) -> None:
    check_name(name)
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password is {len(password)} characters; use at least {MIN_PASSWORD}")
    with session_scope(app.engine) as session:
        existing = session.get(WebUser, name)
        if existing is not None and not replace:
            raise UserError(
                f"reviewer '{name}' exists — pass --replace to set a new password (their sessions end)"
            )
        if existing is not None:
            session.execute(delete(WebSession).where(col(WebSession.user_name) == name))
            existing.password_hash = HASHER.hash(password)
            session.add(existing)
        else:
            session.add(WebUser(name=name, password_hash=HASHER.hash(password)))


def remove_user(app: App, name: str) -> None:
    with session_scope(app.engine) as session:
        user = session.get(WebUser, name)
        if user is None:
            raise NotFoundError(f"no reviewer '{name}' — see 'vibot web users'")
        session.execute(delete(WebSession).where(col(WebSession.user_name) == name))
        session.delete(user)


def list_users(app: App) -> list[WebUser]:
    with session_scope(app.engine) as session:
        return list(session.exec(select(WebUser).order_by(col(WebUser.name))))


def authenticate(app: App, name: str, password: str) -> bool:
    with session_scope(app.engine) as session:
        user = session.get(WebUser, name) if NAME.match(name) else None
        stored = user.password_hash if user is not None else _DUMMY_HASH
        try:
            HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
        if user is None:
            return False
        if HASHER.check_needs_rehash(stored):  # parameters raised since it was set
            user.password_hash = HASHER.hash(password)
        user.last_login_at = utcnow()
        session.add(user)
    return True


def web_key(app: App) -> bytes:
    """The key that signs the login form's CSRF tokens and reviewers' device cookies."""
    return key_file(app.settings.home / "secrets" / "web.key")


LOGIN_TOKEN_S = 3600.0
DEVICE_COOKIE_S = 180 * 86400.0


def login_token(app: App) -> str:
    """The login form's CSRF token: random, signed with the server's key, valid for an hour."""
    return seal(web_key(app), "login", secrets.token_urlsafe(16), LOGIN_TOKEN_S)


def login_token_ok(app: App, sent: str, cookie: str) -> bool:
    """The form's token is the one in its cookie, and this server issued it (not expired)."""
    return bool(cookie) and compare_digest(sent, cookie) and unseal(web_key(app), "login", sent) is not None


def device_cookie(app: App, name: str) -> str:
    """OWASP's device cookie: proof that this browser once logged in as `name`."""
    return seal(web_key(app), "device", f"{name.lower()}|{secrets.token_urlsafe(12)}", DEVICE_COOKIE_S)


def known_device(app: App, cookie: str | None, name: str) -> str | None:
    """The device's id when `cookie` is a device cookie of `name`, else None."""
    value = unseal(web_key(app), "device", cookie) if cookie else None
    if value is None:
        return None
    owner, _, device = value.partition("|")
    return device if owner == name.lower() else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(app: App, name: str) -> str:
    """The only session of `name` from now on; returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with session_scope(app.engine) as session:
        session.execute(delete(WebSession).where(col(WebSession.expires_at) < now))
        # A new login ends the reviewer's other sessions: a browser left logged in elsewhere
        # (a shared computer) does not stay usable for hours after they log in again here.
        session.execute(delete(WebSession).where(col(WebSession.user_name) == name))
        session.add(
            WebSession(
                token_sha256=_digest(token),
                user_name=name,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + timedelta(hours=app.settings.web_session_hours),
            )
        )
    return token


def reviewer_for(app: App, token: str) -> Reviewer | None:
    with read_scope(app.engine) as session:
        found = session.get(WebSession, _digest(token))
        if found is None or found.expires_at < utcnow():
            return None
        return Reviewer(found.user_name, found.csrf_token)


def end_session(app: App, token: str) -> None:
    with session_scope(app.engine) as session:
        session.execute(delete(WebSession).where(col(WebSession.token_sha256) == _digest(token)))


class LoginLimiter:
    """At most `attempts` logins per key (client address, name, known device) in a sliding window.

    An attempt is counted under the lock *before* its password is checked, so parallel requests
    cannot all slip in before the first failure is recorded; a success forgives it afterwards.
    In memory: one web server per database is the supported set-up; a restart forgets, which
    costs an attacker a restart they cannot cause.
    """

    def __init__(self, attempts: int, window_s: float = 900.0) -> None:
        self.attempts, self.window_s = attempts, window_s
        self.failures: dict[str, deque[float]] = {}
        self.lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self.failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def _forget_old(self, now: float) -> None:
        """Drop keys with no attempt inside the window: random names cannot grow memory."""
        for key in [k for k, times in self.failures.items() if not times or times[-1] <= now - self.window_s]:
            del self.failures[key]

    def attempt(self, keys: list[str], now: float | None = None) -> float:
        """Count one attempt on every key and return 0 (go on: check the password), or, when
        a key is at its limit, count nothing and return the seconds until one is allowed."""
        now = time.monotonic() if now is None else now
        with self.lock:
            waits = [
                times[0] + self.window_s - now
                for key in keys
                if len(times := self._recent(key, now)) >= self.attempts
            ]
            if waits:
                return max(waits)
            if len(self.failures) > 10_000:
                self._forget_old(now)
            for key in keys:
                times = self._recent(key, now)
                times.append(now)
                self.failures[key] = times
            return 0.0

    def succeeded(self, clear: list[str], refund: list[str]) -> None:
        """A login worked: forget every attempt on `clear`; take back this one on `refund`."""
        with self.lock:
            for key in clear:
                self.failures.pop(key, None)
            for key in refund:
                times = self.failures.get(key)
                if times:
                    times.pop()

"""The YouTube publisher: a reel as a Short, through the Data API v3's resumable upload.

    quota check (per project and day) ─► start an upload session (the video's metadata,
    status.containsSyntheticMedia: true) ─► store the session URL ─► send the bytes ─►
    the video resource: its id and the Short's permalink

Exactly once: starting a session publishes nothing, and its URL is stored before the one
step that does, sending the bytes. After a crash, `find` asks the session itself
(`Content-Range: bytes */SIZE`, the documented status query): a finished upload answers
with its video, an unfinished one with 308, so the post is sent again only when YouTube
has nothing. No caption matching is needed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bot.publishers import (
    InFlight,
    Progress,
    PublishRequest,
    Registration,
    RemoteMedia,
    UrlFor,
    from_env,
    no_progress,
)
from bot.settings import Settings
from content.errors import AccountHeldError, PublishError, PublishRejectedError, RateLimitedError
from content.persona import Persona
from content.platforms.youtube import TITLE_LIMIT, UPLOAD_UNITS, YouTubeAccount

PACIFIC = ZoneInfo("America/Los_Angeles")  # YouTube's quota day starts at midnight Pacific time
QUOTA_REASONS = ("quotaExceeded", "rateLimitExceeded", "userRateLimitExceeded", "uploadLimitExceeded")


@dataclass(frozen=True)
class YouTubeConfig:
    base_url: str
    access_token: str
    privacy: str
    quota_per_day: int
    quota_file: Path  # units spent, per project and quota day
    project: str
    request_timeout_s: float = 60.0


def quota_day(now: datetime) -> str:
    return now.astimezone(PACIFIC).date().isoformat()


def seconds_to_next_quota_day(now: datetime) -> float:
    local = now.astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), PACIFIC)
    return max(60.0, (midnight - local).total_seconds())


def title_of(caption: str) -> str:
    """The Short's title: the caption's first line after the disclosure line, or the
    disclosure line itself; YouTube refuses '<' and '>' and more than 100 characters."""
    lines = [line.strip() for line in caption.splitlines() if line.strip()]
    body = lines[1:] if len(lines) > 1 else lines
    title = (body[0] if body else "vibot short").replace("<", "").replace(">", "")
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1].rstrip() + "…"


class YouTubePublisher:
    name = "youtube"
    ai_flag = "status.containsSyntheticMedia=true"

    def __init__(
        self, config: YouTubeConfig, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.config, self.clock = config, clock
        self.http = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            timeout=config.request_timeout_s,
            headers={"Authorization": f"Bearer {config.access_token}"},
        )

    def close(self) -> None:
        self.http.close()

    # --- quota -----------------------------------------------------------------------

    def _spent(self) -> dict[str, dict[str, int]]:
        try:
            spent: dict[str, dict[str, int]] = json.loads(self.config.quota_file.read_text())
        except (OSError, ValueError):
            return {}
        return spent

    def _spend(self, units: int) -> None:
        spent = self._spent()
        day = quota_day(self.clock())
        per_day = spent.setdefault(self.config.project, {})
        per_day[day] = per_day.get(day, 0) + units
        spent[self.config.project] = {d: n for d, n in per_day.items() if d >= day}  # today's only
        self.config.quota_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.config.quota_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(spent))
        os.replace(temporary, self.config.quota_file)

    def quota_left(self) -> int:
        used = self._spent().get(self.config.project, {}).get(quota_day(self.clock()), 0)
        return self.config.quota_per_day - used

    # --- requests --------------------------------------------------------------------

    def _checked(self, response: httpx.Response, what: str) -> httpx.Response:
        if response.status_code < 400 or response.status_code == 308:
            return response
        try:
            error = response.json().get("error") or {}
        except ValueError:
            error = {}
        reasons = [str(e.get("reason")) for e in error.get("errors") or [] if isinstance(e, dict)]
        message = str(error.get("message") or f"HTTP {response.status_code}")
        if response.status_code == 401:
            raise AccountHeldError(
                f"YouTube refused the access token ({message}) — renew it and update the persona's "
                "token variable; the account is held until then"
            )
        if response.status_code in (403, 429) and any(reason in QUOTA_REASONS for reason in reasons):
            raise RateLimitedError(
                f"YouTube quota: {', '.join(reasons)}", retry_after_s=seconds_to_next_quota_day(self.clock())
            )
        if response.status_code >= 500:
            raise PublishError(f"YouTube could not {what}: HTTP {response.status_code} {message}")
        raise PublishRejectedError(
            f"YouTube refused to {what} ({', '.join(reasons) or response.status_code}): {message}"
        )

    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, url, **kwargs)
        except httpx.TransportError as err:
            raise PublishError(f"YouTube unreachable while trying to {what}: {type(err).__name__}") from None
        return self._checked(response, what)

    # --- publishing ------------------------------------------------------------------

    def publish(self, request: PublishRequest, progress: Progress = no_progress) -> RemoteMedia:
        if request.format != "reel":
            raise PublishRejectedError(f"YouTube takes Shorts only, not {request.format} posts")
        if self.quota_left() < UPLOAD_UNITS:
            raise RateLimitedError(
                f"the project's YouTube quota for today ({self.config.quota_per_day} units) is used up",
                retry_after_s=seconds_to_next_quota_day(self.clock()),
            )
        video = request.media[0]
        size = video.stat().st_size
        metadata = {
            "snippet": {
                "title": title_of(request.caption),
                "description": request.caption,
                "categoryId": "22",
            },
            "status": {
                "privacyStatus": self.config.privacy,
                "containsSyntheticMedia": True,
                "selfDeclaredMadeForKids": False,
            },
        }
        started = datetime.now(UTC)
        session = self._request(
            "POST",
            "/upload/youtube/v3/videos",
            "start the upload",
            params={"uploadType": "resumable", "part": "snippet,status"},
            json=metadata,
            headers={"X-Upload-Content-Length": str(size), "X-Upload-Content-Type": "video/mp4"},
        )
        session_url = session.headers.get("Location")
        if not session_url:
            raise PublishError("YouTube started an upload but named no session URL")
        self._spend(UPLOAD_UNITS)
        progress(session_url)  # stored before the bytes: only they publish
        try:
            done = self._request(
                "PUT",
                session_url,
                "upload the video",
                content=video.read_bytes(),
                headers={"Content-Type": "video/mp4"},
            )
        except (RateLimitedError, AccountHeldError, PublishRejectedError):
            raise
        except PublishError as err:
            raise PublishError(f"the upload was sent but not answered ({err}); reconciling") from None
        return self._remote(done.json(), request.marker, request.caption, started)

    def _remote(
        self, video: dict[str, Any], marker: str | None, caption: str, started: datetime
    ) -> RemoteMedia:
        video_id = str(video["id"])
        return RemoteMedia(video_id, marker, caption, started, f"https://www.youtube.com/shorts/{video_id}")

    # --- reconciliation --------------------------------------------------------------

    def find(self, in_flight: InFlight) -> RemoteMedia | None:
        if in_flight.handle is None:
            return None  # died before its session existed: nothing was sent
        try:
            answer = self.http.put(in_flight.handle, headers={"Content-Range": "bytes */*"}, content=b"")
        except httpx.TransportError as err:
            raise PublishError(
                f"YouTube unreachable while checking an upload: {type(err).__name__}"
            ) from None
        if answer.status_code == 308:
            return None  # the session has not got every byte: nothing was published
        if answer.status_code in (404, 410):
            raise PublishError(
                "the upload session is gone, so YouTube cannot say whether it finished — check the "
                "channel and settle the post"
            )
        self._checked(answer, "check an upload")
        return self._remote(answer.json(), in_flight.marker, in_flight.caption, in_flight.started_at)


def build(account: YouTubeAccount, persona: Persona, settings: Settings, url_for: UrlFor) -> YouTubePublisher:
    config = YouTubeConfig(
        base_url=settings.api_url("youtube"),
        access_token=from_env(persona, account, "token_env", account.token_env),
        privacy=account.privacy,
        quota_per_day=account.quota_per_day,
        quota_file=settings.home / "quota" / "youtube.json",
        project=account.project,
    )
    return YouTubePublisher(config)


REGISTRATION = Registration(YouTubeAccount, build)

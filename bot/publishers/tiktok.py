"""The TikTok publisher: the Content Posting API v2's Direct Post, over httpx.

    creator_info (the privacy levels this creator may use) ─►
    reel:  video/init (FILE_UPLOAD, is_aigc) ─► store publish_id ─► PUT the bytes ─► status
    photo: content/init (PULL_FROM_URL, is_aigc) ─► status

Exactly once. A video init publishes nothing until every byte arrives, so its publish_id
is stored before the upload, and after a crash `find` asks status/fetch: fewer bytes than
the file means nothing will be published (the post is sent again); all of them, and the
post is or will be TikTok's. A photo init pulls from vibot's URLs and publishes by itself,
so the attempt is marked before it; a crash in between leaves nothing to ask, and the post
is held for a person rather than risk a second copy.

Errors: an invalid or expired token holds the account; `rate_limit_exceeded` and
`spam_risk_too_many_posts` cool it down; `unaudited_client_can_only_post_to_private_accounts`
and a privacy level the creator lacks are refused with the fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
from content.platforms.tiktok import TikTokAccount

TOKEN_ERRORS = {
    "access_token_invalid",
    "access_token_expired",
    "scope_not_authorized",
    "token_not_authorized",
}
WAIT_ERRORS = {  # error code → how long to cool down, in seconds
    "rate_limit_exceeded": 60.0,
    "spam_risk_too_many_posts": 24 * 3600.0,
    "spam_risk_user_banned_from_posting": 24 * 3600.0,
}
PHOTO_MARK = "photo-init"  # the handle of a photo attempt that may have reached TikTok


@dataclass(frozen=True)
class TikTokConfig:
    base_url: str
    access_token: str
    privacy: str
    request_timeout_s: float = 60.0
    poll_first_s: float = 2.0
    poll_limit_s: float = 300.0


class TikTokPublisher:
    name = "tiktok"
    ai_flag = "is_aigc=true"

    def __init__(
        self,
        config: TikTokConfig,
        url_for: UrlFor,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self.url_for, self.sleep, self.clock = config, url_for, sleep, clock
        self.http = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            timeout=config.request_timeout_s,
            headers={"Authorization": f"Bearer {config.access_token}"},
        )

    def close(self) -> None:
        self.http.close()

    # --- requests --------------------------------------------------------------------

    def _post(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        try:
            response = self.http.post(path, json=body)
        except httpx.TransportError as err:
            raise PublishError(f"TikTok unreachable while trying to {what}: {type(err).__name__}") from None
        try:
            answer: dict[str, Any] = response.json()
        except ValueError:
            answer = {}
        error = answer.get("error") or {}
        code = str(error.get("code") or ("ok" if response.status_code < 400 else response.status_code))
        if code == "ok":
            data: dict[str, Any] = answer.get("data") or {}
            return data
        message = str(error.get("message") or code)
        if code in TOKEN_ERRORS or response.status_code == 401:
            raise AccountHeldError(
                f"TikTok refused the access token ({code}) — renew it and update the persona's token "
                "variable; the account is held until then"
            )
        if code in WAIT_ERRORS or response.status_code == 429:
            raise RateLimitedError(f"TikTok asks to wait ({code})", retry_after_s=WAIT_ERRORS.get(code, 60.0))
        if code == "unaudited_client_can_only_post_to_private_accounts":
            raise PublishRejectedError(
                "TikTok lets an unaudited app post only privately — set account.privacy: SELF_ONLY, or "
                "have the app audited"
            )
        if response.status_code >= 500:
            raise PublishError(f"TikTok could not {what}: {code} {message}")
        raise PublishRejectedError(f"TikTok refused to {what} ({code}): {message}")

    # --- publishing ------------------------------------------------------------------

    def _check_privacy(self) -> dict[str, Any]:
        creator = self._post("/v2/post/publish/creator_info/query/", {}, "read the creator's settings")
        offered = creator.get("privacy_level_options") or []
        if self.config.privacy not in offered:
            raise PublishRejectedError(
                f"this TikTok account cannot post as {self.config.privacy} — set account.privacy to one of "
                f"{', '.join(offered) or 'the levels TikTok offers it'}"
            )
        return creator

    def publish(self, request: PublishRequest, progress: Progress = no_progress) -> RemoteMedia:
        self._check_privacy()
        started = datetime.now(UTC)
        post_info = {"title": request.caption, "privacy_level": self.config.privacy, "is_aigc": True}
        if request.format == "reel":
            video = request.media[0]
            size = video.stat().st_size
            source = {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": size, "total_chunk_count": 1}
            init = self._post(
                "/v2/post/publish/video/init/",
                {"post_info": post_info, "source_info": source},
                "start the upload",
            )
            publish_id, upload_url = str(init["publish_id"]), str(init["upload_url"])
            progress(f"{publish_id} {size}")  # stored before the bytes: only they publish
            self._upload(upload_url, video.read_bytes())
        else:
            urls = [self.url_for(request.post_id, sha) for sha in request.media_sha256]
            photo_info = {
                "title": request.caption[:90],
                "description": request.caption,
                "privacy_level": self.config.privacy,
                "is_aigc": True,
            }
            source = {"source": "PULL_FROM_URL", "photo_cover_index": 0, "photo_images": urls}
            body = {
                "post_info": photo_info,
                "source_info": source,
                "post_mode": "DIRECT_POST",
                "media_type": "PHOTO",
            }
            progress(PHOTO_MARK)  # the init publishes by itself: marked before it
            publish_id = str(
                self._post("/v2/post/publish/content/init/", body, "post the photos")["publish_id"]
            )
        status = self._wait(publish_id)
        return self._remote(status, publish_id, request.marker, request.caption, started)

    def _upload(self, url: str, data: bytes) -> None:
        headers = {"Content-Type": "video/mp4", "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"}
        try:
            response = self.http.put(url, content=data, headers=headers)
        except httpx.TransportError as err:
            raise PublishError(
                f"the upload to TikTok was sent but not answered ({type(err).__name__}); reconciling"
            ) from None
        if response.status_code not in (200, 201):
            raise PublishError(f"TikTok answered the upload with HTTP {response.status_code}; reconciling")

    def _status(self, publish_id: str) -> dict[str, Any]:
        return self._post(
            "/v2/post/publish/status/fetch/", {"publish_id": publish_id}, "read the post's status"
        )

    def _wait(self, publish_id: str) -> dict[str, Any]:
        deadline, interval = self.clock() + self.config.poll_limit_s, self.config.poll_first_s
        while True:
            status = self._status(publish_id)
            if status.get("status") == "PUBLISH_COMPLETE":
                return status
            if status.get("status") == "FAILED":
                raise PublishRejectedError(f"TikTok could not publish the post: {status.get('fail_reason')}")
            if self.clock() + interval > deadline:
                raise PublishError(
                    f"TikTok was still processing post {publish_id} after the limit; reconciling"
                )
            self.sleep(interval)
            interval = min(interval * 1.5, 20.0)

    def _remote(
        self, status: dict[str, Any], publish_id: str, marker: str | None, caption: str, started: datetime
    ) -> RemoteMedia:
        post_ids = status.get("publicaly_available_post_id") or []  # sic: TikTok's spelling
        remote_id = str(post_ids[0]) if post_ids else publish_id
        permalink = f"https://www.tiktok.com/video/{post_ids[0]}" if post_ids else None
        return RemoteMedia(remote_id, marker, caption, started, permalink)

    # --- reconciliation --------------------------------------------------------------

    def find(self, in_flight: InFlight) -> RemoteMedia | None:
        if in_flight.handle is None:
            return None  # died before the init: nothing reached TikTok
        if in_flight.handle == PHOTO_MARK:
            raise PublishError(
                "a photo post may have reached TikTok before vibot learnt its id — check the account "
                "and settle the post"
            )
        publish_id, _, size = in_flight.handle.partition(" ")
        status = self._status(publish_id)
        state = status.get("status")
        if state == "PUBLISH_COMPLETE":
            return self._remote(status, publish_id, in_flight.marker, in_flight.caption, in_flight.started_at)
        if state == "FAILED":
            return None  # TikTok dropped it: nothing is on the account
        if int(status.get("uploaded_bytes") or 0) < int(size or 1):
            return None  # not every byte arrived: it will never publish
        raise PublishError("TikTok has the whole upload and is still processing it; the next pass asks again")


def build(account: TikTokAccount, persona: Persona, settings: Settings, url_for: UrlFor) -> TikTokPublisher:
    config = TikTokConfig(
        settings.api_url("tiktok"),
        from_env(persona, account, "token_env", account.token_env),
        account.privacy,
    )
    return TikTokPublisher(config, url_for)


REGISTRATION = Registration(TikTokAccount, build)

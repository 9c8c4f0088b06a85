"""The Instagram Graph API publisher (business and creator accounts), over httpx.

    quota (content_publishing_limit) ─► container(s) with is_ai_generated ─► poll status_code
    ─► media_publish ─► permalink

Meta fetches every file from a public URL (bot/public_media.py). Errors become
outcomes: a spec error (subcode 2207xxx) means "not published, fix the post"; a rate
limit means "not published, cool the account down"; an invalid token means "hold the
account, a person must act"; anything after `media_publish` was sent is unclear. The
container id is vibot's handle, stored before `media_publish`: the next pass asks the
container itself (`PUBLISHED`, or `FINISHED`/`EXPIRED`/`ERROR`: not published) before it
looks for the media, so a post that shares its caption with another is never mistaken for it.
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
    first_unclaimed,
    from_env,
    no_progress,
)
from bot.settings import Settings
from content.errors import AccountHeldError, PublishError, PublishRejectedError, RateLimitedError
from content.persona import Persona
from content.platforms.instagram import GraphAccount
from content.platforms.threads import ThreadsAccount


@dataclass(frozen=True)
class ContainerFlow:
    """Meta's container protocol as one platform names it: Instagram's Graph API and the
    Threads API share the steps (create, poll, publish, list) under different names."""

    platform: str  # for messages
    create_edge: str
    publish_edge: str
    limit_edge: str
    status_field: str  # the container's status code
    poll_fields: str  # what a poll asks for: the code and the reason when it failed
    caption_param: str
    list_fields: str


INSTAGRAM_FLOW = ContainerFlow(
    "Instagram", "media", "media_publish", "content_publishing_limit", "status_code", "status_code,status",
    "caption", "id,caption,timestamp,permalink",
)  # fmt: skip

RATE_LIMIT_CODES = {4, 17, 32, 613}  # app, user, page and custom-level throttling
PUBLISHING_LIMIT_SUBCODE = 2207042
TOKEN_CODES = {190, 102}


@dataclass(frozen=True)
class GraphConfig:
    base_url: str
    version: str
    ig_user_id: str
    access_token: str
    request_timeout_s: float = 30.0
    poll_first_s: float = 2.0
    poll_max_s: float = 20.0
    container_timeout_s: float = 600.0  # a long reel can take minutes to process
    retries: int = 3  # for 5xx and network errors before media_publish


class GraphPublisher:
    name = "graph"
    ai_flag = "is_ai_generated=true"
    flow = INSTAGRAM_FLOW

    def __init__(
        self,
        config: GraphConfig,
        url_for: Callable[[int, str], str],
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self.url_for, self.sleep, self.clock = config, url_for, sleep, clock
        self.http = httpx.Client(
            base_url=f"{config.base_url.rstrip('/')}/{config.version}", timeout=config.request_timeout_s
        )

    def close(self) -> None:
        self.http.close()

    # --- requests --------------------------------------------------------------------

    def _call(self, method: str, path: str, params: dict[str, Any], retry: bool = True) -> dict[str, Any]:
        params = {**params, "access_token": self.config.access_token}
        delay = 1.0
        for attempt in range(self.config.retries + 1 if retry else 1):
            try:
                if method == "GET":
                    response = self.http.get(path, params=params)
                else:
                    response = self.http.post(path, data=params)
            except httpx.TransportError as err:
                if not retry or attempt == self.config.retries:
                    raise PublishError(
                        f"{self.flow.platform} API unreachable: {type(err).__name__}"
                    ) from None
                self.sleep(delay)
                delay *= 2
                continue
            if response.status_code >= 500 and retry and attempt < self.config.retries:
                self.sleep(delay)
                delay *= 2
                continue
            return self._checked(response)
        raise AssertionError("unreachable")

    def _checked(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        error = body.get("error")
        if response.status_code < 400 and not error:
            return body
        error = error or {}
        code, subcode = error.get("code"), error.get("error_subcode")
        message = error.get("error_user_msg") or error.get("message") or f"HTTP {response.status_code}"
        platform = self.flow.platform
        if code in TOKEN_CODES:
            raise AccountHeldError(
                f"the {platform} access token was refused ({message}) — renew it and update the "
                "persona's token variable; the account is held until then"
            )
        if response.status_code == 429 or code in RATE_LIMIT_CODES or subcode == PUBLISHING_LIMIT_SUBCODE:
            raise RateLimitedError(f"{platform} rate limit: {message}", retry_after_s=_retry_after(response))
        if isinstance(subcode, int) and 2207000 <= subcode < 2208000:
            raise PublishRejectedError(f"{platform} refused the media ({subcode}): {message}")
        if response.status_code >= 500:
            raise PublishError(f"{platform} API error {response.status_code}: {message}")
        raise PublishRejectedError(f"{platform} API refused the request ({code}/{subcode}): {message}")

    # --- publishing ------------------------------------------------------------------

    def quota_left(self) -> int:
        body = self._call(
            "GET", f"/{self.config.ig_user_id}/{self.flow.limit_edge}", {"fields": "quota_usage,config"}
        )
        entry = (body.get("data") or [{}])[0]
        total = int((entry.get("config") or {}).get("quota_total", 0))
        return total - int(entry.get("quota_usage", 0))

    def publish(self, request: PublishRequest, progress: Progress = no_progress) -> RemoteMedia:
        if self.quota_left() <= 0:
            raise RateLimitedError("the account's 24-hour publishing quota is used up", retry_after_s=3600.0)
        container = self._containers(request)
        self._wait(container)
        progress(container)  # stored before the one call that cannot be taken back
        started = datetime.now(UTC)
        try:
            # Not retried: a second media_publish could publish twice. An unclear answer
            # leaves the post in `publishing`, and reconciliation looks for it.
            published = self._call(
                "POST",
                f"/{self.config.ig_user_id}/{self.flow.publish_edge}",
                {"creation_id": container},
                retry=False,
            )
        except (RateLimitedError, AccountHeldError, PublishRejectedError):
            raise
        except PublishError as err:
            raise PublishError(
                f"{self.flow.publish_edge} was sent but not answered ({err}); reconciling"
            ) from None
        media_id = str(published["id"])
        permalink = self._call("GET", f"/{media_id}", {"fields": "permalink"}).get("permalink")
        return RemoteMedia(media_id, request.marker, request.caption, started, permalink)

    def _containers(self, request: PublishRequest) -> str:
        user = self.config.ig_user_id
        urls = [self.url_for(request.post_id, sha) for sha in request.media_sha256]
        common = {"caption": request.caption, "is_ai_generated": "true"}
        if request.format == "reel":
            video, *cover = urls
            params = {**common, "media_type": "REELS", "video_url": video, "share_to_feed": "true"}
            if cover:
                params["cover_url"] = cover[0]
            return str(self._call("POST", f"/{user}/media", params)["id"])
        if request.format == "carousel":
            # is_ai_generated belongs to the parent only; children carry no caption either.
            children = [
                str(
                    self._call("POST", f"/{user}/media", {"image_url": url, "is_carousel_item": "true"})["id"]
                )
                for url in urls
            ]
            for child in children:
                self._wait(child)
            params = {**common, "media_type": "CAROUSEL", "children": ",".join(children)}
            return str(self._call("POST", f"/{user}/media", params)["id"])
        return str(self._call("POST", f"/{user}/media", {**common, "image_url": urls[0]})["id"])

    def _wait(self, container: str) -> None:
        """Poll the container until FINISHED, with growing intervals, up to a limit."""
        deadline = self.clock() + self.config.container_timeout_s
        interval = self.config.poll_first_s
        while True:
            body = self._call("GET", f"/{container}", {"fields": self.flow.poll_fields})
            status = body.get(self.flow.status_field)
            if status == "FINISHED":
                return
            if status == "PUBLISHED":
                raise PublishRejectedError(f"the media container {container} was already published")
            if status in ("ERROR", "EXPIRED"):
                detail = body.get("error_message") or body.get("status") or status
                raise PublishRejectedError(f"{self.flow.platform} could not process the media: {detail}")
            if self.clock() + interval > deadline:
                raise PublishError(f"the media container {container} was still {status} after the limit")
            self.sleep(interval)
            interval = min(interval * 1.5, self.config.poll_max_s)

    # --- reconciliation --------------------------------------------------------------

    def find(self, in_flight: InFlight) -> RemoteMedia | None:
        if in_flight.handle is None:
            return None  # died before its container was ready: media_publish was never sent
        field = self.flow.status_field
        status = self._call("GET", f"/{in_flight.handle}", {"fields": field}).get(field)
        if status in ("FINISHED", "EXPIRED", "ERROR", "IN_PROGRESS"):
            return None  # the container exists but was never published
        if status != "PUBLISHED":
            raise PublishError(f"the media container {in_flight.handle} answered status {status!r}")
        found = first_unclaimed(self.recent_media(in_flight.started_at), in_flight)
        if found is None:
            raise PublishError(
                f"the media container {in_flight.handle} was published, but no unclaimed post on the "
                "account has its caption — check the account and settle the post"
            )
        return found

    def recent_media(self, since: datetime) -> list[RemoteMedia]:
        body = self._call(
            "GET",
            f"/{self.config.ig_user_id}/{self.flow.create_edge}",
            {"fields": self.flow.list_fields, "limit": 50},
        )
        found = []
        for item in body.get("data", []):
            published = datetime.strptime(item["timestamp"], "%Y-%m-%dT%H:%M:%S%z")
            if published >= since.replace(microsecond=0):  # Meta's timestamps are whole seconds
                text = item.get(self.flow.caption_param) or ""
                found.append(RemoteMedia(str(item["id"]), None, text, published, item.get("permalink")))
        return found


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(60.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return 900.0  # Meta rarely says; a quarter of an hour is its usual window


def container_config(
    base_url: str, version: str, account: GraphAccount | ThreadsAccount, persona: Persona, settings: Settings
) -> GraphConfig:
    """A Meta account's config: the user id and token from the environment variables it names."""
    return GraphConfig(
        base_url=base_url,
        version=version,
        ig_user_id=from_env(persona, account, "user_id_env", account.user_id_env),
        access_token=from_env(persona, account, "token_env", account.token_env),
        request_timeout_s=settings.graph_request_timeout_s,
    )


def build(account: GraphAccount, persona: Persona, settings: Settings, url_for: UrlFor) -> GraphPublisher:
    config = container_config(
        settings.api_url("graph"), settings.graph_api_version, account, persona, settings
    )
    return GraphPublisher(config, url_for)


REGISTRATION = Registration(GraphAccount, build)

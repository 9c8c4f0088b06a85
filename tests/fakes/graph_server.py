"""A fake Instagram Graph API on 127.0.0.1 speaking the content-publishing protocol:

    GET  /{v}/{ig}/content_publishing_limit      quota
    POST /{v}/{ig}/media                          a container; Meta fetches image_url/video_url
    GET  /{v}/{container}?fields=status_code      IN_PROGRESS … FINISHED | ERROR; PUBLISHED once used
    POST /{v}/{ig}/media_publish                  creation_id → media id
    GET  /{v}/{media}?fields=permalink
    GET  /{v}/{ig}/media                          the account's recent media
    GET  /{v}/{media}/insights?metric=…           per-post insights (v22: a retired metric
                                                  refuses the whole request; #10 for too few viewers)
    GET  /{v}/{ig}/insights?metric=…&period=day   account insights, as total_value
    GET  /{v}/{ig}?fields=followers_count

Like Meta, it downloads every media URL it is given and records what it received, so
tests can check the bytes that left vibot. Errors are injected per call.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes import serve

VERSION = "v22.0"


@dataclass
class Container:
    id: str
    params: dict[str, str]
    fetched_sha256: list[str]
    polls_left: int
    outcome: str = "FINISHED"  # or an error status


@dataclass(frozen=True)
class Names:
    """What Meta calls each step on one platform (the Threads API renames the Graph API's)."""

    version: str
    create: str
    publish: str
    limit: str
    status: str  # the container's status field
    caption: str
    permalink: str


INSTAGRAM = Names(VERSION, "media", "media_publish", "content_publishing_limit", "status_code", "caption",
                  "https://www.instagram.com/p/FAKE{}/")  # fmt: skip
THREADS = Names("v1.0", "threads", "threads_publish", "threads_publishing_limit", "status", "text",
                "https://www.threads.net/@tess/post/FAKE{}")  # fmt: skip


@dataclass
class FakeGraph:
    names: Names = INSTAGRAM
    ig_user_id: str = "17841400000000001"
    token: str = "EAAtest-token"
    url: str = ""
    quota_total: int = 25
    quota_usage: int = 0
    # IN_PROGRESS answers before FINISHED. Polling has its own tests, which set it; elsewhere
    # each one would only cost the publisher's first 2 s poll interval of real sleep.
    polls_in_progress: int = 0
    container_outcome: str = "FINISHED"
    fail_next: dict[str, list[int]] = field(default_factory=dict)  # call name → statuses to answer first
    token_expired: bool = False
    hang_after_publish_s: float = 0.0  # publish, then answer this late (a client timeout)
    # Crash injection: SIGKILL this process at a call, before Meta acts on it or after it acted
    # but before the answer leaves — (call name, its n-th occurrence, "before" | "after").
    kill_at: tuple[str, int, str] | None = None
    victim_pid: int | None = None
    containers: dict[str, Container] = field(default_factory=dict)
    published: list[dict[str, Any]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    # Insights: metrics Graph no longer serves, media with too few viewers, the followers.
    retired_metrics: set[str] = field(default_factory=lambda: {"plays", "impressions"})
    too_few_viewers: set[str] = field(default_factory=set)
    followers: int = 5000
    insight_requests: list[str] = field(default_factory=list)  # each request's metric list

    def fetch(self, url: str) -> str:
        """Download a media URL as Meta does; the SHA-256 of what arrived, or an error marker."""
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return hashlib.sha256(response.read()).hexdigest()
        except urllib.error.HTTPError as err:
            return f"http-{err.code}"


def _error(
    code: int, message: str, subcode: int | None = None, kind: str = "OAuthException"
) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "Afake"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def handler_for(fake: FakeGraph) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _kill(self) -> None:
            assert fake.victim_pid is not None
            os.kill(fake.victim_pid, signal.SIGKILL)
            fake.kill_at = None
            self.close_connection = True

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            if getattr(self, "kill_after", False):
                self.kill_after = False
                self._kill()  # Meta acted; the answer never arrives
                return
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

        def _params(self) -> dict[str, str]:
            query = parse_qs(urlparse(self.path).query)
            if self.command == "POST":
                length = int(self.headers.get("Content-Length", 0))
                query.update(parse_qs(self.rfile.read(length).decode()))
            return {key: values[0] for key, values in query.items()}

        def _injected(self, name: str) -> bool:
            queue = fake.fail_next.get(name) or []
            if not queue:
                return False
            status = queue.pop(0)
            if status == 429:
                self._send(429, _error(4, "Application request limit reached"), {"Retry-After": "120"})
            elif status == 2207009:
                self._send(
                    400, _error(36003, "The aspect ratio is not supported.", 2207009, "OAuthException")
                )
            else:
                self._send(status, _error(2, "An unexpected error has occurred. Please retry your request."))
            return True

        def do_GET(self) -> None:
            self._route()

        def do_POST(self) -> None:
            self._route()

        def _route(self) -> None:
            params = self._params()
            parts = urlparse(self.path).path.strip("/").split("/")
            if parts[0] != fake.names.version:
                self._send(400, _error(2635, f"unknown version {parts[0]}"))
                return
            if params.get("access_token") != fake.token or fake.token_expired:
                self._send(400, _error(190, "Error validating access token: Session has expired", 463))
                return
            target, edge = parts[1], (parts[2] if len(parts) > 2 else "")
            name = f"{self.command} {edge or 'node'}"
            fake.calls.append(name)
            if fake.kill_at is not None and fake.kill_at[:2] == (name, fake.calls.count(name)):
                if fake.kill_at[2] == "before":
                    self._kill()
                    return
                self.kill_after = True
            if self._injected(name):
                return
            if edge == "insights":
                self._insights(target, params)
            elif target == fake.ig_user_id and not edge and "followers_count" in params.get("fields", ""):
                self._send(200, {"followers_count": fake.followers, "id": target})
            elif target == fake.ig_user_id:
                self._user_edge(edge, params)
            elif target in fake.containers:
                self._container(fake.containers[target])
            else:
                media = next((m for m in fake.published if m["id"] == target), None)
                if media is None:
                    self._send(404, _error(100, "Unsupported get request", 33))
                else:
                    self._send(200, {"id": media["id"], "permalink": media["permalink"]})

        def _user_edge(self, edge: str, params: dict[str, str]) -> None:
            names = fake.names
            if edge == names.limit:
                config = {"quota_total": fake.quota_total, "quota_duration": 86400}
                self._send(200, {"data": [{"quota_usage": fake.quota_usage, "config": config}]})
            elif edge == names.create and self.command == "POST":
                urls = [params[k] for k in ("image_url", "video_url", "cover_url") if k in params]
                container = Container(
                    id=f"c{len(fake.containers) + 1}",
                    params=params,
                    fetched_sha256=[fake.fetch(url) for url in urls],
                    polls_left=fake.polls_in_progress,
                    outcome=fake.container_outcome,
                )
                fake.containers[container.id] = container
                self._send(200, {"id": container.id})
            elif edge == names.publish:
                container = fake.containers[params["creation_id"]]
                media_id = f"1790000000000{len(fake.published) + 1:04d}"
                fake.published.append(
                    {
                        "id": media_id,
                        "caption": container.params.get(names.caption, ""),
                        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                        "permalink": names.permalink.format(media_id[-4:]),
                        "container": container.id,
                    }
                )
                fake.quota_usage += 1
                container.outcome = "PUBLISHED"
                if fake.hang_after_publish_s:
                    time.sleep(fake.hang_after_publish_s)
                self._send(200, {"id": media_id})
            elif edge == names.create:
                items = [
                    {
                        "id": m["id"],
                        names.caption: m["caption"],
                        "timestamp": m["timestamp"],
                        "permalink": m["permalink"],
                    }
                    for m in fake.published
                ]
                self._send(200, {"data": list(reversed(items))})
            else:
                self._send(400, _error(100, f"unknown edge {edge}"))

        def _insights(self, target: str, params: dict[str, str]) -> None:
            metrics = [m for m in params.get("metric", "").split(",") if m]
            fake.insight_requests.append(params.get("metric", ""))
            retired = [m for m in metrics if m in fake.retired_metrics]
            if retired:  # v22+: the whole request fails, naming the first retired metric
                message = (
                    f"(#100) Starting from version v22.0 and above, the {retired[0]} metric is no "
                    "longer supported for IG Media"
                )
                self._send(400, _error(100, message, kind="OAuthException"))
                return
            if target == fake.ig_user_id:
                numbers = {"reach": 800, "views": 2100, "accounts_engaged": 96}
                data = [
                    {"name": m, "period": "day", "total_value": {"value": numbers.get(m, 0)}} for m in metrics
                ]
                self._send(200, {"data": data})
                return
            if target in fake.too_few_viewers:
                self._send(400, _error(10, "(#10) Not enough viewers for the media to show insights"))
                return
            if not any(m["id"] == target for m in fake.published):
                self._send(404, _error(100, "Unsupported get request", 33))
                return
            seed = int(target[-4:])
            reach = 400 + 37 * seed
            numbers = {
                "reach": reach, "views": reach * 2, "likes": reach // 20, "comments": 3, "saved": 5,
                "shares": 2, "total_interactions": reach // 20 + 10, "ig_reels_avg_watch_time": 4200,
            }  # fmt: skip
            data = [
                {"name": m, "period": "lifetime", "values": [{"value": numbers.get(m, 0)}]} for m in metrics
            ]
            self._send(200, {"data": data})

        def _container(self, container: Container) -> None:
            threads = fake.names.status == "status"  # Threads: `status` is the code, `error_message` why
            if container.polls_left > 0:
                container.polls_left -= 1
                body = (
                    {"status": "IN_PROGRESS"}
                    if threads
                    else {"status_code": "IN_PROGRESS", "status": "In Progress"}
                )
                self._send(200, {**body, "id": container.id})
                return
            if container.outcome in ("FINISHED", "PUBLISHED"):
                code = container.outcome
                body = {"status": code} if threads else {"status_code": code, "status": code.title()}
            elif threads:
                body = {"status": "ERROR", "error_message": container.outcome}
            else:
                body = {"status_code": "ERROR", "status": container.outcome}
            self._send(200, {**body, "id": container.id})

    return Handler


@contextmanager
def fake_graph(**options: Any) -> Iterator[FakeGraph]:
    fake = FakeGraph(**options)
    with serve(handler_for(fake)) as url:
        fake.url = url
        yield fake

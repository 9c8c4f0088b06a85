"""A fake TikTok Content Posting API v2 on 127.0.0.1 (Direct Post):

    POST /v2/post/publish/creator_info/query/   the creator's privacy levels
    POST /v2/post/publish/video/init/           FILE_UPLOAD → publish_id, upload_url
    PUT  /upload/?upload_id=…                   the bytes (Content-Range), 201 when complete
    POST /v2/post/publish/content/init/         photos, PULL_FROM_URL: it downloads each URL
    POST /v2/post/publish/status/fetch/         PROCESSING_UPLOAD → PUBLISH_COMPLETE | FAILED,
                                                with uploaded_bytes

Every answer has TikTok's envelope {"data": …, "error": {"code", "message", "log_id"}}.
Errors: access_token_invalid (401), rate_limit_exceeded (429) past 6 requests a minute
per token, spam_risk_too_many_posts, unaudited_client_can_only_post_to_private_accounts
for a public post from an unaudited app, privacy_level_option_mismatch.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes import serve

PRIVACY_LEVELS = ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]


@dataclass
class Publish:
    post_info: dict[str, Any]
    size: int = 0
    received: bytes = b""
    photos_sha256: list[str] = field(default_factory=list)
    status: str = "PROCESSING_UPLOAD"
    post_id: int | None = None


@dataclass
class FakeTikTok:
    token: str = "act.fake-tiktok-token"
    url: str = ""
    audited: bool = True
    requests_per_minute: int = 6
    spam_next: bool = False
    drop_upload_answer: bool = False
    publishes: dict[str, Publish] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)

    def published(self) -> list[Publish]:
        return [p for p in self.publishes.values() if p.status == "PUBLISH_COMPLETE"]


def handler_for(fake: FakeTikTok) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self, status: int, data: dict[str, Any] | None = None, code: str = "ok", message: str = ""
        ) -> None:
            raw = json.dumps(
                {"data": data or {}, "error": {"code": code, "message": message, "log_id": "fake"}}
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_POST(self) -> None:
            path = urlparse(self.path).path
            body = json.loads(self._body() or b"{}")
            fake.calls.append(path.rstrip("/").rsplit("/", 2)[-2] + "/" + path.rstrip("/").rsplit("/", 1)[-1])
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                self._send(
                    401, code="access_token_invalid", message="The access token is invalid or not found"
                )
                return
            now = time.monotonic()
            fake.stamps = [t for t in fake.stamps if now - t < 60] + [now]
            if len(fake.stamps) > fake.requests_per_minute:
                self._send(429, code="rate_limit_exceeded", message="API rate limit exceeded")
                return
            if path.endswith("/creator_info/query/"):
                self._send(200, {"creator_username": "tess", "privacy_level_options": PRIVACY_LEVELS,
                                 "max_video_post_duration_sec": 600})  # fmt: skip
            elif path.endswith("/video/init/") or path.endswith("/content/init/"):
                self._init(body, photo=path.endswith("/content/init/"))
            elif path.endswith("/status/fetch/"):
                found = fake.publishes.get(body.get("publish_id", ""))
                if found is None:
                    self._send(400, code="invalid_params", message="publish_id not found")
                    return
                data: dict[str, Any] = {"status": found.status, "uploaded_bytes": len(found.received)}
                if found.post_id is not None:
                    data["publicaly_available_post_id"] = [found.post_id]
                self._send(200, data)
            else:
                self._send(404, code="invalid_params", message="no such endpoint")

        def _init(self, body: dict[str, Any], photo: bool) -> None:
            info = body.get("post_info") or {}
            if info.get("privacy_level") not in PRIVACY_LEVELS:
                self._send(
                    400, code="privacy_level_option_mismatch", message="privacy_level is not an option"
                )
                return
            if not fake.audited and info.get("privacy_level") != "SELF_ONLY":
                self._send(
                    403, code="unaudited_client_can_only_post_to_private_accounts", message="unaudited"
                )
                return
            if fake.spam_next:
                fake.spam_next = False
                self._send(403, code="spam_risk_too_many_posts", message="too many posts")
                return
            publish_id = f"v_pub_{'url' if photo else 'file'}~v2-1.{uuid.uuid4().int % 10**18}"
            publish = Publish(info)
            fake.publishes[publish_id] = publish
            if photo:  # pulled and published by TikTok itself
                for url in body["source_info"]["photo_images"]:
                    with urllib.request.urlopen(url, timeout=10) as response:
                        publish.photos_sha256.append(hashlib.sha256(response.read()).hexdigest())
                publish.status, publish.post_id = "PUBLISH_COMPLETE", 7_300_000_000 + len(fake.publishes)
                self._send(200, {"publish_id": publish_id})
                return
            publish.size = int(body["source_info"]["video_size"])
            self._send(
                200, {"publish_id": publish_id, "upload_url": f"{fake.url}/upload/?upload_id={publish_id}"}
            )

        def do_PUT(self) -> None:
            publish_id = (parse_qs(urlparse(self.path).query).get("upload_id") or [""])[0]
            publish = fake.publishes.get(publish_id)
            data = self._body()
            fake.calls.append("upload")
            if publish is None:
                self._send(404, code="invalid_params", message="no such upload")
                return
            publish.received += data
            if len(publish.received) >= publish.size:
                publish.status, publish.post_id = "PUBLISH_COMPLETE", 7_300_000_000 + len(fake.publishes)
            if fake.drop_upload_answer:
                self.close_connection = True
                self.connection.close()
                return
            self.send_response(201 if publish.status == "PUBLISH_COMPLETE" else 206)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@contextmanager
def fake_tiktok(**options: Any) -> Iterator[FakeTikTok]:
    fake = FakeTikTok(**options)
    with serve(handler_for(fake)) as url:
        fake.url = url
        yield fake

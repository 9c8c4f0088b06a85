"""A fake YouTube Data API v3 on 127.0.0.1 speaking the resumable-upload protocol:

    POST /upload/youtube/v3/videos?uploadType=resumable&part=snippet,status
         JSON metadata, X-Upload-Content-Length → 200, Location: the session URL
    PUT  {session URL}, the bytes                 → 200 and the video resource
    PUT  {session URL}, Content-Range: bytes */*  → 308 while incomplete, 200 + the
         resource once complete (the documented status query)

Errors follow Google's shape ({"error": {"code", "message", "errors": [{"reason"}]}}):
401 for a bad token, 403 quotaExceeded, 400 invalidTitle for a title over 100
characters or with angle brackets. Like YouTube it spends 100 quota units per upload.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes import serve

UPLOAD_PATH = "/upload/youtube/v3/videos"


@dataclass
class Session:
    metadata: dict[str, Any]
    size: int
    video: dict[str, Any] | None = None  # the resource, once every byte arrived


@dataclass
class FakeYouTube:
    token: str = "ya29.fake-youtube-token"
    url: str = ""
    quota_per_day: int = 10_000
    quota_used: int = 0
    sessions: dict[str, Session] = field(default_factory=dict)
    videos: list[dict[str, Any]] = field(default_factory=list)
    uploaded_sha256: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    drop_upload_answer: bool = False  # finish the upload, then close without answering


def _error(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "errors": [{"reason": reason, "message": message}]}}


def handler_for(fake: FakeYouTube) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(
            self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
        ) -> None:
            raw = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {fake.token}":
                self._send(401, _error(401, "authError", "Invalid Credentials"))
                return False
            return True

        def do_POST(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            body = self._body()
            fake.calls.append("start")
            if url.path != UPLOAD_PATH or query.get("uploadType") != ["resumable"]:
                self._send(404, _error(404, "notFound", "no such endpoint"))
                return
            if not self._authorised():
                return
            if fake.quota_used + 100 > fake.quota_per_day:
                self._send(403, _error(403, "quotaExceeded", "The request cannot be completed: quota"))
                return
            metadata = json.loads(body)
            title = metadata.get("snippet", {}).get("title", "")
            if not title or len(title) > 100 or "<" in title or ">" in title:
                self._send(
                    400, _error(400, "invalidTitle", "The request metadata specifies an invalid title.")
                )
                return
            fake.quota_used += 100
            upload_id = uuid.uuid4().hex
            fake.sessions[upload_id] = Session(
                metadata, int(self.headers.get("X-Upload-Content-Length") or 0)
            )
            location = f"{fake.url}{UPLOAD_PATH}?uploadType=resumable&upload_id={upload_id}"
            self._send(200, None, {"Location": location})

        def do_PUT(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            session = fake.sessions.get((query.get("upload_id") or [""])[0])
            body = self._body()
            if session is None:
                self._send(404, _error(404, "notFound", "upload session not found"))
                return
            if self.headers.get("Content-Range", "").startswith("bytes */"):
                fake.calls.append("status")
                if session.video is None:
                    self._send(308)
                else:
                    self._send(200, session.video)
                return
            fake.calls.append("upload")
            if len(body) != session.size:
                self._send(400, _error(400, "badContent", "the bytes do not match X-Upload-Content-Length"))
                return
            video_id = uuid.uuid4().hex[:11]
            session.video = {
                "kind": "youtube#video",
                "id": video_id,
                "snippet": session.metadata["snippet"],
                "status": {**session.metadata["status"], "uploadStatus": "uploaded"},
            }
            fake.videos.append(session.video)
            fake.uploaded_sha256.append(hashlib.sha256(body).hexdigest())
            if fake.drop_upload_answer:
                self.close_connection = True
                self.connection.close()
                return
            self._send(200, session.video)

    return Handler


@contextmanager
def fake_youtube(**options: Any) -> Iterator[FakeYouTube]:
    fake = FakeYouTube(**options)
    with serve(handler_for(fake)) as url:
        fake.url = url
        yield fake

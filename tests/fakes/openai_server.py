"""A fake OpenAI-compatible server on 127.0.0.1 that the real `openai` client talks to.

Each test scripts the replies in order; the server records every request. It can
also behave like servers that reject some `response_format` types (LM Studio
rejects json_object, older servers json_schema) without using up the script.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes import serve


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def completion(
    content: str | None,
    refusal: str | None = None,
    finish_reason: str = "stop",
    tokens: tuple[int, int] = (120, 60),
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "logprobs": None,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
            }
        ],
        "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1], "total_tokens": sum(tokens)},
    }


def draft(caption: str = "Golden light over the harbour, coffee in hand.", **overrides: Any) -> str:
    data = {
        "caption": caption,
        "hashtags": ["#harbour", "#goldenhour"],
        "alt_text": "A woman with freckles on a harbour wall at sunrise, holding a paper cup.",
        "image_brief": {
            "scene": "harbour wall at sunrise",
            "outfit": "linen shirt",
            "mood": "calm",
            "camera": "35mm, eye level",
        },
        "motion_brief": "slow push-in towards the water",
        **overrides,
    }
    return json.dumps(data)


def error(status: int, message: str) -> Reply:
    return Reply(status, {"error": {"message": message, "type": "invalid_request_error", "code": None}})


@dataclass
class FakeOpenAI:
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    rejected_formats: set[str] = field(default_factory=set)
    url: str = ""

    def reply(self, *replies: Reply | dict[str, Any]) -> None:
        self.replies += [r if isinstance(r, Reply) else Reply(body=r) for r in replies]


def _handler(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, reply: Reply) -> None:
            payload = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/v1/chat/completions":
                self._send(error(404, f"no route {self.path}"))
                return
            fake.requests.append(body)
            fake.headers.append({name.lower(): value for name, value in self.headers.items()})
            kind = (body.get("response_format") or {}).get("type")
            if kind in fake.rejected_formats:
                self._send(error(400, f"'response_format.type' {kind!r} is not supported"))
                return
            reply = fake.replies.pop(0) if fake.replies else error(500, "the test scripted no more replies")
            time.sleep(reply.delay_s)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
                self._send(reply)

    return Handler


@contextmanager
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    with serve(_handler(fake)) as url:
        fake.url = url + "/v1"
        yield fake

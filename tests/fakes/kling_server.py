"""A fake Kling API on 127.0.0.1 speaking the documented image2video protocol:
JWT bearer auth, create with external_task_id, query by task id or external id,
submitted → processing → succeed | failed, and the video download."""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt

from tests.fakes import serve

VIDEO = b"\x00\x00\x00\x18ftypmp42fake kling clip bytes"


@dataclass
class Task:
    task_id: str
    external_task_id: str
    polls_to_finish: int
    outcome: str  # succeed | failed | never
    polls: int = 0


@dataclass
class FakeKling:
    access_key: str = "ak-test"
    secret_key: str = "sk-kling-secret-0123456789abcdef0123"  # Kling's keys are 32+ characters
    url: str = ""
    outcome: str = "succeed"
    polls_to_finish: int = 2
    fail_next: list[int] = field(default_factory=list)  # status codes to answer before any real work
    tasks: dict[str, Task] = field(default_factory=dict)
    creates: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    video: bytes = VIDEO  # what the download serves

    def status(self, task: Task) -> dict[str, Any]:
        data: dict[str, Any] = {
            "task_id": task.task_id,
            "task_info": {"external_task_id": task.external_task_id},
        }
        finished = task.polls >= task.polls_to_finish and task.outcome != "never"
        if not finished:
            data["task_status"] = "submitted" if task.polls == 0 else "processing"
        elif task.outcome == "failed":
            data.update(task_status="failed", task_status_msg="Failure to pass the risk control system")
        else:
            data.update(
                task_status="succeed",
                task_result={
                    "videos": [
                        {
                            "id": f"v-{task.task_id}",
                            "url": f"{self.url}/files/{task.task_id}.mp4",
                            "duration": "5",
                        }
                    ]
                },
            )
        return data


def _handler(fake: FakeKling) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if status == 429:
                self.send_header("Retry-After", "0")
            self.end_headers()
            with contextlib.suppress(BrokenPipeError):
                self.wfile.write(payload)

        def _authorised(self) -> bool:
            header = self.headers.get("Authorization", "")
            try:
                claims = jwt.decode(header.removeprefix("Bearer "), fake.secret_key, algorithms=["HS256"])
            except jwt.PyJWTError:
                self._json(401, {"code": 1000, "message": "Authentication failed"})
                return False
            fake.tokens.append(claims)
            if claims.get("iss") != fake.access_key:
                self._json(401, {"code": 1002, "message": "Authentication failed"})
                return False
            return True

        def _scripted_failure(self) -> bool:
            if fake.fail_next:
                status = fake.fail_next.pop(0)
                self._json(status, {"code": 1302 if status == 429 else 5000, "message": "try again later"})
                return True
            return False

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if not self._authorised() or self._scripted_failure():
                return
            if self.path != "/v1/videos/image2video":
                self._json(404, {"code": 1200, "message": "not found"})
                return
            base64.b64decode(body["image"], validate=True)
            if body.get("duration") not in ("5", "10") or not body.get("model_name"):
                self._json(400, {"code": 1201, "message": "invalid parameters"})
                return
            fake.creates.append(body)
            task = Task(
                f"task-{len(fake.creates)}", body["external_task_id"], fake.polls_to_finish, fake.outcome
            )
            fake.tasks[task.task_id] = task
            self._json(
                200,
                {
                    "code": 0,
                    "message": "SUCCEED",
                    "request_id": "r1",
                    "data": {
                        "task_id": task.task_id,
                        "task_status": "submitted",
                        "task_info": {"external_task_id": task.external_task_id},
                    },
                },
            )

        def do_GET(self) -> None:
            file = re.fullmatch(r"/files/(.+)\.mp4", self.path)
            if file:
                self.send_response(200)
                self.send_header("Content-Length", str(len(fake.video)))
                self.end_headers()
                self.wfile.write(fake.video)
                return
            if not self._authorised() or self._scripted_failure():
                return
            match = re.fullmatch(r"/v1/videos/image2video/(.+)", self.path)
            key = match[1] if match else ""
            task = fake.tasks.get(key) or next(
                (t for t in fake.tasks.values() if t.external_task_id == key), None
            )
            if task is None:
                self._json(404, {"code": 1203, "message": "task not found"})
                return
            data = fake.status(task)
            task.polls += 1
            self._json(200, {"code": 0, "message": "SUCCEED", "request_id": "r2", "data": data})

    return Handler


@contextmanager
def fake_kling() -> Iterator[FakeKling]:
    fake = FakeKling()
    with serve(_handler(fake)) as url:
        fake.url = url
        yield fake

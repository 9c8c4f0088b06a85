"""The Kling image-to-video API over httpx (the `kling` reel backend).

    look up the task by our external_task_id ─► (none) create it ─► poll with backoff ─► download

The external task id is derived from the post, so a retry after a crash finds
the task it already paid for instead of paying twice. Authentication is a
short-lived HS256 JWT signed with the secret key (`KLING_ACCESS_KEY`,
`KLING_SECRET_KEY`); neither key ever appears in an error.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from content.errors import GenerationError

TASKS = "/v1/videos/image2video"


class KlingError(GenerationError):
    pass


@dataclass(frozen=True)
class KlingConfig:
    base_url: str
    access_key: str
    secret_key: str
    model: str = "kling-v1-6"
    mode: str = "std"  # std | pro
    timeout_s: float = 900.0  # the whole job: create, wait, download
    request_timeout_s: float = 30.0
    poll_first_s: float = 2.0
    poll_max_s: float = 30.0
    retries: int = 4  # for 429 and 5xx answers, with backoff


def token(config: KlingConfig, now: float | None = None) -> str:
    import jwt

    issued = int(now if now is not None else time.time())
    claims = {"iss": config.access_key, "exp": issued + 1800, "nbf": issued - 5}
    return str(jwt.encode(claims, config.secret_key, algorithm="HS256", headers={"typ": "JWT"}))


class KlingClient:
    def __init__(
        self,
        config: KlingConfig,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config, self.sleep, self.clock = config, sleep, clock
        self.http = httpx.Client(base_url=config.base_url, timeout=config.request_timeout_s)

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One API call with retries on 429/5xx/network errors; the `data` of the envelope."""
        delay = 1.0
        for attempt in range(self.config.retries + 1):
            headers = {"Authorization": f"Bearer {token(self.config)}"}
            try:
                response = self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as err:
                if attempt == self.config.retries:
                    raise KlingError(
                        f"cannot reach Kling at {self.config.base_url}: {type(err).__name__}"
                    ) from None
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    if attempt == self.config.retries:
                        raise KlingError(f"Kling answered {response.status_code} after {attempt + 1} tries")
                    delay = max(delay, float(response.headers.get("Retry-After", delay)))
                elif response.status_code in (401, 403):
                    raise KlingError(
                        "Kling refused the keys (401/403) — check KLING_ACCESS_KEY and KLING_SECRET_KEY"
                    )
                elif response.status_code == 404:
                    return {}
                else:
                    return self._data(response)
            self.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise KlingError("unreachable")

    @staticmethod
    def _data(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            raise KlingError(f"Kling answered {response.status_code} with no JSON") from None
        if response.status_code >= 400 or body.get("code", 0) != 0:
            raise KlingError(f"Kling refused the request: {body.get('message', response.status_code)}")
        data: dict[str, Any] = body.get("data") or {}
        return data

    def find(self, external_task_id: str) -> dict[str, Any]:
        return self._request("GET", f"{TASKS}/{external_task_id}")

    def create(self, still: Path, prompt: str, seconds: int, external_task_id: str) -> dict[str, Any]:
        payload = {
            "model_name": self.config.model,
            "mode": self.config.mode,
            "duration": str(seconds),
            "image": base64.b64encode(still.read_bytes()).decode(),
            "prompt": prompt[:2500],
            "external_task_id": external_task_id,
        }
        return self._request("POST", TASKS, json=payload)

    def wait(self, task_id: str, deadline: float) -> dict[str, Any]:
        interval = self.config.poll_first_s
        while True:
            task = self._request("GET", f"{TASKS}/{task_id}")
            status = task.get("task_status")
            if status == "succeed":
                return task
            if status == "failed":
                raise KlingError(
                    f"Kling could not make the video: {task.get('task_status_msg') or 'no reason given'}"
                )
            if self.clock() + interval > deadline:
                raise KlingError(
                    f"Kling task {task_id} was still {status} after {self.config.timeout_s:.0f} s"
                )
            self.sleep(interval)
            interval = min(interval * 1.5, self.config.poll_max_s)

    def download(self, task: dict[str, Any], out: Path) -> Path:
        videos = (task.get("task_result") or {}).get("videos") or []
        if not videos:
            raise KlingError(f"Kling task {task.get('task_id')} succeeded without a video")
        with httpx.stream(
            "GET", videos[0]["url"], timeout=self.config.request_timeout_s, follow_redirects=True
        ) as response:
            if response.status_code != 200:
                raise KlingError(f"downloading the Kling video failed ({response.status_code})")
            with out.open("wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
        return out


def animate(
    still: Path,
    prompt: str,
    seconds: int,
    external_task_id: str,
    out: Path,
    config: KlingConfig,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Path:
    """Turn `still` into a clip at `out`; a task already made for `external_task_id` is reused."""
    if seconds not in (5, 10):
        raise KlingError(f"Kling makes 5 or 10 second clips, not {seconds}")
    client = KlingClient(config, sleep, clock)
    try:
        deadline = clock() + config.timeout_s
        task = client.find(external_task_id) or client.create(still, prompt, seconds, external_task_id)
        if not task.get("task_id"):
            raise KlingError("Kling did not return a task id")
        finished = task if task.get("task_status") == "succeed" else client.wait(task["task_id"], deadline)
        return client.download(finished, out)
    finally:
        client.close()

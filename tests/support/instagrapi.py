"""instagrapi at its network boundary: a real `Client` whose calls that would reach
Instagram are replaced (it has no transport seam), raising instagrapi's real exceptions.
Shared by the instagrapi tests and the publisher contract suite."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instagrapi import Client


@dataclass
class Response:
    status_code: int = 200
    text: str = "{}"


@dataclass
class Uploads:
    """Replaces the `post` of the requests session instagrapi sends uploads through."""

    received: list[bytes] = field(default_factory=list)

    def post(self, url: str, data: bytes, headers: dict[str, str]) -> Response:
        assert "/rupload_igphoto/" in url and headers["X-Entity-Length"] == str(len(data))
        self.received.append(data)
        return Response()


def media_v1(pk: int, caption: str) -> dict[str, Any]:
    return {
        "pk": pk,
        "id": f"{pk}_123",
        "code": f"C{pk % 1000}",
        "taken_at": int(time.time()),
        "media_type": 1,
        "product_type": "",
        "user": {"pk": 123, "username": "tess"},
        "caption": {"text": caption},
        "like_count": 0,
        "image_versions2": {
            "candidates": [{"url": "https://example.invalid/x.jpg", "width": 1080, "height": 1350}]
        },
    }


class BoundaryClient(Client):  # type: ignore[misc]
    """A real instagrapi Client; only the calls that would reach Instagram are replaced."""

    fail: dict[str, Exception] = {}  # noqa: RUF012 (set per test)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uploads = Uploads()
        self.private.post = self.uploads.post  # the real session, its network call replaced
        self.calls: list[tuple[str, Any]] = []
        self.published: list[dict[str, Any]] = []

    def _maybe_fail(self, name: str) -> None:
        error = self.fail.pop(name, None)
        if error is not None:
            raise error

    def login(self, username: str, password: str, verification_code: str = "", **_: Any) -> bool:
        self.calls.append(("login", (username, verification_code)))
        self._maybe_fail("login")
        return True

    def account_set_ai_info(self, enabled: bool) -> Any:
        self.calls.append(("ai_info", enabled))

    def photo_configure(
        self, upload_id: str, width: int, height: int, caption: str, **_: Any
    ) -> dict[str, Any]:
        self.calls.append(("photo_configure", (upload_id, width, height, caption)))
        self._maybe_fail("photo_configure")
        self.published.append(media_v1(3100000000000000001 + len(self.published), caption))
        return {"media": self.published[-1]}

    def album_configure(self, childs: list[dict[str, str]], caption: str, **_: Any) -> dict[str, Any]:
        self.calls.append(("album_configure", ([c["upload_id"] for c in childs], caption)))
        return {"media": media_v1(3100000000000000002, caption)}

    def clip_upload(self, path: Path, caption: str, thumbnail: Path | None = None, **_: Any) -> Any:
        from instagrapi.extractors import extract_media_v1

        self.calls.append(("clip_upload", (path.read_bytes(), thumbnail.read_bytes() if thumbnail else None)))
        self._maybe_fail("clip_upload")
        self.published.append(media_v1(3100000000000000003 + len(self.published), caption))
        return extract_media_v1(dict(self.published[-1]))

    def user_medias_v1(self, user_id: str, amount: int = 0) -> list[Any]:
        from instagrapi.extractors import extract_media_v1

        return [extract_media_v1(dict(m)) for m in self.published]

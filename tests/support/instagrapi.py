"""instagrapi at its network boundary: a real `Client` whose calls that would reach
Instagram are replaced (it has no transport seam), raising instagrapi's real exceptions.
Shared by the instagrapi tests and the publisher contract suite.

The private API's read endpoints that insights use go further down: they are answered at
the requests session, as JSON, so instagrapi's own request path (signing, status and
error mapping, parsing) runs on them."""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
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


def insights_node(
    pk: str, reach: int, impressions: int, likes: int, comments: int, saves: int, shares: int
) -> dict[str, Any]:
    """A post's insights as the private API's ads/graphql query answers them (the shape
    instagram-private-api types as InsightsServicePostResponseMedia; instagrapi returns
    `data.instagram_post_by_igid`): counts on the media, the rest under
    `inline_insights_node.metrics`."""
    return {
        "id": f"{pk}", "instagram_media_id": f"{pk}", "instagram_media_type": "IMAGE",
        "creation_time": 1793000000, "has_product_tags": False, "display_url": "https://example.invalid/x.jpg",
        "like_count": likes, "comment_count": comments, "save_count": saves,
        "shopping_outbound_click_count": 0, "shopping_product_click_count": 0,
        "inline_insights_node": {
            "state": "AVAILABLE", "error": None,
            "metrics": {
                "reach_count": reach, "impression_count": impressions,
                "owner_profile_views_count": 3, "owner_account_follows_count": 1,
                "share_count": {"post": {"value": shares, "nodes": []}, "tray": {"nodes": []}},
                "reach": {"value": reach, "follow_status": {"nodes": []}},
                "impressions": {"value": impressions, "surfaces": {"nodes": []}},
            },
        },
    }  # fmt: skip


@dataclass
class PrivateApi:
    """The private API's read endpoints insights call, answered as Instagram does."""

    insights: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # pk → node; None: no data
    followers: int = 4321
    requests: list[str] = field(default_factory=list)

    def answer(self, method: str, url: str, data: str | None) -> requests.Response:
        path = urllib.parse.urlsplit(url).path
        self.requests.append(f"{method} {path}")
        if method == "POST" and path == "/api/v1/ads/graphql/":
            signed = urllib.parse.parse_qs(data or "")["signed_body"][0].removeprefix("SIGNATURE.")
            pk = str(json.loads(json.loads(signed)["query_params"])["query_params"]["id"])
            node = self.insights.get(pk)
            return _response(method, url, {"data": {"instagram_post_by_igid": node}, "status": "ok"})
        if method == "GET" and path.startswith("/api/v1/users/") and path.endswith("/info/"):
            user = {
                "pk": path.split("/")[4], "username": "tess.test", "full_name": "Tess", "is_private": False,
                "profile_pic_url": "https://example.invalid/p.jpg", "is_verified": False, "media_count": 12,
                "follower_count": self.followers, "following_count": 80, "is_business": True,
            }  # fmt: skip
            return _response(method, url, {"user": user, "status": "ok"})
        return _response(method, url, {"message": "no such endpoint here", "status": "fail"}, 404)


def _response(method: str, url: str, body: dict[str, Any], status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code, response.url = status, url
    response._content = json.dumps(body).encode()
    response.request = requests.Request(method, url).prepare()
    return response


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

    api = PrivateApi()  # set per test, like `fail`

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{"request_timeout": 0, **kwargs})
        self.uploads = Uploads()
        # The real session, its network calls replaced.
        self.private.post = self._post
        self.private.get = lambda url, **kw: self.api.answer("GET", url, None)
        self.calls: list[tuple[str, Any]] = []
        self.published: list[dict[str, Any]] = []

    def _post(self, url: str, data: Any = None, headers: Any = None, **_: Any) -> Any:
        if "/rupload_igphoto/" in url:
            return self.uploads.post(url, data, headers)
        return self.api.answer("POST", url, data)

    @property
    def delay_range(self) -> list[int]:
        return []  # the Instagram here is local: no human-like pauses between calls

    @delay_range.setter
    def delay_range(self, _: list[int]) -> None:
        pass

    def _maybe_fail(self, name: str) -> None:
        error = self.fail.pop(name, None)
        if error is not None:
            raise error

    def login(self, username: str, password: str, verification_code: str = "", **_: Any) -> bool:
        self.calls.append(("login", (username, verification_code)))
        self._maybe_fail("login")
        self.authorization_data = {"ds_user_id": "123", "sessionid": "123%3Asession"}
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

"""The public /verify page: a stripped, re-encoded copy of a published post leads back to
its disclosure; nothing about any other post leaks, by body or by timing; uploads are
size-limited and lookups rate-limited per address."""

from __future__ import annotations

import io
import socket
import statistics
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlmodel import select

from bot.publishing import publish_pass
from bot.review import approve, get_post
from bot.web.auth import LoginLimiter
from bot.web.state import WebState
from content.disclosure import watermark
from storage.db import session_scope
from storage.models import Publication
from tests.support.pictures import photo_like
from tests.support.web import Site


def state_of(site: Site) -> WebState:
    state: WebState = site.server.server.config.app.state.vibot
    return state


def stripped_copy(path: Path, quality: int = 80, width: int | None = None) -> bytes:
    """What a platform serves: re-encoded as JPEG, no metadata (no XMP, no C2PA), maybe smaller."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    if width is not None:
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def upload(client: httpx.Client, content: bytes, path: str = "/verify.json") -> httpx.Response:
    return client.post(path, files={"file": ("copy.jpg", content, "image/jpeg")})


def raw_post(site: Site, path: str, headers: dict[str, str], body: bytes) -> bytes:
    """A request httpx would not send: a Content-Length it does not keep, or none at all."""
    host, port = site.url.removeprefix("http://").split(":")
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: image/jpeg", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def published_photo(site: Site) -> int:
    post_id = site.posts["photo"]
    approve(site.app, post_id, by="ada")
    assert publish_pass(site.app).published == [post_id]
    return post_id


def test_a_stripped_reencoded_copy_leads_to_the_published_post(site: Site, client: httpx.Client) -> None:
    post_id = published_photo(site)
    media = site.app.media.path(get_post(site.app, post_id).media[0].path)
    copy = stripped_copy(media, quality=80)
    assert b"c2pa" not in copy and b"DigitalSourceType" not in copy  # nothing but pixels left

    found = upload(client, copy).json()
    assert found["found"] is True and found["post_id"] == post_id and found["ai_generated"] is True
    assert found["persona"] == site.app.personas["tess"].name
    assert [p["platform"] for p in found["platforms"]] == ["Instagram"]
    assert found["models"] and found["watermark_confidence"] > 0.5
    labels = [a["label"] for a in found["c2pa_manifest"]["assertions"]]
    assert "c2pa.soft-binding" in labels and "c2pa.actions.v2" in labels

    page = upload(client, copy, "/verify")
    assert page.status_code == 200 and "AI-generated: a post by" in page.text
    assert "c2pa.soft-binding" in page.text  # the original's manifest, as JSON

    # The outbox has no permalinks; a Graph publication records one like this.
    link = "https://www.instagram.com/p/DAbC123/"
    with session_scope(site.app.engine) as session:
        publication = session.exec(select(Publication).where(Publication.post_id == post_id)).one()
        publication.permalink = link
        session.add(publication)
    by_link = client.post("/verify.json", data={"permalink": f"  {link} "}).json()
    assert by_link["post_id"] == post_id and by_link["platforms"][0]["permalink"] == link
    assert by_link["watermark_confidence"] is None
    assert client.post("/verify.json", data={"permalink": link + "x"}).json() == {
        "found": False,
        "message": "no vibot watermark found",
    }


@pytest.mark.slow  # 100 timed uploads
def test_anything_but_a_published_post_looks_exactly_like_no_watermark(
    site: Site, client: httpx.Client
) -> None:
    """A post in review, an id that does not exist, an unmarked picture: the same status and
    body, and no timing difference beyond noise (50 requests each, interleaved)."""
    state_of(site).lookups = LoginLimiter(10_000, window_s=60.0)
    in_review = site.app.media.path(get_post(site.app, site.posts["carousel"]).media[0].path)
    picture = photo_like(5, (320, 400))
    unknown = io.BytesIO()
    Image.fromarray(watermark.embed(picture, watermark.payload_for(987_654))).save(
        unknown, "JPEG", quality=92
    )
    unmarked = io.BytesIO()
    Image.fromarray(picture).save(unmarked, "JPEG", quality=92)
    copies = {
        "in review": stripped_copy(in_review, quality=92),
        "unknown id": unknown.getvalue(),
        "unmarked": unmarked.getvalue(),
    }
    assert (
        watermark.read(np.asarray(Image.open(io.BytesIO(copies["in review"])))).post_id
        == site.posts["carousel"]
    )
    assert watermark.read(np.asarray(Image.open(io.BytesIO(copies["unknown id"])))).post_id == 987_654

    answers = {name: (upload(client, c).status_code, upload(client, c).content) for name, c in copies.items()}
    assert len(set(answers.values())) == 1 and answers["unmarked"] == (
        200,
        b'{"found":false,"message":"no vibot watermark found"}',
    )
    pages = {upload(client, c, "/verify").text for c in copies.values()}
    assert len(pages) == 1 and "No vibot watermark found" in next(iter(pages))

    times: dict[str, list[float]] = {"in review": [], "unmarked": []}
    for _ in range(50):
        for name in times:
            began = time.perf_counter()
            upload(client, copies[name])
            times[name].append(time.perf_counter() - began)
    medians = {name: statistics.median(t) for name, t in times.items()}
    noise = max(statistics.quantiles(t, n=4)[2] - statistics.quantiles(t, n=4)[0] for t in times.values())
    assert abs(medians["in review"] - medians["unmarked"]) <= max(noise, 0.1 * min(medians.values())), medians


def test_uploads_are_size_limited_and_lookups_rate_limited(site: Site, client: httpx.Client) -> None:
    limit = site.app.settings.web_verify_max_bytes
    too_big = raw_post(site, "/verify.json", {"Content-Length": str(limit + 1)}, b"x" * 64)
    assert too_big.startswith(b"HTTP/1.1 413") and b"MiB" in too_big
    chunked = raw_post(site, "/verify.json", {"Transfer-Encoding": "chunked"}, b"5\r\nhello\r\n0\r\n\r\n")
    assert chunked.startswith(b"HTTP/1.1 411")

    state_of(site).lookups = LoginLimiter(3, window_s=60.0)
    statuses = [upload(client, b"not an image").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    refused = upload(client, b"not an image")
    assert int(refused.headers["retry-after"]) > 0 and "Too many requests" in refused.text
    assert client.get("/verify").status_code == 200  # the form itself is not a lookup

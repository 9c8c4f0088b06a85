"""A request body limit, enforced before anything parses the body.

Starlette parses a form before any dependency runs (a login check included) and allows 1,000
fields of 1 MiB each, so without this an anonymous client could make the server read and hold
hundreds of megabytes. Here a declared Content-Length over the limit is refused at once, and a
body without one (chunked) is read only up to the limit, then refused. What passes is handed
on from memory, so the app sees the request unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Refusal = Callable[[int, str], tuple[bytes, list[tuple[bytes, bytes]]]]  # status, detail → body, headers


class BodyLimit:
    """`uploads` are paths that take files: a larger limit of their own, a Content-Length
    required (then the server itself stops the body there), and the body passed on as it
    comes, for the route to stream to disk instead of holding it here."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, refusal: Refusal, uploads: dict[str, int] | None = None
    ) -> None:
        self.app, self.max_bytes, self.refusal = app, max_bytes, refusal
        self.uploads = uploads or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        upload_limit = self.uploads.get(scope.get("path", ""))
        if upload_limit is not None and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            if declared is None:
                await self._refuse(send, 411, "Send the upload with a Content-Length.")
            elif declared > upload_limit:
                await self._refuse(send, 413, limit=upload_limit)
            else:
                await self.app(scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, 413)
            return
        if declared == 0 or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, 413)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # only a disconnect can come now
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(
        self, send: Send, status: int, detail: str | None = None, limit: int | None = None
    ) -> None:
        most = self.max_bytes if limit is None else limit
        shown = f"{most / (1 << 20):g} MiB" if most >= 1 << 20 else f"{most} bytes"
        content, headers = self.refusal(
            status, detail or f"The request is larger than this server accepts ({shown})."
        )
        headers = [*headers, (b"content-length", str(len(content)).encode()), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

"""vibot's web server on a free port of 127.0.0.1, in a thread: the public media URLs that
Meta's APIs (the Graph and Threads fakes) fetch."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from bot.context import App
from bot.web import create_web_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: App, port: int) -> Iterator[None]:
    """vibot's web server (the public media URLs Meta fetches) on 127.0.0.1:port."""
    server = uvicorn.Server(
        uvicorn.Config(create_web_app(app), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=5)

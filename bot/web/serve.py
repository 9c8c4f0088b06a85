"""Running the web server: for `vibot web` in the foreground, for the daemon in a thread.

The socket is bound before uvicorn starts, so a taken port is a clear error at start-up
(exit 2), not a thread that dies quietly; port 0 takes any free port (the tests use it).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog
import uvicorn

from bot.context import App
from bot.web.app import create_web_app
from content.errors import ConfigError

log = structlog.get_logger(__name__)


@dataclass
class WebServer:
    server: uvicorn.Server
    sock: socket.socket
    thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets whose proto
    # says TCP, and without it every keep-alive response waits ~40 ms on a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise ConfigError(
            f"the web server cannot listen on {host}:{port} ({err.strerror}) — "
            "stop what uses it, or set VIBOT_WEB_PORT (vibot web --port) to another port"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def make_server(app: App, host: str, port: int, wake_prepare: Callable[[], None] | None = None) -> WebServer:
    settings = app.settings
    sock = bind(host, port)
    config = uvicorn.Config(
        create_web_app(app, wake_prepare),
        log_level="warning",
        access_log=False,
        server_header=False,
        # Behind a reverse proxy: trust its X-Forwarded-Proto/For (HTTPS → Secure cookies).
        proxy_headers=True,
        forwarded_allow_ips=settings.web_trusted_proxies,
    )
    server = uvicorn.Server(config)
    made = WebServer(server, sock)
    if not _is_loopback(host):
        log.warning(
            "the web UI listens beyond this machine: serve it through a reverse proxy with HTTPS",
            host=host,
            port=made.port,
        )
    log.info("web server listening", url=f"http://{host}:{made.port}")
    return made


def start_in_thread(made: WebServer) -> WebServer:
    made.thread = threading.Thread(target=made.server.run, kwargs={"sockets": [made.sock]}, daemon=True)
    made.thread.start()
    return made


def serve_forever(made: WebServer) -> None:
    made.server.run(sockets=[made.sock])

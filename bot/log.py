"""Structured logs that never carry a secret.

Any value of an environment variable whose name looks secret (KEY, TOKEN,
PASSWORD, SECRET, …) is replaced by *** wherever it appears in an event,
and so are the values of keys with such names.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_NAME = re.compile(r"KEY|TOKEN|PASSWORD|PASSWD|SECRET|SESSION|COOKIE|TOTP", re.IGNORECASE)


def _secret_values() -> list[str]:
    return sorted(
        (value for name, value in os.environ.items() if _SECRET_NAME.search(name) and len(value) >= 4),
        key=len,
        reverse=True,
    )


def redact(text: str, secrets: list[str] | None = None) -> str:
    for secret in _secret_values() if secrets is None else secrets:
        text = text.replace(secret, "***")
    return text


def _redact_event(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    secrets = _secret_values()
    for key, value in list(event.items()):
        if _SECRET_NAME.search(key) and key != "event":
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = redact(value, secrets)
    return event


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    return structlog.PrintLogger(sys.stderr)


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # sys.stderr looked up at each log call, not at configure time: a replaced stream
        # (pytest's capture, a redirected daemon) must not leave loggers writing to a closed one.
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )

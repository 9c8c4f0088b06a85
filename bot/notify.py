"""Notifications for a person: a JSON webhook (`VIBOT_NOTIFY_URL`) that Slack and Discord
both accept (`text` for Slack, `content` for Discord). A failed notification is logged,
never raised: it must not stop publishing."""

from __future__ import annotations

import httpx
import structlog

from bot.context import App

log = structlog.get_logger(__name__)


def notify(app: App, text: str) -> bool:
    url = app.settings.notify_url
    if url is None:
        return False
    try:
        response = httpx.post(
            url.get_secret_value(), json={"text": text, "content": text[:2000]}, timeout=10.0
        )
        response.raise_for_status()
    except httpx.HTTPError as err:
        log.warning("notification not delivered", error=type(err).__name__)
        return False
    return True

"""The approval web UI (served by `vibot daemon` and by `vibot web`)."""

from bot.web.app import create_web_app

__all__ = ["create_web_app"]

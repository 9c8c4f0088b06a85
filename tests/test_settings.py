"""Settings: .env.example is complete and loads as it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def test_env_example_loads_to_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith(("VIBOT_", "OPENAI_")):
            monkeypatch.delenv(name)
    settings = Settings(_env_file=EXAMPLE)  # type: ignore[call-arg]
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.model_dump() == defaults.model_dump()


def test_env_example_lists_every_setting() -> None:
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", EXAMPLE.read_text(), re.MULTILINE))
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = set(alias.choices) if alias is not None else {f"VIBOT_{name.upper()}"}  # type: ignore[union-attr]
        assert names & listed, f"{name} is missing from .env.example"


def test_a_publishers_api_url_comes_from_vibot_api_urls_its_own_setting_or_its_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIBOT_API_URLS", '{"bluesky": "http://127.0.0.1:9/xrpc"}')
    monkeypatch.setenv("VIBOT_TIKTOK_API_URL", "http://127.0.0.1:8")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.api_url("bluesky", "https://bsky.social") == "http://127.0.0.1:9/xrpc"
    assert settings.api_url("tiktok", "https://open.tiktokapis.com") == "http://127.0.0.1:8"
    assert settings.api_url("mastodon", "https://mastodon.social") == "https://mastodon.social"

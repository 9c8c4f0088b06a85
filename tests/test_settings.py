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

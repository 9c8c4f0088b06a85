"""Logs are structured and never carry a secret."""

from __future__ import annotations

import json

import pytest
import structlog

from bot.log import configure_logging


def test_secret_values_and_keys_are_redacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MARA_IG_PASSWORD", "correct-horse-battery")
    monkeypatch.setenv("KLING_SECRET_KEY", "sk-live-123456")
    monkeypatch.setenv("VIBOT_HOME", "/srv/vibot")  # not a secret name: kept
    configure_logging("INFO", "json")
    log = structlog.get_logger("test")
    log.info(
        "login failed for correct-horse-battery",
        detail="token sk-live-123456 rejected",
        api_token="whatever",
        home="/srv/vibot",
    )
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["event"] == "login failed for ***"
    assert record["detail"] == "token *** rejected"
    assert record["api_token"] == "***"
    assert record["home"] == "/srv/vibot" and record["level"] == "info" and "timestamp" in record


def test_levels_filter(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "console")
    log = structlog.get_logger("test")
    log.info("hidden")
    log.warning("shown")
    err = capsys.readouterr().err
    assert "shown" in err and "hidden" not in err

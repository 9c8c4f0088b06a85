"""The test persona and apps built around it."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import yaml

from bot.context import App
from bot.settings import Settings

BASE_PERSONA: dict[str, Any] = {
    "id": "tess",
    "name": "Tess Test",
    "timezone": "Europe/Berlin",
    # Pacing off: most tests publish several posts at once (tests/test_graph.py tests pacing).
    "account": {"publisher": "outbox", "daily_cap": 50, "min_spacing": "0m"},
    "disclosure": {
        "label": "AI-generated",
        "caption_line": "Tess is a virtual influencer; this post is AI-generated.",
    },
    "voice": {"hashtags": {"always": ["#test"], "max": 4}},
    "appearance": {"trigger": "t3ss woman", "base_prompt": "photo of a woman"},
    "pillars": [
        {"name": "travel", "weight": 2, "scenes": ["harbour at dawn", "old town square", "mountain pass"]},
        {"name": "food", "weight": 1, "scenes": ["market stall", "noodle bar"]},
    ],
    "schedule": {
        "posts_per_week": 5,
        "reel_share": 0.0,
        "windows": ["mon-fri 08:00-09:30", "sat,sun 10:00-12:00"],
        "lead_time": "24h",
        "grace": "2h",
        "min_gap": "3h",
    },
    # Small feed size: the watermark costs ~2 s at 1080x1350 on a 2-core CPU, ~0.2 s here.
    "pipeline": {"image": {"model": "tiny-flux", "steps": 2, "size": "320x400"}},
}


# tess publishing through the Graph API; the tests set these two variables (the fake's ids).
GRAPH_ACCOUNT = {"publisher": "graph", "user_id_env": "TESS_IG_USER_ID", "token_env": "TESS_IG_TOKEN"}


def persona_data(**overrides: Any) -> dict[str, Any]:
    """The base persona with nested overrides, e.g. persona_data(schedule={"posts_per_week": 3})."""
    data = copy.deepcopy(BASE_PERSONA)
    if "accounts" in overrides:  # several platforms instead of the one account
        data.pop("account")
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def write_persona(directory: Path, name: str = "tess.yaml", **overrides: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(yaml.safe_dump(persona_data(**overrides), sort_keys=False))
    return path


def make_app(home: Path, database_url: str | None = None, tiny_model: Path | None = None) -> App:
    if tiny_model is not None:
        target = home / "models" / "tiny-flux"
        if not target.exists():
            shutil.copytree(tiny_model, target)
    settings = Settings(home=home, personas_dir=home / "personas", database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    return App(settings)

"""Every extension point is a registry whose names are written once, and everything that
offers a choice (persona schema, CLI, docs, web counters) reads it from there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.publishers import registry
from bot.reeling import BACKENDS
from content.errors import PersonaError
from content.persona import load_persona
from content.platforms import account_models, platforms, publisher_names
from content.platforms.instagram import SPEC as INSTAGRAM
from content.reels.kinds import ReelBackend, Transition, names
from tests.support.cli import cli
from tests.support.personas import persona_data

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "personas" / "README.md").read_text()


def readme_row(key: str) -> str:
    return next(line for line in README.splitlines() if line.startswith(f"| `{key}`"))


def test_every_described_publisher_has_a_module_and_every_module_a_description() -> None:
    assert set(registry()) == set(account_models()) == set(publisher_names())
    for name, registration in registry().items():
        assert registration.account is account_models()[name]
        assert registration.account.spec() in platforms().values()
    assert platforms()["instagram"] is INSTAGRAM


def test_the_docs_list_every_publisher_backend_and_transition() -> None:
    for key, choices in (
        ("account.publisher", publisher_names()),
        ("pipeline.reel.backend", names(ReelBackend)),
        ("pipeline.post.transition", names(Transition)),
    ):
        row = readme_row(key)
        listed = set(re.findall(r"`([a-z-]+)`", row.split("|")[2]))
        assert listed == set(choices), f"{key}: the README lists {sorted(listed)}, the registry {choices}"


def test_every_reel_backend_has_its_stage() -> None:
    assert set(BACKENDS) == set(ReelBackend)


def test_the_schema_takes_each_name_and_refuses_others_with_the_list(tmp_path: Path) -> None:
    for backend in names(ReelBackend):
        if backend == "kling":
            continue  # needs 5 or 10 s; the choice itself is what is checked here
        data = persona_data(pipeline={"reel": {"backend": backend}})
        path = tmp_path / "p.yaml"
        path.write_text(yaml.safe_dump(data))
        assert load_persona(path).pipeline.reel.backend == backend
    path.write_text(yaml.safe_dump(persona_data(pipeline={"post": {"transition": "wipe"}})))
    with pytest.raises(PersonaError) as raised:
        load_persona(path)
    assert "'wipe' is not allowed — use one of 'crossfade', 'slide' or 'cut'" in str(raised.value.problems[0])


def test_the_cli_offers_the_registry_names(tmp_path: Path) -> None:
    shown = cli(tmp_path, "reel", "--help").stdout
    assert ", ".join(names(ReelBackend)) in shown and ", ".join(names(Transition)) in shown


def test_a_persona_reads_its_limits_from_its_platform(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(persona_data(account={"publisher": "graph"})))
    persona = load_persona(path)
    assert persona.platform is INSTAGRAM
    assert (INSTAGRAM.caption_limit, INSTAGRAM.hashtag_limit, INSTAGRAM.ai_flag.parameter) == (
        2200,
        30,
        "is_ai_generated",
    )
    assert INSTAGRAM.caption_problems("x" * 2201, 31) == [
        "the caption is 2201 characters; Instagram allows 2200 — shorten it by 1",
        "the caption has 31 hashtags; Instagram allows 30 — remove 1",
    ]

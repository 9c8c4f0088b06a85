"""Persona files: every class of mistake gets its exact one-line message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from content.errors import PersonaError
from content.persona import load_persona, load_personas, persona_files

GOOD = """\
id: tess
name: Tess Test
timezone: Europe/Berlin
disclosure:
  label: AI-generated
  caption_line: "Tess is a virtual influencer; this post is AI-generated."
appearance:
  base_prompt: photo of a woman
pillars:
  - name: travel
    scenes: [harbour at dawn]
schedule:
  posts_per_week: 5
  windows: ["mon-fri 08:00-09:30"]
"""
REPO = Path(__file__).resolve().parents[1]


def problems_for(tmp_path: Path, text: str | bytes, name: str = "p.yaml") -> list[str]:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(PersonaError) as caught:
        load_persona(path)
    return [str(problem).removeprefix(f"{path}:") for problem in caught.value.problems]


def test_the_example_personas_are_valid() -> None:
    personas = load_personas(persona_files(REPO / "personas"))
    formats = {p.id: p.schedule.reel_share for p in personas}
    assert len(personas) >= 2
    assert min(formats.values()) == 0.0 and max(formats.values()) >= 0.5  # one photo-led, one reel-led
    assert all(p.disclosure.label and p.disclosure.caption_line for p in personas)


def test_a_good_file_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    persona = load_persona(path)
    assert persona.id == "tess" and persona.schedule.posts_per_week == 5
    assert persona.schedule.windows[0].days == (0, 1, 2, 3, 4)
    assert persona.pipeline.image.size.width == 1080 and persona.source == path


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        pytest.param(
            lambda t: t.replace("  label: AI-generated", "\tlabel: AI-generated"),
            "5:1: persona: YAML does not allow tabs for indentation — indent with spaces",
            id="tab",
        ),
        pytest.param(
            lambda t: t.replace("  caption_line", "    caption_line"),
            "6:17: persona: mapping values are not allowed here — check the indentation and the ':' "
            "after each key near here",
            id="bad-indentation",
        ),
        pytest.param(
            lambda t: t.replace("posts_per_week: 5", "posts_per_week: five"),
            "13:19: schedule.posts_per_week: expected a whole number, got 'five' — write a whole number here",
            id="wrong-type",
        ),
        pytest.param(
            lambda t: t.replace(
                "pillars:\n  - name: travel\n    scenes: [harbour at dawn]", "pillars: travel"
            ),
            "9:10: pillars: expected a list, got 'travel' — write one '- item' per line",
            id="not-a-list",
        ),
        pytest.param(
            lambda t: t + "commercial: maybe\n",
            "15:13: commercial: expected true or false, got 'maybe' — write true or false here",
            id="not-a-bool",
        ),
        pytest.param(
            lambda t: t.replace("timezone: Europe/Berlin", "timezone: Europe/Berlin\ntimezon: x"),
            "4:1: timezon: unknown key 'timezon' — did you mean 'timezone'? (allowed: account, accounts, "
            "appearance, "
            "bio, commercial, disclosure, id, name, pillars, pipeline, schedule, timezone, voice)",
            id="unknown-key",
        ),
        pytest.param(
            lambda t: t + "accounts:\n  - publisher: graph\n  - publisher: outbox\n",
            "17:16: accounts[1].publisher: entries 1 and 2 both post to Instagram — list one account "
            "per platform",
            id="two-accounts-on-one-platform",
        ),
        pytest.param(
            lambda t: t + "account: {publisher: outbox}\naccounts:\n  - publisher: tiktok\n",
            "15:10: account: give account: (one platform) or accounts: (several), not both — move it "
            "into accounts:",
            id="account-and-accounts",
        ),
        pytest.param(
            lambda t: t + "accounts:\n  - publisher: graph\n  - publisher: tiktok\n    user_id_env: X\n",
            "18:5: accounts[1].user_id_env: 'user_id_env' belongs to a graph or threads account, not "
            "tiktok — remove it, or set publisher: graph",
            id="a-field-of-another-publisher-in-accounts",
        ),
        pytest.param(
            lambda t: t.replace("  posts_per_week: 5", "  posts_per_week: 5\n  post_per_day: 2"),
            "14:3: schedule.post_per_day: unknown key 'post_per_day' — did you mean 'posts_per_week'? "
            "(allowed: adapt, carousel_share, grace, lead_time, min_gap, posts_per_week, reel_share, "
            "scene_repeat_days, windows)",
            id="unknown-nested-key",
        ),
        pytest.param(
            lambda t: t + "name: Again\n",
            "15:1: name: key 'name' appears twice — keep one of them",
            id="duplicate-key",
        ),
        pytest.param(
            lambda t: t.replace("Europe/Berlin", "Europe/Berln"),
            "3:11: timezone: unknown time zone 'Europe/Berln' — did you mean 'Europe/Berlin'?",
            id="unknown-time-zone",
        ),
        pytest.param(
            lambda t: t.replace("mon-fri 08:00-09:30", "mon-fry 8-9"),
            "14:13: schedule.windows[0]: malformed posting window 'mon-fry 8-9' — write it like "
            "'mon-fri 08:00-09:30' or 'sat,sun 10:00-12:00'",
            id="malformed-window",
        ),
        pytest.param(
            lambda t: t.replace("mon-fri 08:00-09:30", "mon-fri 10:00-09:30"),
            "14:13: schedule.windows[0]: posting window 'mon-fri 10:00-09:30' ends before it starts — "
            "write the earlier time first (windows cannot cross midnight)",
            id="window-backwards",
        ),
        pytest.param(
            lambda t: t.replace("mon-fri 08:00-09:30", "mon-fri 08:00-25:30"),
            "14:13: schedule.windows[0]: impossible time in posting window 'mon-fri 08:00-25:30' — "
            "use 24-hour times from 00:00 to 23:59",
            id="window-impossible-time",
        ),
        pytest.param(
            lambda t: t.replace("posts_per_week: 5", "posts_per_week: -1"),
            "13:19: schedule.posts_per_week: -1 is out of range — it must be at least 0",
            id="negative-cadence",
        ),
        pytest.param(
            lambda t: t.replace("posts_per_week: 5", "posts_per_week: 5\n  reel_share: 1.5"),
            "14:15: schedule.reel_share: 1.5 is out of range — it must be at most 1.0",
            id="share-above-1",
        ),
        pytest.param(
            lambda t: t.replace("posts_per_week: 5", "posts_per_week: 5\n  lead_time: soon"),
            "14:14: schedule.lead_time: 'soon' is not a duration — write it like 30m, 2h, 1d or 1w",
            id="bad-duration",
        ),
        pytest.param(
            lambda t: t + "pipeline:\n  image:\n    size: 1080x99999\n",
            "17:11: pipeline.image.size: 1080x99999 has aspect 0.01, outside Instagram's 4:5..1.91:1 — "
            "use 1080x1350 (4:5), 1080x1080 (1:1) or 1080x566 (1.91:1)",
            id="impossible-aspect",
        ),
        pytest.param(
            lambda t: t + "pipeline:\n  image:\n    size: 5000x5000\n",
            "17:11: pipeline.image.size: width 5000 is outside Instagram's 320..1440 — "
            "use 1080x1350 or 1080x1080",
            id="impossible-width",
        ),
        pytest.param(
            lambda t: t.replace("label: AI-generated", 'label: ""'),
            "5:10: disclosure.label: must not be empty — write the text",
            id="empty-label",
        ),
        pytest.param(
            lambda t: t.replace(
                'caption_line: "Tess is a virtual influencer; this post is AI-generated."',
                'caption_line: "  "',
            ),
            "6:17: disclosure.caption_line: must not be empty — AI disclosure is mandatory; write the text",
            id="blank-caption-line",
        ),
        pytest.param(
            lambda t: t + "account:\n  publisher: myspace\n",
            "16:14: account.publisher: unsupported publisher 'myspace' — "
            "use one of: graph, instagrapi, outbox, threads, tiktok, youtube",
            id="unsupported-publisher",
        ),
        pytest.param(
            lambda t: t + "account:\n  publisher: instagrapi\n  password_env: hunter2!\n",
            "17:17: account.password_env: this must be the NAME of an environment variable (like "
            "MARA_IG_PASSWORD), not the secret itself — put the secret in the environment and name it here",
            id="secret-in-file",
        ),
        pytest.param(
            lambda t: t + "account:\n  publisher: instagrapi\n  token_env: TESS_TOKEN\n",
            "17:3: account.token_env: 'token_env' belongs to a graph, threads, tiktok or youtube account, "
            "not instagrapi — remove it, or set publisher: graph",
            id="graph-field-on-an-instagrapi-account",
        ),
        pytest.param(
            lambda t: t + "account:\n  publisher: graph\n  tokn_env: TESS_TOKEN\n",
            "17:3: account.tokn_env: unknown key 'tokn_env' — did you mean 'token_env'? (allowed: daily_cap, "
            "min_spacing, publisher, token_env, user_id_env)",
            id="typo-in-a-graph-account",
        ),
        pytest.param(
            lambda t: t + "commercial: true\npipeline:\n  image:\n    model: black-forest-labs/FLUX.1-dev\n",
            "18:12: pipeline.image.model: 'black-forest-labs/FLUX.1-dev' is licensed under FLUX.1 [dev] "
            "Non-Commercial License, which forbids commercial use, but this persona is commercial: true — "
            "use black-forest-labs/FLUX.1-schnell, or set commercial: false",
            id="licence",
        ),
        pytest.param(
            lambda t: t.replace("name: Tess Test\n", ""),
            "1:1: name: required key 'name' is missing — add it",
            id="missing-key",
        ),
    ],
)
def test_each_mistake_has_its_exact_message(tmp_path: Path, edit, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert problems_for(tmp_path, edit(GOOD)) == [expected]


def test_missing_referenced_files_are_named_with_where_they_were_looked_for(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  base_prompt: photo of a woman", "  base_prompt: photo of a woman\n  lora: loras/tess.safetensors"
    )
    text += "pipeline:\n  post:\n    lut: luts/warm.cube\n    music: music/\n"
    assert problems_for(tmp_path, text) == [
        f"9:9: appearance.lora: LoRA file 'loras/tess.safetensors' does not exist (looked for "
        f"{tmp_path / 'loras/tess.safetensors'}) — put the file there or fix the path "
        "(relative to the persona file)",
        f"18:10: pipeline.post.lut: LUT file 'luts/warm.cube' does not exist (looked for "
        f"{tmp_path / 'luts/warm.cube'}) — put the file there or fix the path (relative to the persona file)",
        f"19:12: pipeline.post.music: music file or folder 'music' does not exist (looked for "
        f"{tmp_path / 'music'}) — put the file there or fix the path (relative to the persona file)",
    ]
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras/tess.safetensors").write_bytes(b"x")
    (tmp_path / "luts").mkdir()
    (tmp_path / "luts/warm.cube").write_text("LUT_3D_SIZE 2\n")
    (tmp_path / "music").mkdir()
    persona = load_persona(tmp_path / "p.yaml")
    assert persona.appearance.lora == tmp_path / "loras/tess.safetensors"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("", "1:1: persona: the file is empty — write a persona (see personas/)", id="empty"),
        pytest.param(
            "\n  \n# just a comment\n",
            "1:1: persona: the file is empty — write a persona (see personas/)",
            id="only-comments",
        ),
        pytest.param(
            b"\x89PNG\r\n\x1a\n\x00\x00",
            "1:1: persona: this is a binary file, not YAML — point at a .yaml persona",
            id="binary",
        ),
        pytest.param(
            GOOD.replace("Tess Test", "Tess T\u00e9st").encode("latin-1"),
            "2:13: persona: byte 0xe9 is not UTF-8 — save the file as UTF-8",
            id="latin-1",
        ),
        pytest.param(
            "- just\n- a list\n",
            "1:1: persona: a persona file must be a mapping of keys (id:, name:, …) — see personas/",
            id="not-a-mapping",
        ),
    ],
)
def test_unreadable_files(tmp_path: Path, content: str | bytes, expected: str) -> None:
    assert problems_for(tmp_path, content) == [expected]


def test_yaml_1_1_surprises_are_not_applied(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(GOOD.replace("id: tess", "id: tess\nbio: no").replace("name: Tess Test", "name: 'On'"))
    persona = load_persona(path)
    assert persona.bio == "no" and persona.name == "On"


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD)
    with pytest.raises(PersonaError) as caught:
        load_personas([tmp_path / "a.yaml", tmp_path / "b.yaml"])
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'b.yaml'}:1:5: id: persona id 'tess' is already used by {tmp_path / 'a.yaml'} — "
        "give each persona a unique id"
    ]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_persona_check_cli_exit_codes_and_one_line_per_problem(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    ok = run_cli("persona", "check", str(good))
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD.replace("Europe/Berlin", "Mars/Olympus").replace("posts_per_week: 5", "posts_per_week: x")
    )
    result = run_cli("persona", "check", str(good), str(bad), str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"{bad}:3:11: timezone: unknown time zone 'Mars/Olympus' — use an IANA name like Europe/Berlin",
        f"{bad}:13:19: schedule.posts_per_week: expected a whole number, got 'x' — write a whole number here",
        f"{tmp_path / 'missing.yaml'}:1:1: persona: cannot read the file (No such file or directory) — "
        "check the path",
    ]
    assert "Traceback" not in result.stderr


def test_upscaler_files_are_checked_for_existence_and_licence(tmp_path: Path) -> None:
    missing = problems_for(
        tmp_path, GOOD + "pipeline:\n  upscale:\n    model: models/RealESRGAN_x4plus.pth\n"
    )
    assert missing == [
        f"17:12: pipeline.upscale.model: upscaler model file 'models/RealESRGAN_x4plus.pth' does not exist "
        f"(looked for {tmp_path.resolve()}/models/RealESRGAN_x4plus.pth) — put the file there or fix the "
        "path (relative to the persona file)"
    ]
    (tmp_path / "4x-UltraSharp.pth").write_bytes(b"weights")
    (tmp_path / "RealESRGAN_x4plus.pth").write_bytes(b"weights")
    commercial = GOOD + "commercial: true\npipeline:\n  upscale:\n    model: 4x-UltraSharp.pth\n"
    assert problems_for(tmp_path, commercial) == [
        "18:12: pipeline.upscale.model: the upscaler '4x-UltraSharp' is licensed under CC-BY-NC-SA-4.0, "
        "which forbids commercial use, but this persona is commercial: true — use RealESRGAN_x4plus "
        "(BSD-3-Clause), lanczos, or set commercial: false"
    ]
    (tmp_path / "ok.yaml").write_text(commercial.replace("4x-UltraSharp", "RealESRGAN_x4plus"))
    persona = load_persona(tmp_path / "ok.yaml")
    assert persona.pipeline.upscale.model == str((tmp_path / "RealESRGAN_x4plus.pth").resolve())

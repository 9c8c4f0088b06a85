"""The command line as users run it: exit codes, one-line errors, JSON, the demo."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.context import App
from tests.support.cli import cli, cli_here
from tests.support.personas import write_persona

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def home(sqlite_app: App) -> Path:
    return sqlite_app.settings.home


@pytest.mark.slow
def test_plan_prepare_review_publish_through_the_cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # In this process (cli_here): what each command does and says. Whole processes are the
    # demo's, the daemon's and the crash tests' subject.
    def vibot(*args: str) -> subprocess.CompletedProcess[str]:
        return cli_here(monkeypatch, home, *args)

    assert vibot("plan", "--days", "14").returncode == 0
    listed = json.loads(vibot("queue", "list", "--json", "--status", "planned").stdout)
    assert len(listed) >= 8 and all(p["status"] == "planned" for p in listed)
    assert set(listed[0]) == {
        "id",
        "persona",
        "format",
        "status",
        "slot_utc",
        "slot_local",
        "pillar",
        "scene",
        "plan_reason",
        "caption",
        "caption_variants",
        "alt_text",
        "caption_writer",
        "review_flags",
        "media",
        "publications",
    }
    first = listed[0]["id"]
    prepared = vibot("prepare", "--post", str(first))
    assert prepared.returncode == 0, prepared.stderr
    (post,) = [p for p in json.loads(vibot("queue", "list", "--json").stdout) if p["id"] == first]
    assert post["status"] == "in_review" and Path(post["media"][0]["path"]).exists()
    edited = vibot("queue", "edit", str(first), "--caption", "Morning light at the harbour")
    assert edited.returncode == 0, edited.stderr
    shown = vibot("queue", "show", str(first)).stdout
    assert "Tess is a virtual influencer; this post is AI-generated.\n\nMorning light at the harbour" in shown
    assert vibot("queue", "approve", str(first), "--by", "ana").returncode == 0
    until = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    published = vibot("publish", "--until", until)
    assert published.returncode == 0 and f"post {first}: published" in published.stdout
    assert vibot("publish", "--until", until).stdout.strip() == "nothing due"
    assert "published" in vibot("queue", "show", str(first)).stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["queue", "show", "999"], "error: there is no post 999 — list posts with 'vibot queue list'\n"),
        (["queue", "approve", "999"], "error: there is no post 999 — list posts with 'vibot queue list'\n"),
        (
            ["publish", "--until", "next tuesday"],
            "error: --until 'next tuesday' is not a time — write it like 2026-12-01T18:00 or "
            "2026-12-01T18:00+01:00 "
            "(no zone means UTC)\n",
        ),
        (["prepare", "--post", "999"], "error: post 999 is not planned — see 'vibot queue show 999'\n"),
        (
            ["queue", "move", "999", "--to", "soon"],
            "error: --to 'soon' is not a time — write it like 2026-12-01T18:00 or 2026-12-01T18:00+01:00 "
            "(no zone means UTC)\n",
        ),
        (
            ["queue", "regenerate", "999"],
            "error: there is no post 999 — list posts with 'vibot queue list'\n",
        ),
        (
            ["queue", "settle", "999", "maybe"],
            "error: that is not a decision — use one of published, retry, skip\n",
        ),
        (["queue", "retry", "999"], "error: there is no post 999 — list posts with 'vibot queue list'\n"),
        (
            ["queue", "move", "999", "--to", "2020-01-01T10:00"],
            "error: post 999: the new time 2020-01-01 10:00 UTC is past — pick a later one\n",
        ),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(
    home: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli_here(monkeypatch, home, *args)
    assert (result.returncode, result.stderr) == (2, message)


def test_usage_errors_exit_2(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli_here(monkeypatch, home, "queue", "list", "--status", "nonsense")
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_a_broken_persona_folder_stops_every_command_with_its_problems(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_persona(home / "personas", name="other.yaml", id="other", timezone="Nowhere/City")
    result = cli_here(monkeypatch, home, "plan")
    assert result.returncode == 2
    assert result.stderr == (
        f"{home / 'personas' / 'other.yaml'}:3:11: timezone: unknown time zone "
        "'Nowhere/City' — use an IANA name like Europe/Berlin\n"
    )


def test_a_bad_setting_is_one_line(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = cli_here(monkeypatch, home, "queue", "list", VIBOT_PLAN_DAYS="lots")
    assert result.returncode == 2 and result.stderr.startswith("error: invalid setting:")
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_demo_runs_offline_and_leaves_posts_in_review(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "demo"
    # In this process: what the demo does is the subject here (it still builds its tiny model
    # on first use), not a Python start-up and a torch import (~12 s).
    # One post per persona: still Mara's feed post and Kai's reel, at half the cost of `make demo`.
    result = cli_here(
        monkeypatch, tmp_path, "demo", "--home", str(home), "--posts", "1",
        VIBOT_PERSONAS_DIR=str(REPO / "personas"), HF_HUB_OFFLINE="1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Next:" in result.stdout and "vibot queue approve ID" in result.stdout
    # The face guard runs on the example personas; the tiny model draws no faces.
    assert "identity: no face found (limit 0.60) after 1 image(s)" in result.stdout

    def vibot(*args: str) -> subprocess.CompletedProcess[str]:  # what the user runs next
        return cli_here(monkeypatch, home, *args, VIBOT_PERSONAS_DIR=str(REPO / "personas"))

    # Six simulated weeks stand behind the analytics page, labelled so wherever shown.
    measured = json.loads(vibot("insights", "report", "--json").stdout)
    assert {r["persona"] for r in measured} == {"mara", "kai"}
    assert all(r["simulated"] and r["posts_measured"] >= 18 for r in measured)
    assert "SIMULATED" in result.stdout
    planned = json.loads(vibot("queue", "list", "--json", "--status", "planned").stdout)
    assert any("× the others' median" in (p["plan_reason"] or "") for p in planned if p["persona"] == "mara")
    in_review = json.loads(vibot("queue", "list", "--json", "--status", "in_review").stdout)
    assert {p["persona"] for p in in_review} == {"mara", "kai"} and len(in_review) == 2
    for post in in_review:
        assert post["media"] and all(Path(m["path"]).exists() for m in post["media"])
        assert post["caption"].splitlines()[0].endswith("AI-generated.")
    reels = [p for p in in_review if p["format"] == "reel"]
    assert reels and reels[0]["media"][0]["path"].endswith(".mp4")
    # Every file passes `vibot verify`, and independent readers agree.
    paths = [m["path"] for p in in_review for m in p["media"]]
    verified = vibot("verify", *paths)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    import c2pa

    read_by_exiftool = json.loads(
        subprocess.run(
            ["exiftool", "-j", "-XMP-iptcExt:DigitalSourceType", *paths],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )  # one exiftool for every file
    assert sorted(r["SourceFile"] for r in read_by_exiftool) == sorted(paths)
    for found in read_by_exiftool:
        assert (
            found["DigitalSourceType"]
            == "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
        )
    for path in paths:
        assert c2pa.Reader(path).get_validation_state() == "Valid"


@pytest.mark.slow
def test_models_list_shows_licences_and_what_is_here(home: Path) -> None:
    result = cli(home, "models", "list", COLUMNS="200")
    assert result.returncode == 0, result.stderr
    rows = {
        line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]]
        for line in result.stdout.splitlines()
        if line.startswith("│") and line.split("│")[1].strip()
    }
    assert rows["tiny-flux"][1:3] == ["yes", "yes"]  # commercial use, here (the fixture copied it)
    assert rows["black-forest-labs/FLUX.1-dev"][:3] == ["FLUX.1 [dev] Non-Commercial License", "no", "no"]


def test_account_list_and_resume(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listed = cli_here(monkeypatch, home, "account", "list")
    assert listed.returncode == 0 and "tess" in listed.stdout and "active" in listed.stdout
    resumed = cli_here(monkeypatch, home, "account", "resume", "tess")
    assert resumed.returncode == 0 and "account of tess: active" in resumed.stdout
    unknown = cli_here(monkeypatch, home, "account", "resume", "nobody")
    assert unknown.returncode == 2 and unknown.stderr.startswith("error:") and unknown.stderr.count("\n") == 1

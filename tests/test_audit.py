"""The audit trail: every generation, approval, edit, rejection and publication is a line,
chained by SHA-256; an edited, removed or reordered line is found and named."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.context import App
from bot.publishing import publish_pass
from bot.review import approve, edit_caption, reject
from storage.audit import export_lines, verify_log
from tests.support.cli import cli_here
from tests.support.personas import make_app, write_persona
from tests.support.posts import ready_post
from tests.support.shared import built_once


def lines_of(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(raw) for raw in path.read_text().splitlines()]


@pytest.fixture
def audited(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, tmp_path: Path) -> App:
    """A copy of a home with a published post and a rejected one: every kind of line."""

    def build(home: Path) -> None:
        write_persona(home / "personas")
        app = make_app(home, f"sqlite:///{home / 'vibot.db'}", tiny_model)
        published, rejected = ready_post(app), ready_post(app, datetime.now(UTC) + timedelta(hours=5))
        edit_caption(app, published, "Harbour at dawn, coffee in hand.", "ana")
        approve(app, published, "ana")
        reject(app, rejected, "off-brand", "ben")
        publish_pass(app)
        app.engine.dispose()

    home = tmp_path / "home"
    shutil.copytree(built_once(tmp_path_factory, "audited-home", build), home, symlinks=True)
    return make_app(home, f"sqlite:///{home / 'vibot.db'}")


def test_each_state_change_is_a_chained_line(audited: App) -> None:
    app = audited
    lines = lines_of(app.settings.audit_file)
    assert [(line["kind"], line["by"]) for line in lines] == [
        ("generated", "vibot"),
        ("generated", "vibot"),
        ("edited", "ana"),
        ("approved", "ana"),
        ("rejected", "ben"),
        ("published", "vibot"),
    ]
    generated, approved, published = lines[0], lines[3], lines[5]
    assert generated["data"]["files"][0]["sha256"] and generated["data"]["images"][0]["model_fingerprint"]
    assert generated["data"]["images"][0]["seed"] is not None
    assert approved["data"]["media_sha256"] == [f["sha256"] for f in generated["data"]["files"]]
    assert published["data"]["platform"] == "instagram" and published["data"]["remote_id"]
    assert [line["prev"] for line in lines[1:]] == [line["hash"] for line in lines[:-1]]
    assert verify_log(app.engine, app.settings.audit_file).ok


@pytest.mark.parametrize("tamper", ["edit", "delete", "reorder", "delete-last"])
def test_tampering_is_found_at_its_line(audited: App, tamper: str) -> None:
    path = audited.settings.audit_file
    raw = path.read_text().splitlines()
    if tamper == "edit":
        raw[3] = raw[3].replace('"ana"', '"mallory"')
    elif tamper == "delete":
        del raw[2]
    elif tamper == "reorder":
        raw[1], raw[2] = raw[2], raw[1]
    else:
        raw.pop()
    path.write_text("\n".join(raw) + "\n")
    verdict = verify_log(audited.engine, path)
    expected = {
        "edit": f"{path}:4: its content does not match its hash (edited)",
        "delete": f"{path}:3: it does not follow the line before (a line removed or moved)",
        "reorder": f"{path}:2: it does not follow the line before (a line removed or moved)",
        "delete-last": f"{path}: entry 6 is in the database but not in the log (removed)",
    }[tamper]
    assert verdict.problem == expected


def test_the_cli_verifies_and_exports(audited: App, monkeypatch: pytest.MonkeyPatch) -> None:
    home = audited.settings.home
    ok = cli_here(monkeypatch, home, "audit", "verify")
    assert ok.returncode == 0 and "audit trail intact: 6 line(s)" in ok.stdout
    since = lines_of(audited.settings.audit_file)[4]["at"]
    exported = cli_here(monkeypatch, home, "audit", "export", "--since", since)
    assert [json.loads(line)["kind"] for line in exported.stdout.splitlines()] == ["rejected", "published"]
    path = audited.settings.audit_file
    path.write_text(path.read_text().replace('"ben"', '"eve"'))
    broken = cli_here(monkeypatch, home, "audit", "verify")
    assert broken.returncode == 1 and f"{path}:5: its content does not match its hash" in broken.stderr
    assert list(export_lines(path, datetime.now(UTC) + timedelta(days=1))) == []


def test_a_line_the_crash_left_unwritten_is_written_late_never_lost(audited: App) -> None:
    """The entry commits with its state change; the file catches up on the next write."""
    from storage.audit import write_log
    from storage.db import session_scope
    from storage.models import AuditEntry

    app = audited
    with session_scope(app.engine) as session:  # as if killed after the commit, before the append
        session.add(AuditEntry(kind="rejected", post_id=None, actor="ana", data="{}"))
    assert verify_log(app.engine, app.settings.audit_file).ok  # not written yet: late, not a break
    assert write_log(app.engine, app.settings.audit_file) == 1
    assert write_log(app.engine, app.settings.audit_file) == 0  # once
    assert verify_log(app.engine, app.settings.audit_file).lines == 7


def test_half_a_line_from_a_killed_writer_is_written_again_whole(audited: App) -> None:
    from storage.audit import write_log
    from storage.db import session_scope
    from storage.models import AuditEntry

    app = audited
    with session_scope(app.engine) as session:
        session.add(AuditEntry(kind="rejected", post_id=None, actor="ana", data="{}"))
    with app.settings.audit_file.open("ab") as log:
        log.write(b'{"seq": 7, "at": "2026-')  # the kill came mid-write
    assert write_log(app.engine, app.settings.audit_file) == 1
    assert verify_log(app.engine, app.settings.audit_file).lines == 7

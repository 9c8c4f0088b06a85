"""What waits and why: `vibot publish` and `vibot queue list` name the paused accounts, and the
queue table reads well at 80 and 120 columns."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from bot.cli import queue_table
from bot.publishing import publish_pass
from bot.review import approve
from storage.models import Post
from storage.status import PostStatus
from tests.support.personas import make_app
from tests.support.web import copy_of

CAPTION = (
    "Tess is a virtual influencer; this post is AI-generated.\n\n" + "A long caption about the harbour " * 6
)


def rows() -> list[tuple[Post, list[object]]]:
    slot = datetime(2026, 12, 7, 7, 15, tzinfo=UTC)
    made = []
    for number, (status, persona) in enumerate(
        [
            (PostStatus.IN_REVIEW, "tess"),
            (PostStatus.APPROVED, "kai"),
            (PostStatus.NEEDS_RECONCILE, "mara-long-id"),
        ],
        start=1,
    ):
        post = Post(id=number * 1000, persona_id=persona, slot_utc=slot + timedelta(hours=number),
                    timezone="Europe/Berlin", format="carousel", pillar="travel", scene="harbour", seed=1,
                    status=status, caption=CAPTION)  # fmt: skip
        made.append((post, [object(), object()]))
    return made


def render(width: int) -> list[str]:
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(queue_table(rows(), width, {"kai": "cooling down until 03:13 UTC (rate limit)"}))
    return console.export_text().splitlines()


def test_the_queue_reads_well_in_80_and_120_columns() -> None:
    for width in (80, 120):
        lines = render(width)
        assert all(len(line) <= width for line in lines), width
        assert len(lines) == 4, lines  # a header and one line per post: nothing wraps
        header, *body = lines
        assert header.split()[:4] == ["id", "persona", "format", "status"]
        statuses = ["in_review", "approved", "needs_reconcile"]
        slots = ["Mon 07 Dec 09:15", "Mon 07 Dec 10:15", "Mon 07 Dec 11:15"]
        for line, status, slot in zip(body, statuses, slots, strict=True):
            assert status in line and slot in line and "…" not in line.split(slot)[0], (width, line)
        assert "waits: cooling" in body[1] and "A long caption" in body[0]
    assert "waits: cooling down until 03:13 UTC (rate limit)" in render(120)[2]
    assert "media" in render(120)[0] and "CET" in render(120)[1]
    assert "media" not in render(80)[0]


@pytest.mark.slow
def test_publish_says_what_waits_and_why(site_templates, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    app = copy_of(site_templates(("photo", "carousel")), home)
    persona_file = home / "personas" / "tess.yaml"
    data = yaml.safe_load(persona_file.read_text())
    data["account"]["min_spacing"] = "30m"
    persona_file.write_text(yaml.safe_dump(data))
    app.engine.dispose()
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}")
    for post_id in (1, 2):
        approve(app, post_id, "ada")
    report = publish_pass(app, until=datetime.now(UTC) + timedelta(days=3))
    assert len(report.published) == 1 and sum(report.waiting.values()) == 1
    line = report.waiting_line()
    assert line is not None and re.fullmatch(
        r"1 approved post waits: tess spaced 30m \(next \d\d:\d\d UTC\)", line
    )
    again = publish_pass(app, until=datetime.now(UTC) + timedelta(days=3))
    assert again.published == [] and again.waiting_line() == line  # said again, not "nothing due"
    app.engine.dispose()

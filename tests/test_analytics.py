"""The analytics page in a real browser: the charts draw (canvases with pixels on them),
its numbers are the database's, the CSV export is exact, and it reads on a 390 px phone.
Screenshots at 1280 px and 390 px go to $VIBOT_SCREENSHOTS."""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from bot.context import App
from bot.insights import LATEST, collect
from bot.web.auth import add_user
from storage.db import session_scope
from storage.models import Metric, Post
from tests.support.insights import PUBLISHED_AT, published_posts
from tests.support.personas import make_app, write_persona
from tests.support.web import CHROMIUM, PASSWORD, REVIEWER, SHOTS, Site, running

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make test installs it)"),
]
expect.set_options(timeout=20_000)


@pytest.fixture
def measured(tmp_path: Path) -> Iterator[Site]:
    """A persona with 30 published posts measured by the outbox's simulated audience."""
    home = tmp_path / "home"
    write_persona(home / "personas")
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}")
    published_posts(app, 30, "instagram")
    collect(app, now=PUBLISHED_AT + timedelta(days=2))  # two days of followers, at least
    collect(app, now=PUBLISHED_AT + timedelta(days=8))
    add_user(app, REVIEWER, PASSWORD)
    with running(app, {}) as site:
        yield site


def from_database(app: App) -> dict[str, dict[str, float]]:
    """Each post's latest reach and interactions, read straight from the rows."""
    values: dict[int, dict[str, float]] = defaultdict(dict)
    with session_scope(app.engine) as session:
        for metric in session.exec(select(Metric).where(Metric.checkpoint == LATEST)):
            if metric.post_id is not None and metric.value is not None:
                values[metric.post_id][metric.metric] = metric.value
        pillars = {p.id: p.pillar for p in session.exec(select(Post))}
    by_pillar: dict[str, list[float]] = defaultdict(list)
    for post_id, found in values.items():
        by_pillar[pillars[post_id]].append(found["total_interactions"] / found["reach"])
    return {"posts": {"n": len(values)}, "median": {k: statistics.median(v) for k, v in by_pillar.items()}}


def log_in(page: Page, site: Site, target: str) -> None:
    page.goto(f"{site.url}{target}")
    page.get_by_label("Name").fill(REVIEWER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{site.url}{target}")


def inked(page: Page, selector: str) -> int:
    """How many of the canvas's pixels are not background."""
    return int(
        page.eval_on_selector(
            selector,
            """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 let n = 0;
                 for (let i = 0; i < d.length; i += 4)
                   if (d[i + 3] > 0 && (d[i] < 235 || d[i + 1] < 235 || d[i + 2] < 235)) n++;
                 return n; }""",
        )
    )


def test_the_analytics_page_draws_the_databases_numbers_and_exports_them(page: Page, measured: Site) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, measured, "/analytics/tess")
    expect(page.locator("body[data-charts-drawn]")).to_have_count(1)
    expect(page.locator(".simulated")).to_contain_text("Simulated audience")
    for chart in ("engagement", "reach", "pillar", "format", "followers"):
        assert inked(page, f"#chart-{chart} canvas") > 200, chart
    assert inked(page, "#heatmap") > 200
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "analytics-1280px.png"), full_page=True)

    truth = from_database(measured.app)
    shown = json.loads(page.locator("#analytics-data").text_content() or "{}")
    assert shown["posts"] == truth["posts"]["n"] == 30
    assert {row["name"]: row["median_engagement_rate"] for row in shown["by_pillar"]} == pytest.approx(
        truth["median"], abs=1e-5
    )
    page.get_by_text("The numbers as tables").click()
    expect(page.locator("table.numbers").first).to_contain_text("travel")

    exported = page.request.get(f"{measured.url}/analytics.csv?persona=tess")
    assert exported.ok and exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text())))
    assert len(table) == 30
    with session_scope(measured.app.engine) as session:
        reach = {
            m.post_id: m.value
            for m in session.exec(select(Metric).where(Metric.checkpoint == LATEST, Metric.metric == "reach"))
        }
    assert {int(row["post_id"]): float(row["reach"]) for row in table} == reach
    assert all(
        abs(float(r["engagement_rate"]) - float(r["total_interactions"]) / float(r["reach"])) < 1e-6
        for r in table
    )

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.locator("body[data-charts-drawn]")).to_have_count(1)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    assert inked(page, "#chart-pillar canvas") > 200
    page.screenshot(path=str(SHOTS / "analytics-390px.png"), full_page=True)

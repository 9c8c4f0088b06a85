"""Insights: the Graph API's documented flow and errors (a retired metric, #10), checkpoints
collected once across restarts, the hourly call budget, the simulated audience of the
outbox, and the planner fed from what was measured."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from bot.accounts import hold
from bot.analytics import outcomes_for, report
from bot.context import App
from bot.insights import collect
from storage.db import session_scope
from storage.models import InsightsCall, Metric, Post
from tests.fakes.graph_server import VERSION, FakeGraph, fake_graph
from tests.support.cli import cli_here
from tests.support.insights import PUBLISHED_AT, published_posts
from tests.support.instagrapi import BoundaryClient, PrivateApi, insights_node
from tests.support.personas import GRAPH_ACCOUNT, make_app, write_persona


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with fake_graph() as fake:
        yield fake


@pytest.fixture
def graph_app(tmp_path: Path, graph: FakeGraph, monkeypatch: pytest.MonkeyPatch, database_url: str) -> App:
    """On both databases: values are written with each one's INSERT … ON CONFLICT."""
    monkeypatch.setenv("TESS_IG_USER_ID", graph.ig_user_id)
    monkeypatch.setenv("TESS_IG_TOKEN", graph.token)
    home = tmp_path / "home"
    write_persona(home / "personas", account=GRAPH_ACCOUNT)
    base = make_app(home, database_url)
    return App(base.settings.model_copy(update={"graph_api_url": graph.url, "graph_api_version": VERSION}))


def rows(app: App) -> list[tuple[str, str, str, float | None]]:
    with session_scope(app.engine) as session:
        found = session.exec(select(Metric).order_by(col(Metric.id))).all()
        return [(m.subject, m.metric, m.checkpoint, m.value) for m in found]


def test_graph_insights_at_each_checkpoint_once_with_retired_and_unavailable_metrics(
    graph_app: App, graph: FakeGraph
) -> None:
    ids = published_posts(graph_app, 3, "instagram", graph)
    graph.retired_metrics |= {"shares"}  # Meta retires one of the metrics vibot asks for
    graph.too_few_viewers.add(graph.published[1]["id"])
    first = collect(graph_app, now=PUBLISHED_AT + timedelta(hours=25))  # +1 h and +24 h are due
    assert first.measured == 3 * 2 + 1 and first.retired == ["shares"] and first.waiting == 0
    stored = rows(graph_app)
    post = f"post:{ids[0]}"
    assert (post, "reach", "24h", 437.0) in stored and (
        post,
        "ig_reels_avg_watch_time",
        "24h",
        4200.0,
    ) in stored
    assert not any(metric == "shares" and checkpoint != "retired" for _, metric, checkpoint, _ in stored)
    assert ("account", "shares", "retired", None) in stored
    # Error #10: "not available", recorded as such, not a failure.
    assert all(value is None for subject, _, _, value in stored if subject == f"post:{ids[1]}")
    assert ("account", "followers", f"day:{(PUBLISHED_AT + timedelta(hours=25)).date()}", 5000.0) in stored

    calls, requests = len(graph.calls), len(graph.insight_requests)
    again = collect(graph_app, now=PUBLISHED_AT + timedelta(hours=26))  # a restart: nothing new is due
    assert again.measured == 0 and rows(graph_app) == stored and len(graph.calls) == calls
    later = collect(graph_app, now=PUBLISHED_AT + timedelta(days=8))  # +72 h and +7 d, a new day
    assert later.measured == 3 * 2 + 1
    later_requests = graph.insight_requests[requests:]
    assert later_requests and not any("shares" in metrics for metrics in later_requests)  # remembered


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the database does not matter here
def test_the_hourly_call_budget_holds_across_passes(graph_app: App, graph: FakeGraph) -> None:
    graph_app = App(graph_app.settings.model_copy(update={"insights_calls_per_hour": 4}))
    published_posts(graph_app, 6, "instagram", graph)
    now = PUBLISHED_AT + timedelta(hours=2)
    first = collect(graph_app, now=now)
    assert first.measured == 4 and first.waiting == 2
    assert collect(graph_app, now=now + timedelta(minutes=10)).measured == 0  # the hour is spent
    with session_scope(graph_app.engine) as session:
        assert session.exec(select(func.count()).select_from(InsightsCall)).one() == 4
    resumed = collect(graph_app, now=now + timedelta(hours=1, minutes=1))
    assert resumed.measured == 3  # the two that waited, and the account's day


def test_instagrapi_insights_come_from_its_media_insights_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESS_IG_USERNAME", "tess.test")
    monkeypatch.setenv("TESS_IG_PASSWORD", "pw-not-shown")
    monkeypatch.setattr("instagrapi.Client", BoundaryClient)  # the publisher's own Client()
    home = tmp_path / "home"
    account = {
        "publisher": "instagrapi",
        "username_env": "TESS_IG_USERNAME",
        "password_env": "TESS_IG_PASSWORD",
    }
    write_persona(home / "personas", account=account)
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}")
    ids = published_posts(app, 3, "instagram")
    reel, photo, fresh = "17900000000000001", "17900000000000002", "17900000000000003"
    api = PrivateApi(
        insights={
            reel: insights_node(reel, reach=900, impressions=1500, likes=80, comments=6, saves=9, shares=5),
            photo: insights_node(photo, reach=437, impressions=610, likes=31, comments=2, saves=4, shares=1),
            fresh: None,  # Instagram has no insights for it (too new, or not a professional account)
        }
    )
    monkeypatch.setattr(BoundaryClient, "api", api)

    day = f"day:{(PUBLISHED_AT + timedelta(hours=25)).date()}"
    first = collect(app, now=PUBLISHED_AT + timedelta(hours=25))
    assert first.measured == 3 * 2 + 1 and first.waiting == 0
    stored = rows(app)
    photo_post, reel_post = f"post:{ids[1]}", f"post:{ids[0]}"
    expected = {"reach": 437, "views": 610, "likes": 31, "comments": 2, "saved": 4, "shares": 1,
                "total_interactions": 31 + 2 + 4 + 1}  # fmt: skip
    for metric, value in expected.items():
        assert (photo_post, metric, "24h", float(value)) in stored
    assert (reel_post, "reach", "24h", 900.0) in stored
    assert (reel_post, "ig_reels_avg_watch_time", "24h", None) in stored  # the private API has none
    assert all(value is None for subject, _, _, value in stored if subject == f"post:{ids[2]}")
    assert ("account", "followers", day, 4321.0) in stored
    with session_scope(app.engine) as session:
        assert set(session.exec(select(Metric.source).distinct()).all()) == {"instagrapi"}
    # Through instagrapi's own request path: one insights query per post and checkpoint.
    assert api.requests.count("POST /api/v1/ads/graphql/") == 3 * 2
    assert api.requests.count("GET /api/v1/users/123/info/") == 1

    # An account held for a person is not logged into for insights either.
    hold(app, "tess", "instagram", "ChallengeRequired")
    asked = len(api.requests)
    held = collect(app, now=PUBLISHED_AT + timedelta(days=8))
    assert held.measured == 0 and len(api.requests) == asked


@pytest.mark.slow  # three CLI runs
def test_the_outbox_audience_is_simulated_and_feeds_the_planner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    write_persona(home / "personas", schedule={"adapt": {"pillars": True}})
    app = make_app(home, f"sqlite:///{home / 'vibot.db'}")
    published_posts(app, 12, "instagram")
    collected = collect(app, now=PUBLISHED_AT + timedelta(days=8))
    assert collected.measured == 12 * 4 + 1
    with session_scope(app.engine) as session:
        assert set(session.exec(select(Metric.source).distinct()).all()) == {"simulated"}
    persona = app.personas["tess"]
    outcomes = outcomes_for(app, persona)
    assert len(outcomes) == 12 and all(0 < o.value < 1 for o in outcomes)  # engagement rates
    assert {o.pillar for o in outcomes} == {"travel", "food"}

    found = report(app, persona)
    assert found["simulated"] is True and found["posts_measured"] == 12
    assert set(found["by_pillar"]) == {"travel", "food"} and len(found["top"]) == 3

    shown = cli_here(monkeypatch, home, "insights", "report", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)[0]["posts_measured"] == 12
    text = cli_here(monkeypatch, home, "insights", "report")
    assert "SIMULATED" in text.stdout and "median engagement" in text.stdout
    planned = cli_here(monkeypatch, home, "plan", "--days", "14")
    assert planned.returncode == 0
    with session_scope(app.engine) as session:
        reasons = session.exec(select(Post.plan_reason).where(col(Post.plan_reason).is_not(None))).all()
    assert reasons and all("× the others' median engagement rate over" in r for r in reasons if r)

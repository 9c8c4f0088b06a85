"""Insights: what the audience did with each published post, collected on a schedule.

Each published post is measured at +1 h, +24 h, +72 h and +7 d (Meta's numbers lag up to
48 h; the latest checkpoint's value is the one that counts), and each account once a day.
Every value is one row of `metrics`, upserted by (subject, metric, checkpoint): collecting
again, after a restart or twice in a pass, writes the same rows.

Sources, one per publisher (a Protocol and a registry keyed by the publisher's name):
- `graph`: the Instagram Graph API's media and account insights. Graph v22+ refuses a whole
  request that names a retired metric (`plays`, `impressions`, …): the metric the error
  names is dropped for that account (remembered as a `retired` row) and the rest asked
  again. Error #10, "not enough viewers", is stored as "not available" (a NULL value).
- `outbox`: a seeded *simulated audience* for the demo and tests, in which pillars,
  formats and hours have different true rates; every value is marked `simulated`.

Calls per account stay within `VIBOT_INSIGHTS_CALLS_PER_HOUR` (default 150): each call is
a row of `insights_calls`, so the budget holds across restarts, and what does not fit
waits for the next pass — 100 accounts' collection spreads over the hour.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import structlog
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, func, select

from bot.accounts import held_or_cooling
from bot.context import App
from content.errors import PublishError
from content.persona import Persona
from storage.db import session_scope
from storage.models import InsightsCall, Metric, Post, Publication
from storage.status import PublicationStatus

log = structlog.get_logger(__name__)

CHECKPOINTS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "72h": timedelta(hours=72),
    "7d": timedelta(days=7),
}
POST_METRICS = ("views", "reach", "likes", "comments", "saved", "shares", "total_interactions")
REEL_METRICS = ("ig_reels_avg_watch_time",)
ACCOUNT_METRICS = ("reach", "views", "accounts_engaged")
NOT_AVAILABLE_CODE = 10  # "(#10) Not enough viewers for the media to show insights"
RETIRED = "retired"  # the checkpoint of a metric the platform no longer serves for an account
LATEST = "latest"  # a post's newest value of each metric, kept beside its checkpoint's: the one
# that counts, read without sorting checkpoints (an analytics page over 10,000 posts)


class InsightsBudgetSpent(Exception):
    """This account has used its calls for the hour; the rest waits for the next pass."""


@dataclass(frozen=True)
class Measured:
    values: dict[str, float | None]  # metric → value; None: the platform has none to give
    source: str


class InsightsSource(Protocol):
    def post_insights(
        self, post: Post, remote_id: str, checkpoint: str, retired: set[str]
    ) -> tuple[Measured, set[str]]:
        """The post's metrics (without `retired`), and metrics found retired on the way."""

    def account_insights(self, day: datetime, retired: set[str]) -> tuple[Measured, set[str]]: ...

    def close(self) -> None: ...


# --- the Graph API -------------------------------------------------------------------


class GraphInsights:
    def __init__(
        self, base_url: str, version: str, user_id: str, token: str, spend: Callable[[], None]
    ) -> None:
        self.http = httpx.Client(base_url=f"{base_url.rstrip('/')}/{version}", timeout=30.0)
        self.user_id, self.token, self.spend = user_id, token, spend

    def close(self) -> None:
        self.http.close()

    def _insights(self, path: str, metrics: list[str], extra: dict[str, str]) -> tuple[Measured, set[str]]:
        """Ask for `metrics`; a retired one is dropped and the rest asked again."""
        retired: set[str] = set()
        while metrics:
            self.spend()
            response = self.http.get(
                path, params={"metric": ",".join(metrics), **extra, "access_token": self.token}
            )
            error = _error_of(response)
            if error is None:
                values: dict[str, float | None] = {}
                for entry in response.json().get("data", []):
                    found = (entry.get("values") or [{}])[-1].get("value") if "values" in entry else None
                    total = (entry.get("total_value") or {}).get("value")
                    value = total if total is not None else found
                    values[str(entry.get("name"))] = float(value) if isinstance(value, int | float) else None
                return Measured(values, "graph"), retired
            code, message = error
            if code == NOT_AVAILABLE_CODE:
                return Measured(dict.fromkeys(metrics), "graph"), retired
            named = [m for m in metrics if m in message]
            if code == 100 and named:
                retired.update(named)
                metrics = [m for m in metrics if m not in named]
                continue
            raise InsightsError(f"Graph insights refused ({code}): {message}")
        return Measured({}, "graph"), retired

    def post_insights(
        self, post: Post, remote_id: str, checkpoint: str, retired: set[str]
    ) -> tuple[Measured, set[str]]:
        reel = REEL_METRICS if post.format == "reel" else ()
        wanted = [m for m in (*POST_METRICS, *reel) if m not in retired]
        return self._insights(f"/{remote_id}/insights", wanted, {})

    def account_insights(self, day: datetime, retired: set[str]) -> tuple[Measured, set[str]]:
        wanted = [m for m in ACCOUNT_METRICS if m not in retired]
        measured, found_retired = self._insights(
            f"/{self.user_id}/insights", wanted, {"period": "day", "metric_type": "total_value"}
        )
        self.spend()
        response = self.http.get(
            f"/{self.user_id}", params={"fields": "followers_count", "access_token": self.token}
        )
        followers = response.json().get("followers_count") if _error_of(response) is None else None
        values = {**measured.values, "followers": float(followers) if isinstance(followers, int) else None}
        return Measured(values, "graph"), found_retired


class InsightsError(Exception):
    pass


def _error_of(response: httpx.Response) -> tuple[int, str] | None:
    try:
        body = response.json()
    except ValueError:
        return (response.status_code, f"HTTP {response.status_code}") if response.status_code >= 400 else None
    error = body.get("error") if isinstance(body, dict) else None
    if response.status_code < 400 and not error:
        return None
    error = error or {}
    return int(error.get("code") or response.status_code), str(error.get("message") or "")


# --- instagrapi: Instagram's private API ---------------------------------------------------

PRIVATE = "instagrapi"  # the source label of what it measured


class PrivateInsights:
    """instagrapi's `insights_media`: the private API's ads/graphql query behind the app's
    Insights screen (`instagram_post_by_igid`). Counts sit on the media (likes, comments,
    saves), the rest under `inline_insights_node.metrics`: reach, impressions (what Graph
    calls views since 2025) and shares to feed. Only professional accounts have them; for
    other accounts, and for a post Instagram has nothing on yet, instagrapi raises
    MediaError, stored as "not available". It has no reel watch time. The account's day is
    its follower count (`user_info_v1`); the private account-insights payload is not read."""

    def __init__(self, publisher: Any, spend: Callable[[], None]) -> None:
        self.publisher, self.spend = publisher, spend  # a PrivatePublisher: its saved session

    def close(self) -> None:
        self.publisher.close()

    def _client(self) -> Any:
        try:
            return self.publisher.client()  # logs in once, reusing the saved session
        except PublishError as error:  # held, asked to wait, refused: the publisher's words
            raise InsightsError(str(error)) from None

    def post_insights(
        self, post: Post, remote_id: str, checkpoint: str, retired: set[str]
    ) -> tuple[Measured, set[str]]:
        from instagrapi.exceptions import ClientError, MediaError

        wanted = [
            m for m in (*POST_METRICS, *(REEL_METRICS if post.format == "reel" else ())) if m not in retired
        ]
        client = self._client()
        self.spend()
        try:
            node = client.insights_media(remote_id)
        except MediaError:
            return Measured(dict.fromkeys(wanted), PRIVATE), set()
        except ClientError as error:
            raise InsightsError(f"Instagram refused the insights call ({type(error).__name__})") from None
        values = private_post_values(node, reel=post.format == "reel")
        return Measured({m: values.get(m) for m in wanted}, PRIVATE), set()

    def account_insights(self, day: datetime, retired: set[str]) -> tuple[Measured, set[str]]:
        from instagrapi.exceptions import ClientError

        client = self._client()
        self.spend()
        try:
            user = client.user_info_v1(str(client.user_id))
        except ClientError as error:
            raise InsightsError(f"Instagram refused the profile call ({type(error).__name__})") from None
        return Measured({"followers": float(user.follower_count)}, PRIVATE), set()


def private_post_values(node: dict[str, Any], reel: bool) -> dict[str, float | None]:
    """vibot's metrics (Graph's names) from one `instagram_post_by_igid` node."""
    metrics = (node.get("inline_insights_node") or {}).get("metrics") or {}

    def number(*path: str, within: dict[str, Any] = metrics) -> float | None:
        found: Any = within
        for key in path:
            found = found.get(key) if isinstance(found, dict) else None
        return float(found) if isinstance(found, int | float) and not isinstance(found, bool) else None

    def first(*values: float | None) -> float | None:
        return next((v for v in values if v is not None), None)

    counts = {
        "likes": number("like_count", within=node),
        "comments": number("comment_count", within=node),
        "saved": number("save_count", within=node),
        "shares": number("share_count", "post", "value"),
    }
    played = number("video_view_count", within=node) if reel else None
    values = {
        "reach": first(number("reach_count"), number("reach", "value")),
        "views": first(played, number("impression_count"), number("impressions", "value")),
        **counts,
        # Graph's total_interactions is the same sum: likes, comments, saves and shares.
        "total_interactions": None if None in counts.values() else sum(v or 0.0 for v in counts.values()),
    }
    if reel:
        values["ig_reels_avg_watch_time"] = None
    return values


# --- the simulated audience (outbox) -------------------------------------------------------


@dataclass(frozen=True)
class SimulatedAudience:
    """Seeded per persona: each pillar, format and posting hour has its own true rate, so the
    adaptive planner has something real to find. Numbers grow toward their final value over
    the checkpoints, as real ones do."""

    persona: Persona
    followers: int = 12_000

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(hashlib.sha256(":".join(map(str, (self.persona.id, *parts))).encode()).digest())

    def true_rate(self, pillar: str, fmt: str, hour: int) -> float:
        base = 0.02 + 0.05 * self._rng("pillar", pillar).random()
        format_lift = {"reel": 1.4, "carousel": 1.15}.get(fmt, 1.0)
        hour_lift = 0.8 + 0.5 * math.exp(-((hour - 19) ** 2) / 8)  # evenings do best
        return base * format_lift * hour_lift

    def close(self) -> None:
        pass

    def account_insights(self, day: datetime, retired: set[str]) -> tuple[Measured, set[str]]:
        days = (day.date() - datetime(2026, 1, 1, tzinfo=UTC).date()).days
        rng = self._rng("account", day.date().isoformat())
        values: dict[str, float | None] = {
            "followers": float(self.followers + 40 * days),
            "reach": float(round(self.followers * (0.3 + 0.2 * rng.random()))),
            "views": float(round(self.followers * (0.6 + 0.3 * rng.random()))),
            "accounts_engaged": float(round(self.followers * (0.03 + 0.02 * rng.random()))),
        }
        return Measured(values, "simulated"), set()

    def post_insights(
        self, post: Post, remote_id: str, checkpoint: str, retired: set[str]
    ) -> tuple[Measured, set[str]]:
        return self.post(post, checkpoint), set()

    def post(self, post: Post, checkpoint: str) -> Measured:
        local_hour = post.slot_utc.astimezone(self.persona.zone).hour
        rng = self._rng("post", post.id)
        grown = {"1h": 0.25, "24h": 0.8, "72h": 0.95, "7d": 1.0}[checkpoint]
        reach = self.followers * (0.2 + 0.3 * rng.random()) * grown
        rate = self.true_rate(post.pillar, post.format, local_hour) * math.exp(rng.gauss(0, 0.3))
        interactions = reach * rate
        values: dict[str, float | None] = {
            "reach": round(reach),
            "views": round(reach * 1.6),
            "likes": round(interactions * 0.8),
            "comments": round(interactions * 0.05),
            "saved": round(interactions * 0.1),
            "shares": round(interactions * 0.05),
            "total_interactions": round(interactions),
        }
        if post.format == "reel":
            values["ig_reels_avg_watch_time"] = round(3000 + 4000 * rng.random())
        return Measured(values, "simulated")


# --- storage -------------------------------------------------------------------------------


METRIC_KEY = ("persona_id", "platform", "subject", "metric", "checkpoint")


def upsert(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Values of (persona, platform, subject, metric, checkpoint): written, or replaced. One
    INSERT … ON CONFLICT DO UPDATE for the whole batch (SQLite and PostgreSQL share the
    syntax): a select per value made collection for a hundred accounts crawl."""
    if not rows:
        return
    # The two dialects' inserts have the same on-conflict API (not a common type).
    insert: Any = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Metric).values(list(rows))
    changed = {k: statement.excluded[k] for k in ("value", "measured_at", "source", "post_id")}
    session.execute(statement.on_conflict_do_update(index_elements=list(METRIC_KEY), set_=changed))


def calls_this_hour(session: Session, persona_id: str, platform: str, now: datetime) -> int:
    return int(
        session.exec(
            select(func.count()).where(
                InsightsCall.persona_id == persona_id,
                InsightsCall.platform == platform,
                col(InsightsCall.at) > now - timedelta(hours=1),
            )
        ).one()
    )


@dataclass
class CollectReport:
    measured: int = 0  # (post or account) × checkpoint collected
    values: int = 0
    not_available: int = 0
    retired: list[str] | None = None
    waiting: int = 0  # left for the next pass: the hour's budget was spent


def _graph_source(app: App, persona: Persona, account: Any, spend: Callable[[], None]) -> InsightsSource:
    from bot.publishers.graph import container_config

    config = container_config(
        app.settings.api_url("graph"), app.settings.graph_api_version, account, persona, app.settings
    )
    return GraphInsights(config.base_url, config.version, config.ig_user_id, config.access_token, spend)


def _simulated_source(app: App, persona: Persona, account: Any, spend: Callable[[], None]) -> InsightsSource:
    return SimulatedAudience(persona)


def _private_source(app: App, persona: Persona, account: Any, spend: Callable[[], None]) -> InsightsSource:
    from bot.publishers import private

    return PrivateInsights(private.build(account, persona, app.settings, _no_urls), spend)


def _no_urls(post_id: int, sha256: str) -> str:
    raise AssertionError("insights upload nothing")  # the private API takes bytes, never URLs


# publisher name → its insights source; a publisher not listed has none yet (its posts wait).
SOURCES: dict[str, Callable[[App, Persona, Any, Callable[[], None]], InsightsSource]] = {
    "graph": _graph_source,
    "instagrapi": _private_source,
    "outbox": _simulated_source,
}


def _due(session: Session, persona: Persona, platform: str, now: datetime) -> list[tuple[Post, str, str]]:
    """(post, remote id, checkpoint) for each checkpoint passed and not yet measured."""
    published = session.exec(
        select(Post, Publication)
        .join(Publication, col(Publication.post_id) == col(Post.id))
        .where(
            Post.persona_id == persona.id,
            Publication.platform == platform,
            Publication.status == PublicationStatus.PUBLISHED,
        )
        .order_by(col(Post.id))
    ).all()
    measured = set(
        session.exec(
            select(Metric.subject, Metric.checkpoint)
            .where(Metric.persona_id == persona.id, Metric.platform == platform)
            .distinct()
        ).all()
    )
    due = []
    for post, publication in published:
        published_at = publication.updated_at  # aware UTC: the column type sees to it
        for checkpoint, after in CHECKPOINTS.items():
            if published_at + after <= now and (f"post:{post.id}", checkpoint) not in measured:
                due.append((post, publication.remote_id or "", checkpoint))
    return due


def _retired(session: Session, persona: Persona, platform: str) -> set[str]:
    rows = session.exec(
        select(Metric.metric).where(
            Metric.persona_id == persona.id, Metric.platform == platform, Metric.checkpoint == RETIRED
        )
    ).all()
    return set(rows)


def _write(
    app: App, persona: Persona, platform: str, subject: str, checkpoint: str, measured: Measured,
    retired: set[str], post_id: int | None, now: datetime,
) -> None:  # fmt: skip
    common = {"persona_id": persona.id, "platform": platform, "measured_at": now, "source": measured.source}
    kept = (checkpoint, LATEST) if post_id is not None else (checkpoint,)
    rows = [
        {**common, "subject": subject, "post_id": post_id, "metric": metric, "checkpoint": at, "value": value}
        for metric, value in measured.values.items()
        for at in kept
    ] + [
        {
            **common,
            "subject": "account",
            "post_id": None,
            "metric": name,
            "checkpoint": RETIRED,
            "value": None,
        }
        for name in retired
    ]
    with session_scope(app.engine) as session:
        upsert(session, rows)


def collect(
    app: App, personas: Sequence[Persona] | None = None, now: datetime | None = None
) -> CollectReport:
    """One collection pass: every due checkpoint of every published post, and each account's
    day, within each account's hourly call budget."""
    now = now or datetime.now(UTC)
    report = CollectReport(retired=[])
    for persona in personas if personas is not None else list(app.personas.values()):
        for account in persona.targets:
            platform, maker = account.spec().name, SOURCES.get(account.publisher)
            if maker is None:
                continue
            pause = held_or_cooling(app, persona.id, platform, now)
            if pause is not None:
                # Asking would mean logging in to an account a person or the platform holds.
                log.info(
                    "insights wait for the account", persona=persona.id, platform=platform, why=pause.reason
                )
                continue
            budget = app.settings.insights_calls_per_hour

            def spend(persona_id: str = persona.id, platform: str = platform, budget: int = budget) -> None:
                with session_scope(app.engine) as session:
                    if calls_this_hour(session, persona_id, platform, now) >= budget:
                        raise InsightsBudgetSpent
                    session.add(InsightsCall(persona_id=persona_id, platform=platform, at=now))

            with session_scope(app.engine) as session:
                due = _due(session, persona, platform, now)
                retired = _retired(session, persona, platform)
                day = f"day:{now.date().isoformat()}"
                day_done = session.exec(
                    select(Metric.id).where(
                        Metric.persona_id == persona.id, Metric.platform == platform,
                        Metric.subject == "account", Metric.checkpoint == day,
                    )
                ).first() is not None  # fmt: skip
            source = maker(app, persona, account, spend)
            try:
                for index, (post, remote_id, checkpoint) in enumerate(due):
                    try:
                        measured, newly = source.post_insights(post, remote_id, checkpoint, retired)
                    except InsightsBudgetSpent:
                        report.waiting += len(due) - index
                        break
                    retired |= newly
                    _write(
                        app, persona, platform, f"post:{post.id}", checkpoint, measured, newly, post.id, now
                    )
                    report.measured += 1
                    report.values += sum(v is not None for v in measured.values.values())
                    report.not_available += sum(v is None for v in measured.values.values())
                    report.retired = sorted({*(report.retired or []), *newly})
                else:
                    if not day_done:
                        try:
                            measured, newly = source.account_insights(now, retired)
                            _write(app, persona, platform, "account", day, measured, newly, None, now)
                            report.measured += 1
                        except InsightsBudgetSpent:
                            report.waiting += 1
            except InsightsError as err:
                log.warning("insights refused", persona=persona.id, platform=platform, error=str(err))
            finally:
                source.close()
    log.info("insights collected", measured=report.measured, waiting=report.waiting, retired=report.retired)
    return report

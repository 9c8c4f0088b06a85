"""What the pages show, read from the database in as few queries as a page needs.

Lists page by keyset (the last row's sort key), never by OFFSET: page 400 of 10,000 posts
costs what page 1 costs, on the (status, slot_utc) index.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from bot.accounts import label, pause_reason, state_of
from bot.context import App
from bot.review import captions_of
from bot.signing import b64, unb64
from content.captions import caption_disclosure, hashtags_in
from content.disclosure import has_disclosure
from content.models import KNOWN_MODELS
from content.platforms import PlatformSpec, platforms
from content.platforms.instagram import OutboxAccount
from storage.db import read_scope
from storage.media import S3MediaStore
from storage.models import Event, MediaAsset, Post, Publication, PublishAttempt, utcnow
from storage.status import PostStatus, PublicationStatus

PAGE_SIZE = 20
MAX_ROW_ID = 2**63 - 1  # the databases' signed 64-bit ids
CURSOR_YEARS = (1970, 2200)


class BadCursorError(ValueError):
    advice = "This page link is broken or out of date — start again from the first page."


@dataclass(frozen=True)
class Cursor:
    """A position in a list sorted by (time, id)."""

    at: datetime
    post_id: int

    def encode(self) -> str:
        return b64(f"{self.at.isoformat()}|{self.post_id}".encode())

    @staticmethod
    def decode(text: str | None) -> Cursor | None:
        """None for no cursor; BadCursorError for one vibot did not write (hand-edited, or
        naming an id or time no row can have)."""
        if not text:
            return None
        try:
            at, post_id_text = unb64(text).decode().split("|")
            moment, post_id = datetime.fromisoformat(at), int(post_id_text)
        except (ValueError, UnicodeDecodeError):
            raise BadCursorError(text) from None
        if not (1 <= post_id <= MAX_ROW_ID and CURSOR_YEARS[0] <= moment.year <= CURSOR_YEARS[1]):
            raise BadCursorError(text)
        return Cursor(moment if moment.tzinfo else moment.replace(tzinfo=UTC), post_id)


@dataclass(frozen=True)
class StillCheck:
    distance: float | None  # None: no face, or nothing to compare it with
    faces: int

    @property
    def shown(self) -> str:
        if self.faces == 0:
            return "no face"
        return "a face" if self.distance is None else f"{self.distance:.2f}"


@dataclass(frozen=True)
class IdentityView:
    """What the face guard measured on a post: each checked still and, for an animated reel,
    how many of its sampled frames stayed within the limit."""

    limit: float
    stills: list[StillCheck]
    frames_ok: int | None = None
    frames: int | None = None
    compared: bool = True  # False: the persona has no reference faces, only presence was checked

    @property
    def summary(self) -> str:
        shown = [still.shown for still in self.stills]
        if self.frames is not None:
            shown.append(f"{self.frames_ok} of {self.frames} reel frames within")
        return ", ".join(shown)

    @classmethod
    def from_records(cls, records: list[dict[str, Any]]) -> IdentityView | None:
        checked = [r["identity"] for r in records if isinstance(r.get("identity"), dict)]
        if not checked:
            return None
        stills = [
            StillCheck(c.get("distance"), int(c.get("faces") or 0)) for c in checked if "frames" not in c
        ]
        frames = next((c["frames"] for c in checked if isinstance(c.get("frames"), list)), None)
        within = None
        if frames is not None:
            within = sum(
                bool(f.get("faces")) and (f.get("distance") is None or f["distance"] <= f.get("limit", 0.6))
                for f in frames
            )
        compared = any(c.get("compared", True) for c in checked)
        limit = float(checked[0].get("limit", 0.6))
        return cls(limit, stills, within, None if frames is None else len(frames), compared)


@dataclass(frozen=True)
class Variant:
    """The caption for one of the post's other platforms, as the post page edits it."""

    platform: PlatformSpec
    body: str  # without the locked disclosure line; empty when it has none yet
    length: int
    hashtags: int


@dataclass
class Card:
    """One post as the review queue and the post page show it."""

    post: Post
    media: list[MediaAsset]
    local_slot: datetime
    body: str  # the caption without its locked disclosure line
    disclosure_line: str
    disclosure_hashtag: str
    caption_ok: bool  # the disclosure line on top and the disclosure hashtag present
    hashtags: list[str]
    records: list[dict[str, Any]]
    licence: str
    platform: PlatformSpec = field(default_factory=OutboxAccount.spec)  # its limits, for the counters
    publications: list[Publication] = field(default_factory=list)  # one per platform, once approved
    identity: IdentityView | None = None
    variants: list[Variant] = field(default_factory=list)

    @property
    def video(self) -> MediaAsset | None:
        return next((m for m in self.media if m.kind == "video"), None)

    @property
    def cover(self) -> MediaAsset | None:
        return next((m for m in self.media if m.kind == "cover"), None)

    @property
    def images(self) -> list[MediaAsset]:
        return [m for m in self.media if m.kind == "image"]

    @property
    def permalinks(self) -> list[tuple[str, str]]:
        """(platform, link) of every publication that went out."""
        return [(p.platform, p.permalink) for p in self.publications if p.permalink]

    @property
    def waiting(self) -> list[PlatformSpec]:
        """The platforms where only a person can tell whether the post went out."""
        known = platforms()
        return [
            known[p.platform]
            for p in self.publications
            if p.status == PublicationStatus.NEEDS_RECONCILE and p.platform in known
        ]

    @property
    def caption_length(self) -> int:
        return len(self.post.caption or "")


@dataclass
class Page:
    cards: list[Card]
    total: int
    next_cursor: str | None
    prev_cursor: str | None


def card_for(app: App, post: Post, media: list[MediaAsset], publications: Sequence[Publication] = ()) -> Card:
    persona = app.personas.get(post.persona_id)
    caption = post.caption or ""
    disclosure = caption_disclosure(persona) if persona else None
    line = disclosure.line if disclosure else ""
    body = _without_line(caption, line)
    variants = []
    if persona is not None:
        others = {k: v for k, v in captions_of(post, persona).items() if k != persona.platform.name}
        for name, text in others.items():
            variants.append(
                Variant(persona.target(name).spec(), _without_line(text or "", line), len(text or ""),
                        len(hashtags_in(text or "")))
            )  # fmt: skip
    records = json.loads(post.generation) if post.generation else []
    model = next((r.get("model") for r in records if r.get("model")), None)
    info = KNOWN_MODELS.get(model) if model else None
    return Card(
        post=post,
        media=media,
        local_slot=post.slot_utc.astimezone(ZoneInfo(post.timezone)),
        body=body,
        disclosure_line=line,
        disclosure_hashtag=disclosure.hashtag if disclosure else "",
        caption_ok=disclosure is not None and has_disclosure(caption, disclosure),
        hashtags=hashtags_in(caption),
        platform=persona.platform if persona else OutboxAccount.spec(),
        records=records,
        licence=info.licence if info else next((r.get("licence") for r in records if r.get("licence")), "?"),
        publications=list(publications),
        identity=IdentityView.from_records(records),
        variants=variants,
    )


def _without_line(caption: str, line: str) -> str:
    lines = caption.splitlines()
    return "\n".join(lines[1:]).strip() if lines and lines[0].strip() == line else caption


def _media_of(session: Session, ids: list[int]) -> dict[int, list[MediaAsset]]:
    found: dict[int, list[MediaAsset]] = defaultdict(list)
    if ids:
        rows = session.exec(
            select(MediaAsset).where(col(MediaAsset.post_id).in_(ids)).order_by(col(MediaAsset.position))
        )
        for asset in rows:
            found[asset.post_id].append(asset)
    return found


def _keyset(
    query: Any, time_col: Any, after: Cursor | None, before: Cursor | None, size: int, newest_first: bool
) -> tuple[Any, bool]:
    """Order `query` by (time, id) and cut it at a cursor; returns it and whether it runs backwards."""
    forward = before is None
    cursor = after if forward else before
    ascending = forward != newest_first
    if cursor is not None:
        position = sa.tuple_(time_col, col(Post.id))
        query = query.where(
            position > (cursor.at, cursor.post_id) if ascending else position < (cursor.at, cursor.post_id)
        )
    order = (time_col.asc(), col(Post.id).asc()) if ascending else (time_col.desc(), col(Post.id).desc())
    return query.order_by(*order).limit(size + 1), not forward


def review_page(
    app: App,
    persona: str | None = None,
    fmt: str | None = None,
    after: str | None = None,
    before: str | None = None,
    size: int = PAGE_SIZE,
) -> Page:
    """Posts in review, soonest slot first."""
    where = [col(Post.status) == PostStatus.IN_REVIEW]
    if persona:
        where.append(col(Post.persona_id) == persona)
    if fmt:
        where.append(col(Post.format) == fmt)
    after_c, before_c = Cursor.decode(after), Cursor.decode(before)
    with read_scope(app.engine) as session:
        total = int(session.execute(sa.select(func.count()).select_from(Post).where(*where)).scalar_one())
        query, backwards = _keyset(
            select(Post).where(*where), col(Post.slot_utc), after_c, before_c, size, newest_first=False
        )
        posts = list(session.exec(query))
        more = len(posts) > size
        posts = posts[:size]
        if backwards:
            posts.reverse()
        media = _media_of(session, [p.id for p in posts if p.id is not None])
    cards = [card_for(app, p, media[p.id or 0]) for p in posts]
    first, last = (cards[0].post, cards[-1].post) if cards else (None, None)
    has_next = (more if not backwards else True) and last is not None
    has_prev = (more if backwards else after_c is not None) and first is not None
    return Page(
        cards=cards,
        total=total,
        next_cursor=Cursor(last.slot_utc, last.id or 0).encode() if has_next and last else None,
        prev_cursor=Cursor(first.slot_utc, first.id or 0).encode() if has_prev and first else None,
    )


def neighbours(app: App, post: Post) -> tuple[int | None, int | None]:
    """The posts in review just before and after this one (j/k on the post page)."""
    with read_scope(app.engine) as session:
        position = sa.tuple_(col(Post.slot_utc), col(Post.id))
        here = (post.slot_utc, post.id)
        base = select(Post.id).where(col(Post.status) == PostStatus.IN_REVIEW)
        previous = session.exec(
            base.where(position < here).order_by(col(Post.slot_utc).desc(), col(Post.id).desc()).limit(1)
        ).first()
        following = session.exec(
            base.where(position > here).order_by(col(Post.slot_utc), col(Post.id)).limit(1)
        ).first()
    return previous, following


HISTORY = {
    "published": (PostStatus.PUBLISHED,),
    "failed": (PostStatus.FAILED,),
    "reconcile": (PostStatus.NEEDS_RECONCILE,),
    "rejected": (PostStatus.REJECTED,),
    "skipped": (PostStatus.SKIPPED,),
}


def history_page(
    app: App, show: str, after: str | None = None, before: str | None = None, size: int = PAGE_SIZE
) -> Page:
    """Finished or stuck posts, latest change first, with their publications."""
    statuses = HISTORY.get(show, HISTORY["published"])
    where = [col(Post.status).in_(statuses)]
    with read_scope(app.engine) as session:
        total = int(session.execute(sa.select(func.count()).select_from(Post).where(*where)).scalar_one())
        query, backwards = _keyset(
            select(Post).where(*where),
            col(Post.updated_at),
            Cursor.decode(after),
            Cursor.decode(before),
            size,
            newest_first=True,
        )
        posts = list(session.exec(query))
        more = len(posts) > size
        posts = posts[:size]
        if backwards:
            posts.reverse()
        ids = [p.id for p in posts if p.id is not None]
        media = _media_of(session, ids)
        publications: dict[int, list[Publication]] = defaultdict(list)
        if ids:
            for publication in session.exec(
                select(Publication)
                .where(col(Publication.post_id).in_(ids))
                .order_by(col(Publication.platform))
            ):
                publications[publication.post_id].append(publication)
    cards = [card_for(app, p, media[p.id or 0], publications[p.id or 0]) for p in posts]
    has_next = bool(cards) and (more if not backwards else True)
    has_prev = bool(cards) and (more if backwards else after is not None)
    return Page(
        cards=cards,
        total=total,
        next_cursor=Cursor(cards[-1].post.updated_at, cards[-1].post.id or 0).encode() if has_next else None,
        prev_cursor=Cursor(cards[0].post.updated_at, cards[0].post.id or 0).encode() if has_prev else None,
    )


@dataclass
class Day:
    day: date
    in_range: bool  # false for the leading/trailing days of a month grid
    posts: list[tuple[str, Post]] = field(default_factory=list)  # (local time, post)


def calendar_days(app: App, persona_id: str, view: str, start: date) -> tuple[list[Day], date, date]:
    """The days of a week (from Monday) or a month grid (whole weeks), with each day's posts
    at the persona's local times; also the previous and next period's start."""
    persona = app.persona(persona_id)
    zone = persona.zone
    if view == "month":
        first = start.replace(day=1)
        grid_start = first - timedelta(days=first.weekday())
        following = (first + timedelta(days=32)).replace(day=1)
        grid_end = following + timedelta(days=(7 - following.weekday()) % 7)
        previous = (first - timedelta(days=1)).replace(day=1)
        in_range = (first, following)
    else:
        grid_start = start - timedelta(days=start.weekday())
        grid_end = grid_start + timedelta(days=7)
        previous, following = grid_start - timedelta(days=7), grid_end
        in_range = (grid_start, grid_end)
    days = {
        grid_start + timedelta(days=n): Day(
            grid_start + timedelta(days=n), in_range[0] <= grid_start + timedelta(days=n) < in_range[1]
        )
        for n in range((grid_end - grid_start).days)
    }
    begin = datetime.combine(grid_start, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(grid_end, datetime.min.time(), zone).astimezone(UTC)
    with read_scope(app.engine) as session:
        posts = session.exec(
            select(Post)
            .where(Post.persona_id == persona_id, col(Post.slot_utc) >= begin, col(Post.slot_utc) < end)
            .order_by(col(Post.slot_utc))
        ).all()
    for post in posts:
        local = post.slot_utc.astimezone(zone)
        if local.date() in days:
            days[local.date()].posts.append((f"{local:%H:%M}", post))
    return list(days.values()), previous, following


@dataclass(frozen=True)
class AccountOverview:
    platform: str
    title: str
    publisher: str
    state: str  # active | cooling | held
    until: datetime | None
    reason: str | None
    paused: str | None  # why it cannot publish right now (cap, spacing, hold...)


@dataclass(frozen=True)
class PersonaOverview:
    persona_id: str
    name: str
    accounts: list[AccountOverview]  # one per platform, the main one first
    counts: dict[str, int]
    next_posts: list[tuple[str, Post]]  # (local time, post)


def personas_overview(app: App, now: datetime | None = None) -> list[PersonaOverview]:
    now = now or utcnow()
    with read_scope(app.engine) as session:
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        for persona_id, status, count in session.exec(
            select(Post.persona_id, Post.status, func.count()).group_by(Post.persona_id, Post.status)
        ):
            counts[persona_id][str(status)] = count
        upcoming = {
            persona_id: list(
                session.exec(
                    select(Post)
                    .where(Post.persona_id == persona_id, col(Post.slot_utc) >= now)
                    .order_by(col(Post.slot_utc))
                    .limit(5)
                )
            )
            for persona_id in app.personas
        }
    overview = []
    for persona_id, persona in sorted(app.personas.items()):
        accounts = []
        for account in persona.targets:
            platform = account.spec().name
            state = state_of(app, persona_id, platform)
            accounts.append(
                AccountOverview(
                    platform=platform,
                    title=account.spec().title,
                    publisher=account.publisher,
                    state="cooling"
                    if state.state == "cooling" and state.until and state.until > now
                    else ("active" if state.state == "cooling" else state.state),
                    until=state.until,
                    reason=state.reason,
                    paused=pause_reason(app, persona_id, platform, now),
                )
            )
        overview.append(
            PersonaOverview(
                persona_id=persona_id,
                name=persona.name,
                accounts=accounts,
                counts=counts.get(persona_id, {}),
                next_posts=[
                    (f"{p.slot_utc.astimezone(persona.zone):%a %d %b %H:%M} {persona.timezone}", p)
                    for p in upcoming[persona_id]
                ],
            )
        )
    return overview


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def health(app: App, now: datetime | None = None) -> list[Check]:
    """What a person on call wants to know first."""
    from storage.locks import hold_lock

    now = now or utcnow()
    checks = []
    started = time.perf_counter()
    try:
        with read_scope(app.engine) as session:
            revision = session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
            counts = dict(session.exec(select(Post.status, func.count()).group_by(Post.status)).all())
            oldest = session.exec(
                select(func.min(Post.updated_at)).where(Post.status == PostStatus.IN_REVIEW)
            ).one()
            failures = session.exec(
                select(func.count())
                .select_from(Event)
                .where(col(Event.at) > now - timedelta(days=1), col(Event.message).contains("→ failed"))
            ).one()
            last_published = session.exec(
                select(func.max(PublishAttempt.finished_at)).where(PublishAttempt.outcome == "published")
            ).one()
            next_slot = session.exec(
                select(func.min(Post.slot_utc)).where(
                    Post.status == PostStatus.APPROVED, col(Post.slot_utc) >= now - timedelta(hours=1)
                )
            ).one()
    except Exception as err:  # the page must render exactly when the database is the problem
        return [Check("database", False, f"{type(err).__name__}: {err}")]
    checks.append(
        Check(
            "database",
            True,
            f"{app.engine.dialect.name}, schema {revision}, answered in "
            f"{(time.perf_counter() - started) * 1000:.0f} ms",
        )
    )
    try:
        with hold_lock(app.engine, "daemon", wait_s=0):
            running = False
    except Exception:
        running = True
    checks.append(Check("daemon", running, "running" if running else "not running — start 'vibot daemon'"))
    in_review = counts.get(PostStatus.IN_REVIEW, 0)
    waiting = f", oldest waiting since {oldest:%Y-%m-%d %H:%M} UTC" if oldest else ""
    checks.append(Check("review queue", True, f"{in_review} post(s) in review{waiting}"))
    reconcile = counts.get(PostStatus.NEEDS_RECONCILE, 0)
    checks.append(
        Check("reconciliation", reconcile == 0, f"{reconcile} post(s) need a person to check the platform")
    )
    checks.append(Check("failures", failures == 0, f"{failures} post(s) failed in the last 24 hours"))
    paused = [
        label(app, persona_id, account.spec().name)
        for persona_id, persona in app.personas.items()
        for account in persona.targets
        if state_of(app, persona_id, account.spec().name).state == "held"
    ]
    checks.append(
        Check(
            "accounts", not paused, f"held: {', '.join(paused)}" if paused else f"{len(app.personas)} active"
        )
    )
    published = f"{last_published:%Y-%m-%d %H:%M} UTC" if last_published else "never"
    upcoming = f"{next_slot:%Y-%m-%d %H:%M} UTC" if next_slot else "none approved"
    checks.append(Check("publishing", True, f"last published {published}; next approved slot {upcoming}"))
    media_dir = app.settings.media_dir
    media_dir.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(media_dir).free / 1e9
    store = app.media
    if isinstance(store, S3MediaStore):
        problem = store.problem()
        checks.append(Check("media store", problem is None, problem or f"{store.location} reachable"))
    what = "cache" if isinstance(store, S3MediaStore) else "store"
    checks.append(Check("disk", free_gb >= 5, f"{free_gb:.1f} GB free for the media {what} ({media_dir})"))
    return checks

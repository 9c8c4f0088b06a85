"""The tables. Times are stored in UTC and always come back timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from storage.status import PostStatus, PublicationStatus


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out — on SQLite too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _time(**kwargs: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kwargs)


class Post(SQLModel, table=True):
    __tablename__ = "posts"
    __table_args__ = (
        sa.UniqueConstraint("persona_id", "slot_utc", name="uq_posts_persona_slot"),
        sa.Index("ix_posts_status_slot", "status", "slot_utc"),
        # The review queue filtered by persona, paged by slot (the web UI).
        sa.Index("ix_posts_status_persona_slot", "status", "persona_id", "slot_utc"),
    )

    id: int | None = Field(default=None, primary_key=True)
    persona_id: str = Field(index=True, max_length=64)
    slot_utc: datetime = _time(index=True)
    timezone: str = Field(max_length=64)
    format: str = Field(max_length=16)  # photo | carousel | reel
    pillar: str = Field(max_length=200)
    scene: str = Field(max_length=500)
    seed: int
    status: PostStatus = Field(default=PostStatus.PLANNED, index=True, sa_type=sa.String(32))
    caption: str | None = None  # for the persona's first account's platform
    # JSON {platform: caption}: the caption for each other platform the post goes to, within
    # that platform's limits (Threads: 500 characters).
    caption_variants: str | None = None
    prompt: str | None = None
    review_note: str | None = None  # why it came back to review, failed or was rejected
    alt_text: str | None = None
    image_brief: str | None = None  # JSON: scene, outfit, mood, camera (from the caption writer)
    motion_brief: str | None = None
    caption_writer: str | None = Field(default=None, max_length=16)  # llm | template
    review_flags: str | None = None  # JSON list: what a reviewer should look at
    plan_reason: str | None = None  # why the adaptive planner chose this pillar and hour
    generation: str | None = None  # JSON list, one record per generated image: how it was made
    # Set when a person asks for new media: the next prepare keeps the caption (and its edits).
    keep_caption: bool = Field(default=False)
    created_at: datetime = _time(default_factory=utcnow)
    updated_at: datetime = _time(default_factory=utcnow)


class MediaAsset(SQLModel, table=True):
    __tablename__ = "media_assets"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="posts.id", index=True)
    position: int = 0  # order within a carousel; 0 for a single photo or reel
    kind: str = Field(max_length=16)  # image | video | cover
    path: str = Field(max_length=500)  # relative to the media store
    sha256: str = Field(max_length=64)
    mime: str = Field(max_length=64)
    bytes: int
    width: int
    height: int
    duration_s: float | None = None
    created_at: datetime = _time(default_factory=utcnow)


class Approval(SQLModel, table=True):
    __tablename__ = "approvals"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int = Field(foreign_key="posts.id", index=True)
    approved_by: str = Field(max_length=200)
    approved_at: datetime = _time(default_factory=utcnow)
    caption_sha256: str = Field(max_length=64)
    # Of `posts.caption_variants` as approved (the text itself; None on approvals made
    # before variants existed, which had none).
    variants_sha256: str | None = Field(default=None, max_length=64)
    media_sha256: str  # JSON list, in media position order


class PublishAttempt(SQLModel, table=True):
    __tablename__ = "publish_attempts"

    id: str = Field(primary_key=True, max_length=36)  # a UUID; also the publisher's marker
    post_id: int = Field(foreign_key="posts.id", index=True)
    platform: str = Field(default="instagram", max_length=32)  # which publication it was for
    publisher: str = Field(max_length=32)
    started_at: datetime = _time(default_factory=utcnow)
    finished_at: datetime | None = _time(default=None)
    outcome: str = Field(default="pending", max_length=32)
    remote_id: str | None = Field(default=None, max_length=200)
    permalink: str | None = Field(default=None, max_length=500)
    error: str | None = None
    # The publisher's record of what it created, stored before its irreversible step (Graph
    # API: the container id): reconciliation after a crash starts from it.
    handle: str | None = Field(default=None, max_length=500)


class Publication(SQLModel, table=True):
    """One approved post on one of its persona's platforms: its own state, exactly-once
    record (through its attempts), permalink and AI flag. A failure on one platform never
    touches another's row; the post's own status sums them up (`post_status_for`)."""

    __tablename__ = "publications"

    post_id: int = Field(foreign_key="posts.id", primary_key=True)
    platform: str = Field(primary_key=True, max_length=32)
    publisher: str = Field(max_length=32)
    status: PublicationStatus = Field(default=PublicationStatus.PENDING, index=True, sa_type=sa.String(32))
    remote_id: str | None = Field(default=None, max_length=200)
    permalink: str | None = Field(default=None, max_length=500)
    ai_flag: str | None = Field(default=None, max_length=200)  # what the platform was told, e.g. is_aigc=true
    note: str | None = None  # why it failed, waits or was skipped
    updated_at: datetime = _time(default_factory=utcnow)


class Metric(SQLModel, table=True):
    """One measured value: a post's or an account's metric at a checkpoint. Upserted by
    (persona, platform, subject, metric, checkpoint); derived values (engagement rate,
    views per follower) are computed on read, never stored."""

    __tablename__ = "metrics"
    __table_args__ = (sa.UniqueConstraint("persona_id", "platform", "subject", "metric", "checkpoint"),)
    id: int | None = Field(default=None, primary_key=True)
    persona_id: str = Field(index=True, max_length=64)
    platform: str = Field(max_length=32)
    subject: str = Field(max_length=40)  # "post:ID" or "account"
    post_id: int | None = Field(default=None, foreign_key="posts.id", index=True)
    metric: str = Field(max_length=48)
    checkpoint: str = Field(max_length=16)  # 1h | 24h | 72h | 7d | day:YYYY-MM-DD | retired
    value: float | None = None  # None: the platform has none to give ("not available")
    measured_at: datetime = _time(default_factory=utcnow)
    source: str = Field(max_length=16)  # graph | simulated


class InsightsCall(SQLModel, table=True):
    """One insights API call, counted against the account's hourly budget."""

    __tablename__ = "insights_calls"
    id: int | None = Field(default=None, primary_key=True)
    persona_id: str = Field(max_length=64)
    platform: str = Field(max_length=32)
    at: datetime = _time(default_factory=utcnow, index=True)


class LLMUsage(SQLModel, table=True):
    """One call to a language model, for cost accounting and per-persona daily budgets."""

    __tablename__ = "llm_usage"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int | None = Field(default=None, foreign_key="posts.id", index=True)
    persona_id: str = Field(index=True, max_length=64)
    at: datetime = _time(default_factory=utcnow, index=True)
    model: str = Field(max_length=200)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    outcome: str = Field(max_length=32)  # accepted | rewritten | refused | error


class AccountState(SQLModel, table=True):
    """A persona's account on one platform as the publisher sees it: active, cooling down
    after a rate limit (until a time), or held until a person acts (expired token, challenge)."""

    __tablename__ = "account_states"

    persona_id: str = Field(primary_key=True, max_length=64)
    platform: str = Field(default="instagram", primary_key=True, max_length=32)
    state: str = Field(default="active", max_length=16)  # active | cooling | held
    until: datetime | None = _time(default=None)
    reason: str | None = None
    updated_at: datetime = _time(default_factory=utcnow)


class Event(SQLModel, table=True):
    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    post_id: int | None = Field(default=None, foreign_key="posts.id", index=True)
    at: datetime = _time(default_factory=utcnow, index=True)
    kind: str = Field(max_length=64)
    message: str


class AuditEntry(SQLModel, table=True):
    """One line of the audit trail, committed with the state change it records; `logged`
    once it is in the hash-chained file (storage/audit.py)."""

    __tablename__ = "audit_entries"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _time(default_factory=utcnow)
    kind: str = Field(max_length=32)  # generated | approved | edited | rejected | published
    post_id: int | None = Field(default=None, foreign_key="posts.id", index=True)
    actor: str = Field(max_length=200)  # who: a reviewer's name, or vibot itself
    data: str  # JSON: file hashes, model and LoRA hashes, seed, permalink… as the kind has them
    logged: bool = Field(default=False, index=True)


class WebUser(SQLModel, table=True):
    """A reviewer who may log in to the web UI (`vibot web add-user NAME`)."""

    __tablename__ = "web_users"

    name: str = Field(primary_key=True, max_length=64)
    password_hash: str = Field(max_length=255)  # argon2id, with its parameters and salt
    created_at: datetime = _time(default_factory=utcnow)
    last_login_at: datetime | None = _time(default=None)


class WebSession(SQLModel, table=True):
    """A logged-in browser. The cookie holds a random token; only its SHA-256 is stored,
    so a copy of the database cannot be used to log in."""

    __tablename__ = "web_sessions"

    token_sha256: str = Field(primary_key=True, max_length=64)
    user_name: str = Field(foreign_key="web_users.name", index=True, max_length=64)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = _time(default_factory=utcnow)
    expires_at: datetime = _time(index=True)

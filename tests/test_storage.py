"""Storage on SQLite and PostgreSQL: migrations, the lifecycle, compare-and-swap, races."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import select

from content.errors import ConflictError, IllegalTransitionError, LockHeldError, NotFoundError
from storage.db import make_engine, session_scope, upgrade
from storage.lifecycle import add_planned, current_status, transition
from storage.locks import hold_lock
from storage.media import DiskMediaStore, sha256_file
from storage.models import AccountState, Event, Post, Publication, PublishAttempt
from storage.status import TRANSITIONS, PostStatus

SLOT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def new_engine(url: str) -> sa.Engine:
    engine = make_engine(url)
    upgrade(engine)
    return engine


def plan(engine: sa.Engine, count: int = 1, start: datetime = SLOT) -> list[int]:
    with session_scope(engine) as session:
        posts = add_planned(
            session,
            [
                {
                    "persona_id": "tess",
                    "slot_utc": start + timedelta(hours=i),
                    "timezone": "Europe/Berlin",
                    "format": "photo",
                    "pillar": "travel",
                    "scene": "harbour",
                    "seed": i,
                }
                for i in range(count)
            ],
        )
        return [p.id for p in posts if p.id is not None]


def force_status(engine: sa.Engine, post_id: int, status: PostStatus) -> None:
    """Walk the post along legal edges to `status` (test set-up only)."""
    path = {
        PostStatus.PLANNED: [],
        PostStatus.DRAFTING: [PostStatus.DRAFTING],
        PostStatus.GENERATING: [PostStatus.DRAFTING, PostStatus.GENERATING],
        PostStatus.IN_REVIEW: [PostStatus.DRAFTING, PostStatus.GENERATING, PostStatus.IN_REVIEW],
        PostStatus.APPROVED: [
            PostStatus.DRAFTING,
            PostStatus.GENERATING,
            PostStatus.IN_REVIEW,
            PostStatus.APPROVED,
        ],
        PostStatus.REJECTED: [
            PostStatus.DRAFTING,
            PostStatus.GENERATING,
            PostStatus.IN_REVIEW,
            PostStatus.REJECTED,
        ],
        PostStatus.PUBLISHING: [
            PostStatus.DRAFTING,
            PostStatus.GENERATING,
            PostStatus.IN_REVIEW,
            PostStatus.APPROVED,
            PostStatus.PUBLISHING,
        ],
        PostStatus.PUBLISHED: [
            PostStatus.DRAFTING,
            PostStatus.GENERATING,
            PostStatus.IN_REVIEW,
            PostStatus.APPROVED,
            PostStatus.PUBLISHING,
            PostStatus.PUBLISHED,
        ],
        PostStatus.FAILED: [PostStatus.DRAFTING, PostStatus.FAILED],
        PostStatus.SKIPPED: [PostStatus.SKIPPED],
        PostStatus.NEEDS_RECONCILE: [
            PostStatus.DRAFTING,
            PostStatus.GENERATING,
            PostStatus.IN_REVIEW,
            PostStatus.APPROVED,
            PostStatus.PUBLISHING,
            PostStatus.NEEDS_RECONCILE,
        ],
    }[status]
    current = PostStatus.PLANNED
    for step in path:
        with session_scope(engine) as session:
            transition(session, post_id, current, step)
        current = step


def test_the_fast_head_check_names_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from storage.db import HEAD_REVISION, _alembic_config

    assert ScriptDirectory.from_config(_alembic_config(None)).get_current_head() == HEAD_REVISION


def test_upgrade_is_idempotent_and_times_come_back_aware(database_url: str) -> None:
    engine = new_engine(database_url)
    upgrade(engine)  # second time: nothing to do
    (post_id,) = plan(engine)
    with session_scope(engine) as session:
        post = session.get(Post, post_id)
        assert post is not None and post.slot_utc == SLOT and post.slot_utc.tzinfo is not None
    tables = set(sa.inspect(engine).get_table_names())
    assert {"posts", "media_assets", "approvals", "publish_attempts", "events", "alembic_version"} <= tables


def test_planning_the_same_slot_twice_stores_it_once(database_url: str) -> None:
    engine = new_engine(database_url)
    assert len(plan(engine, 3)) == 3
    assert plan(engine, 3) == []
    with session_scope(engine) as session:
        assert len(session.exec(select(Post)).all()) == 3


# Sorted: the targets are sets, and every test worker must collect the same order.
LEGAL = [(a, b) for a, targets in TRANSITIONS.items() for b in sorted(targets)]
ILLEGAL = [(a, b) for a in PostStatus for b in PostStatus if b not in TRANSITIONS[a]]


@pytest.mark.parametrize(("current", "target"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_every_legal_transition(database_url: str, current: PostStatus, target: PostStatus) -> None:
    engine = new_engine(database_url)
    (post_id,) = plan(engine)
    force_status(engine, post_id, current)
    with session_scope(engine) as session:
        transition(session, post_id, current, target, note="test")
    with session_scope(engine) as session:
        assert current_status(session, post_id) == target
        messages = [e.message for e in session.exec(select(Event).where(Event.post_id == post_id))]
    assert messages[-1] == f"{current} → {target}: test"


@pytest.mark.parametrize(
    ("current", "target"),
    ILLEGAL[:: max(1, len(ILLEGAL) // 30)],
    ids=[f"{a}->{b}" for a, b in ILLEGAL[:: max(1, len(ILLEGAL) // 30)]],
)
def test_illegal_transitions_raise_and_change_nothing(
    tmp_path: Path, current: PostStatus, target: PostStatus
) -> None:
    engine = new_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    (post_id,) = plan(engine)
    force_status(engine, post_id, current)
    with pytest.raises(IllegalTransitionError) as caught, session_scope(engine) as session:
        transition(session, post_id, current, target)
    assert str(caught.value) == f"post {post_id} is {current}; it cannot become {target} from there"
    with session_scope(engine) as session:
        assert current_status(session, post_id) == current


def test_all_illegal_pairs_are_refused_before_touching_the_database() -> None:
    from storage.status import is_legal

    assert len(ILLEGAL) + len(LEGAL) == len(PostStatus) ** 2
    assert not any(is_legal(a, b) for a, b in ILLEGAL)


def test_compare_and_swap_loses_cleanly(database_url: str) -> None:
    engine = new_engine(database_url)
    (post_id,) = plan(engine)
    with session_scope(engine) as session:
        transition(session, post_id, PostStatus.PLANNED, PostStatus.DRAFTING)
    with (
        pytest.raises(ConflictError, match=f"post {post_id} was no longer planned"),
        session_scope(engine) as session,
    ):
        transition(session, post_id, PostStatus.PLANNED, PostStatus.DRAFTING)
    with pytest.raises(NotFoundError), session_scope(engine) as session:
        transition(session, 99999, PostStatus.PLANNED, PostStatus.DRAFTING)


def _race_worker(
    url: str,
    post_ids: list[int],
    start: multiprocessing.synchronize.Event,  # type: ignore[name-defined]
    results: multiprocessing.Queue,
) -> None:  # type: ignore[type-arg]
    engine = make_engine(url)
    won = []
    start.wait()
    for post_id in post_ids:
        try:
            with session_scope(engine) as session:
                transition(session, post_id, PostStatus.PLANNED, PostStatus.DRAFTING)
            won.append(post_id)
        except ConflictError:
            pass
    results.put(won)


@pytest.mark.slow
def test_two_processes_racing_never_take_the_same_post(database_url: str) -> None:
    engine = new_engine(database_url)
    post_ids = plan(engine, 60)
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [
        context.Process(target=_race_worker, args=(database_url, order, start, results))
        for order in (post_ids, list(reversed(post_ids)))
    ]
    for worker in workers:
        worker.start()
    start.set()
    won = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert sorted(won[0] + won[1]) == sorted(post_ids)  # every post taken exactly once
    assert not set(won[0]) & set(won[1])
    with session_scope(engine) as session:
        statuses = {p.status for p in session.exec(select(Post))}
    assert statuses == {PostStatus.DRAFTING}


def test_a_lock_is_exclusive_and_released(database_url: str) -> None:
    engine = new_engine(database_url)
    other = make_engine(database_url)
    with hold_lock(engine, "daemon"):
        with pytest.raises(LockHeldError, match="the daemon lock is held"), hold_lock(other, "daemon"):
            pass
        with hold_lock(other, "publish"):  # another name is another lock
            pass
    with hold_lock(other, "daemon"):
        pass


def test_media_store_is_content_addressed_and_refuses_escapes(tmp_path: Path) -> None:
    store = DiskMediaStore(tmp_path / "media")
    source = tmp_path / "a.JPG"
    source.write_bytes(b"hello")
    first, second = store.add(source), store.add(source)
    assert first == second
    assert first.relative_path == f"{first.sha256[:2]}/{first.sha256}.jpg"
    assert sha256_file(store.path(first.relative_path)) == first.sha256
    assert not list((tmp_path / "media").glob(".incoming-*"))
    with pytest.raises(NotFoundError):
        store.path("../a.JPG")
    with pytest.raises(NotFoundError):
        store.path("/etc/passwd")


def test_the_migrations_build_exactly_the_models_tables(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    engine = new_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []  # a model change without its migration fails here


def test_upgrading_to_publications_keeps_every_post_and_account_state(tmp_path: Path) -> None:
    """0006 → 0007: a published and a stuck post get the one Instagram publication they had,
    and a held account stays held, now on Instagram."""
    from alembic import command

    from storage.db import _alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0006")
        for post_id, status in ((1, "published"), (2, "needs_reconcile"), (3, "approved")):
            connection.execute(
                sa.text(
                    "INSERT INTO posts (id, persona_id, slot_utc, timezone, format, pillar, scene, seed, "
                    "status, keep_caption, created_at, updated_at) VALUES (:id, 'tess', :at, 'UTC', "
                    "'photo', 'p', 's', 1, :status, 0, :at, :at)"
                ),
                {"id": post_id, "status": status, "at": f"2026-11-0{post_id} 10:00:00"},
            )
        connection.execute(
            sa.text(
                "INSERT INTO publish_attempts (id, post_id, publisher, started_at, outcome, remote_id, "
                "permalink) VALUES ('a1', 1, 'graph', '2026-11-01 10:00:00', 'published', 'r1', "
                "'https://www.instagram.com/p/X/')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO account_states (persona_id, state, reason, updated_at) "
                "VALUES ('tess', 'held', 'token expired', '2026-11-01 10:00:00')"
            )
        )
    upgrade(engine)
    with session_scope(engine) as session:
        rows = {p.post_id: p for p in session.exec(select(Publication))}
        state = session.get(AccountState, ("tess", "instagram"))
        attempt = session.get(PublishAttempt, "a1")
    assert set(rows) == {1, 2} and rows[1].status == "published" and rows[2].status == "needs_reconcile"
    assert rows[1].publisher == "graph" and rows[1].permalink == "https://www.instagram.com/p/X/"
    assert state is not None and state.state == "held" and state.reason == "token expired"
    assert attempt is not None and attempt.platform == "instagram"
    engine.dispose()

"""Engines, sessions and schema migrations.

SQLite (the default) runs in WAL mode with foreign keys on, and every
transaction starts with BEGIN IMMEDIATE: a read-then-write transaction can
then never dead-lock against another process, it waits its turn instead.
PostgreSQL is used as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from content.errors import ConfigError, StorageError

MIGRATIONS = Path(__file__).parent / "migrations"
READ_ONLY = "vibot_read_only"


def sqlite_url(home: Path) -> str:
    return f"sqlite:///{(home / 'vibot.db').resolve()}"


def _configure_sqlite(engine: sa.Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # Reads (read_scope) begin deferred: in WAL mode they never wait for a writer or
        # for each other; everything else takes the write lock up front.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(url: str) -> sa.Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            f"VIBOT_DATABASE_URL '{_redact(url)}' is not a database URL — "
            "use sqlite:///path/vibot.db or postgresql+psycopg://user@host/db"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as err:
        raise ConfigError(
            f"the driver for {parsed.get_backend_name()} is not installed ({err.name}) — "
            "install vibot[postgres]"
        ) from None


def _redact(url: str) -> str:
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable>"


def _alembic_config(connection: sa.Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


# The newest migration's revision (a test keeps it equal to alembic's head). A database
# already there is recognised with one query: loading alembic and its scripts costs ~0.5 s,
# paid by every CLI command and every process the daemon starts.
HEAD_REVISION = "0010"


def _at_head(connection: sa.Connection) -> bool:
    if not sa.inspect(connection).has_table("alembic_version"):
        return False
    versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions == [HEAD_REVISION]


def upgrade(engine: sa.Engine) -> None:
    """Bring the schema to the newest migration; cheap when it is already there."""
    try:
        with engine.begin() as connection:
            if _at_head(connection):
                return
            from alembic import command
            from alembic.runtime.migration import MigrationContext
            from alembic.script import ScriptDirectory

            config = _alembic_config(connection)
            head = ScriptDirectory.from_config(config).get_current_head()
            if MigrationContext.configure(connection).get_current_revision() != head:
                command.upgrade(config, "head")
    except sa.exc.OperationalError as err:
        raise StorageError(
            f"cannot open the database {_redact(str(engine.url))}: {err.orig} — "
            "check VIBOT_DATABASE_URL and that the server is running"
        ) from None


@contextmanager
def session_scope(engine: sa.Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def read_scope(engine: sa.Engine) -> Iterator[Session]:
    """A session that only reads: on SQLite it takes no write lock, so web pages never queue
    behind each other or behind the daemon. Nothing is committed: closing the session gives
    the connection back to the pool, which rolls its transaction back (the loaded objects
    stay readable)."""
    with Session(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False) as session:
        yield session

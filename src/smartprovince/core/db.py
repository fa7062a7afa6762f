"""Database: engine, the one session helper, typed declarative base, UTC datetimes.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout; PostgreSQL
is used as is. Every write goes through ``Database.session()`` which commits or rolls back as a
whole, so a failed write leaves nothing half-done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every table; constraint names are deterministic so migrations match on both databases."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC (SQLite keeps no zone; we put it back on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy own transactions (pysqlite's implicit BEGIN is off); see _sqlite_begin.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the platform's settings for SQLite or PostgreSQL."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers take the write lock at BEGIN (IMMEDIATE) so they queue on busy_timeout instead of
            # failing with "database is locked" when a read snapshot is upgraded; readers (write=False)
            # use a deferred BEGIN and never wait (WAL).
            immediate = conn.get_execution_options().get("sqlite_write", True)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if kwargs.pop("nullpool", False):
        kwargs["poolclass"] = NullPool
    return create_engine(url, **kwargs)


class Database:
    """The engine and the one way to open a session."""

    def __init__(self, url: str, **engine_kwargs: Any):
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self._read_engine = self.engine.execution_options(sqlite_write=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def session(self, *, write: bool = True) -> Iterator[Session]:
        """One transaction: commit when the block ends, roll back on any exception.

        ``write=False`` declares a read-only unit of work: on SQLite it does not take the write lock,
        so reads never wait behind writers. A read session that writes anyway still works but may
        fail with "database is locked" under contention — open a write session for writes.
        """
        # The connection (and BEGIN) is taken lazily at the first statement, so opening a session
        # early (a request dependency) holds no lock until it is used.
        session = self.sessionmaker(bind=self._read_engine) if (self.is_sqlite and not write) else self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def run(self, fn: Callable[[Session], Any]) -> Any:
        with self.session() as s:
            return fn(s)

    def dispose(self) -> None:
        self.engine.dispose()

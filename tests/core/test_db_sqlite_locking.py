"""SQLite transactions: writers queue at BEGIN IMMEDIATE instead of failing; readers never wait.

Before, a transaction that read first and wrote later failed at once with "database is locked" when
another connection committed in between (SQLITE_BUSY_SNAPSHOT); the busy timeout does not help there.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from smartprovince.core.db import Database


def _db(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'lock.db'}")
    with db.session() as s:
        s.execute(text("CREATE TABLE t (x INTEGER)"))
    return db


def test_read_then_write_does_not_fail_when_another_writer_commits_in_between(tmp_path: Path) -> None:
    db = _db(tmp_path)
    read_done = threading.Event()
    other_done = threading.Event()
    errors: list[BaseException] = []

    def other_writer() -> None:
        read_done.wait(5)
        try:
            with db.session() as s:
                s.execute(text("INSERT INTO t VALUES (1)"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        other_done.set()

    th = threading.Thread(target=other_writer)
    th.start()
    with db.session() as s:
        s.execute(text("SELECT COUNT(*) FROM t")).scalar_one()
        read_done.set()
        other_done.wait(0.5)  # the other writer queues behind us instead of committing in between
        s.execute(text("INSERT INTO t VALUES (2)"))
    th.join(20)
    assert not errors
    with db.session(write=False) as s:
        assert s.execute(text("SELECT COUNT(*) FROM t")).scalar_one() == 2
    db.dispose()


def test_readers_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    db = _db(tmp_path)
    holding = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with db.session() as s:
            s.execute(text("INSERT INTO t VALUES (1)"))
            holding.set()
            release.wait(30)  # keep the write lock until the reader is done

    th = threading.Thread(target=writer)
    th.start()
    holding.wait(5)
    # If readers waited for the write lock, this would block until the busy timeout and then fail.
    with db.session(write=False) as s:
        assert s.execute(text("SELECT COUNT(*) FROM t")).scalar_one() == 0  # the snapshot before the commit
    assert not release.is_set()
    release.set()
    th.join(5)
    db.dispose()

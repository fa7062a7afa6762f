"""Audit log: hash chain, append-only triggers, tamper detection (edit, delete, reorder), concurrency, CLI."""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from smartprovince.core import audit
from smartprovince.core.audit import GENESIS_HASH, AuditEntry, AuditHead
from smartprovince.core.db import Database
from smartprovince.core.security import Actor, Grant


def officer(username: str = "chuyenvien", org_path: str = "/p/") -> Actor:
    return Actor(id="u" * 32, username=username, kind="officer", org_path=org_path, grants=(Grant("*", ""),))


def add_entries(database: Database, n: int, **kwargs) -> list[AuditEntry]:
    entries = []
    with database.session() as s:
        for i in range(n):
            entries.append(
                audit.record(
                    s,
                    actor=officer(),
                    action="procedures.dossier.received",
                    object_type="dossier",
                    object_id=f"d{i}",
                    data={"i": i, "applicant": "Nguyễn Văn An"},
                    **kwargs,
                )
            )
    return entries


def check(database: Database) -> audit.AuditVerification:
    with database.session() as s:
        return audit.verify(s)


def drop_triggers(database: Database) -> None:
    """What an attacker with full database rights would do first."""
    with database.engine.begin() as c:
        if database.is_sqlite:
            for name in ("audit_log_no_update", "audit_log_no_delete", "audit_head_no_delete", "audit_head_no_rewind"):
                c.execute(text(f"DROP TRIGGER {name}"))
        else:
            c.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))
            c.execute(text("DROP TRIGGER audit_head_no_rewind ON audit_head"))


def test_entries_form_a_chain(database: Database) -> None:
    entries = add_entries(database, 3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[1].prev_hash == entries[0].hash
    assert entries[2].prev_hash == entries[1].hash
    with database.session() as s:
        stored = s.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert stored[1].data_value == {"applicant": "Nguyễn Văn An", "i": 1}
        assert stored[0].actor_name == "chuyenvien"
        assert stored[0].actor_kind == "officer"
        assert all(audit.entry_hash(e) == e.hash for e in stored)
        head = s.get(AuditHead, 1)
        assert head is not None and head.seq == 3 and head.hash == entries[2].hash
    result = check(database)
    assert result.ok and result.count == 3


def test_empty_log_is_intact(database: Database) -> None:
    result = check(database)
    assert result.ok and result.count == 0


def test_system_actor_and_rich_data(database: Database, frozen_clock) -> None:
    from datetime import date
    from decimal import Decimal

    with database.session() as s:
        e = audit.record(
            s,
            actor=None,
            action="core.calendar.updated",
            object_type="holiday",
            object_id=2026,
            data={"day": date(2026, 4, 26), "fee": Decimal("15000.50"), "tags": {"b", "a"}},
        )
    assert e.actor_kind == "system" and e.actor_id is None
    assert e.object_id == "2026"
    assert e.occurred_at == frozen_clock[0]
    assert e.data_value == {"day": "2026-04-26", "fee": "15000.50", "tags": ["a", "b"]}
    assert check(database).ok


def test_rolled_back_entry_leaves_no_gap(database: Database) -> None:
    add_entries(database, 1)
    with pytest.raises(RuntimeError), database.session() as s:
        audit.record(s, actor=None, action="x.y.z", object_type="thing", object_id="1")
        raise RuntimeError("the service failed after recording")
    add_entries(database, 1)
    with database.session() as s:
        assert [e.seq for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))] == [1, 2]
    assert check(database).ok


def test_audit_data_is_never_logged(database: Database, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with database.session() as s:
        audit.record(
            s,
            actor=None,
            action="identity.user.created",
            object_type="user",
            object_id="u1",
            data={"cccd": "030095001234"},
        )
    assert "030095001234" not in caplog.text


def test_triggers_refuse_update_and_delete(database: Database) -> None:
    add_entries(database, 2)
    for statement in (
        "UPDATE audit_log SET action = 'forged' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 2",
        "DELETE FROM audit_head",
        "UPDATE audit_head SET seq = 0",
    ):
        with pytest.raises(DBAPIError), database.engine.begin() as c:
            c.execute(text(statement))
    if not database.is_sqlite:
        with pytest.raises(DBAPIError), database.engine.begin() as c:
            c.execute(text("TRUNCATE audit_log"))
    assert check(database).ok


def test_verify_finds_an_edited_entry(database: Database) -> None:
    entries = add_entries(database, 4)
    drop_triggers(database)
    with database.engine.begin() as c:
        c.execute(text("UPDATE audit_log SET data = :d WHERE seq = 2"), {"d": '{"applicant":"Kẻ gian","i":1}'})
    result = check(database)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.id) == (2, entries[1].id)
    assert "content" in result.broken.reason
    assert result.count == 1


def test_verify_finds_an_edit_even_with_its_hash_rewritten(database: Database) -> None:
    entries = add_entries(database, 4)
    drop_triggers(database)
    with database.session() as s:
        row = s.execute(select(AuditEntry.__table__).where(AuditEntry.seq == 2)).one()
        forged = dict(row._mapping, action="procedures.dossier.rejected")
        new_hash = audit.entry_hash(type("Row", (), forged))
    with database.engine.begin() as c:
        c.execute(
            text("UPDATE audit_log SET action = 'procedures.dossier.rejected', hash = :h WHERE seq = 2"),
            {"h": new_hash},
        )
    result = check(database)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.id) == (3, entries[2].id)
    assert "prev_hash" in result.broken.reason


def test_verify_finds_a_deleted_entry(database: Database) -> None:
    entries = add_entries(database, 5)
    drop_triggers(database)
    with database.engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    result = check(database)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.id) == (4, entries[3].id)
    assert "expected" in result.broken.reason


def test_verify_finds_reordered_entries(database: Database) -> None:
    entries = add_entries(database, 4)
    drop_triggers(database)
    with database.engine.begin() as c:
        c.execute(text("UPDATE audit_log SET seq = -1 WHERE seq = 2"))
        c.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = 3"))
        c.execute(text("UPDATE audit_log SET seq = 3 WHERE seq = -1"))
    result = check(database)
    assert result.broken is not None
    assert result.broken.seq == 2
    assert result.broken.id == entries[2].id  # the entry now sitting at position 2


def test_verify_finds_entries_deleted_at_the_end(database: Database) -> None:
    add_entries(database, 4)
    drop_triggers(database)
    with database.engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE seq >= 3"))
    result = check(database)
    assert result.broken is not None
    assert result.broken.seq == 3 and result.broken.id is None
    assert "missing at the end" in result.broken.reason
    assert result.count == 2


def test_concurrent_writers_do_not_fork_the_chain(settings) -> None:
    db = Database(settings.db_url)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(8):
                with db.session() as s:
                    audit.record(s, actor=None, action="x.thing.made", object_type="thing", object_id=f"{n}-{i}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        with db.session() as s:
            seqs = s.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)).all()
            prevs = s.scalars(select(AuditEntry.prev_hash)).all()
        assert seqs == list(range(1, 33))
        assert len(set(prevs)) == 32  # nobody appended twice to the same point
        assert check(db).ok
    finally:
        db.dispose()


def test_verify_reports_progress_in_batches(database: Database) -> None:
    add_entries(database, 7)
    seen: list[int] = []
    with database.session() as s:
        result = audit.verify(s, batch_size=3, on_progress=seen.append)
    assert result.ok and result.count == 7
    assert seen == [3, 6, 7]


# ------------------------------------------------------------------------------------------------ CLI


@pytest.fixture
def cli_env(settings, monkeypatch: pytest.MonkeyPatch):
    from smartprovince.settings import get_settings

    monkeypatch.setenv("SMARTPROVINCE_DATABASE_URL", settings.db_url)
    monkeypatch.setenv("SMARTPROVINCE_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run_cli(*args: str):
    from smartprovince.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_verify_intact(database: Database, cli_env) -> None:
    add_entries(database, 3)
    result = run_cli("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "intact" in result.output and "3 entries" in result.output


def test_cli_verify_names_the_first_broken_entry(database: Database, cli_env) -> None:
    entries = add_entries(database, 3)
    drop_triggers(database)
    with database.engine.begin() as c:
        c.execute(text("UPDATE audit_log SET object_id = 'other' WHERE seq = 2"))
    result = run_cli("audit", "verify")
    assert result.exit_code == 1
    assert "seq 2" in result.output and entries[1].id in result.output


def test_verify_finds_an_entry_forged_after_the_head(database: Database) -> None:
    entries = add_entries(database, 2)
    with database.session() as s:
        forged = dict(s.execute(select(AuditEntry.__table__).where(AuditEntry.seq == 2)).one()._mapping)
    forged.update(id="f" * 32, seq=3, prev_hash=entries[1].hash, action="identity.user.granted_admin")
    forged["hash"] = audit.entry_hash(type("Row", (), forged))
    with database.engine.begin() as c:  # an INSERT: the triggers do not stop it, the head is not moved
        c.execute(AuditEntry.__table__.insert(), forged)
    result = check(database)
    assert result.broken is not None
    assert (result.broken.seq, result.broken.id) == (3, "f" * 32)


def test_verify_while_others_write_is_not_a_false_alarm(settings) -> None:
    db = Database(settings.db_url)
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            with db.session() as s:
                audit.record(s, actor=None, action="x.thing.made", object_type="thing", object_id="1")

    add_entries(db, 5)
    thread = threading.Thread(target=writer)
    thread.start()
    try:
        results = []
        for _ in range(5):
            with db.session() as s:
                results.append(audit.verify(s, batch_size=7))
    finally:
        stop.set()
        thread.join()
    try:
        assert all(r.ok for r in results), [r.broken for r in results]
        assert check(db).ok
    finally:
        db.dispose()

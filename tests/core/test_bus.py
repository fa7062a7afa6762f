"""Event bus: outbox delivery after commit, nothing on rollback, retries and dead letters, replay,
idempotent redelivery, the background dispatcher, and a real crash between commit and dispatch.

The same tests run on the in-process backend (default) and on NATS JetStream when
``SMARTPROVINCE_TEST_BUS_URL=nats://…`` is set, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bus_crash_child import (
    CRASH_HANDLER,
    CRASH_TOPIC,
    add_effect,
    count_effects,
    create_effect_table,
    register_crash_handler,
)
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from smartprovince.core import bus, security
from smartprovince.core.audit import AuditEntry
from smartprovince.core.bus import DeadLetter, Event, OutboxEvent, publish, subscribe
from smartprovince.core.db import Database
from smartprovince.core.security import ANONYMOUS, Actor, Grant

HERE = Path(__file__).resolve().parent


@pytest.fixture
def effects(database: Database) -> Database:
    """The test database with a ``bus_test_effect`` table that handlers write to."""
    create_effect_table(database)
    return database


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Names of handlers registered by a test; they are removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        bus.unsubscribe(name)


def _register(names: list[str], pattern: str, name: str, fn: Any) -> None:
    subscribe(pattern, name=name)(fn)
    names.append(name)


def _publish(db: Database, topic: str, payload: Any, **kw: Any) -> str:
    with db.session() as s:
        return publish(s, topic, payload, **kw)


def _dead_letters(db: Database, event_id: str | None = None) -> list[DeadLetter]:
    with db.session() as s:
        stmt = select(DeadLetter).order_by(DeadLetter.id)
        if event_id:
            stmt = stmt.where(DeadLetter.event_id == event_id)
        return list(s.scalars(stmt))


# ------------------------------------------------------------------------------------- delivery


def test_publish_then_commit_delivers_once_to_each_matching_handler(effects, registered, drain) -> None:
    seen: list[Event] = []

    def record(session: Session, ev: Event) -> None:
        seen.append(ev)
        add_effect(session, event_id=ev.id, handler="t.record", note=ev.payload["code"])

    _register(registered, "test.bus.dossier.*", "t.record", record)
    _register(registered, "test.bus.other.*", "t.other", lambda s, ev: add_effect(s, event_id=ev.id, handler="t.other"))

    event_id = _publish(effects, "test.bus.dossier.received", {"code": "H30.01-2603-0001"}, key="D1")
    drain()
    drain()  # nothing left: draining again changes nothing

    assert count_effects(effects, "t.record") == 1
    assert count_effects(effects, "t.other") == 0
    assert len(seen) == 1
    ev = seen[0]
    assert (ev.id, ev.topic, ev.payload, ev.key) == (
        event_id,
        "test.bus.dossier.received",
        {"code": "H30.01-2603-0001"},
        "D1",
    )
    assert ev.occurred_at.tzinfo is not None
    with effects.session() as s:
        assert s.get(OutboxEvent, event_id).dispatched_at is not None


def test_rollback_delivers_nothing(effects, registered, drain) -> None:
    _register(registered, "test.bus.>", "t.any", lambda s, ev: add_effect(s, event_id=ev.id, handler="t.any"))

    with pytest.raises(RuntimeError), effects.session() as s:
        add_effect(s, event_id=None, handler="state")
        publish(s, "test.bus.dossier.received", {"code": "X"})
        raise RuntimeError("the service failed after publishing")
    drain()

    assert count_effects(effects, "t.any") == 0
    assert count_effects(effects, "state") == 0
    with effects.session() as s:
        assert s.scalars(select(OutboxEvent)).all() == []


def test_wildcards_follow_nats_rules(effects, registered, drain) -> None:
    _register(registered, "test.bus.dossier.*", "t.star", lambda s, ev: add_effect(s, event_id=ev.id, handler="t.star"))
    _register(registered, "test.bus.>", "t.tail", lambda s, ev: add_effect(s, event_id=ev.id, handler="t.tail"))

    _publish(effects, "test.bus.dossier.received", {})
    _publish(effects, "test.bus.dossier.received.late", {})  # * matches exactly one word
    _publish(effects, "test.bus.camera.offline", {})
    drain()

    assert count_effects(effects, "t.star") == 1
    assert count_effects(effects, "t.tail") == 3


def test_topic_and_pattern_validation(effects) -> None:
    with effects.session() as s:
        for bad in ["", "a..b", "a.*", "has space", "a.>"]:
            with pytest.raises(ValueError):
                publish(s, bad, {})
        with pytest.raises(TypeError):
            publish(s, "test.bus.bad", {"x": object()})
    for bad in ["a.>.b", "", "a..b", "a b"]:
        with pytest.raises(ValueError):
            subscribe(bad, name="t.never")
    assert bus.topic_matches("a.*.c", "a.b.c")
    assert not bus.topic_matches("a.*", "a")
    assert bus.topic_matches("a.>", "a.b.c")
    assert not bus.topic_matches("a.>", "a")


def test_payload_dates_and_decimals_become_strings(effects, registered, drain) -> None:
    from datetime import UTC, datetime
    from decimal import Decimal

    got: list[Any] = []
    _register(registered, "test.bus.fee.paid", "t.fee", lambda s, ev: got.append(ev.payload))
    _publish(effects, "test.bus.fee.paid", {"amount": Decimal("25000.50"), "at": datetime(2026, 3, 2, tzinfo=UTC)})
    drain()
    assert got == [{"amount": "25000.50", "at": "2026-03-02T00:00:00+00:00"}]


# ------------------------------------------------------------------------------ failures, retries


def test_transient_failure_is_retried_until_it_succeeds(effects, registered, drain) -> None:
    calls = Counter[str]()

    def flaky(session: Session, ev: Event) -> None:
        calls[ev.id] += 1
        add_effect(session, event_id=ev.id, handler="t.flaky")  # rolled back with the failure
        if calls[ev.id] < 3:
            raise ConnectionError("SMS gateway not reachable")

    _register(registered, "test.bus.sms.*", "t.flaky", flaky)
    event_id = _publish(effects, "test.bus.sms.requested", {"to": "0912345678"})
    drain()

    assert calls[event_id] == 3
    assert count_effects(effects, "t.flaky") == 1
    assert _dead_letters(effects) == []


def test_handler_failure_retries_then_dead_letters(effects, registered, drain, settings) -> None:
    calls = Counter[str]()

    def broken(session: Session, ev: Event) -> None:
        calls[ev.id] += 1
        add_effect(session, event_id=ev.id, handler="t.broken")
        raise ValueError("boom: unknown procedure code")

    _register(registered, "test.bus.broken.*", "t.broken", broken)
    _register(registered, "test.bus.broken.*", "t.fine", lambda s, ev: add_effect(s, event_id=ev.id, handler="t.fine"))
    event_id = _publish(effects, "test.bus.broken.happened", {"n": 1})
    drain()

    assert calls[event_id] == settings.bus_max_attempts
    assert count_effects(effects, "t.broken") == 0
    assert count_effects(effects, "t.fine") == 1  # one failing handler does not hold the others back
    [dl] = _dead_letters(effects)
    assert (dl.event_id, dl.handler, dl.topic, dl.attempts) == (
        event_id,
        "t.broken",
        "test.bus.broken.happened",
        settings.bus_max_attempts,
    )
    assert "boom: unknown procedure code" in dl.error
    assert dl.replayed_at is None


# ----------------------------------------------------------------------------------- idempotence


def test_same_event_delivered_twice_has_one_effect(effects, registered, drain, app) -> None:
    calls = Counter[str]()

    def record(session: Session, ev: Event) -> None:
        calls[ev.id] += 1
        add_effect(session, event_id=ev.id, handler="t.once")

    _register(registered, "test.bus.once.*", "t.once", record)
    event_id = _publish(effects, "test.bus.once.created", {})
    drain()
    assert count_effects(effects, "t.once", event_id) == 1

    # As if a relay or dispatcher crashed after delivering but before marking the event dispatched:
    with effects.session() as s:
        s.execute(update(OutboxEvent).where(OutboxEvent.id == event_id).values(dispatched_at=None))
    drain()
    # …and a handler called directly with the same event again (e.g. JetStream redelivery):
    with effects.session() as s:
        ev = Event.from_row(s.get(OutboxEvent, event_id))
    assert bus.apply_event(effects, bus.get_handler("t.once"), ev) is False

    assert count_effects(effects, "t.once", event_id) == 1
    assert calls[event_id] == 1


# ----------------------------------------------------------------------------- background thread


def test_background_dispatcher_delivers_after_commit_without_drain(effects, registered, app) -> None:
    _register(registered, "test.bus.live.*", "t.live", lambda s, ev: add_effect(s, event_id=ev.id, handler="t.live"))
    with TestClient(app):
        running = app.state.bus
        assert running.ready()
        _publish(effects, "test.bus.live.started", {})
        deadline = time.monotonic() + 15
        while count_effects(effects, "t.live") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert count_effects(effects, "t.live") == 1
    assert not running.ready()


# ------------------------------------------------------------------------------------ crash test


def test_crash_between_commit_and_dispatch_loses_nothing(effects, registered, settings, tmp_path) -> None:
    """A process commits a state change and its event and is killed before dispatching it; a fresh
    dispatcher started later delivers the event, and the handler's effect happens exactly once."""
    register_crash_handler()
    registered.append(CRASH_HANDLER)
    proc = subprocess.run(  # noqa: S603 - our own helper script with fixed arguments
        [sys.executable, str(HERE / "bus_crash_child.py"), settings.db_url, settings.bus_url, str(tmp_path / "child")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=HERE,
    )
    assert proc.returncode == -9, proc.stderr  # killed by SIGKILL, not a normal exit
    event_id = proc.stdout.strip()
    assert len(event_id) == 32

    assert count_effects(effects, "state") == 1  # the state change was committed…
    assert count_effects(effects, CRASH_HANDLER) == 0  # …but nothing was delivered
    with effects.session() as s:
        pending = s.get(OutboxEvent, event_id)
        assert (pending.topic, pending.dispatched_at) == (CRASH_TOPIC, None)

    fresh = bus.Bus(settings, Database(settings.db_url))
    fresh.start()  # a new process's dispatcher: it finds the pending event on its first poll
    try:
        deadline = time.monotonic() + 30
        while count_effects(effects, CRASH_HANDLER) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        fresh.drain()
    finally:
        fresh.stop()
        fresh.db.dispose()
    assert count_effects(effects, CRASH_HANDLER, event_id) == 1
    assert count_effects(effects, CRASH_HANDLER) == 1


# --------------------------------------------------------------------------------- admin: API, CLI


ADMIN = Actor(
    id="u-admin", username="quantri", kind="officer", grants=(Grant("core.bus.admin", ""),), auth_method="token"
)
CLERK = Actor(
    id="u-clerk", username="motcua", kind="officer", grants=(Grant("procedures.dossier.read", ""),), auth_method="token"
)


@pytest.fixture
def api(app, effects, monkeypatch) -> Iterator[TestClient]:
    """A client whose ``X-Test-As`` header picks the actor: admin, clerk or nobody."""
    people = {"admin": ADMIN, "clerk": CLERK}
    monkeypatch.setattr(security, "_resolver", lambda request: people.get(request.headers.get("x-test-as"), ANONYMOUS))
    # the test header is the only "credential": let the resolver see every request
    monkeypatch.setattr(security, "_carries_credentials", lambda request: "x-test-as" in request.headers)
    with TestClient(app) as c:
        yield c


def _dead_letter_for(effects: Database, registered: list[str], drain: Any, *, fixed: dict[str, bool]) -> str:
    def sometimes(session: Session, ev: Event) -> None:
        if not fixed["yes"]:
            raise RuntimeError("national population database timed out")
        add_effect(session, event_id=ev.id, handler="t.replay")

    _register(registered, "test.bus.citizen.*", "t.replay", sometimes)
    event_id = _publish(effects, "test.bus.citizen.verified", {"cccd_last4": "0123"})
    drain()
    [dl] = _dead_letters(effects, event_id)
    return dl.id


def test_admin_lists_and_replays_a_dead_letter(api, effects, registered, drain) -> None:
    fixed = {"yes": False}
    dl_id = _dead_letter_for(effects, registered, drain, fixed=fixed)
    admin = {"X-Test-As": "admin"}

    r = api.get("/api/v1/bus/dead-letters", headers=admin)
    assert r.status_code == 200
    [item] = [i for i in r.json()["items"] if i["id"] == dl_id]
    assert item["handler"] == "t.replay" and "timed out" in item["error"] and item["replayed_at"] is None

    r = api.get(f"/api/v1/bus/dead-letters/{dl_id}", headers=admin)
    assert r.status_code == 200 and r.json()["payload"] == {"cccd_last4": "0123"}

    stats = api.get("/api/v1/bus/stats", headers=admin).json()
    assert stats["dead_letters_open"] == 1 and stats["ready"] is True

    fixed["yes"] = True  # the outside system is back
    r = api.post(f"/api/v1/bus/dead-letters/{dl_id}/replay", headers=admin)
    assert r.status_code == 202, r.text
    assert r.json()["replayed_by"] == "quantri"
    drain()
    assert count_effects(effects, "t.replay") == 1

    with effects.session() as s:
        trail = s.execute(
            select(AuditEntry.action, AuditEntry.actor_name)
            .where(AuditEntry.object_id == dl_id)
            .order_by(AuditEntry.seq)
        ).all()
        topics = set(s.scalars(select(OutboxEvent.topic)))
    assert [tuple(t) for t in trail] == [
        ("core.bus.dead_lettered", "system"),
        ("core.bus.dead_letter_replayed", "quantri"),
    ]
    assert {"core.bus.dead_lettered", "core.bus.dead_letter_replayed"} <= topics

    again = api.post(f"/api/v1/bus/dead-letters/{dl_id}/replay", headers=admin)
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert api.get("/api/v1/bus/dead-letters", headers=admin).json()["items"] == []
    replayed = api.get("/api/v1/bus/dead-letters?status=replayed", headers=admin).json()["items"]
    assert [i["id"] for i in replayed] == [dl_id]


def test_replay_that_fails_again_makes_a_new_dead_letter(api, effects, registered, drain) -> None:
    dl_id = _dead_letter_for(effects, registered, drain, fixed={"yes": False})
    assert api.post(f"/api/v1/bus/dead-letters/{dl_id}/replay", headers={"X-Test-As": "admin"}).status_code == 202
    drain()
    dls = _dead_letters(effects)
    assert len(dls) == 2
    assert sum(1 for d in dls if d.replayed_at is None) == 1
    assert count_effects(effects, "t.replay") == 0


def test_bus_admin_api_refuses_others_and_answers_problems(api) -> None:
    for method, path in [
        ("get", "/api/v1/bus/dead-letters"),
        ("get", "/api/v1/bus/stats"),
        ("get", "/api/v1/bus/dead-letters/x"),
        ("post", "/api/v1/bus/dead-letters/x/replay"),
    ]:
        anonymous = getattr(api, method)(path)
        assert anonymous.status_code == 401
        clerk = getattr(api, method)(path, headers={"X-Test-As": "clerk"})
        assert clerk.status_code == 403
        assert clerk.headers["content-type"].startswith("application/problem+json")
    admin = {"X-Test-As": "admin"}
    assert api.get("/api/v1/bus/dead-letters/nope", headers=admin).status_code == 404
    assert api.post("/api/v1/bus/dead-letters/nope/replay", headers=admin).status_code == 404
    assert api.post("/api/v1/bus/dead-letters/" + "x" * 300 + "/replay", headers=admin).status_code == 404
    assert api.get("/api/v1/bus/dead-letters?status=weird", headers=admin).status_code == 422
    assert api.get("/api/v1/bus/dead-letters?cursor=%%%", headers=admin).status_code == 400


def test_dead_letter_list_pages_with_a_cursor(api, effects, registered, drain) -> None:
    def broken(session: Session, ev: Event) -> None:
        raise ValueError("always")

    _register(registered, "test.bus.page.*", "t.page", broken)
    for i in range(5):
        _publish(effects, "test.bus.page.made", {"i": i})
    drain()
    admin = {"X-Test-As": "admin"}
    seen: list[str] = []
    url = "/api/v1/bus/dead-letters?limit=2"
    while True:
        body = api.get(url, headers=admin).json()
        seen += [i["id"] for i in body["items"]]
        if not body["next_cursor"]:
            break
        url = f"/api/v1/bus/dead-letters?limit=2&cursor={body['next_cursor']}"
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)


def test_nats_relay_publishes_each_event_once_to_jetstream(effects, registered, drain, app) -> None:
    running = app.state.bus
    if running.backend != "nats":
        pytest.skip("runs with SMARTPROVINCE_TEST_BUS_URL=nats://…")
    _register(registered, "test.bus.js.*", "t.js", lambda s, ev: add_effect(s, event_id=ev.id, handler="t.js"))
    event_id = _publish(effects, "test.bus.js.sent", {"n": 1})
    drain()
    # The relay publishes again, as after a crash between publishing and marking the row dispatched:
    with effects.session() as s:
        s.execute(update(OutboxEvent).where(OutboxEvent.id == event_id).values(dispatched_at=None))
    drain()

    nats = running.nats
    info = nats._call(nats._js.stream_info(nats.stream))
    assert info.state.messages == 1  # JetStream dropped the copy with the same Nats-Msg-Id
    assert count_effects(effects, "t.js", event_id) == 1


def test_a_transaction_that_reads_then_writes_is_not_broken_by_the_dispatcher(effects, registered, app) -> None:
    """A request that has read and then writes must not fail because the bus committed meanwhile."""
    import threading

    from sqlalchemy import text

    _register(registered, "test.bus.gate.*", "t.gate", lambda s, ev: add_effect(s, event_id=ev.id, handler="t.gate"))
    _publish(effects, "test.bus.gate.opened", {})
    running = app.state.bus
    with effects.session() as s:
        s.execute(text("SELECT COUNT(*) FROM bus_test_effect")).scalar_one()  # the request reads…
        worker = threading.Thread(target=running.drain)
        worker.start()
        time.sleep(0.5)
        with effects.session(write=False) as peek:
            done = peek.execute(text("SELECT COUNT(*) FROM bus_test_effect WHERE handler = 't.gate'")).scalar_one()
        if effects.is_sqlite:
            assert done == 0  # …the bus has not written in between (it waits for the write lock)…
        add_effect(s, event_id=None, handler="request")  # …so the request's write succeeds.
    worker.join(30)
    assert count_effects(effects, "request") == 1
    assert count_effects(effects, "t.gate") == 1

"""Event bus with a transactional outbox (hộp thư đi) — how modules tell each other what happened.

How it works, in short:

1. A service function changes some rows and calls ``publish(session, "procedures.dossier.received",
   {...})`` in the *same* transaction. ``publish`` only writes a row in the ``bus_outbox`` table, so
   the event exists if and only if the state change was committed.
2. After the commit, a dispatcher hands the event to every handler whose topic pattern matches.
   Handlers are plain functions registered with ``@subscribe("procedures.dossier.*", name=...)``
   and called as ``handler(session, event)`` in their *own* transaction.
3. Delivery is *at least once*. A handler may therefore see the same event twice (after a crash,
   for example); the ``bus_processed`` table (event id, handler name) is written in the handler's
   transaction, so the effect of one event on one handler is committed exactly once.
4. A failing handler is retried with exponential backoff (``bus_retry_base_seconds`` doubled at each
   attempt). After ``bus_max_attempts`` attempts the event becomes a *dead letter* (thư chết) with
   the error text; an administrator lists it and replays it (API, or ``smartprovince bus dead`` /
   ``smartprovince bus replay ID``).

Two backends move events from the outbox to the handlers:

* ``inprocess`` (default): a background thread in the same process. It is woken right after each
  commit that published something, and it also polls the outbox every few seconds, so events
  committed by a process that crashed before dispatching them are still delivered.
* ``nats://…``: the outbox relay publishes each event to a NATS JetStream stream (message id = event
  id, so JetStream drops duplicates), and one durable consumer per handler delivers it (see
  ``bus_nats.py``). The same processed-event and dead-letter tables are used.

Topics are named ``module.entity.verb``. In a subscription pattern ``*`` matches exactly one word and
``>`` (last position only) matches one or more words, as in NATS: ``procedures.dossier.*``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from smartprovince.core import audit, clock
from smartprovince.core.db import Base, Database, UTCDateTime
from smartprovince.core.errors import Conflict, NotFound
from smartprovince.core.ids import new_id

log = logging.getLogger("smartprovince.bus")

PUBLISHED_FLAG = "smartprovince.bus.published"
MAX_RETRY_DELAY_SECONDS = 3600.0
POLL_SECONDS = 2.0
_TOPIC_RE = re.compile(r"^[a-z0-9_-]+(\.[a-z0-9_-]+)*$", re.IGNORECASE)
_PATTERN_TOKEN_RE = re.compile(r"^([a-z0-9_-]+|\*|>)$", re.IGNORECASE)


# --------------------------------------------------------------------------------------------- tables


class OutboxEvent(Base):
    """Sự kiện — one published event, kept as the platform's event log.

    ``dispatched_at`` is set once the event has been handed to the delivery mechanism (fanned out to
    handlers, or published to JetStream); until then it is *pending*.
    """

    __tablename__ = "bus_outbox"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    topic: Mapped[str] = mapped_column(String(200), index=True)
    key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[Any] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class Delivery(Base):
    """A delivery still to do: one event for one handler, with its attempt count and next try time."""

    __tablename__ = "bus_delivery"
    __table_args__ = (UniqueConstraint("event_id", "handler", name="uq_bus_delivery_event_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), ForeignKey("bus_outbox.id"))
    handler: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProcessedEvent(Base):
    """Proof that a handler has applied an event; written in the handler's own transaction."""

    __tablename__ = "bus_processed"

    event_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    handler: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeadLetter(Base):
    """Thư chết — an event a handler failed to process ``bus_max_attempts`` times, waiting for an admin."""

    __tablename__ = "bus_dead_letter"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(32), ForeignKey("bus_outbox.id"), index=True)
    handler: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)
    dead_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replayed_by: Mapped[str | None] = mapped_column(String(200))


# ----------------------------------------------------------------------------- events and handlers


@dataclass(frozen=True)
class Event:
    """What a handler receives: the event id, its topic, its JSON payload and when it happened."""

    id: str
    topic: str
    payload: Any
    occurred_at: datetime
    key: str | None = None

    def to_json(self) -> bytes:
        """The event as JSON bytes (the message body on NATS)."""
        return json.dumps(
            {
                "id": self.id,
                "topic": self.topic,
                "payload": self.payload,
                "key": self.key,
                "occurred_at": self.occurred_at.isoformat(),
            },
            ensure_ascii=False,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Event:
        raw = json.loads(data)
        return cls(
            id=raw["id"],
            topic=raw["topic"],
            payload=raw["payload"],
            key=raw.get("key"),
            occurred_at=datetime.fromisoformat(raw["occurred_at"]),
        )

    @classmethod
    def from_row(cls, row: OutboxEvent) -> Event:
        return cls(id=row.id, topic=row.topic, payload=row.payload, occurred_at=row.occurred_at, key=row.key)


HandlerFn = Callable[[Session, Event], Any]


@dataclass(frozen=True)
class Handler:
    """A subscription: a unique ``name``, the topic ``pattern`` it listens to, and the function."""

    name: str
    pattern: str
    fn: HandlerFn

    def matches(self, topic: str) -> bool:
        return topic_matches(self.pattern, topic)


_handlers: dict[str, Handler] = {}
_handlers_lock = threading.Lock()


def topic_matches(pattern: str, topic: str) -> bool:
    """True when ``topic`` matches ``pattern`` (``*`` = one word, ``>`` at the end = one or more words)."""
    p = pattern.split(".")
    t = topic.split(".")
    for i, word in enumerate(p):
        if word == ">":
            return len(t) > i
        if i >= len(t):
            return False
        if word != "*" and word != t[i]:
            return False
    return len(t) == len(p)


def validate_topic(topic: str) -> str:
    """Check a topic name (words of letters, digits, ``_`` or ``-`` separated by dots) and return it."""
    if not isinstance(topic, str) or len(topic) > 200 or not _TOPIC_RE.match(topic):
        raise ValueError(f"invalid event topic {topic!r}: use words separated by dots ('procedures.dossier.received')")
    return topic


def validate_pattern(pattern: str) -> str:
    """Check a subscription pattern: topic words, ``*``, and ``>`` only as the last word."""
    tokens = pattern.split(".") if isinstance(pattern, str) else []
    ok = bool(tokens) and len(pattern) <= 200 and all(_PATTERN_TOKEN_RE.match(t) for t in tokens)
    if not ok or ">" in tokens[:-1]:
        raise ValueError(f"invalid subscription pattern {pattern!r}")
    return pattern


def subscribe(topic: str, *, name: str) -> Callable[[HandlerFn], HandlerFn]:
    """Decorator: call the function for every event whose topic matches ``topic``.

    ``name`` identifies the handler for good (processed-event rows, dead letters and the NATS consumer
    use it), so never rename a handler that has run in production. Registering the same name again
    replaces the earlier registration (useful when a module is imported twice in tests).
    """
    validate_pattern(topic)
    if not name or len(name) > 200:
        raise ValueError("a handler needs a name of 1 to 200 characters")

    def decorator(fn: HandlerFn) -> HandlerFn:
        with _handlers_lock:
            _handlers[name] = Handler(name=name, pattern=topic, fn=fn)
        return fn

    return decorator


def unsubscribe(name: str) -> None:
    """Remove a handler registration (tests)."""
    with _handlers_lock:
        _handlers.pop(name, None)


def handlers() -> list[Handler]:
    """Every registered handler, sorted by name."""
    with _handlers_lock:
        return sorted(_handlers.values(), key=lambda h: h.name)


def get_handler(name: str) -> Handler | None:
    with _handlers_lock:
        return _handlers.get(name)


def handlers_for(topic: str) -> list[Handler]:
    """The handlers whose pattern matches ``topic``."""
    return [h for h in handlers() if h.matches(topic)]


# ------------------------------------------------------------------------------------------ publish


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"value of type {type(value).__name__} cannot be put in an event payload")


def publish(session: Session, topic: str, payload: Any, *, key: str | None = None) -> str:
    """Write an event to the outbox in the caller's transaction and return its id.

    Nothing is sent now: the event is dispatched only after the caller's transaction commits, and
    disappears with it if the transaction rolls back. ``payload`` must be JSON data (dates, decimals
    and UUIDs are turned into strings). ``key`` groups events about the same object (e.g. a dossier
    id); it is kept with the event and sent as a NATS header.
    """
    validate_topic(topic)
    if key is not None and len(key) > 200:
        raise ValueError("event key longer than 200 characters")
    data = json.loads(json.dumps(payload, default=_jsonable, ensure_ascii=False))
    event_id = new_id()
    session.add(OutboxEvent(id=event_id, topic=topic, key=key, payload=data, occurred_at=clock.now()))
    session.info[PUBLISHED_FLAG] = True
    return event_id


# ------------------------------------------------------------------------------------ retry policy


def retry_delay(failed_attempts: int, base_seconds: float, *, cap_seconds: float = MAX_RETRY_DELAY_SECONDS) -> float:
    """Seconds to wait before the next attempt after ``failed_attempts`` failures (1, 2, …).

    The first retry waits ``base_seconds``; each later one waits twice as long, never more than
    ``cap_seconds``.
    """
    if failed_attempts < 1:
        raise ValueError("failed_attempts starts at 1")
    exponent = min(failed_attempts - 1, 60)  # 2**60 is already far beyond any cap
    return float(min(cap_seconds, base_seconds * (2**exponent)))


@dataclass(frozen=True)
class NextStep:
    """What to do after a failed attempt: retry after ``delay`` seconds, or dead-letter (``dead``)."""

    dead: bool
    delay: float | None


def after_failure(failed_attempts: int, *, max_attempts: int, base_seconds: float) -> NextStep:
    """Decide what follows the ``failed_attempts``-th failure of a handler on one event."""
    if failed_attempts >= max(1, max_attempts):
        return NextStep(dead=True, delay=None)
    return NextStep(dead=False, delay=retry_delay(failed_attempts, base_seconds))


# ------------------------------------------------------------------------ running one handler once


def begin_write(session: Session) -> None:
    """On SQLite, make sure this transaction holds the write lock before it reads.

    A SQLite transaction that first reads and later writes fails at once ("database is locked") if
    another connection committed in between. ``Database.session()`` already begins write sessions
    with ``BEGIN IMMEDIATE`` (and every non-GET request gets such a session), so route code never
    needs this; it covers sessions made some other way (a plain ``Session`` in a script, a handler
    given a read session). PostgreSQL needs nothing.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(OutboxEvent).where(OutboxEvent.id == "").values(topic=OutboxEvent.topic))


class AlreadyProcessed(Exception):
    """The handler has already applied this event (a duplicate delivery); nothing to do."""


def _error_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return text[-8000:]


def apply_event(db: Database, handler: Handler, ev: Event, *, delivery_id: str | None = None) -> bool:
    """Run ``handler`` on ``ev`` in a new transaction, at most once per (event, handler).

    The processed-event row is inserted *before* the handler runs, in the same transaction: a
    concurrent duplicate waits on that row and then fails with a unique-key error. When
    ``delivery_id`` is given, the delivery row is deleted in the same transaction. Returns ``True``
    when the handler ran, ``False`` when the event had already been processed. Handler errors
    propagate (and the whole transaction, including the processed row, is rolled back).
    """
    try:
        with db.session() as s:
            begin_write(s)
            if s.get(ProcessedEvent, (ev.id, handler.name)) is not None:
                raise AlreadyProcessed()  # a duplicate; the delivery row is removed below
            if delivery_id is not None:
                s.execute(delete(Delivery).where(Delivery.id == delivery_id))
            s.add(ProcessedEvent(event_id=ev.id, handler=handler.name, processed_at=clock.now()))
            s.flush()
            handler.fn(s, ev)
        return True
    except AlreadyProcessed:
        if delivery_id is not None:
            with db.session() as s:
                s.execute(delete(Delivery).where(Delivery.id == delivery_id))
        return False
    except IntegrityError:
        # Either the duplicate case (processed row inserted meanwhile) or the handler's own error.
        with db.session() as s:
            if s.get(ProcessedEvent, (ev.id, handler.name)) is not None:
                if delivery_id is not None:
                    s.execute(delete(Delivery).where(Delivery.id == delivery_id))
                return False
        raise


def record_dead_letter(session: Session, *, ev: Event, handler_name: str, attempts: int, error: str) -> DeadLetter:
    """Write a dead-letter row (by the system) and publish ``core.bus.dead_lettered``."""
    dl = DeadLetter(
        id=new_id(),
        event_id=ev.id,
        handler=handler_name,
        topic=ev.topic,
        attempts=attempts,
        error=error or "unknown error",
        dead_at=clock.now(),
    )
    session.add(dl)
    _audit(
        session,
        actor=None,
        action="core.bus.dead_lettered",
        object_id=dl.id,
        data={"event_id": ev.id, "handler": handler_name, "topic": ev.topic, "attempts": attempts},
    )
    if ev.topic != "core.bus.dead_lettered":  # never an endless chain of dead letters about dead letters
        publish(
            session,
            "core.bus.dead_lettered",
            {
                "dead_letter_id": dl.id,
                "event_id": ev.id,
                "handler": handler_name,
                "topic": ev.topic,
                "attempts": attempts,
            },
        )
    log.warning("event %s (%s) dead-lettered for handler %s after %d attempts", ev.id, ev.topic, handler_name, attempts)
    return dl


def _audit(session: Session, *, actor: Any, action: str, object_id: str, data: dict[str, Any]) -> None:
    """Write the audit row of a bus write in the same transaction (``actor`` ``None`` = the system)."""
    audit.record(session, actor=actor, action=action, object_type="bus_dead_letter", object_id=object_id, data=data)


# --------------------------------------------------------------------------- admin service functions


def list_dead_letters(
    session: Session, *, status: str = "open", cursor: str | None = None, limit: int = 50
) -> tuple[list[DeadLetter], str | None]:
    """Dead letters, newest first: ``status`` is ``open`` (not replayed), ``replayed`` or ``all``.

    Returns the page and the cursor of the next page (``None`` at the end).
    """
    stmt = select(DeadLetter).order_by(DeadLetter.id.desc())
    if status == "open":
        stmt = stmt.where(DeadLetter.replayed_at.is_(None))
    elif status == "replayed":
        stmt = stmt.where(DeadLetter.replayed_at.is_not(None))
    if cursor:
        stmt = stmt.where(DeadLetter.id < cursor)
    rows = list(session.scalars(stmt.limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor


def get_dead_letter(session: Session, dead_letter_id: str) -> DeadLetter:
    """One dead letter; ``NotFound`` when there is none with this id."""
    dl = session.get(DeadLetter, dead_letter_id)
    if dl is None:
        raise NotFound(f"No dead letter {dead_letter_id}")
    return dl


def replay_dead_letter(session: Session, *, actor: Any, dead_letter_id: str) -> DeadLetter:
    """Phát lại — deliver a dead-lettered event to its handler again, with a fresh attempt count.

    Writes a pending delivery (picked up by the dispatcher, in both backends), marks the dead letter
    replayed, writes the audit row and publishes ``core.bus.dead_letter_replayed``. Raises
    ``NotFound`` for an unknown id and ``Conflict`` when it was already replayed or a delivery of the
    same event to the same handler is still pending.
    """
    dl = get_dead_letter(session, dead_letter_id)
    if dl.replayed_at is not None:
        raise Conflict(f"Dead letter {dl.id} was already replayed at {dl.replayed_at.isoformat()}")
    pending = session.scalar(
        select(Delivery.id).where(Delivery.event_id == dl.event_id, Delivery.handler == dl.handler)
    )
    if pending is not None:
        raise Conflict(f"A delivery of event {dl.event_id} to {dl.handler} is already pending")
    now = clock.now()
    session.add(
        Delivery(id=new_id(), event_id=dl.event_id, handler=dl.handler, attempts=0, next_attempt_at=now, created_at=now)
    )
    dl.replayed_at = now
    dl.replayed_by = getattr(actor, "username", None) or getattr(actor, "id", None) or "system"
    _audit(
        session,
        actor=actor,
        action="core.bus.dead_letter_replayed",
        object_id=dl.id,
        data={"event_id": dl.event_id, "handler": dl.handler, "topic": dl.topic},
    )
    publish(
        session,
        "core.bus.dead_letter_replayed",
        {"dead_letter_id": dl.id, "event_id": dl.event_id, "handler": dl.handler, "topic": dl.topic},
    )
    session.flush()
    return dl


def bus_stats(session: Session) -> dict[str, int]:
    """Counts an operator watches: pending events, deliveries waiting (retries), dead letters, processed."""

    def count(model: Any, *where: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return {
        "events_total": count(OutboxEvent),
        "events_pending": count(OutboxEvent, OutboxEvent.dispatched_at.is_(None)),
        "deliveries_pending": count(Delivery),
        "deliveries_retrying": count(Delivery, Delivery.attempts > 0),
        "processed_total": count(ProcessedEvent),
        "dead_letters_open": count(DeadLetter, DeadLetter.replayed_at.is_(None)),
        "dead_letters_total": count(DeadLetter),
    }


# ----------------------------------------------------------------------------------- the dispatcher


# The dispatcher's polling queries, built once: it runs them after every commit that published and
# every few seconds, and building a statement (and its cache key) each time cost as much as running it.
_UNDISPATCHED = select(OutboxEvent.id).where(OutboxEvent.dispatched_at.is_(None)).limit(1)
_ANY_DELIVERY = select(Delivery.id).limit(1)
_DUE_DELIVERY = select(Delivery.id).where(Delivery.next_attempt_at <= bindparam("now", type_=UTCDateTime())).limit(1)


class Bus:
    """The running bus of one process: dispatcher thread (in-process) or relay + consumers (NATS).

    Build it with the settings and the database, then ``start()`` / ``stop()``. ``drain()`` processes
    everything pending synchronously (tests, and the ``worker --once`` style of use).
    """

    def __init__(self, settings: Any, db: Database):
        self.settings = settings
        self.db = db
        self.url: str = settings.bus_url or "inprocess"
        self.max_attempts: int = int(settings.bus_max_attempts)
        self.base_seconds: float = float(settings.bus_retry_base_seconds)
        self.poll_seconds = POLL_SECONDS
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._work_lock = threading.RLock()
        self._installed = False
        self.nats: Any = None
        if self.url.startswith("nats://") or self.url.startswith("tls://"):
            from smartprovince.core.bus_nats import NatsTransport

            self.nats = NatsTransport(self)
        elif self.url != "inprocess":
            raise ValueError(f"unknown bus URL {self.url!r}: use 'inprocess' or nats://host:4222")

    @property
    def backend(self) -> str:
        return "nats" if self.nats is not None else "inprocess"

    # -- wiring

    def install(self) -> None:
        """Listen to commits of this database's sessions, to wake the dispatcher right away."""
        if not self._installed:
            event.listen(self.db.sessionmaker, "after_commit", self._after_commit)
            event.listen(self.db.sessionmaker, "after_rollback", self._after_rollback)
            self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            event.remove(self.db.sessionmaker, "after_commit", self._after_commit)
            event.remove(self.db.sessionmaker, "after_rollback", self._after_rollback)
            self._installed = False

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(PUBLISHED_FLAG, False):
            self.notify()

    def _after_rollback(self, session: Session) -> None:
        session.info.pop(PUBLISHED_FLAG, None)

    def notify(self) -> None:
        """Something was committed: wake the dispatcher (and the NATS relay)."""
        self._wake.set()
        if self.nats is not None:
            self.nats.notify()

    # -- lifecycle

    def start(self) -> None:
        """Start the background dispatcher (and, for NATS, the relay and one consumer per handler)."""
        self.install()
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        if self.nats is not None:
            self.nats.start()
        self._thread = threading.Thread(target=self._loop, name="smartprovince-bus", daemon=True)
        self._thread.start()
        log.info("event bus started (%s)", self.backend)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background work; pending events stay in the database for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.nats is not None:
            self.nats.stop()
        self.uninstall()

    def ready(self) -> bool:
        """True when the bus can deliver: dispatcher thread alive and, for NATS, connected."""
        if self._thread is None or not self._thread.is_alive():
            return False
        return self.nats.ready() if self.nats is not None else True

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("event dispatcher error; retrying")
                busy = 0
            if busy:
                continue
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    # -- the work

    def run_once(self, *, ignore_schedule: bool = False, batch: int = 200) -> int:
        """Do one round of work: fan pending events out to handlers (in-process backend) and run due
        deliveries. ``ignore_schedule`` also runs retries whose backoff has not yet elapsed. Returns
        how many items were handled."""
        if not self.has_work(ignore_schedule=ignore_schedule):
            return 0  # read-only check: an idle bus never holds anybody back
        with self._work_lock:
            done = self.nats.relay(batch=batch) if self.nats is not None else self.fan_out(batch=batch)
            done += self.deliver_due(ignore_schedule=ignore_schedule, batch=batch)
            return done

    def has_work(self, *, ignore_schedule: bool = False) -> bool:
        """True when an event waits for dispatch or a delivery is due (read-only queries)."""
        if self.has_undispatched():
            return True
        with self.db.session(write=False) as s:
            if ignore_schedule:
                return s.scalar(_ANY_DELIVERY) is not None
            return s.scalar(_DUE_DELIVERY, {"now": clock.now()}) is not None

    def fan_out(self, *, batch: int = 200) -> int:
        """Turn pending outbox events into one delivery row per matching handler; mark them dispatched."""
        if not self.has_undispatched():
            return 0  # read-only check first: an idle dispatcher never takes SQLite's write lock
        with self.db.session() as s:
            begin_write(s)
            stmt = select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None)).order_by(OutboxEvent.id).limit(batch)
            if not self.db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list(s.scalars(stmt))
            now = clock.now()
            for row in rows:
                for h in handlers_for(row.topic):
                    s.add(
                        Delivery(
                            id=new_id(),
                            event_id=row.id,
                            handler=h.name,
                            attempts=0,
                            next_attempt_at=now,
                            created_at=now,
                        )
                    )
                row.dispatched_at = now
            return len(rows)

    def has_undispatched(self) -> bool:
        """True when some committed event has not been dispatched yet (a read-only query)."""
        with self.db.session(write=False) as s:
            return s.scalar(_UNDISPATCHED) is not None

    def deliver_due(self, *, ignore_schedule: bool = False, batch: int = 200) -> int:
        """Run every delivery whose time has come (or all of them with ``ignore_schedule``)."""
        with self.db.session(write=False) as s:
            stmt = select(Delivery.id).order_by(Delivery.next_attempt_at, Delivery.id).limit(batch)
            if not ignore_schedule:
                stmt = stmt.where(Delivery.next_attempt_at <= clock.now())
            ids = list(s.scalars(stmt))
        for delivery_id in ids:
            self._deliver(delivery_id)
        return len(ids)

    def _deliver(self, delivery_id: str) -> None:
        with self.db.session(write=False) as s:
            stmt = (
                select(Delivery, OutboxEvent)
                .join(OutboxEvent, OutboxEvent.id == Delivery.event_id)
                .where(Delivery.id == delivery_id)
            )
            if not self.db.is_sqlite:
                stmt = stmt.with_for_update(of=Delivery, skip_locked=True)
            found = s.execute(stmt).first()
            if found is None:
                return  # done meanwhile by another dispatcher
            delivery, row = found
            ev = Event.from_row(row)
            handler_name, attempts = delivery.handler, delivery.attempts
        handler = get_handler(handler_name)
        if handler is None:
            self._failed(
                delivery_id,
                ev,
                handler_name,
                attempts + 1,
                f"no handler named {handler_name!r} is registered in this process",
            )
            return
        try:
            apply_event(self.db, handler, ev, delivery_id=delivery_id)
        except Exception as exc:
            log.info("handler %s failed on event %s (attempt %d): %s", handler_name, ev.id, attempts + 1, exc)
            self._failed(delivery_id, ev, handler_name, attempts + 1, _error_text(exc))

    def _failed(self, delivery_id: str, ev: Event, handler_name: str, failed_attempts: int, error: str) -> None:
        step = after_failure(failed_attempts, max_attempts=self.max_attempts, base_seconds=self.base_seconds)
        with self.db.session() as s:
            begin_write(s)
            if s.get(ProcessedEvent, (ev.id, handler_name)) is not None:
                s.execute(delete(Delivery).where(Delivery.id == delivery_id))
                return
            if step.dead:
                gone = s.execute(delete(Delivery).where(Delivery.id == delivery_id)).rowcount  # type: ignore[attr-defined]
                if gone:
                    record_dead_letter(s, ev=ev, handler_name=handler_name, attempts=failed_attempts, error=error)
            else:
                assert step.delay is not None
                s.execute(
                    update(Delivery)
                    .where(Delivery.id == delivery_id)
                    .values(
                        attempts=failed_attempts,
                        last_error=error,
                        next_attempt_at=clock.now() + timedelta(seconds=step.delay),
                    )
                )

    def pending(self) -> int:
        """Events not yet dispatched plus deliveries not yet done, in the database."""
        with self.db.session(write=False) as s:
            events = s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None)))
            deliveries = s.scalar(select(func.count()).select_from(Delivery))
        return int(events or 0) + int(deliveries or 0)

    def drain(self, *, timeout: float = 60.0) -> None:
        """Process everything pending now, synchronously, retries included (ahead of their schedule).

        With NATS, also relays pending events and consumes every handler's messages until the
        stream has nothing left for them. Raises ``TimeoutError`` if work is still left after
        ``timeout`` seconds (e.g. an event that keeps publishing new events).
        """
        self.install()
        deadline = time.monotonic() + timeout
        while True:
            work = self.run_once(ignore_schedule=True)
            if self.nats is not None:
                work += self.nats.drain_once()
            if work == 0 and self.pending() == 0 and (self.nats is None or self.nats.idle()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"event bus still has work after {timeout} seconds")
            if work == 0:
                time.sleep(0.01)


def drain(app_or_db: Any, *, timeout: float = 60.0) -> None:
    """Process every pending event synchronously (tests): pass the app, or a ``Database``.

    With an app, its own bus is used (in-process or NATS, as configured). With a bare
    ``Database``, events are dispatched in-process with the default retry settings.
    """
    bus = bus_of(app_or_db)
    ephemeral = bus is not getattr(getattr(app_or_db, "state", None), "bus", None)
    try:
        bus.drain(timeout=timeout)
    finally:
        if ephemeral:
            bus.stop()


def bus_of(app_or_db: Any) -> Bus:
    """The ``Bus`` of an app (``app.state.bus``), or a new in-process one for a bare ``Database``."""
    state = getattr(app_or_db, "state", None)
    if state is not None and getattr(state, "bus", None) is not None:
        return state.bus
    if isinstance(app_or_db, Database):
        from smartprovince.settings import Settings

        return Bus(Settings(bus_url="inprocess"), app_or_db)
    raise TypeError("drain() takes the FastAPI app or a Database")


def setup_app(app: Any) -> None:
    """Create the app's bus (``app.state.bus``) and listen to its commits; the lifespan starts it."""
    bus = Bus(app.state.settings, app.state.db)
    bus.install()
    app.state.bus = bus


def start_app_bus(app: Any) -> None:
    """Startup hook: start the app's dispatcher (and NATS relay / consumers)."""
    bus = getattr(app.state, "bus", None)
    if bus is not None:
        bus.start()


def stop_app_bus(app: Any) -> None:
    """Shutdown hook: stop the app's bus; undelivered events stay in the outbox."""
    bus = getattr(app.state, "bus", None)
    if bus is not None:
        bus.stop()

"""NATS JetStream backend of the event bus (production shape).

* **Relay.** Pending outbox rows are published to the stream ``SP_<ns>`` on the subject
  ``sp.<ns>.<topic>`` with the header ``Nats-Msg-Id`` = event id, so JetStream drops a second copy
  sent within its duplicate window (a relay that crashed after publishing but before marking the
  row dispatched). On PostgreSQL the rows are claimed with ``FOR UPDATE SKIP LOCKED``, so several
  relays (API processes, workers) share the work.
* **Consumers.** Each handler has one durable pull consumer filtered on its topic pattern; every
  process that runs the bus pulls from it, so the work is shared. A message is acknowledged after
  the handler's transaction commits (the processed-event table makes redelivery harmless), sent back
  with a delay (``nak``) after a failure, and terminated after the last attempt, once its dead
  letter is written.
* ``<ns>`` is a short hash of the database URL: one stream per installation, and tests that use
  fresh databases never see each other's events.

nats-py is asynchronous; the transport runs its own event loop in a background thread, and the
rest of the bus (which is synchronous) calls into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.engine import make_url

from smartprovince.core import clock
from smartprovince.core.bus import (
    DeadLetter,
    Event,
    Handler,
    OutboxEvent,
    _error_text,
    after_failure,
    apply_event,
    begin_write,
    handlers,
    record_dead_letter,
)

if TYPE_CHECKING:
    from smartprovince.core.bus import Bus

log = logging.getLogger("smartprovince.bus.nats")

ACK_WAIT_SECONDS = 120.0
CONNECT_TIMEOUT_SECONDS = 8.0
STREAM_MAX_AGE_SECONDS = 14 * 24 * 3600.0
DUPLICATE_WINDOW_SECONDS = 600.0


def namespace(db_url: str) -> str:
    """A short, stable name for one installation, taken from its database URL (password left out)."""
    safe = make_url(db_url).set(password=None).render_as_string(hide_password=False)
    return hashlib.sha256(safe.encode()).hexdigest()[:12]


def consumer_name(handler_name: str) -> str:
    """A valid durable consumer name for a handler (dots and other signs replaced, plus a short hash)."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", handler_name)[:80]
    return f"{clean}_{hashlib.sha256(handler_name.encode()).hexdigest()[:8]}"


class NatsTransport:
    """Relay and consumers of one ``Bus`` on NATS JetStream."""

    def __init__(self, bus: Bus):
        self.bus = bus
        ns = namespace(bus.db.url)
        self.stream = f"SP_{ns}"
        self.prefix = f"sp.{ns}"
        self.delete_stream_on_stop = getattr(bus.settings, "environment", "") == "test"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: Any = None
        self._js: Any = None
        self._subs: dict[str, Any] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background = False
        self._lock = threading.RLock()

    # -- the event loop thread

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._loop = loop
                self._thread = threading.Thread(target=run, name="smartprovince-bus-nats", daemon=True)
                self._thread.start()
                ready.wait(10)
            return self._loop

    def _call(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        loop = self._ensure_loop()
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    # -- connection, stream, consumers

    async def _connect(self) -> None:
        if self._nc is not None and self._nc.is_connected:
            return
        import nats
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig

        if self._nc is not None and (self._nc.is_reconnecting or self._nc.is_connecting):
            raise ConnectionError("NATS connection is being re-established")  # the client does it; try later
        if self._nc is not None:  # closed for good: start again with a new client
            for task in self._tasks.values():
                task.cancel()
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc, self._subs, self._tasks = None, {}, {}

        async def quiet(exc: Exception) -> None:  # the client retries by itself; one line, no traceback
            log.warning("NATS: %s", exc)

        self._nc = await asyncio.wait_for(
            nats.connect(
                self.bus.url,
                name="smartprovince",
                connect_timeout=3,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                error_cb=quiet,
            ),
            CONNECT_TIMEOUT_SECONDS,
        )
        self._js = self._nc.jetstream()
        config = StreamConfig(
            name=self.stream,
            subjects=[f"{self.prefix}.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=STREAM_MAX_AGE_SECONDS,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
        try:
            await self._js.stream_info(self.stream)
        except Exception:
            await self._js.add_stream(config)

    async def _ensure_consumers(self) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

        await self._connect()
        for h in handlers():
            if h.name in self._subs:
                continue
            durable = consumer_name(h.name)
            subject = f"{self.prefix}.{h.pattern}"
            # NEW: a handler added later sees events from its creation on, as in the in-process backend.
            config = ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.NEW,
                ack_wait=ACK_WAIT_SECONDS,
                max_deliver=-1,
                filter_subject=subject,
            )
            self._subs[h.name] = await self._js.pull_subscribe(
                subject, durable=durable, stream=self.stream, config=config
            )
            if self._background:
                self._tasks[h.name] = asyncio.get_running_loop().create_task(self._consume_forever(h))

    def ensure(self) -> None:
        """Connect, create the stream and one durable consumer per registered handler (idempotent)."""
        self._call(self._ensure_consumers())

    # -- lifecycle

    def start(self) -> None:
        """Connect and consume in the background (one task per handler).

        When NATS cannot be reached, the app still starts: ``ready()`` stays false (``/readyz``
        answers 503) and the dispatcher thread tries again at every round.
        """
        self._background = True
        try:
            self.ensure()
        except Exception as exc:
            log.warning("NATS at %s not reachable yet (%s); the bus will keep trying", self.bus.url, exc)

    def stop(self) -> None:
        """Stop consuming and close the connection (test installs also delete their stream)."""
        if self._loop is None:
            return

        async def close() -> None:
            self._background = False
            for task in self._tasks.values():
                task.cancel()
            for task in self._tasks.values():
                with contextlib.suppress(BaseException):  # cancelled tasks end with CancelledError
                    await task
            self._tasks.clear()
            if self._nc is not None:
                if self.delete_stream_on_stop and self._js is not None and self._nc.is_connected:
                    with contextlib.suppress(Exception):  # the stream may never have been created
                        await self._js.delete_stream(self.stream)
                try:
                    await self._nc.close()
                except Exception:
                    log.warning("closing the NATS connection failed", exc_info=True)
            self._nc = None
            self._js = None
            self._subs.clear()

        try:
            self._call(close(), timeout=15)
        finally:
            loop, thread = self._loop, self._thread
            self._loop, self._thread = None, None
            if loop is not None:
                loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(5)
            if loop is not None and not loop.is_running():
                loop.close()

    def ready(self) -> bool:
        return self._nc is not None and bool(self._nc.is_connected)

    def notify(self) -> None:
        """Commits are relayed by the bus's dispatcher thread, which ``Bus.notify`` already woke."""

    # -- relay

    def relay(self, *, batch: int = 200) -> int:
        """Publish pending outbox events to JetStream and mark them dispatched; returns how many."""
        db = self.bus.db
        if not self.bus.has_undispatched():
            return 0
        self.ensure()  # connected, and consumers exist before the first message so none is missed
        with db.session() as s:
            begin_write(s)
            stmt = select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None)).order_by(OutboxEvent.id).limit(batch)
            if not db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list(s.scalars(stmt))
            if not rows:
                return 0
            events = [Event.from_row(r) for r in rows]
            self._call(self._publish_all(events))
            now = clock.now()
            for r in rows:
                r.dispatched_at = now
        return len(rows)

    async def _publish_all(self, events: list[Event]) -> None:
        for ev in events:
            headers = {"Nats-Msg-Id": ev.id}
            if ev.key:
                headers["Sp-Key"] = ev.key
            await self._js.publish(f"{self.prefix}.{ev.topic}", ev.to_json(), stream=self.stream, headers=headers)

    # -- consuming

    def _handle(self, handler: Handler, data: bytes, num_delivered: int) -> tuple[str, float | None]:
        """Apply one message (in a worker thread); returns ('ack'|'nak'|'term', delay)."""
        ev = Event.from_json(data)
        return self._apply(handler, ev, num_delivered)

    def _apply(self, handler: Handler, ev: Event, num_delivered: int) -> tuple[str, float | None]:
        try:
            apply_event(self.bus.db, handler, ev)
            return "ack", None
        except Exception as exc:
            step = after_failure(num_delivered, max_attempts=self.bus.max_attempts, base_seconds=self.bus.base_seconds)
            log.info("handler %s failed on event %s (attempt %d): %s", handler.name, ev.id, num_delivered, exc)
            if not step.dead:
                return "nak", step.delay
            with self.bus.db.session() as s:
                begin_write(s)
                open_dl = s.scalar(
                    select(DeadLetter.id).where(
                        DeadLetter.event_id == ev.id,
                        DeadLetter.handler == handler.name,
                        DeadLetter.replayed_at.is_(None),
                    )
                )
                if open_dl is None:
                    record_dead_letter(
                        s, ev=ev, handler_name=handler.name, attempts=num_delivered, error=_error_text(exc)
                    )
            return "term", None

    async def _process(self, handler: Handler, msg: Any) -> None:
        num_delivered = int(getattr(msg.metadata, "num_delivered", 1) or 1)
        try:
            verdict, delay = await asyncio.to_thread(self._handle, handler, msg.data, num_delivered)
        except Exception:
            log.exception("could not process a message for handler %s; it will be redelivered", handler.name)
            await msg.nak(delay=self.bus.base_seconds)
            return
        if verdict == "ack":
            await msg.ack()
        elif verdict == "nak":
            await msg.nak(delay=delay)
        else:
            await msg.term()

    async def _fetch_and_process(self, handler: Handler, *, batch: int, timeout: float) -> int:
        import nats.errors

        sub = self._subs.get(handler.name)
        if sub is None:
            return 0
        try:
            msgs = await sub.fetch(batch, timeout=timeout)
        except (TimeoutError, nats.errors.TimeoutError):
            return 0
        for msg in msgs:
            await self._process(handler, msg)
        return len(msgs)

    async def _consume_forever(self, handler: Handler) -> None:
        while True:
            try:
                await self._fetch_and_process(handler, batch=20, timeout=2.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("consumer of %s failed; retrying", handler.name)
                await asyncio.sleep(1.0)

    # -- drain support

    def drain_once(self) -> int:
        """Pull and process what is available now for every handler; returns how many messages."""
        self.ensure()

        async def go() -> int:
            total = 0
            for h in handlers():
                total += await self._fetch_and_process(h, batch=100, timeout=0.2)
            return total

        return int(self._call(go(), timeout=120))

    def idle(self) -> bool:
        """True when no consumer has a message left to deliver or waiting for its acknowledgement."""

        async def go() -> bool:
            for sub in self._subs.values():
                info = await sub.consumer_info()
                if info.num_pending or info.num_ack_pending:
                    return False
            return True

        return bool(self._call(go()))

"""Server-sent events (SSE) for the live incident feed, shared by the API (JSON) and the IOC page (HTML).

The stream polls the timeline table once a second for entries newer than the last one sent, so it
works the same with one process or many (every API process reads the same database). Each message
carries the entry id as its SSE ``id``: a browser's ``EventSource`` that reconnects sends it back as
``Last-Event-ID`` and misses nothing. A stream ends by itself after ``timeout`` seconds (the client
reconnects); ``timeout=0`` sends what is pending and ends at once (scripts, tests).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from smartprovince.core.security import Actor
from smartprovince.operations import queries
from smartprovince.operations.models import Incident, IncidentEntry

POLL_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
MAX_TIMEOUT_SECONDS = 3600
SSE_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}

KPI_POLL_SECONDS = 5.0

# A formatter turns a timeline entry into one SSE message (event, data), several, or none (filtered out).
Formatter = Callable[[IncidentEntry, Incident], "tuple[str, str] | list[tuple[str, str]]"]


def sse_message(*, data: str, event: str | None = None, id: str | None = None) -> str:
    """One SSE message; multi-line data is split into several ``data:`` lines as the standard asks."""
    lines = []
    if id:
        lines.append(f"id: {id}")
    if event:
        lines.append(f"event: {event}")
    lines.extend(f"data: {line}" for line in (data.splitlines() or [""]))
    return "\n".join(lines) + "\n\n"


def start_after(request: Request, after: str | None) -> str | None:
    """Where the stream starts: ``Last-Event-ID`` (a reconnect), else ``after``, else ``None`` (= from now)."""
    last = request.headers.get("last-event-id") or after
    if last is None:
        return None
    return last.strip()[:32]


def _messages(out: tuple[str, str] | list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [out] if isinstance(out, tuple) else list(out)


def kpi_signature(session: Any, actor: Actor) -> tuple[Any, ...]:
    """What the wall's KPI tiles depend on, cheaply: the daily counts of the last month in the actor's
    scope, and the newest computed KPI value. A change means the tiles should be reloaded."""
    from sqlalchemy import func, select

    from smartprovince.operations import rooms
    from smartprovince.operations.kpi_engine import KpiValue

    rows = rooms.daily_sums(session, actor, under="", days=31, metrics=rooms.WALL_METRICS)
    values = tuple(session.execute(select(func.count(), func.max(KpiValue.computed_at))).one())
    return (len(rows), sum(r[3] for r in rows), *values)


def alert_json(entry: IncidentEntry, inc: Incident, source_label: str) -> str:
    """The JSON of an ``alert`` message: a sensor or camera alert opened or joined an incident."""
    return json.dumps(
        {
            "incident_id": inc.id,
            "title": inc.title,
            "severity": inc.severity,
            "source": inc.source,
            "source_label": source_label,
            "kind": entry.kind,
            "at": entry.at.isoformat(),
            "lat": inc.lat,
            "lon": inc.lon,
        },
        ensure_ascii=False,
    )


async def incident_stream(
    request: Request, actor: Actor, *, after: str | None, timeout: float, fmt: Formatter, kpi_watch: bool = False
) -> AsyncIterator[str]:
    """Yield SSE messages for every timeline entry the actor may read, newer than ``after``.

    With ``kpi_watch`` it also sends a ``kpi`` message (JSON ``{"changed": true}``) when the figures
    behind the wall's KPI tiles change (checked every :data:`KPI_POLL_SECONDS`).
    """
    db = request.app.state.db

    def read(cursor: str) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        with db.session(write=False) as s:
            for e, i in queries.entries_after(s, actor, cursor):
                # An entry filtered out by fmt ("", "") still moves the cursor past it.
                out.extend((e.id, ev, data) for ev, data in (_messages(fmt(e, i)) or [("", "")]))
        return out

    def signature() -> tuple[Any, ...]:
        with db.session(write=False) as s:
            return kpi_signature(s, actor)

    def latest() -> str:
        with db.session(write=False) as s:
            return queries.latest_entry_id(s)

    cursor = after if after is not None else await run_in_threadpool(latest)
    yield "retry: 3000\n\n"
    deadline = time.monotonic() + min(max(timeout, 0.0), MAX_TIMEOUT_SECONDS)
    last_sent = time.monotonic()
    sig = await run_in_threadpool(signature) if kpi_watch else None
    next_sig = time.monotonic() + KPI_POLL_SECONDS
    while True:
        batch = await run_in_threadpool(read, cursor)
        for entry_id, event, data in batch:
            cursor = entry_id
            if not event:
                continue
            yield sse_message(id=entry_id, event=event, data=data)
            last_sent = time.monotonic()
        if len(batch) >= 100:
            continue  # more waiting: send it before sleeping
        if kpi_watch and time.monotonic() >= next_sig:
            next_sig = time.monotonic() + KPI_POLL_SECONDS
            new_sig = await run_in_threadpool(signature)
            if new_sig != sig:
                sig = new_sig
                yield sse_message(event="kpi", data='{"changed": true}')
                last_sent = time.monotonic()
        if time.monotonic() >= deadline or await request.is_disconnected():
            return
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(POLL_SECONDS)


def entry_json(entry: IncidentEntry, inc: Incident) -> dict[str, Any]:
    """The JSON body of one API stream message."""
    return {
        "entry_id": entry.id,
        "kind": entry.kind,
        "at": entry.at.isoformat(),
        "actor_name": entry.actor_name,
        "note": entry.note,
        "incident": {
            "id": inc.id,
            "title": inc.title,
            "status": inc.status,
            "severity": inc.severity,
            "category": inc.category,
            "source": inc.source,
            "org_id": inc.org_id,
            "lat": inc.lat,
            "lon": inc.lon,
            "opened_at": inc.opened_at.isoformat(),
        },
    }

"""Server-sent events (SSE) for the live incident feed, shared by the API (JSON) and the IOC page (HTML).

The stream polls the timeline table once a second for entries newer than the last one sent, so it
works the same with one process or many (every API process reads the same database). Each message
carries the entry id as its SSE ``id``: a browser's ``EventSource`` that reconnects sends it back as
``Last-Event-ID`` and misses nothing. A stream ends by itself after ``timeout`` seconds (the client
reconnects); ``timeout=0`` sends what is pending and ends at once (scripts, tests).
"""

from __future__ import annotations

import asyncio
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

Formatter = Callable[[IncidentEntry, Incident], tuple[str, str]]


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


async def incident_stream(
    request: Request, actor: Actor, *, after: str | None, timeout: float, fmt: Formatter
) -> AsyncIterator[str]:
    """Yield SSE messages for every timeline entry the actor may read, newer than ``after``."""
    db = request.app.state.db

    def read(cursor: str) -> list[tuple[str, str, str]]:
        with db.session(write=False) as s:
            return [(e.id, *fmt(e, i)) for e, i in queries.entries_after(s, actor, cursor)]

    def latest() -> str:
        with db.session(write=False) as s:
            return queries.latest_entry_id(s)

    cursor = after if after is not None else await run_in_threadpool(latest)
    yield "retry: 3000\n\n"
    deadline = time.monotonic() + min(max(timeout, 0.0), MAX_TIMEOUT_SECONDS)
    last_sent = time.monotonic()
    while True:
        batch = await run_in_threadpool(read, cursor)
        for entry_id, event, data in batch:
            cursor = entry_id
            yield sse_message(id=entry_id, event=event, data=data)
            last_sent = time.monotonic()
        if len(batch) >= 100:
            continue  # more waiting: send it before sleeping
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

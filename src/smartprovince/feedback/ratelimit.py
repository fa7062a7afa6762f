"""Giới hạn tần suất — per-client request limits against abuse, shared by every API process.

Keys are ``client:<id>`` for Open311 applications (each has its own ``rate_per_minute``, so a hotline
desk's application can be given a high limit and its bursts pass), ``user:<id>`` for logged-in users
and ``ip:<address>`` for anonymous callers. Officers holding ``feedback.report.intake`` (the hotline
desk typing in callers' reports) are not limited at all.

The counters are rows of ``feedback_rate_window`` (key, minute number ``slot``, hits) in the platform database,
so every process and worker counts against the same limit. One hit is one atomic
``INSERT … ON CONFLICT DO UPDATE SET hits = hits + 1 RETURNING hits`` (SQLite ≥ 3.35 and PostgreSQL
both have it) in its own short transaction, committed at once: a rejected submission that is rolled
back later still counts, and the request's own transaction never holds the lock of a counter.

The window slides: the estimate is ``hits of the previous minute × the part of it still inside the last
60 s + hits of this minute`` (the "sliding window counter" of rate limiters such as Cloudflare's), which
never lets a client send twice its limit across a minute boundary. A refused request is not counted,
and ``Retry-After`` says when the estimate falls below the limit again.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from smartprovince.core import clock
from smartprovince.core.db import Database
from smartprovince.core.errors import TooManyRequests
from smartprovince.feedback.models import RateWindow

WINDOW_SECONDS = 60
USER_PER_MINUTE = 120
"""Reports per minute for a logged-in user (citizen or officer) without the intake permission."""
EXEMPT_PERMISSION = "feedback.report.intake"
"""Officers holding this permission (hotline desk, one-stop desk, IOC) are never limited."""


def retry_after(previous: int, current: int, elapsed: float, limit: int, window: int = WINDOW_SECONDS) -> int:
    """Seconds until one more hit fits under ``limit`` (``elapsed`` = seconds into the current window).

    The estimate after ``t`` more seconds inside this window is ``previous × (1 − (elapsed + t)/window) +
    current``; once the window has turned, it is ``current × (1 − u/window)`` for ``u`` seconds into the next.
    """
    room = limit - 1  # the estimate must fall to at most limit − 1 for one more hit
    if current <= room and previous > 0:
        need = window * (1 - (room - current) / previous) - elapsed
        return max(1, math.ceil(need))
    if current <= room:
        return 1
    u = window * (1 - room / current) if current else 0.0
    return max(1, math.ceil(window - elapsed + u))


def _upsert(session: Session, key: str, window: int) -> int:
    dialect = session.get_bind().dialect.name
    insert_fn: Any = pg_insert if dialect == "postgresql" else sqlite_insert
    table = RateWindow.__table__
    stmt = insert_fn(table).values(key=key, slot=window, hits=1)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.key, table.c.slot],
                                      set_={"hits": table.c.hits + 1}).returning(table.c.hits)
    return int(session.execute(stmt).scalar_one())


def hit_in(session: Session, key: str, limit: int, *, at: datetime | None = None) -> None:
    """Count one request for ``key`` in ``session`` (the caller commits); ``TooManyRequests`` (429) over ``limit``.

    On refusal the count is taken back, so the caller may commit either way.
    """
    ts = (at or clock.now()).timestamp()
    window = int(ts // WINDOW_SECONDS)
    elapsed = ts - window * WINDOW_SECONDS
    current = _upsert(session, key, window)
    previous = session.scalar(select(RateWindow.hits).where(RateWindow.key == key, RateWindow.slot == window - 1))
    previous = int(previous or 0)
    estimate = previous * (1 - elapsed / WINDOW_SECONDS) + current
    if estimate > limit:
        session.execute(update(RateWindow).where(RateWindow.key == key, RateWindow.slot == window)
                        .values(hits=RateWindow.hits - 1))
        retry = retry_after(previous, current - 1, elapsed, limit)
        raise TooManyRequests(f"Quá nhiều yêu cầu; thử lại sau {retry} giây (too many requests).", retry_after=retry)


def hit(db: Database, key: str, limit: int, *, at: datetime | None = None) -> None:
    """Count one request for ``key`` in its own committed transaction; 429 problem when over ``limit``.

    Call it before the request's session writes anything (on SQLite a writing request session holds
    the database's write lock, which this short transaction would wait for).
    """
    with db.session() as session:  # a refusal rolls this transaction back: nothing is counted
        hit_in(session, key, limit, at=at)


def prune(session: Session, *, at: datetime | None = None) -> int:
    """Delete the counters older than the previous window (run by the periodic job); returns how many."""
    window = int((at or clock.now()).timestamp() // WINDOW_SECONDS)
    result: Any = session.execute(delete(RateWindow).where(RateWindow.slot < window - 1))
    return int(result.rowcount or 0)

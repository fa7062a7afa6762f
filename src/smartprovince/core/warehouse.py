"""Kho phân tích — the contract between a module and the analytics warehouse (kernel level).

A module that has operational data worth analysing (dossiers, reports, incidents, sensor rollups,
sector datasets) declares one :class:`WarehouseFeed` per table in its manifest
(``Module.warehouse_feeds``). The data hub's warehouse sync (``smartprovince.datahub.sync_warehouse``)
calls each feed's ``rows`` function with the last watermark it stored, writes the rows to Parquet
files and keeps the new watermark. The module keeps full control of how its own tables are read; the
warehouse never reads another module's tables directly.

Rules for a feed:

* ``columns`` are ``(name, type)`` pairs; the types are DuckDB / SQL type names from
  :data:`COLUMN_TYPES`. A row is a tuple in the order of ``columns`` or a dict keyed by column name.
* ``rows(session, after)`` returns ``(rows, new_watermark)``. ``after`` is ``None`` on the first
  (or a ``--full``) sync, then the watermark the previous call returned. A watermark is any value
  JSON can store (a string, a number, a list, a dict). The rows are every row that changed since
  ``after``, in their *current* state; the function may return a generator that reads the table in
  batches. The same row may come again in a later sync (it changed again): the warehouse keeps the
  newest copy of each ``key``.
* ``mode`` is ``"upsert"`` (default: rows add to or replace rows with the same key) or
  ``"replace"`` (each call that returns rows returns the whole table; it replaces what was there —
  used for sector datasets, which are reloaded as a whole).
* **Deletions.** A row deleted from the source table never comes back from ``rows``. A feed whose
  rows can be deleted gives ``keys(session)``: every key that exists now (one cheap read of the key
  columns, tuples in the order of ``key``, may be a generator). Each incremental sync compares them
  with the warehouse and writes a *tombstone* for every key that is gone; the views hide a key whose
  newest copy is a tombstone and ``compact`` drops it. A ``--full`` sync needs no tombstones.
* **No personal data** (names, citizen ids, phone numbers, e-mails, free-text descriptions a citizen
  wrote) in ``columns``: the warehouse is read for statistics. Columns listed in ``personal`` are
  dropped by the sync before anything is written, so a feed may reuse a row builder that has them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

#: Column types a feed may declare (DuckDB names; the same names in Trino / Spark SQL).
COLUMN_TYPES = frozenset({"VARCHAR", "BIGINT", "INTEGER", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMPTZ"})

Row = Sequence[Any] | Mapping[str, Any]
RowsFunction = Callable[[Any, Any], tuple[Iterable[Row], Any]]
KeysFunction = Callable[[Any], Iterable[Sequence[Any]]]


@dataclass(frozen=True)
class WarehouseFeed:
    """Nguồn dữ liệu kho — one table a module copies into the analytics warehouse.

    ``name`` is the view name the KPI engine queries (``[a-z][a-z0-9_]*``); ``key`` the columns that
    identify a row (the newest copy of a key wins); ``description`` says in one line what a row is.
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    rows: RowsFunction
    description: str = ""
    mode: str = "upsert"  # upsert | replace
    personal: frozenset[str] = field(default_factory=frozenset)
    keys: KeysFunction | None = None  # every key that exists now, for deletions (see the module's doc)

    def __post_init__(self) -> None:
        names = [c for c, _ in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"feed {self.name}: repeated column names")
        bad = [t for _, t in self.columns if t not in COLUMN_TYPES]
        if bad:
            raise ValueError(f"feed {self.name}: unknown column types {bad}")
        if not set(self.key) <= set(names):
            raise ValueError(f"feed {self.name}: key {self.key} is not among the columns")
        if self.mode not in ("upsert", "replace"):
            raise ValueError(f"feed {self.name}: mode must be upsert or replace")

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]


#: What ``Module.warehouse_feeds`` holds: fixed feeds, or a function ``(session) -> feeds`` for feeds
#: that exist as data (one per sector dataset).
FeedSource = WarehouseFeed | Callable[[Any], Iterable[WarehouseFeed]]


# --- helper for feeds: which rows changed since the last watermark -------------------------------

MAX_SEEN = 5_000  # most changes a watermark remembers from the overlap (keeps the state file small)


def _enc(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _dec(value: Any, like: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(like, datetime) and isinstance(value, str) else value


@dataclass
class ChangeWindow:
    """Rows whose change marker lies in ``(previous sync, this sync]``, robust to late commits.

    ``marker`` is a column that grows when a row changes (``updated_at``, a time-ordered action id, an
    autoincrement id) and ``ident`` identifies the change (the row id, or the action id). The window
    is closed above at the marker's current maximum, read once when the window is made, so rows that
    change while the sync reads are picked up next time. A transaction can commit *after* another one
    with a larger marker (PostgreSQL; the clocks of two API processes): the next window therefore
    starts ``back(upper)`` below the previous upper bound and skips the ``(ident, marker)`` pairs the
    previous sync already read (at most :data:`MAX_SEEN` of them: after a bulk load the overlap shrinks
    to the newest ones). Each change is read once; a change that commits later than the overlap (``back``) is
    missed until a ``--full`` sync.
    """

    marker: Any
    ident: Any
    lower: Any  # None = from the start
    upper: Any  # None = the table is empty
    skip: set[tuple[Any, Any]]
    watermark: Any

    @classmethod
    def open(cls, session: Any, marker: Any, ident: Any, after: Any, *, back: Callable[[Any], Any]) -> ChangeWindow:
        from sqlalchemy import func, select

        upper = session.scalar(select(func.max(marker)))
        lower = None
        skip: set[tuple[Any, Any]] = set()
        if after and upper is not None:
            lower = _dec(after["from"], upper)
            skip = {(i, _dec(m, upper)) for i, m in after["seen"]}
        if upper is None:
            return cls(marker, ident, lower, None, skip, after)
        start = back(upper)
        seen = session.execute(select(ident, marker).where(marker >= start, marker <= upper)
                               .order_by(marker.desc()).limit(MAX_SEEN)).all()
        if len(seen) == MAX_SEEN:
            # A bulk load put more changes in the overlap than we remember: narrow the overlap to the
            # newest MAX_SEEN (otherwise every later sync would read the bulk again). Changes sharing the
            # oldest remembered marker but not remembered are read once more (a harmless repeat).
            start = seen[-1][1]
        watermark = {"from": _enc(start), "upper": _enc(upper), "seen": [[i, _enc(m)] for i, m in seen]}
        return cls(marker, ident, lower, upper, skip, watermark)

    @property
    def empty(self) -> bool:
        return self.upper is None

    def where(self, stmt: Any) -> Any:
        """``stmt`` limited to the window (select ``ident`` and ``marker`` too, to call :meth:`fresh`)."""
        from sqlalchemy import false

        if self.upper is None:
            return stmt.where(false())
        stmt = stmt.where(self.marker <= self.upper)
        return stmt if self.lower is None else stmt.where(self.marker >= self.lower)

    def fresh(self, ident: Any, marker: Any) -> bool:
        """False for a change the previous sync already read (in the overlap)."""
        return (ident, marker) not in self.skip


def back_seconds(seconds: float) -> Callable[[datetime], datetime]:
    """Overlap for a timestamp marker: ``seconds`` before the newest marker, or before now when the
    newest marker lies in the future (data stamped ahead must not hide today's changes)."""
    from smartprovince.core.clock import now

    return lambda upper: min(upper, now()) - timedelta(seconds=seconds)


def back_uuid7_seconds(seconds: float) -> Callable[[str], str]:
    """Overlap for a time-ordered 32-hex id (``core.ids.new_id``): the smallest id ``seconds`` earlier."""

    def back(upper: str) -> str:
        ms = min(int(upper[:12], 16), time.time_ns() // 1_000_000) - int(seconds * 1000)
        return f"{max(ms, 0):012x}" + "0" * 20

    return back


def place_ids(path: str | None, levels: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``(district id, commune id)`` on an organisation path ``/<id>/<id>/…/``; ``levels`` maps id → level.

    ``None`` where the path does not go down to that level (a provincial department has no district).
    """
    district = commune = None
    for org_id in (path or "").strip("/").split("/"):
        level = levels.get(org_id)
        if level == "district":
            district = org_id
        elif level == "commune":
            commune = org_id
    return district, commune

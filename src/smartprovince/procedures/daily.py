"""Thống kê theo ngày — the daily aggregate table behind the Decision 766 statistics.

Counting a half year over a million dossiers row by row takes seconds; the statistics page reads
this table instead. One row per (local day, agency, procedure, agency path) holds:

* the dossiers **received** that day (and how many online, with a fee, paid online, digitised);
* the dossiers **finished** that day (early, late, and the processing seconds);
* the dossiers **refused or stopped** that day;
* two *differences* for dossiers that are already over (finished, refused or stopped):
  ``open_delta`` is +1 on the day such a dossier was received and −1 on the day it ended;
  ``overdue_delta`` is +1 on the first day it was past its due day and −1 on the day it ended.
  The sum of ``open_delta`` over all days up to D is the number of those dossiers that were still
  open at the end of D (and the same for past due). The same differences summed by month
  (:class:`MonthlyOpenStats`) make that sum short: whole months, then the days of D's month.
  Dossiers that are still open *now* are few:
  they are counted straight from the dossier table (a partial index holds only them).

How the table stays right: a dossier's *contribution* (:func:`contribution`) is a pure function of
its row. When the ORM writes a dossier, a mapper event subtracts the contribution it had and adds
the new one, on the same connection, in the same transaction as the change. Bulk loads that bypass
the ORM (the demo history) add their contributions with :func:`add_rows`; ``smartprovince
procedures rebuild-stats`` recomputes the whole table with :func:`rebuild`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, event, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from smartprovince.procedures.models import DailyStats, Dossier, MonthlyOpenStats

KEY_FIELDS = ("day", "agency_code", "procedure_code", "agency_path")
COUNT_FIELDS = ("received", "received_online", "fee_dossiers", "paid_online", "digitised", "finished",
                "finished_early", "finished_late", "stopped_or_refused", "open_delta", "overdue_delta")
SUM_FIELDS = (*COUNT_FIELDS, "processing_seconds")


FACT_FIELDS = ("agency_code", "procedure_code", "agency_path", "channel", "received_at", "due_at", "finished_at",
               "closed_at", "supplement_requests", "fee_total", "paid_online", "digitised")
"""The dossier columns a contribution depends on (nothing else changes the statistics)."""

Key = tuple[date, str, str, str]
Deltas = dict[Key, dict[str, float]]


_VN = timezone(timedelta(hours=7))  # Vietnam: UTC+7 and no daylight-saving time since 1975


def local_day(at: datetime) -> date:
    """The day in Vietnam (UTC+7, no daylight-saving time) of an instant."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(_VN).date()


def is_late(*, due_at: datetime, finished_at: datetime, supplement_requests: int) -> bool:
    """Decision 766: late when finished after the due instant or when supplements were asked more than once."""
    return supplement_requests > 1 or _utc(finished_at) > _utc(due_at)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def contribution(f: Any, out: Deltas | None = None, sign: int = 1) -> Deltas:
    """Add ``sign`` × the dossier's contribution to ``out`` (a new dict when not given) and return it.

    ``f`` is anything with the :data:`FACT_FIELDS` attributes: a :class:`Dossier` or a row.
    The conditions are those of :func:`.stats.compute_from_dossiers`; the tests check both agree.
    It runs for every dossier of a bulk load, so each local day is computed once.
    """
    out = {} if out is None else out
    agency, proc, path = f.agency_code, f.procedure_code, f.agency_path or ""

    def row(day: date) -> dict[str, float]:
        k = (day, agency, proc, path)
        r = out.get(k)
        if r is None:
            r = out[k] = dict.fromkeys(SUM_FIELDS, 0)
        return r

    received_at, due_at, finished_at, closed_at = f.received_at, f.due_at, f.finished_at, f.closed_at
    supplements = f.supplement_requests or 0
    first = local_day(received_at) if received_at is not None else None
    if first is not None:
        fee = (f.fee_total or 0) > 0
        r = row(first)
        r["received"] += sign
        if f.channel == "online":
            r["received_online"] += sign
        if fee:
            r["fee_dossiers"] += sign
            if f.paid_online:
                r["paid_online"] += sign
        if f.digitised:
            r["digitised"] += sign
    due_day = local_day(due_at) if due_at is not None else None
    finished_day = local_day(finished_at) if finished_at is not None else None
    if finished_at is not None and due_at is not None and finished_day is not None and due_day is not None:
        late = is_late(due_at=due_at, finished_at=finished_at, supplement_requests=supplements)
        r = row(finished_day)
        r["finished"] += sign
        if late:
            r["finished_late"] += sign
        elif finished_day < due_day:
            r["finished_early"] += sign
        if received_at is not None:
            r["processing_seconds"] += sign * (_utc(finished_at) - _utc(received_at)).total_seconds()
    closed_day = local_day(closed_at) if closed_at is not None else None
    if closed_day is not None:
        row(closed_day)["stopped_or_refused"] += sign
    ends = [x for x in (finished_at, closed_at) if x is not None]
    if ends and first is not None and due_day is not None:
        # Open from the receipt day to the day before it ended; past due from its due day on
        # (from the receipt day when supplements were asked more than once).
        end = (finished_day if len(ends) == 1 and finished_day is not None else
               closed_day if len(ends) == 1 else local_day(min(_utc(x) for x in ends)))
        assert end is not None
        if first < end:
            row(first)["open_delta"] += sign
            row(end)["open_delta"] -= sign
            overdue_from = first if supplements > 1 else max(first, due_day)
            if overdue_from < end:
                row(overdue_from)["overdue_delta"] += sign
                row(end)["overdue_delta"] -= sign
    return out


def _changed(d: Deltas) -> Deltas:
    return {k: v for k, v in d.items() if any(x for x in v.values())}


MONTH_KEY_FIELDS = ("month", "agency_code", "procedure_code", "agency_path")
OPEN_FIELDS = ("open_delta", "overdue_delta")


def monthly(deltas: Deltas) -> Deltas:
    """The open / past-due differences of ``deltas`` added up by month (key: the month's first day)."""
    out: Deltas = {}
    for (day, *rest), v in deltas.items():
        if v["open_delta"] or v["overdue_delta"]:
            row = out.setdefault((day.replace(day=1), *rest), dict.fromkeys(OPEN_FIELDS, 0))  # type: ignore[arg-type]
            row["open_delta"] += v["open_delta"]
            row["overdue_delta"] += v["overdue_delta"]
    return out


def _upsert(conn: Connection | Session, table: Any, keys: tuple[str, ...], fields: tuple[str, ...],
            deltas: Deltas) -> None:
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    from sqlalchemy.dialects import postgresql, sqlite

    insert: Any = postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert
    rows = [{**dict(zip(keys, k, strict=True)), **{f: v[f] for f in fields}} for k, v in deltas.items()]
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c[k] for k in keys],
        set_={name: table.c[name] + stmt.excluded[name] for name in fields},
    )
    for i in range(0, len(rows), 5000):
        conn.execute(stmt, rows[i:i + 5000])


def apply(conn: Connection | Session, deltas: Deltas) -> None:
    """Add ``deltas`` to the tables: one upsert per touched row (insert, or add to the existing counts)."""
    deltas = _changed(deltas)
    if not deltas:
        return
    _upsert(conn, DailyStats.__table__, KEY_FIELDS, SUM_FIELDS, deltas)
    months = _changed(monthly(deltas))
    if months:
        _upsert(conn, MonthlyOpenStats.__table__, MONTH_KEY_FIELDS, OPEN_FIELDS, months)


# --------------------------------------------------------------------------- kept by the ORM writes


@dataclass
class Facts:
    """The columns of a dossier that its contribution depends on (for rows written without the ORM)."""

    agency_code: str
    procedure_code: str
    agency_path: str
    channel: str
    received_at: datetime | None
    due_at: datetime | None
    finished_at: datetime | None
    closed_at: datetime | None
    supplement_requests: int
    fee_total: int
    paid_online: bool
    digitised: bool


def _before(target: Dossier) -> Facts:
    """The dossier as it was before this flush (from the ORM's attribute history)."""
    state = inspect(target)
    values: dict[str, Any] = {}
    for name in FACT_FIELDS:
        hist = state.attrs[name].history
        if hist.deleted:
            values[name] = hist.deleted[0]
        elif hist.unchanged:
            values[name] = hist.unchanged[0]
        else:
            values[name] = getattr(target, name)
    return Facts(**values)


def _after_insert(_mapper: Any, conn: Connection, target: Dossier) -> None:
    apply(conn, contribution(target))


def _after_update(_mapper: Any, conn: Connection, target: Dossier) -> None:
    state = inspect(target)
    if not any(state.attrs[n].history.has_changes() for n in FACT_FIELDS):
        return
    deltas = contribution(_before(target), sign=-1)
    contribution(target, deltas)
    apply(conn, deltas)


def _after_delete(_mapper: Any, conn: Connection, target: Dossier) -> None:
    apply(conn, contribution(_before(target), sign=-1))


event.listen(Dossier, "after_insert", _after_insert)
event.listen(Dossier, "after_update", _after_update)
event.listen(Dossier, "after_delete", _after_delete)


# ------------------------------------------------------------------------------ bulk and rebuild


class Accumulator:
    """Collects contributions of many dossiers in memory (bulk loads), then writes them at once."""

    def __init__(self) -> None:
        self.deltas: Deltas = {}

    def add(self, facts: Any) -> None:
        """Add one dossier (anything with the :data:`FACT_FIELDS` attributes)."""
        contribution(facts, self.deltas)

    def write(self, session: Session | Connection) -> int:
        """Add everything collected to the table; returns the number of rows touched."""
        n = len(self.deltas)
        apply(session, self.deltas)
        self.deltas = {}
        return n


def add_rows(session: Session, rows: Iterable[Any]) -> int:
    """Add the contributions of dossiers written without the ORM (bulk inserts)."""
    acc = Accumulator()
    for r in rows:
        acc.add(r)
    return acc.write(session)


def rebuild(session: Session | Connection, progress: Callable[[int, int], Any] | None = None) -> tuple[int, int]:
    """Recompute the whole table from the dossier table; returns (dossiers read, rows written).

    Runs in the caller's transaction, so readers see either the old or the new table.
    """
    from sqlalchemy import func

    total = session.execute(select(func.count()).select_from(Dossier)).scalar_one()
    session.execute(delete(DailyStats))
    session.execute(delete(MonthlyOpenStats))
    acc = Accumulator()
    cols = [getattr(Dossier, n) for n in FACT_FIELDS]
    n = 0
    for r in session.execute(select(*cols).execution_options(yield_per=20_000)):
        acc.add(r)
        n += 1
        if progress and n % 100_000 == 0:
            progress(n, total)
    written = acc.write(session)
    if progress:
        progress(n, total)
    return n, written


# ------------------------------------------------------------------------- for other modules (IOC)


@dataclass(frozen=True)
class DayCount:
    """Số liệu một ngày — one agency's dossier figures of one day (Decision 766 classification)."""

    day: date
    agency_code: str
    agency_path: str
    received: int
    received_online: int
    finished: int
    finished_in_time: int  # early or on time
    finished_late: int


def daily_counts(session: Session, date_from: date, date_to: date, *, path_prefix: str | None = None) -> list[DayCount]:
    """Per day and agency, the dossiers received and finished from ``date_from`` to ``date_to`` (included).

    Read from the daily table, so it holds the bulk-loaded history too (which published no events);
    ``path_prefix`` limits it to an organisation subtree. The IOC's KPIs read history from here.
    """
    from sqlalchemy import func

    t = DailyStats
    stmt = select(
        t.day, t.agency_code, t.agency_path, func.sum(t.received), func.sum(t.received_online), func.sum(t.finished),
        func.sum(t.finished_early), func.sum(t.finished_late),
    ).where(t.day >= date_from, t.day <= date_to)
    if path_prefix:
        stmt = stmt.where(t.agency_path >= path_prefix, t.agency_path < path_prefix + "~")
    stmt = stmt.group_by(t.day, t.agency_code, t.agency_path).order_by(t.day, t.agency_code)
    out = []
    for day, code, path, rec, online, fin, early, late in session.execute(stmt):
        fin, early, late = int(fin or 0), int(early or 0), int(late or 0)
        if rec or fin:
            out.append(DayCount(day=day, agency_code=code, agency_path=path, received=int(rec or 0),
                                received_online=int(online or 0), finished=fin, finished_in_time=fin - late,
                                finished_late=late))
    return out

"""Observation ingestion: the fast path for HTTP, DataArray and MQTT, with rollups and thresholds.

``store_observations`` writes many observations with one multi-row insert, then in the same
transaction: updates the per-minute and per-hour rollups, widens each datastream's time spans and
latest value, evaluates the threshold rules (raising or clearing alerts with events), writes one
audit row and one ``sensing.observation.received`` event per batch. The caller commits; an
observation is acknowledged only after that commit.
"""

from __future__ import annotations

import gc
import operator
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice, repeat
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smartprovince.core import audit, bus
from smartprovince.core.errors import BadRequest, Forbidden, NotFound
from smartprovince.core.security import Actor
from smartprovince.sensing.models import Alert, Datastream, Observation, Rollup, Thing, Threshold

PERIODS = {"minute": 60, "hour": 3600}


@dataclass(slots=True)
class ObservationIn:
    """One observation to store (already parsed): times are aware UTC."""

    datastream_id: int
    phenomenon_time: datetime
    result: Any
    phenomenon_end: datetime | None = None
    result_time: datetime | None = None
    result_quality: Any = None
    valid_start: datetime | None = None
    valid_end: datetime | None = None
    parameters: dict[str, Any] | None = None
    feature_of_interest_id: int | None = None


@dataclass(slots=True)
class PlainBlock:
    """Many plain observations of one datastream, kept as columns (the DataArray fast path).

    ``stamps`` are the phenomenon times in UTC written as ``stamp()`` writes them
    (``'YYYY-MM-DD HH:MM:SS.ffffff'``, the text SQLAlchemy stores on SQLite, which sorts like
    time); ``values`` are finite floats; both lists have the same length.
    """

    datastream_id: int
    stamps: list[str]
    values: list[float]
    feature_of_interest_id: int | None = None


_gc_lock = threading.Lock()
_gc_users = 0
_gc_resume = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while one big batch is parsed and stored.

    Why: a DataArray of 10,000 rows makes tens of thousands of small lists and tuples; every few
    hundred allocations the collector runs, and its older generations walk the server's whole heap
    (hundreds of thousands of objects). Measured in the server: parsing a 10,000-row body took 12 ms
    with the collector and 1 ms without. Those objects are freed by reference counting anyway; any
    cycle made meanwhile is collected after the pause. Nested and concurrent uses are counted: the
    last one to leave resumes the collector, and only if it was running before the first one came.
    """
    global _gc_users, _gc_resume
    with _gc_lock:
        if _gc_users == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_resume:
                gc.enable()


def stamp(t: datetime) -> str:
    """``t`` (aware) as UTC text ``'YYYY-MM-DD HH:MM:SS.ffffff'``."""
    u = t if t.tzinfo is UTC else t.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - faster than isoformat with a timespec
        u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond)


def from_stamp(text: str) -> datetime:
    """The aware UTC datetime of a ``stamp()`` text (or of a shorter prefix such as a minute bucket)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def device_thing_id(actor: Actor) -> int | None:
    """The Thing a device credential belongs to, or ``None`` for a platform user."""
    value = actor.extra.get("device_thing_id") if actor.extra else None
    return int(value) if value is not None else None


def check_datastreams(session: Session, actor: Actor, ids: set[int]) -> dict[int, Datastream]:
    """Load the datastreams; a device may write only those of its own Thing (others look missing)."""
    rows = {d.id: d for d in session.scalars(sa.select(Datastream).where(Datastream.id.in_(ids)))}
    missing = ids - rows.keys()
    if missing:
        raise NotFound(f"No Datastream with id {min(missing)}.")
    thing = device_thing_id(actor)
    if thing is not None:
        for d in rows.values():
            if d.thing_id != thing:
                raise Forbidden(f"This device may write only the datastreams of Thing {thing}.")
    return rows


def _bucket(t: datetime, seconds: int) -> datetime:
    ts = int(t.timestamp())
    return datetime.fromtimestamp(ts - ts % seconds, tz=UTC)


def store_observations(session: Session, *, actor: Actor, observations: list[ObservationIn],
                       datastreams: dict[int, Datastream] | None = None,
                       audit_action: str = "sensing.observation.create") -> list[int]:
    """Store ``observations`` (checked against the actor) and return their new ids, in order.

    Everything happens in the caller's transaction: rows, rollups, datastream spans, alerts, one
    audit row and one event for the batch (``publish_received``).
    """
    if not observations:
        return []
    ds = datastreams if datastreams is not None else check_datastreams(
        session, actor, {o.datastream_id for o in observations})
    ids = insert_observations(session, observations)
    by_ds: dict[int, list[ObservationIn]] = defaultdict(list)
    for o in observations:
        by_ds[o.datastream_id].append(o)
    summary = []
    for ds_id, items in by_ds.items():
        _update_datastream(session, ds[ds_id], items)
        numeric = [(o.phenomenon_time, float(o.result)) for o in items if _is_number(o.result)]
        if numeric:
            update_rollups(session, ds_id, numeric)
            evaluate_thresholds(session, actor=actor, datastream=ds[ds_id], values=sorted(numeric))
        summary.append(_received(ds[ds_id], len(items), min(o.phenomenon_time for o in items),
                                 max(o.phenomenon_time for o in items)))
    publish_received(session, summary)
    audit.record(session, actor=actor, action=audit_action, object_type="sensing.datastream",
                 object_id=",".join(str(i) for i in sorted(by_ds))[:200],
                 data={"count": len(observations), "first_id": ids[0], "last_id": ids[-1]})
    return ids


def store_blocks(session: Session, *, actor: Actor, blocks: list[PlainBlock], datastreams: dict[int, Datastream],
                 audit_action: str = "sensing.observation.create_many") -> list[int]:
    """Store plain numeric observations given as columns; return their new ids in order.

    Same effects as ``store_observations`` (rows, rollups, spans, thresholds, one audit row, one
    event for the batch) without one Python object per observation: at tens of thousands of
    observations per request the per-row cost is what limits the rate. Rollup buckets are
    prefixes of the UTC time text (minute = first 16 characters), so no datetime is built per row.
    """
    blocks = [b for b in blocks if b.stamps]
    if not blocks:
        return []
    conn = session.connection()
    ids: list[int] = []
    if conn.dialect.name == "sqlite":
        ids = _insert_blocks_sqlite(conn, blocks)
    elif conn.dialect.name == "postgresql":
        ids = _insert_blocks_postgresql(conn, blocks)
    else:
        table: Any = Observation.__table__
        params = [{"datastream_id": b.datastream_id, "phenomenon_time": from_stamp(t), "result_number": v,
                   "feature_of_interest_id": b.feature_of_interest_id}
                  for b in blocks for t, v in zip(b.stamps, b.values, strict=True)]
        result = conn.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), params)
        ids = [r[0] for r in result]
    object_id = _after_blocks(session, actor=actor, blocks=blocks, datastreams=datastreams)
    audit.record(session, actor=actor, action=audit_action, object_type="sensing.datastream", object_id=object_id,
                 data={"count": len(ids), "first_id": ids[0], "last_id": ids[-1]})
    return ids


def _after_blocks(session: Session, *, actor: Actor, blocks: list[PlainBlock],
                  datastreams: dict[int, Datastream]) -> str:
    """After the rows of ``blocks`` are in: spans, latest value, rollups, thresholds and the one event
    of the batch. Returns the datastream ids as the audit row's object id."""
    by_ds: dict[int, list[PlainBlock]] = defaultdict(list)
    for b in blocks:
        by_ds[b.datastream_id].append(b)
    summary = []
    for ds_id, parts in by_ds.items():
        d = datastreams[ds_id]
        stamps = parts[0].stamps if len(parts) == 1 else [t for b in parts for t in b.stamps]
        values = parts[0].values if len(parts) == 1 else [v for b in parts for v in b.values]
        last_stamp = max(stamps)
        first, last = from_stamp(min(stamps)), from_stamp(last_stamp)
        d.phenomenon_start = first if d.phenomenon_start is None else min(d.phenomenon_start, first)
        d.phenomenon_end = last if d.phenomenon_end is None else max(d.phenomenon_end, last)
        if d.last_time is None or last >= d.last_time:
            d.last_value = float(values[stamps.index(last_stamp)])
            d.last_time = last
        _upsert_buckets(session, ds_id, minute_buckets(stamps, values))
        rules = active_rules(session, d)
        if rules:
            run_rules(session, actor=actor, datastream=d, rules=rules,
                      values=[(from_stamp(t), v) for t, v in sorted(zip(stamps, values, strict=True))])
        summary.append(_received(d, len(stamps), first, last))
    publish_received(session, summary)
    return ",".join(str(i) for i in sorted(by_ds))[:200]


def _received(d: Datastream, count: int, first: datetime, last: datetime) -> dict[str, Any]:
    return {"datastream_id": d.id, "thing_id": d.thing_id, "count": count, "first": first, "last": last,
            "last_value": d.last_value}


def publish_received(session: Session, datastreams: list[dict[str, Any]]) -> None:
    """One ``sensing.observation.received`` event for one stored batch (one request, one MQTT batch).

    Payload: ``count`` (all observations), ``first`` / ``last`` (phenomenon times) and
    ``datastreams``, one summary per datastream (``datastream_id``, ``thing_id``, ``count``,
    ``first``, ``last``, ``last_value``). One event per batch rather than per datastream: a gateway
    that pushes 100 sensors in one request writes one outbox row, and the dispatcher handles one.
    The key is the datastream id when the batch has one datastream.
    """
    if not datastreams:
        return
    bus.publish(session, "sensing.observation.received", {
        "count": sum(d["count"] for d in datastreams), "first": min(d["first"] for d in datastreams),
        "last": max(d["last"] for d in datastreams), "datastreams": datastreams,
    }, key=str(datastreams[0]["datastream_id"]) if len(datastreams) == 1 else None)


_INSERT_PLAIN = ("INSERT INTO sensing_observation (datastream_id, phenomenon_time, result_number, "
                 "feature_of_interest_id) VALUES (?, ?, ?, ?)")


def _insert_blocks_sqlite(conn: Any, blocks: list[PlainBlock]) -> list[int]:
    # The session holds the write lock (BEGIN IMMEDIATE), so new rowids follow the current maximum.
    before: int = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM sensing_observation")).scalar_one()
    driver: Any = conn.connection.driver_connection
    cursor = driver.cursor()
    total = 0
    try:
        for b in blocks:
            # One prepared statement; the rows are streamed from the columns (no list of tuples).
            cursor.executemany(_INSERT_PLAIN, zip(repeat(b.datastream_id), b.stamps, b.values,
                                                  repeat(b.feature_of_interest_id)))
            total += len(b.stamps)
    finally:
        cursor.close()
    after: int = conn.execute(sa.text("SELECT max(id) FROM sensing_observation")).scalar_one()
    if after - before == total:
        return list(range(before + 1, after + 1))
    return list(conn.execute(sa.text("SELECT id FROM sensing_observation WHERE id > :b ORDER BY id"),
                             {"b": before}).scalars())


def _insert_blocks_postgresql(conn: Any, blocks: list[PlainBlock]) -> list[int]:
    # Take the ids from the sequence first (one statement), then send the rows with those ids through
    # one COPY of text built from the columns: far cheaper than a multi-row INSERT ... RETURNING.
    total = sum(len(b.stamps) for b in blocks)
    ids: list[int] = list(conn.execute(sa.text(
        "SELECT nextval(pg_get_serial_sequence('sensing_observation', 'id')) FROM generate_series(1, :n)"),
        {"n": total}).scalars())
    driver: Any = conn.connection.driver_connection
    next_id = iter(ids)
    with driver.cursor() as cur, cur.copy("COPY sensing_observation (id, datastream_id, phenomenon_time, "
                                          "result_number, feature_of_interest_id) FROM STDIN") as copy:
        for b in blocks:
            # The stamps are UTC text; '+00' says so to the timestamptz column whatever the session's zone.
            head = f"\t{b.datastream_id}\t"
            tail = "\t\\N\n" if b.feature_of_interest_id is None else f"\t{b.feature_of_interest_id}\n"
            copy.write("".join([f"{i}{head}{t}+00\t{v!r}{tail}"
                                # next_id last: zip stops at the block's end without taking an id
                                for t, v, i in zip(b.stamps, b.values, next_id, strict=False)]))
    return ids


def _is_number(value: Any) -> bool:
    t = type(value)
    return t is float or t is int or (t is not bool and isinstance(value, int | float))


def split_result(result: Any) -> tuple[float | None, Any]:
    """A numeric result goes to ``result_number``; anything else is kept as JSON."""
    if _is_number(result):
        value = float(result)
        if value != value or value in (float("inf"), float("-inf")):
            raise BadRequest("result must be a finite number.")
        return value, None
    return None, result


_PLAIN = ("datastream_id", "phenomenon_time", "result_number", "feature_of_interest_id")
_RICH = ("phenomenon_end", "result_time", "result_json", "result_quality", "valid_start", "valid_end", "parameters")


def _row(o: ObservationIn) -> dict[str, Any]:
    number, other = split_result(o.result)
    row = {"datastream_id": o.datastream_id, "phenomenon_time": o.phenomenon_time, "result_number": number,
           "feature_of_interest_id": o.feature_of_interest_id, "phenomenon_end": o.phenomenon_end,
           "result_time": o.result_time, "result_json": other, "result_quality": o.result_quality,
           "valid_start": o.valid_start, "valid_end": o.valid_end, "parameters": o.parameters}
    # Leave out empty optional columns: a JSON column given None would store the JSON text 'null'.
    return {k: v for k, v in row.items() if v is not None or k in _PLAIN}


def _is_plain(o: ObservationIn) -> bool:
    return (o.phenomenon_end is None and o.result_time is None and o.result_quality is None
            and o.valid_start is None and o.valid_end is None and o.parameters is None and _is_number(o.result))


def insert_observations(session: Session, observations: list[ObservationIn]) -> list[int]:
    """Insert the observations and return their ids in the same order.

    Plain numeric observations (the bulk of sensor data) take a fast path: on SQLite one DBAPI
    ``executemany`` with UTC times formatted the way SQLAlchemy stores them; on PostgreSQL one
    multi-row insert with ``RETURNING``. Others go through SQLAlchemy Core, grouped by the columns
    they fill.
    """
    ids: list[int | None] = [None] * len(observations)
    flags = [_is_plain(o) for o in observations]
    if all(flags):
        return _insert_plain(session, observations)
    plain = [i for i, flag in enumerate(flags) if flag]
    rich = [i for i, flag in enumerate(flags) if not flag]
    if plain:
        got = _insert_plain(session, [observations[i] for i in plain])
        for i, ident in zip(plain, got, strict=True):
            ids[i] = ident
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    rows = {i: _row(observations[i]) for i in rich}
    for i in rich:
        groups[tuple(sorted(rows[i]))].append(i)
    table: Any = Observation.__table__
    conn = session.connection()
    for members in groups.values():
        result = conn.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True),
                              [rows[i] for i in members])
        for i, r in zip(members, result, strict=True):
            ids[i] = r[0]
    return [int(i) for i in ids if i is not None]


def _insert_plain(session: Session, observations: list[ObservationIn]) -> list[int]:
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        table: Any = Observation.__table__
        params = [{"datastream_id": o.datastream_id, "phenomenon_time": o.phenomenon_time,
                   "result_number": float(o.result), "feature_of_interest_id": o.feature_of_interest_id}
                  for o in observations]
        result = conn.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), params)
        return [r[0] for r in result]
    # SQLite: the session holds the write lock (BEGIN IMMEDIATE), so new rowids follow the current maximum.
    before: int = conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM sensing_observation")).scalar_one()
    utc = UTC
    raw_params = [(o.datastream_id,
               (t if t.tzinfo is utc else t.astimezone(utc)).replace(tzinfo=None).isoformat(" ", "microseconds"),
               float(o.result), o.feature_of_interest_id) for o in observations for t in (o.phenomenon_time,)]
    driver: Any = conn.connection.driver_connection
    cursor = driver.cursor()
    try:
        cursor.executemany("INSERT INTO sensing_observation (datastream_id, phenomenon_time, result_number, "
                           "feature_of_interest_id) VALUES (?, ?, ?, ?)", raw_params)
    finally:
        cursor.close()
    after: int = conn.execute(sa.text("SELECT max(id) FROM sensing_observation")).scalar_one()
    if after - before == len(observations):
        return list(range(before + 1, after + 1))
    return list(conn.execute(sa.text("SELECT id FROM sensing_observation WHERE id > :b ORDER BY id"),
                             {"b": before}).scalars())


def _update_datastream(session: Session, d: Datastream, items: list[ObservationIn]) -> None:
    first = min(o.phenomenon_time for o in items)
    last_obs = max(items, key=lambda o: o.phenomenon_time)
    last = max((o.phenomenon_end or o.phenomenon_time) for o in items)
    d.phenomenon_start = first if d.phenomenon_start is None else min(d.phenomenon_start, first)
    d.phenomenon_end = last if d.phenomenon_end is None else max(d.phenomenon_end, last)
    rtimes = [o.result_time for o in items if o.result_time is not None]
    if rtimes:
        d.result_start = min(rtimes) if d.result_start is None else min(d.result_start, min(rtimes))
        d.result_end = max(rtimes) if d.result_end is None else max(d.result_end, max(rtimes))
    if _is_number(last_obs.result) and (d.last_time is None or last_obs.phenomenon_time >= d.last_time):
        d.last_value = float(last_obs.result)
        d.last_time = last_obs.phenomenon_time


def update_rollups(session: Session, datastream_id: int, values: list[tuple[datetime, float]]) -> None:
    """Add ``values`` to the minute and hour rollups of the datastream (upsert per bucket)."""
    _upsert_buckets(session, datastream_id, minute_buckets([stamp(t) for t, _ in values], [v for _, v in values]))


def minute_buckets(stamps: list[str], values: list[float]) -> dict[str, list[Any]]:
    """Per-minute ``[count, total, min, max, last value, last stamp]`` keyed by ``'YYYY-MM-DD HH:MM'``."""
    if len(stamps) > 64 and all(map(operator.le, stamps, islice(stamps, 1, None))):
        return _sorted_minute_buckets(stamps, values)
    buckets: dict[str, list[Any]] = {}
    get = buckets.get
    for t, v in zip(stamps, values, strict=True):
        key = t[:16]
        b = get(key)
        if b is None:
            buckets[key] = [1, v, v, v, v, t]
        else:
            b[0] += 1
            b[1] += v
            if v < b[2]:
                b[2] = v
            elif v > b[3]:
                b[3] = v
            if t >= b[5]:
                b[4] = v
                b[5] = t
    return buckets


_MINUTE = operator.itemgetter(slice(0, 16))


def _sorted_minute_buckets(stamps: list[str], values: list[float]) -> dict[str, list[Any]]:
    # Times in order (what a device sends): each minute is one run of rows, so count the runs with
    # Counter (C code) and take sum / min / max of each run's slice, instead of Python code per row.
    buckets: dict[str, list[Any]] = {}
    start = 0
    for key, count in Counter(map(_MINUTE, stamps)).items():
        end = start + count
        run = values[start:end]
        buckets[key] = [count, sum(run), min(run), max(run), run[-1], stamps[end - 1]]
        start = end
    return buckets


def _hours(minutes: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Merge minute buckets into hour buckets (``'YYYY-MM-DD HH'``)."""
    out: dict[str, list[Any]] = {}
    for key, m in minutes.items():
        k = key[:13]
        b = out.get(k)
        if b is None:
            out[k] = list(m)
        else:
            b[0] += m[0]
            b[1] += m[1]
            b[2] = min(b[2], m[2])
            b[3] = max(b[3], m[3])
            if m[5] >= b[5]:
                b[4], b[5] = m[4], m[5]
    return out


# SQLite: the same upsert as _upsert_rollups, on the DBAPI cursor with the time text as SQLAlchemy
# stores it ('YYYY-MM-DD HH:MM:SS.ffffff'), so no datetime is built and converted back per bucket.
# In DO UPDATE every expression reads the row as it was, as in the Core statement.
_UPSERT_ROLLUP_SQLITE = (
    "INSERT INTO sensing_rollup (datastream_id, period, start, count, total, minimum, maximum, last_value, "
    "last_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (datastream_id, period, start) DO UPDATE SET "
    "count = sensing_rollup.count + excluded.count, total = sensing_rollup.total + excluded.total, "
    "minimum = min(sensing_rollup.minimum, excluded.minimum), "
    "maximum = max(sensing_rollup.maximum, excluded.maximum), "
    "last_value = CASE WHEN excluded.last_time >= sensing_rollup.last_time THEN excluded.last_value "
    "ELSE sensing_rollup.last_value END, "
    "last_time = CASE WHEN excluded.last_time >= sensing_rollup.last_time THEN excluded.last_time "
    "ELSE sensing_rollup.last_time END")


def _upsert_buckets(session: Session, datastream_id: int, minutes: dict[str, list[Any]]) -> None:
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "sqlite":
        rows = [(datastream_id, "minute", k + ":00.000000", *b) for k, b in minutes.items()]
        rows += [(datastream_id, "hour", k + ":00:00.000000", *b) for k, b in _hours(minutes).items()]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(_UPSERT_ROLLUP_SQLITE, rows)
        finally:
            cursor.close()
        return
    for period, buckets, suffix in (("minute", minutes, ":00"), ("hour", _hours(minutes), ":00:00")):
        params = [{"datastream_id": datastream_id, "period": period, "start": from_stamp(k + suffix),
                   "count": b[0], "total": b[1], "minimum": b[2], "maximum": b[3], "last_value": b[4],
                   "last_time": from_stamp(b[5])} for k, b in buckets.items()]
        _upsert_rollups(session, dialect, params)


def _upsert_rollups(session: Session, dialect: str, params: list[dict[str, Any]]) -> None:
    # Core (not ORM) insert: the ORM bulk path costs more than the statement for a few hundred buckets.
    table: Any = Rollup.__table__
    c = table.c
    ins: Any
    least: Any
    greatest: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        ins = pg_insert(table)
        least, greatest = sa.func.least, sa.func.greatest
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        ins = sqlite_insert(table)
        least, greatest = sa.func.min, sa.func.max
    ex = ins.excluded
    stmt = ins.on_conflict_do_update(
        index_elements=["datastream_id", "period", "start"],
        set_={
            "count": c.count + ex.count,
            "total": c.total + ex.total,
            "minimum": least(c.minimum, ex.minimum),
            "maximum": greatest(c.maximum, ex.maximum),
            "last_value": sa.case((ex.last_time >= c.last_time, ex.last_value), else_=c.last_value),
            "last_time": sa.case((ex.last_time >= c.last_time, ex.last_time), else_=c.last_time),
        },
    )
    session.connection().execute(stmt, params)


def recompute_rollups(session: Session, datastream_id: int, times: list[datetime]) -> None:
    """Rebuild the buckets that contain ``times`` from the raw observations (after an edit or delete)."""
    for period, seconds in PERIODS.items():
        for start in {_bucket(t, seconds) for t in times}:
            end = start + timedelta(seconds=seconds)
            session.execute(sa.delete(Rollup).where(Rollup.datastream_id == datastream_id, Rollup.period == period,
                                                    Rollup.start == start))
            rows = session.execute(sa.select(Observation.phenomenon_time, Observation.result_number).where(
                Observation.datastream_id == datastream_id, Observation.phenomenon_time >= start,
                Observation.phenomenon_time < end, Observation.result_number.is_not(None))).all()
            if rows:
                last = max(rows, key=lambda r: r[0])
                vals = [float(r[1] or 0.0) for r in rows]
                session.add(Rollup(datastream_id=datastream_id, period=period, start=start, count=len(vals),
                                   total=sum(vals), minimum=min(vals), maximum=max(vals), last_value=last[1],
                                   last_time=last[0]))


# ------------------------------------------------------------------------------------------ thresholds


def condition_holds(kind: str, value: float, limit: float) -> bool:
    """Is the alarm condition true for one value? (``rate`` gets the change over its window as ``value``)."""
    if kind == "below":
        return value <= limit
    return value >= limit


def condition_cleared(kind: str, value: float, limit: float, clear: float | None) -> bool:
    """Has the condition ended? With hysteresis the value must go back past ``clear`` (not just ``limit``)."""
    bound = limit if clear is None else clear
    if kind == "below":
        return value > bound
    return value < bound


def active_rules(session: Session, datastream: Datastream) -> list[Threshold]:
    """The active threshold rules that apply to ``datastream`` (its observed property, its station or all)."""
    return list(session.scalars(sa.select(Threshold).where(
        Threshold.is_active.is_(True), Threshold.observed_property_id == datastream.observed_property_id,
        sa.or_(Threshold.thing_id.is_(None), Threshold.thing_id == datastream.thing_id))))


def evaluate_thresholds(session: Session, *, actor: Actor, datastream: Datastream,
                        values: list[tuple[datetime, float]]) -> None:
    """Run every active threshold of the datastream over ``values`` (time order): raise, follow, clear."""
    rules = active_rules(session, datastream)
    if rules:
        run_rules(session, actor=actor, datastream=datastream, rules=rules, values=values)


def run_rules(session: Session, *, actor: Actor, datastream: Datastream, rules: list[Threshold],
              values: list[tuple[datetime, float]]) -> None:
    """Run ``rules`` over ``values`` (time order): raise, follow, clear."""
    open_alerts = {a.threshold_id: a for a in session.scalars(sa.select(Alert).where(
        Alert.datastream_id == datastream.id, Alert.state == "active"))}
    history: list[tuple[datetime, float]] | None = None
    for rule in rules:
        series = values
        if rule.kind == "rate":
            if history is None:
                window = max((r.window_minutes or 60) for r in rules if r.kind == "rate")
                since = values[0][0] - timedelta(minutes=window)
                history = [(t, float(v or 0.0)) for t, v in session.execute(sa.select(
                    Observation.phenomenon_time, Observation.result_number).where(
                    Observation.datastream_id == datastream.id, Observation.phenomenon_time >= since,
                    Observation.phenomenon_time <= values[-1][0], Observation.result_number.is_not(None),
                ).order_by(Observation.phenomenon_time))]
            series = rate_series(history, values, rule.window_minutes or 60)
        alert = open_alerts.get(rule.id)
        for t, v in series:
            if alert is None:
                if condition_holds(rule.kind, v, rule.value):
                    alert = _raise(session, actor, rule, datastream, t, v)
                    open_alerts[rule.id] = alert
            else:
                alert.last_value = v
                worse = v < alert.peak_value if rule.kind == "below" else v > alert.peak_value
                if worse:
                    alert.peak_value = v
                if condition_cleared(rule.kind, v, rule.value, rule.clear_value):
                    _clear(session, actor, rule, datastream, alert, t, v)
                    del open_alerts[rule.id]
                    alert = None


def rate_series(history: list[tuple[datetime, float]], values: list[tuple[datetime, float]],
                window_minutes: int) -> list[tuple[datetime, float]]:
    """For each new value: its change since the oldest value inside the window before it."""
    out = []
    window = timedelta(minutes=window_minutes)
    for t, v in values:
        base = next((hv for ht, hv in history if t - window <= ht <= t), v)
        out.append((t, v - base))
    return out


def _alert_payload(rule: Threshold, d: Datastream, alert: Alert) -> dict[str, Any]:
    thing = d.thing
    coords = None
    for loc in thing.locations:
        if loc.location and loc.location.get("type") == "Point":
            coords = loc.location.get("coordinates")
            break
    return {
        "alert_id": alert.id, "threshold_id": rule.id, "threshold": rule.name, "kind": rule.kind,
        "level": rule.level, "severity": rule.severity, "limit": rule.value, "clear_value": rule.clear_value,
        "datastream_id": d.id, "datastream": d.name, "thing_id": thing.id, "thing": thing.name,
        "org_id": thing.org_id, "unit": (d.unit_of_measurement or {}).get("symbol"),
        "trigger_value": alert.trigger_value, "trigger_time": alert.trigger_time, "peak_value": alert.peak_value,
        "last_value": alert.last_value, "coordinates": coords,
    }


def _raise(session: Session, actor: Actor, rule: Threshold, d: Datastream, t: datetime, v: float) -> Alert:
    alert = Alert(threshold_id=rule.id, datastream_id=d.id, state="active", raised_at=t, trigger_value=v,
                  trigger_time=t, peak_value=v, last_value=v)
    session.add(alert)
    session.flush()
    payload = _alert_payload(rule, d, alert)
    audit.record(session, actor=actor, action="sensing.alert.raise", object_type="sensing.alert", object_id=alert.id,
                 data={"threshold": rule.name, "datastream_id": d.id, "value": v})
    bus.publish(session, "sensing.alert.raised", payload, key=f"{rule.id}:{d.id}")
    return alert


def _clear(session: Session, actor: Actor, rule: Threshold, d: Datastream, alert: Alert, t: datetime,
           v: float) -> None:
    alert.state = "cleared"
    alert.cleared_at = t
    alert.last_value = v
    payload = _alert_payload(rule, d, alert)
    payload["cleared_at"] = t
    audit.record(session, actor=actor, action="sensing.alert.clear", object_type="sensing.alert", object_id=alert.id,
                 data={"threshold": rule.name, "datastream_id": d.id, "value": v})
    bus.publish(session, "sensing.alert.cleared", payload, key=f"{rule.id}:{d.id}")


def purge_raw(session: Session, *, actor: Actor, older_than: datetime) -> int:
    """Delete raw observations older than ``older_than`` (the rollups stay); returns how many."""
    result: Any = session.execute(sa.delete(Observation).where(Observation.phenomenon_time < older_than))
    count = result.rowcount or 0
    audit.record(session, actor=actor, action="sensing.observation.purge", object_type="sensing.observation",
                 object_id="*", data={"older_than": older_than.isoformat(), "count": count})
    bus.publish(session, "sensing.observation.purged", {"older_than": older_than, "count": count})
    return count


def thing_public(session: Session, thing_id: int) -> bool:
    """Whether a Thing's datastreams are public."""
    return bool(session.scalar(sa.select(Thing.is_public).where(Thing.id == thing_id)))


def copy_blocks(session: Session, *, actor: Actor, blocks: list[PlainBlock], datastreams: dict[int, Datastream],
                audit_action: str = "sensing.observation.create_many") -> int:
    """Store plain observations like ``store_blocks`` but return only how many: PostgreSQL ``COPY``.

    For a caller that needs no ids (the MQTT bridge): on PostgreSQL the rows go through one
    ``COPY … FROM STDIN`` of text built straight from the columns (no parameter per value), which
    is several times cheaper than a multi-row ``INSERT … RETURNING``. Rollups, spans, latest value,
    thresholds, the audit row and the one event of the batch are the same as ``store_blocks``, in the
    caller's transaction. On SQLite it is ``store_blocks``.
    """
    blocks = [b for b in blocks if b.stamps]
    if not blocks:
        return 0
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return len(store_blocks(session, actor=actor, blocks=blocks, datastreams=datastreams,
                                audit_action=audit_action))
    driver: Any = conn.connection.driver_connection
    total = 0
    with driver.cursor() as cur, cur.copy("COPY sensing_observation (datastream_id, phenomenon_time, "
                                          "result_number, feature_of_interest_id) FROM STDIN") as copy:
        for b in blocks:
            # Stamps are UTC text; '+00' says so to a timestamptz column whatever the session's zone.
            head = f"{b.datastream_id}\t"
            foi = "\\N" if b.feature_of_interest_id is None else str(b.feature_of_interest_id)
            tail = f"\t{foi}\n"
            copy.write("".join([f"{head}{t}+00\t{v!r}{tail}" for t, v in zip(b.stamps, b.values, strict=True)]))
            total += len(b.stamps)
    object_id = _after_blocks(session, actor=actor, blocks=blocks, datastreams=datastreams)
    audit.record(session, actor=actor, action=audit_action, object_type="sensing.datastream", object_id=object_id,
                 data={"count": total})
    return total

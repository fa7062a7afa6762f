"""Nguồn kho phân tích — the ``observations_hourly`` feed this module gives the analytics warehouse.

One row per datastream and hour, from the hourly rollups (never the raw observations: a year of a
province's sensors is tens of millions of rows; KPIs and trends need hours and days). A rollup changes
when observations of its hour arrive, so the change window is on the observation id: the hours touched
by observations stored since the last sync are read again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core.warehouse import ChangeWindow, WarehouseFeed
from smartprovince.sensing.models import Datastream, Observation, ObservedProperty, Rollup, Thing

COLUMNS: tuple[tuple[str, str], ...] = (
    ("datastream_id", "BIGINT"), ("thing_id", "BIGINT"), ("observed_property_id", "BIGINT"),
    ("observed_property", "VARCHAR"), ("unit", "VARCHAR"), ("org_id", "VARCHAR"), ("org_path", "VARCHAR"),
    ("hour", "TIMESTAMPTZ"), ("count", "BIGINT"), ("mean", "DOUBLE"), ("min", "DOUBLE"), ("max", "DOUBLE"),
    ("last_value", "DOUBLE"),
)
BATCH = 20_000
OVERLAP_IDS = 2_000  # observation ids allocated but committed late (PostgreSQL sequences) are read again

_SELECT = select(Rollup.datastream_id, Rollup.start, Rollup.count, Rollup.total, Rollup.minimum, Rollup.maximum,
                 Rollup.last_value).where(Rollup.period == "hour")


def _streams(session: Session) -> dict[int, tuple[Any, ...]]:
    """datastream id → (thing id, property id, property name, unit symbol, org id, org path)."""
    paths = dict(session.execute(select(identity.Organisation.id, identity.Organisation.path)).tuples().all())
    rows = session.execute(
        select(Datastream.id, Datastream.thing_id, Datastream.observed_property_id, ObservedProperty.name,
               Datastream.unit_of_measurement, Thing.org_id)
        .join(ObservedProperty, ObservedProperty.id == Datastream.observed_property_id)
        .join(Thing, Thing.id == Datastream.thing_id))
    out: dict[int, tuple[Any, ...]] = {}
    row: Any
    for row in rows:
        ds_id, thing_id, prop_id, prop, unit, org_id = row
        symbol = (unit or {}).get("symbol") if isinstance(unit, dict) else None
        out[ds_id] = (thing_id, prop_id, prop, symbol, org_id, paths.get(org_id or ""))
    return out


def _tuples(session: Session, stmt: Any) -> Iterator[tuple[Any, ...]]:
    streams = _streams(session)
    row: Any
    for row in session.execute(stmt.execution_options(yield_per=BATCH)):
        ds_id, start, count, total, lo, hi, last = row
        info = streams.get(ds_id, (None,) * 6)
        yield (ds_id, *info, start, count, total / count if count else None, lo, hi, last)


def _hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _changed(session: Session, window: ChangeWindow) -> Iterator[tuple[Any, ...]]:
    touched: dict[int, set[datetime]] = defaultdict(set)
    row: Any
    for row in session.execute(
            window.where(select(Observation.id, Observation.datastream_id, Observation.phenomenon_time))):
        obs_id, ds_id, t = row
        if window.fresh(obs_id, obs_id):
            touched[ds_id].add(_hour(t))
    for ds_id, hours in sorted(touched.items()):
        ordered = sorted(hours)
        for i in range(0, len(ordered), 500):
            yield from _tuples(session, _SELECT.where(Rollup.datastream_id == ds_id,
                                                      Rollup.start.in_(ordered[i:i + 500])))


def hourly_rows(session: Session, after: Any) -> tuple[Iterator[tuple[Any, ...]], Any]:
    """Hourly rollups touched since ``after`` (all of them when ``after`` is None)."""
    window = ChangeWindow.open(session, Observation.id, Observation.id, after,
                               back=lambda upper: max(int(upper) - OVERLAP_IDS, 0))
    if after is None:
        return _tuples(session, _SELECT), window.watermark
    return _changed(session, window), window.watermark


FEED = WarehouseFeed(
    name="observations_hourly",
    description="Quan trắc theo giờ — count, mean, min, max of each datastream per hour (UTC hour start)",
    columns=COLUMNS,
    key=("datastream_id", "hour"),
    rows=hourly_rows,
)

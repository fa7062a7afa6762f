"""Reads of the sensing module: stations with current values, series from rollups, VN_AQI, alerts.

``access_thing_by_id`` is the one way to fetch a station for a caller: a station that is not public
looks missing (the same ``NotFound``) to callers without ``sensing.station.read``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from smartprovince.core import clock
from smartprovince.core.errors import NotFound
from smartprovince.core.security import Actor
from smartprovince.sensing import aqi
from smartprovince.sensing.models import Alert, Datastream, Rollup, Thing, Threshold
from smartprovince.sensing.sta import READ_ALL, iso


def access_thing_by_id(session: Session, actor: Actor | None, thing_id: int) -> Thing:
    """The station, or ``NotFound`` when it does not exist or the caller may not see it."""
    thing = session.get(Thing, thing_id) if 0 <= thing_id < 2**31 else None
    if thing is None or not (thing.is_public or (actor is not None and actor.has(READ_ALL))):
        raise NotFound("No such station.")
    return thing


def access_datastream_by_id(session: Session, actor: Actor | None, datastream_id: int) -> Datastream:
    """The datastream, or ``NotFound`` when missing or on a station the caller may not see."""
    ds = session.get(Datastream, datastream_id) if 0 <= datastream_id < 2**31 else None
    if ds is None:
        raise NotFound("No such datastream.")
    access_thing_by_id(session, actor, ds.thing_id)
    return ds


def point_of(thing: Thing) -> tuple[float, float] | None:
    """(longitude, latitude) of the station's first point Location, if any."""
    for loc in thing.locations:
        geo = loc.location or {}
        if isinstance(geo, dict) and geo.get("type") == "Point":
            coords = geo.get("coordinates") or []
            if len(coords) >= 2:
                return float(coords[0]), float(coords[1])
    return None


def stations(session: Session, actor: Actor | None, *, kind: str | None = None) -> list[dict[str, Any]]:
    """Every visible station with its position, kind, current values and open alerts (for the map)."""
    stmt = sa.select(Thing).options(
        selectinload(Thing.locations),
        selectinload(Thing.datastreams).selectinload(Datastream.observed_property),
    ).order_by(Thing.name)
    if not (actor is not None and actor.has(READ_ALL)):
        stmt = stmt.where(Thing.is_public.is_(True))
    things = list(session.scalars(stmt))
    open_alerts = _open_alert_counts(session)
    out = []
    for t in things:
        props = t.properties or {}
        if kind and props.get("kind") != kind:
            continue
        values = []
        for d in sorted(t.datastreams, key=lambda x: x.id):
            values.append({
                "datastream_id": d.id, "name": d.name, "property": d.observed_property.name,
                "code": (d.observed_property.properties or {}).get("code"),
                "unit": (d.unit_of_measurement or {}).get("symbol"), "value": d.last_value, "time": iso(d.last_time),
            })
        point = point_of(t)
        out.append({
            "id": t.id, "name": t.name, "description": t.description, "kind": props.get("kind"),
            "area": props.get("area"), "longitude": point[0] if point else None,
            "latitude": point[1] if point else None, "is_public": t.is_public,
            "open_alerts": sum(open_alerts.get(d.id, 0) for d in t.datastreams), "values": values,
        })
    return out


def _open_alert_counts(session: Session) -> dict[int, int]:
    rows = session.execute(sa.select(Alert.datastream_id, sa.func.count()).where(Alert.state == "active")
                           .group_by(Alert.datastream_id))
    return {r[0]: r[1] for r in rows}


def series(session: Session, datastream_id: int, *, period: str, start: datetime, end: datetime,
           ) -> list[dict[str, Any]]:
    """Buckets (minute or hour) of a datastream between ``start`` and ``end``: mean, min, max, count."""
    where = (Rollup.datastream_id == datastream_id, Rollup.period == period, Rollup.start >= start,
             Rollup.start < end)
    if session.get_bind().dialect.name == "sqlite":
        # SQLite keeps the UTC time as text 'YYYY-MM-DD HH:MM:SS.000000': reformatting it is ~10x cheaper
        # than building a datetime per bucket (a year of hours is 8,760 of them).
        text = sa.type_coerce(Rollup.start, sa.String)
        texts = session.execute(sa.select(text, Rollup.count, Rollup.total, Rollup.minimum, Rollup.maximum)
                                .where(*where).order_by(Rollup.start)).all()
        return [{"time": f"{r[0][:10]}T{r[0][11:19]}Z", "mean": r[2] / r[1] if r[1] else None, "min": r[3],
                 "max": r[4], "count": r[1]} for r in texts]
    rows = session.execute(sa.select(Rollup.start, Rollup.count, Rollup.total, Rollup.minimum, Rollup.maximum)
                           .where(*where).order_by(Rollup.start)).all()
    return [{"time": iso(r[0]), "mean": r[2] / r[1] if r[1] else None, "min": r[3], "max": r[4], "count": r[1]}
            for r in rows]


def _hourly_means(session: Session, ds_ids: dict[str, int], start: datetime, hours: int) -> dict[str, list[Any]]:
    """Per pollutant code, the hourly means from ``start`` for ``hours`` hours (``None`` = missing)."""
    out: dict[str, list[Any]] = {}
    if not ds_ids:
        return out
    rows = session.execute(sa.select(Rollup.datastream_id, Rollup.start, Rollup.total, Rollup.count).where(
        Rollup.datastream_id.in_(ds_ids.values()), Rollup.period == "hour", Rollup.start >= start,
        Rollup.start < start + timedelta(hours=hours)))
    by_ds: dict[int, dict[datetime, float]] = {}
    for ds_id, t, total, count in rows:
        by_ds.setdefault(ds_id, {})[t] = total / count
    for code, ds_id in ds_ids.items():
        vals = by_ds.get(ds_id, {})
        out[code] = [vals.get(start + timedelta(hours=h)) for h in range(hours)]
    return out


def _pollutant_streams(thing: Thing) -> dict[str, int]:
    found = {}
    for d in thing.datastreams:
        code = (d.observed_property.properties or {}).get("code")
        if code in aqi.POLLUTANTS:
            found[code] = d.id
    return found


def station_aqi(session: Session, thing: Thing, *, at: datetime | None = None) -> dict[str, Any]:
    """Hourly VN_AQI of the last complete hour before ``at`` and daily VN_AQI of the day before (UTC+7)."""
    from smartprovince.core.clock import VN_TZ

    at = at or clock.now()
    streams = _pollutant_streams(thing)
    hour_start = at.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    window = _hourly_means(session, streams, hour_start - timedelta(hours=11), 12)
    latest = {code: vals[-1] for code, vals in window.items()}
    pm = {code: list(reversed(vals)) for code, vals in window.items() if code in ("PM2.5", "PM10")}
    hourly = aqi.hourly_aqi(latest, pm)
    local = at.astimezone(VN_TZ)
    day_local = local.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    day = _hourly_means(session, streams, day_local.astimezone(hour_start.tzinfo), 24)
    daily = aqi.daily_aqi(day)
    for result in (hourly, daily):
        b = aqi.band(result["aqi"])  # type: ignore[arg-type]
        result["band"] = b.name if b else None
        result["colour"] = b.colour if b else None
    hourly["hour"] = iso(hour_start)
    daily["day"] = day_local.date().isoformat()
    return {"hourly": hourly, "daily": daily}


def hourly_aqi_series(session: Session, thing: Thing, *, start: datetime, hours: int) -> list[dict[str, Any]]:
    """Hourly VN_AQI for ``hours`` hours from ``start`` (for the station chart)."""
    streams = _pollutant_streams(thing)
    if not streams:
        return []
    means = _hourly_means(session, streams, start - timedelta(hours=11), hours + 11)
    out = []
    for h in range(hours):
        idx = h + 11
        latest = {code: vals[idx] for code, vals in means.items()}
        pm = {code: list(reversed(vals[idx - 11:idx + 1])) for code, vals in means.items() if code in ("PM2.5", "PM10")}
        out.append({"time": iso(start + timedelta(hours=h)), "aqi": aqi.hourly_aqi(latest, pm)["aqi"]})
    return out


def alerts(session: Session, *, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Recent alerts (newest first) with their threshold and station."""
    stmt = sa.select(Alert, Threshold, Datastream, Thing).join(Threshold, Alert.threshold_id == Threshold.id).join(
        Datastream, Alert.datastream_id == Datastream.id).join(Thing, Datastream.thing_id == Thing.id)
    if state:
        stmt = stmt.where(Alert.state == state)
    stmt = stmt.order_by(Alert.raised_at.desc(), Alert.id.desc()).limit(limit)
    out = []
    for a, th, d, t in session.execute(stmt):
        out.append({
            "id": a.id, "state": a.state, "raised_at": iso(a.raised_at), "cleared_at": iso(a.cleared_at),
            "trigger_value": a.trigger_value, "peak_value": a.peak_value, "last_value": a.last_value,
            "threshold_id": th.id, "threshold": th.name, "level": th.level, "severity": th.severity,
            "datastream_id": d.id, "datastream": d.name, "unit": (d.unit_of_measurement or {}).get("symbol"),
            "thing_id": t.id, "thing": t.name,
        })
    return out


def thresholds(session: Session) -> list[Threshold]:
    """Every alarm rule, by name."""
    return list(session.scalars(sa.select(Threshold).order_by(Threshold.name, Threshold.id)))


def threshold_rows(session: Session, *, observed_property_id: int | None = None,
                   thing_id: int | None = None) -> list[dict[str, Any]]:
    """Alarm rules for the editing page: each with its observed property (name, code, unit) and station name.

    ``thing_id`` keeps the rules of that station and the rules for every station.
    """
    from smartprovince.sensing.models import ObservedProperty

    stmt = (sa.select(Threshold, ObservedProperty.name, ObservedProperty.properties, Thing.name)
            .join(ObservedProperty, ObservedProperty.id == Threshold.observed_property_id)
            .outerjoin(Thing, Thing.id == Threshold.thing_id)
            .order_by(ObservedProperty.name, Thing.name.nulls_first(), Threshold.value, Threshold.id))
    if observed_property_id is not None:
        stmt = stmt.where(Threshold.observed_property_id == observed_property_id)
    if thing_id is not None:
        stmt = stmt.where(sa.or_(Threshold.thing_id == thing_id, Threshold.thing_id.is_(None)))
    units = _units_by_property(session)
    out: list[dict[str, Any]] = []
    for row in session.execute(stmt):
        rule: Threshold = row[0]
        props: dict[str, Any] = row[2] or {}
        out.append({"rule": rule, "property": row[1], "code": props.get("code"), "thing": row[3],
                    "unit": units.get(rule.observed_property_id)})
    return out


def _units_by_property(session: Session) -> dict[int, str]:
    out: dict[int, str] = {}
    for row in session.execute(sa.select(Datastream.observed_property_id, Datastream.unit_of_measurement)):
        prop_id: int = row[0]
        unit: dict[str, Any] = row[1] or {}
        symbol = unit.get("symbol")
        if symbol and prop_id not in out:
            out[prop_id] = str(symbol)
    return out


def threshold_choices(session: Session) -> dict[str, Any]:
    """What a rule can point at: observed properties (with code and unit) and stations (with kind)."""
    from smartprovince.sensing.models import ObservedProperty

    units = _units_by_property(session)
    props = [{"id": p.id, "name": p.name, "code": (p.properties or {}).get("code"), "unit": units.get(p.id)}
             for p in session.scalars(sa.select(ObservedProperty).order_by(ObservedProperty.name))]
    things = [{"id": t.id, "name": t.name, "kind": (t.properties or {}).get("kind")}
              for t in session.scalars(sa.select(Thing).order_by(Thing.name))]
    return {"properties": props, "things": things}


def threshold_by_id(session: Session, threshold_id: str) -> Threshold:
    """One alarm rule, or ``NotFound``."""
    row = session.get(Threshold, threshold_id) if len(threshold_id) <= 32 else None
    if row is None:
        raise NotFound("No such threshold.")
    return row


def mosquitto_acl(session: Session, *, bridge_user: str | None = None) -> str:
    """Mosquitto ACL file text: each device user ``thing-<id>`` may publish only to the observation
    topics of its own Thing's datastreams; the bridge user may read every observation topic.

    Only Things that hold a device credential are listed. Regenerate the file (and send Mosquitto a
    SIGHUP) after issuing a credential or adding a datastream.
    """
    rows = session.execute(
        sa.select(Thing.id, Datastream.id)
        .join(Datastream, Datastream.thing_id == Thing.id, isouter=True)
        .where(Thing.device_secret_hash.is_not(None))
        .order_by(Thing.id, Datastream.id)
    ).all()
    lines = ["# Mosquitto ACL of the SensorThings devices (smartprovince sensing mosquitto-acl).",
             "# Anonymous clients get nothing; a device publishes only to its own datastreams."]
    if bridge_user:
        lines += ["", f"user {bridge_user}", "topic read v1.1/+/Observations"]
    current = None
    for thing_id, ds_id in rows:
        if thing_id != current:
            lines += ["", f"user thing-{thing_id}"]
            current = thing_id
        if ds_id is not None:
            lines.append(f"topic write v1.1/Datastreams({ds_id})/Observations")
    return "\n".join(lines) + "\n"

"""Demo stations of the reference province (Hải Dương) with a few days of realistic history.

Air-quality stations in TP Hải Dương and Chí Linh, water-level stations on the Thái Bình, Kinh Thầy
and Luộc rivers, traffic counters on QL5, QL18 and QL37, and two parking lots. The history holds a
flood event (the Thái Bình at Phả Lại passes alarm level II, then falls back) and a pollution
episode (PM2.5 in Chí Linh), so the threshold rules raise and clear alerts. The station list and
the threshold rules are data (``data/stations.json``). Reproducible: seeded random.
"""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from smartprovince.core import clock
from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM
from smartprovince.sensing import ingest, service
from smartprovince.sensing.models import Datastream, ObservedProperty, Thing
from smartprovince.sensing.sta import SETS

DATA = Path(__file__).with_name("data") / "stations.json"
HISTORY_DAYS = 4
STEP_MINUTES = 10


def load_spec() -> dict[str, Any]:
    """The demo stations, observed properties and threshold rules."""
    return json.loads(DATA.read_text("utf-8"))


def ensure_stations(db: Database) -> dict[str, Any]:
    """Create the stations (once) through the SensorThings service; return {station key: Thing id}."""
    spec = load_spec()
    with db.session() as s:
        if s.scalar(sa.select(sa.func.count()).select_from(Thing)):
            return {}
        props: dict[str, int] = {}
        for code, p in spec["properties"].items():
            row = service.create_entity(s, actor=SYSTEM, es=SETS["ObservedProperties"], body={
                "name": p["name"], "definition": p["definition"], "description": p.get("description", ""),
                "properties": {"code": code}})
            props[code] = row.id
        sensors: dict[str, int] = {}
        for key, sensor in spec["sensors"].items():
            sensors[key] = service.create_entity(s, actor=SYSTEM, es=SETS["Sensors"], body=sensor).id
        ids: dict[str, int] = {}
        for st in spec["stations"]:
            body = {
                "name": st["name"], "description": st["description"],
                "properties": {"kind": st["kind"], "area": st["area"], "key": st["key"], **st.get("properties", {})},
                "Locations": [{"name": st["name"], "description": st["area"], "encodingType": "application/geo+json",
                               "location": {"type": "Point", "coordinates": [st["lon"], st["lat"]]}}],
                "Datastreams": [{
                    "name": f"{spec['properties'][code]['short']} — {st['name']}",
                    "description": spec["properties"][code]["name"],
                    "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                    "unitOfMeasurement": spec["properties"][code]["unit"],
                    "ObservedProperty": {"@iot.id": props[code]},
                    "Sensor": {"@iot.id": sensors[st["sensor"]]},
                } for code in st["streams"]],
            }
            ids[st["key"]] = service.create_entity(s, actor=SYSTEM, es=SETS["Things"], body=body).id
        for rule in spec["thresholds"]:
            service.create_threshold(
                s, actor=SYSTEM, name=rule["name"], observed_property_id=props[rule["property"]],
                thing_id=ids[rule["station"]] if rule.get("station") else None, kind=rule["kind"],
                value=rule["value"], clear_value=rule.get("clear_value"), window_minutes=rule.get("window_minutes"),
                level=rule.get("level", ""), severity=rule.get("severity", "warning"))
        return ids


class Model:
    """Generates plausible values for one datastream at a time ``t`` (local hour drives daily cycles)."""

    def __init__(self, station: dict[str, Any], code: str, rng: random.Random, start: datetime):
        self.station, self.code, self.rng, self.start = station, code, rng, start
        self.noise = 0.0

    def value(self, t: datetime) -> float:
        from smartprovince.core.clock import VN_TZ

        local = t.astimezone(VN_TZ)
        hour = local.hour + local.minute / 60
        days = (t - self.start).total_seconds() / 86400
        self.noise = 0.8 * self.noise + self.rng.gauss(0, 1)
        base = self.station.get("base", {}).get(self.code)
        rush = math.exp(-((hour - 7.5) ** 2) / 2) + math.exp(-((hour - 17.5) ** 2) / 2.5)
        night = math.exp(-((hour - 22) ** 2) / 6) + math.exp(-((hour - 1) ** 2) / 6)
        episode = self.station.get("episode")
        boost = 0.0
        if episode and self.code in episode["codes"]:
            boost = episode["peak"] * math.exp(-((days - episode["day"]) ** 2) / (2 * episode["width"] ** 2))
        if self.code in ("PM2.5", "PM10"):
            v = base * (0.7 + 0.35 * rush + 0.5 * night) * (1 + boost) + self.noise * base * 0.06
        elif self.code in ("NO2", "CO"):
            v = base * (0.6 + 0.8 * rush) * (1 + boost * 0.5) + self.noise * base * 0.05
        elif self.code == "SO2":
            v = base * (0.9 + 0.2 * rush) + self.noise * base * 0.05
        elif self.code == "O3":
            v = base * (0.3 + 1.2 * math.exp(-((hour - 14) ** 2) / 8)) + self.noise * base * 0.05
        elif self.code == "water_level":
            flood = self.station.get("flood")
            tide = 0.25 * math.sin(2 * math.pi * (days * 24 / 12.4))
            v = base + tide + self.noise * 0.01
            if flood:
                rise = flood["peak"] - base
                d = days - flood["day"]
                v += rise * (math.exp(-(d**2) / (2 * flood["width"] ** 2)) if d < 0 else math.exp(-d / flood["recede"]))
            return round(v, 2)
        elif self.code == "vehicle_count":
            v = base * (0.15 + 0.9 * rush + 0.4 * math.exp(-((hour - 12) ** 2) / 8)) + self.noise * base * 0.05
            return float(max(0, round(v)))
        elif self.code == "parking_free":
            cap = self.station["properties"]["capacity"]
            busy = 0.2 + 0.7 * math.exp(-((hour - 10) ** 2) / 10) + 0.5 * math.exp(-((hour - 19) ** 2) / 4)
            return float(max(0, min(cap, round(cap * (1 - min(busy, 0.98)) + self.noise * 3))))
        else:
            v = base + self.noise
        return round(max(v, 0.0), 1)


def history(db: Database, ids: dict[str, Any], *, now: datetime, progress: Any = None) -> int:
    """Write ``HISTORY_DAYS`` of observations for every demo station; returns how many."""
    spec = load_spec()
    rng = random.Random(30)  # noqa: S311 - demo data, not security
    start = (now - timedelta(days=HISTORY_DAYS)).replace(second=0, microsecond=0)
    start -= timedelta(minutes=start.minute % STEP_MINUTES)
    steps = HISTORY_DAYS * 24 * 60 // STEP_MINUTES
    total = 0
    stations = [st for st in spec["stations"] if st["key"] in ids]
    for n, st in enumerate(stations):
        with db.session() as s:
            streams = {(ds.observed_property.properties or {}).get("code"): ds for ds in s.scalars(
                sa.select(Datastream).join(ObservedProperty).where(Datastream.thing_id == ids[st["key"]]))}
            batch: list[ingest.ObservationIn] = []
            for code, ds in streams.items():
                if code is None:
                    continue
                model = Model(st, code, rng, start)
                foi = service.feature_for_datastream(s, ds)
                for i in range(steps + 1):
                    t = start + timedelta(minutes=i * STEP_MINUTES)
                    batch.append(ingest.ObservationIn(datastream_id=ds.id, phenomenon_time=t,
                                                      result=model.value(t), feature_of_interest_id=foi))
            ingest.store_observations(s, actor=SYSTEM, observations=batch,
                                      datastreams={d.id: d for d in streams.values()},
                                      audit_action="sensing.observation.demo")
            total += len(batch)
        if progress:
            progress("Dữ liệu quan trắc mẫu", n + 1, len(stations))
    return total


def load(db: Database, settings: Any, progress: Any) -> None:
    """Demo hook: the stations, their thresholds and four days of history ending now."""
    progress("Trạm quan trắc mẫu", None, None)
    ids = ensure_stations(db)
    if ids:
        history(db, ids, now=clock.now(), progress=progress)

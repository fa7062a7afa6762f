"""Writes of the sensing module: SensorThings create / update / delete (with deep insert), DataArray
observations, device credentials, thresholds and raw-data retention.

Every function takes ``session`` and a keyword-only ``actor`` and works in the caller's transaction:
it changes rows, writes an audit row (``core.audit.record``) and publishes its event
(``core.bus.publish``), so a failure leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import deque
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smartprovince.core import audit, bus, clock
from smartprovince.core.errors import BadRequest, Forbidden, NotFound, ValidationProblem
from smartprovince.core.security import Actor
from smartprovince.sensing import ingest
from smartprovince.sensing.models import (
    Alert,
    Datastream,
    FeatureOfInterest,
    HistoricalLocation,
    Location,
    Observation,
    ObservedProperty,
    Sensor,
    Thing,
    Threshold,
)
from smartprovince.sensing.sta import DATE_THEN_T, SETS, EntitySet, parse_interval, parse_time, to_json

TOPIC_NAMES = {
    "Things": "thing", "Locations": "location", "HistoricalLocations": "historical_location",
    "Datastreams": "datastream", "Sensors": "sensor", "ObservedProperties": "observed_property",
    "Observations": "observation", "FeaturesOfInterest": "feature_of_interest",
}
"""Event topics are ``sensing.<name>.created|updated|deleted`` (observations: ``sensing.observation.received``)."""


def _event(session: Session, actor: Actor, es: EntitySet, row_id: int, verb: str, data: dict[str, Any] | None = None,
           ) -> None:
    name = TOPIC_NAMES[es.name]
    audit.record(session, actor=actor, action=f"sensing.{name}.{verb}", object_type=f"sensing.{name}",
                 object_id=str(row_id), data=data)
    bus.publish(session, f"sensing.{name}.{verb}d" if verb.endswith("e") else f"sensing.{name}.{verb}ed",
                {"id": row_id, **(data or {})}, key=str(row_id))


def _only_users(actor: Actor, what: str) -> None:
    if ingest.device_thing_id(actor) is not None:
        raise Forbidden(f"A device credential may only add observations, not {what}.")


# ------------------------------------------------------------------------------------------ properties

_ALLOWED = {
    "Things": {"name", "description", "properties"},
    "Locations": {"name", "description", "properties", "encodingType", "location"},
    "HistoricalLocations": {"time"},
    "Datastreams": {"name", "description", "properties", "observationType", "unitOfMeasurement", "observedArea",
                    "phenomenonTime", "resultTime"},
    "Sensors": {"name", "description", "properties", "encodingType", "metadata"},
    "ObservedProperties": {"name", "description", "properties", "definition"},
    "Observations": {"phenomenonTime", "resultTime", "result", "resultQuality", "validTime", "parameters"},
    "FeaturesOfInterest": {"name", "description", "properties", "encodingType", "feature"},
}
_REQUIRED = {
    "Things": {"name"},
    "Locations": {"name", "encodingType", "location"},
    "HistoricalLocations": {"time"},
    "Datastreams": {"name", "unitOfMeasurement", "observationType"},
    "Sensors": {"name", "encodingType"},
    "ObservedProperties": {"name", "definition"},
    "Observations": {"result"},
    "FeaturesOfInterest": {"name", "encodingType", "feature"},
}


def _check_keys(es: EntitySet, body: dict[str, Any], *, creating: bool) -> None:
    for key in body:
        if key.startswith("@iot.") or key.endswith("@iot.navigationLink") or key in ("id",):
            continue
        if key not in _ALLOWED[es.name] and key not in es.navs:
            raise BadRequest(f"{es.singular} has no property {key!r}.")
    if creating:
        for key in _REQUIRED[es.name]:
            if body.get(key) is None:
                raise BadRequest(f"{es.singular} needs {key!r}.")


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    value = body[key]
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be text.")
    if len(value) > limit:
        raise BadRequest(f"{key} is longer than {limit} characters.")
    return value


def _obj(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = body[key]
    if value is not None and not isinstance(value, dict):
        raise BadRequest(f"{key} must be a JSON object.")
    return value


def _apply_props(es: EntitySet, row: Any, body: dict[str, Any]) -> None:
    """Copy the SensorThings properties present in ``body`` onto ``row`` (validated)."""
    for key in body:
        if key == "name":
            row.name = _text(body, key, 300)
        elif key == "description":
            row.description = _text(body, key, 20000) if body[key] is not None else ""
        elif key == "properties":
            row.properties = _obj(body, key)
        elif key == "encodingType":
            row.encoding_type = _text(body, key, 100)
        elif key == "definition":
            row.definition = _text(body, key, 500)
        elif key == "observationType":
            row.observation_type = _text(body, key, 200)
        elif key == "unitOfMeasurement":
            unit = _obj(body, key)
            if unit is None:
                raise BadRequest("unitOfMeasurement must be an object with name, symbol and definition.")
            row.unit_of_measurement = unit
        elif key == "observedArea":
            row.observed_area = _obj(body, key)
        elif key in ("location", "feature"):
            value = body[key]
            if not isinstance(value, dict | list | str):
                raise BadRequest(f"{key} must be GeoJSON.")
            if isinstance(value, dict) and "type" in value:
                _check_geojson(value, key)
            setattr(row, key, value)
        elif key == "metadata":
            row.sensor_metadata = body[key]
        elif key == "time":
            row.time = parse_time(body[key], "time")
        elif key == "phenomenonTime" and es.model is Datastream:
            if body[key] is None:
                row.phenomenon_start = row.phenomenon_end = None
            else:
                row.phenomenon_start, end = parse_interval(body[key], key)
                row.phenomenon_end = end or row.phenomenon_start
        elif key == "resultTime" and es.model is Datastream:
            if body[key] is None:
                row.result_start = row.result_end = None
            else:
                row.result_start, end = parse_interval(body[key], key)
                row.result_end = end or row.result_start


def _get(session: Session, es: EntitySet, ident: Any) -> Any:
    if isinstance(ident, bool) or not isinstance(ident, int | str):
        raise BadRequest(f"@iot.id of {es.singular} must be a number.")
    try:
        value = int(ident)
    except ValueError:
        raise NotFound(f"No {es.singular} with id {ident!r}.") from None
    row = session.get(es.model, value) if 0 <= value < 2**62 else None
    if row is None:
        raise NotFound(f"No {es.singular} with id {value}.")
    return row


def _link_or_create(session: Session, *, actor: Actor, es: EntitySet, body: Any, parent: tuple[str, Any] | None = None,
                    ) -> Any:
    """A nested entity: ``{"@iot.id": 3}`` links an existing one; anything else is created (deep insert)."""
    if not isinstance(body, dict):
        raise BadRequest(f"{es.singular} must be a JSON object.")
    if "@iot.id" in body:
        return _get(session, es, body["@iot.id"])
    return create_entity(session, actor=actor, es=es, body=body, parent=parent)


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"{key} must be a JSON array.")
    return value


# ------------------------------------------------------------------------------------------ create


def create_entity(session: Session, *, actor: Actor, es: EntitySet, body: Any,
                  parent: tuple[str, Any] | None = None) -> Any:
    """Create one entity of ``es`` from SensorThings JSON, with its nested entities (deep insert).

    ``parent`` is ``(navigation name, row)`` when the POST went to a nested path, for example
    ``("Thing", thing)`` for ``POST Things(1)/Datastreams``. Returns the new row.
    """
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    if es.model is Observation:
        return _create_observation(session, actor=actor, body=body, parent=parent)
    _only_users(actor, f"create {es.name}")
    _check_keys(es, body, creating=True)
    row = es.model()
    if es.model is not HistoricalLocation:
        row.description = ""
    if es.model is Thing:
        row.is_public = True
    _apply_props(es, row, body)
    m = es.model
    # Linked entities are looked up before the new row may be flushed (it is not complete yet).
    with session.no_autoflush:
        if m is Datastream:
            thing = _nav_one(session, actor, es, body, "Thing", parent)
            sensor = _nav_one(session, actor, es, body, "Sensor", parent)
            observed_property = _nav_one(session, actor, es, body, "ObservedProperty", parent)
            row.thing, row.sensor, row.observed_property = thing, sensor, observed_property
        if m is HistoricalLocation:
            row.thing = _nav_one(session, actor, es, body, "Thing", parent)
    session.add(row)
    session.flush()
    if m is Thing:
        locs = [_link_or_create(session, actor=actor, es=SETS["Locations"], body=b) for b in _list(body, "Locations")]
        if parent is not None and parent[0] == "Locations":
            locs.append(parent[1])
        if locs:
            row.locations = locs
            session.add(HistoricalLocation(thing=row, time=clock.now(), locations=list(locs)))
        for b in _list(body, "Datastreams"):
            _link_child(session, actor, SETS["Datastreams"], b, ("Thing", row))
        for b in _list(body, "HistoricalLocations"):
            _link_child(session, actor, SETS["HistoricalLocations"], b, ("Thing", row))
    elif m is Location:
        things = [_link_or_create(session, actor=actor, es=SETS["Things"], body=b) for b in _list(body, "Things")]
        if parent is not None and parent[0] == "Things":
            things.append(parent[1])
        for thing in things:
            thing.locations = [row]
            session.add(HistoricalLocation(thing=thing, time=clock.now(), locations=[row]))
    elif m is HistoricalLocation:
        locs = [_link_or_create(session, actor=actor, es=SETS["Locations"], body=b) for b in _list(body, "Locations")]
        if parent is not None and parent[0] == "Locations":
            locs.append(parent[1])
        row.locations = locs
    elif m in (Sensor, ObservedProperty):
        back = "Sensor" if m is Sensor else "ObservedProperty"
        for b in _list(body, "Datastreams"):
            _link_child(session, actor, SETS["Datastreams"], b, (back, row))
    elif m is FeatureOfInterest:
        for b in _list(body, "Observations"):
            _link_child(session, actor, SETS["Observations"], b, ("FeatureOfInterest", row))
    elif m is Datastream:
        for b in _list(body, "Observations"):
            _link_child(session, actor, SETS["Observations"], b, ("Datastream", row))
    session.flush()
    _event(session, actor, es, row.id, "create", {"name": getattr(row, "name", None)})
    return row


def _link_child(session: Session, actor: Actor, es: EntitySet, body: Any, parent: tuple[str, Any]) -> Any:
    """A nested to-many item: link an existing entity to ``parent`` or create it under ``parent``."""
    if isinstance(body, dict) and "@iot.id" in body:
        child = _get(session, es, body["@iot.id"])
        attr = {"Thing": "thing", "Sensor": "sensor", "ObservedProperty": "observed_property",
                "Datastream": "datastream", "FeatureOfInterest": "feature_of_interest"}[parent[0]]
        setattr(child, attr, parent[1])
        return child
    return create_entity(session, actor=actor, es=es, body=body, parent=parent)


def _nav_one(session: Session, actor: Actor, es: EntitySet, body: dict[str, Any], name: str,
             parent: tuple[str, Any] | None) -> Any:
    if parent is not None and parent[0] == name:
        return parent[1]
    if body.get(name) is None:
        raise BadRequest(f"{es.singular} needs {name} (a nested entity or {{\"@iot.id\": …}}).")
    return _link_or_create(session, actor=actor, es=SETS[es.navs[name].target], body=body[name])


def _create_observation(session: Session, *, actor: Actor, body: dict[str, Any],
                        parent: tuple[str, Any] | None) -> Observation:
    es = SETS["Observations"]
    _check_keys(es, body, creating=True)
    if parent is not None and parent[0] == "Datastream":
        ds = parent[1]
    elif isinstance(body.get("Datastream"), dict) and "@iot.id" in body["Datastream"]:
        ds = _get(session, SETS["Datastreams"], body["Datastream"]["@iot.id"])
    else:
        raise BadRequest("An Observation needs its Datastream ({\"@iot.id\": …}).")
    foi_id = None
    if parent is not None and parent[0] == "FeatureOfInterest":
        foi_id = parent[1].id
    elif body.get("FeatureOfInterest") is not None:
        foi_id = _link_or_create(session, actor=actor, es=SETS["FeaturesOfInterest"], body=body["FeatureOfInterest"]).id
    else:
        foi_id = feature_for_datastream(session, ds)
    obs = parse_observation(body, ds.id, foi_id)
    ingest.check_datastreams(session, actor, {ds.id})
    ids = ingest.store_observations(session, actor=actor, observations=[obs], datastreams={ds.id: ds})
    return session.get_one(Observation, ids[0])


def parse_observation(body: dict[str, Any], datastream_id: int, foi_id: int | None) -> ingest.ObservationIn:
    """Turn SensorThings Observation JSON into an :class:`ingest.ObservationIn` (times checked)."""
    if "result" not in body:
        raise BadRequest("An Observation needs a result.")
    if body.get("phenomenonTime") is not None:
        start, end = parse_interval(body["phenomenonTime"], "phenomenonTime")
    else:
        start, end = clock.now(), None
    valid = parse_interval(body["validTime"], "validTime") if body.get("validTime") is not None else (None, None)
    params = body.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise BadRequest("parameters must be a JSON object.")
    return ingest.ObservationIn(
        datastream_id=datastream_id, phenomenon_time=start, phenomenon_end=end, result=body["result"],
        result_time=parse_time(body["resultTime"], "resultTime") if body.get("resultTime") is not None else None,
        result_quality=body.get("resultQuality"), valid_start=valid[0], valid_end=valid[1], parameters=params,
        feature_of_interest_id=foi_id)


def feature_for_datastream(session: Session, ds: Datastream) -> int | None:
    """The FeatureOfInterest made from the Thing's Location (created once), as SensorThings asks."""
    thing = ds.thing
    if not thing.locations:
        return None
    loc = thing.locations[0]
    marker = f"Location({loc.id})"
    found = session.scalar(sa.select(FeatureOfInterest.id).where(
        FeatureOfInterest.description == marker, FeatureOfInterest.name == loc.name).limit(1))
    if found is not None:
        return found
    foi = FeatureOfInterest(name=loc.name, description=marker, encoding_type=loc.encoding_type, feature=loc.location)
    session.add(foi)
    session.flush()
    return foi.id


def _check_geojson(value: dict[str, Any], what: str) -> None:
    """Refuse GeoJSON that shapely cannot read: the geospatial filters would skip it without a word."""
    from shapely.geometry import shape

    geometry = value.get("geometry") if value.get("type") == "Feature" else value
    try:
        shape(geometry)
    except Exception:  # noqa: BLE001 - shapely raises many kinds (ValueError, TypeError, GEOSException, ...)
        raise BadRequest(f"{what} is not a GeoJSON geometry shapely can read (type and coordinates).") from None


def create_observations_data_array(session: Session, *, actor: Actor, body: Any) -> list[str | int]:
    """The DataArray extension (``POST CreateObservations``): many observations per datastream in one call.

    Returns, per observation, its new id; the whole request is one transaction (all or nothing).
    """
    if not isinstance(body, list):
        raise BadRequest("CreateObservations takes a JSON array of {Datastream, components, dataArray}.")
    blocks: list[ingest.PlainBlock | list[ingest.ObservationIn]] = []
    ds_ids: set[int] = set()
    foi_ids: set[int] = set()
    for block in body:
        if not isinstance(block, dict) or not isinstance(block.get("Datastream"), dict):
            raise BadRequest("Each item needs a Datastream ({\"@iot.id\": …}).")
        raw_id = block["Datastream"].get("@iot.id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, int):
            raise BadRequest("Datastream @iot.id must be a number.")
        comps = block.get("components")
        rows = block.get("dataArray")
        if not isinstance(comps, list) or not isinstance(rows, list):
            raise BadRequest("Each item needs components and dataArray arrays.")
        if "result" not in comps:
            raise BadRequest("components must include result.")
        unknown = set(comps) - {"phenomenonTime", "result", "resultTime", "resultQuality", "validTime",
                                "parameters", "FeatureOfInterest/id", "id"}
        if unknown:
            raise BadRequest(f"Unknown component {sorted(unknown)[0]!r}.")
        idx = {c: i for i, c in enumerate(comps)}
        ds_ids.add(raw_id)
        if comps == ["phenomenonTime", "result"]:
            plain = plain_block(rows, raw_id)
            if plain is not None:
                blocks.append(plain)
                continue
        items: list[ingest.ObservationIn] = []
        for values in rows:
            if not isinstance(values, list) or len(values) != len(comps):
                raise BadRequest("Each dataArray row must have one value per component.")
            item: dict[str, Any] = {c: values[i] for c, i in idx.items() if c not in ("FeatureOfInterest/id", "id")}
            foi = values[idx["FeatureOfInterest/id"]] if "FeatureOfInterest/id" in idx else None
            if foi is not None:
                if isinstance(foi, bool) or not isinstance(foi, int) or not 0 < foi < 2**63:
                    raise BadRequest(f"FeatureOfInterest/id must be the id of a FeatureOfInterest: {foi!r}.")
                foi_ids.add(foi)
            items.append(_fast_observation(item, raw_id, foi))
        blocks.append(items)
    datastreams = ingest.check_datastreams(session, actor, ds_ids)
    if foi_ids:
        known = set(session.scalars(sa.select(FeatureOfInterest.id).where(FeatureOfInterest.id.in_(foi_ids))))
        if foi_ids - known:
            raise BadRequest(f"No FeatureOfInterest with id {min(foi_ids - known)}.")
    default_foi: dict[int, int | None] = {}

    def foi_of(ds_id: int) -> int | None:
        if ds_id not in default_foi:
            default_foi[ds_id] = feature_for_datastream(session, datastreams[ds_id])
        return default_foi[ds_id]

    if all(isinstance(b, ingest.PlainBlock) for b in blocks):
        plain_blocks = [b for b in blocks if isinstance(b, ingest.PlainBlock)]
        for p in plain_blocks:
            p.feature_of_interest_id = foi_of(p.datastream_id)
        return list(ingest.store_blocks(session, actor=actor, blocks=plain_blocks, datastreams=datastreams,
                                        audit_action="sensing.observation.create_many"))
    all_obs: list[ingest.ObservationIn] = []
    for b in blocks:
        if isinstance(b, ingest.PlainBlock):
            all_obs.extend(ingest.ObservationIn(b.datastream_id, ingest.from_stamp(t), v)
                           for t, v in zip(b.stamps, b.values, strict=True))
        else:
            all_obs.extend(b)
    for o in all_obs:
        if o.feature_of_interest_id is None:
            o.feature_of_interest_id = foi_of(o.datastream_id)
    return list(ingest.store_observations(session, actor=actor, observations=all_obs, datastreams=datastreams,
                                          audit_action="sensing.observation.create_many"))


_Z_SHAPE = ((4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "Z"), (20, "\n"))
"""Fixed characters of the usual device time ``YYYY-MM-DDTHH:MM:SSZ`` and its line end, by position."""


def plain_block(rows: list[Any], ds_id: int) -> ingest.PlainBlock | None:
    """The common DataArray shape ``[time, number]`` parsed into columns; ``None`` sends the block to
    the general parser (which gives the precise error).

    When every row is a ``[text, number]`` list with times written ``YYYY-MM-DDTHH:MM:SSZ`` (what
    devices send), the block is checked and converted with whole-column operations (``map``, strided
    slices of the joined times, one ``replace``) instead of Python code per row; any
    other block takes the row-by-row loop below. Both give the same result.
    """
    fast = _plain_block_columns(rows, ds_id)
    return fast if fast is not None else _plain_block_rows(rows, ds_id)


def _plain_block_columns(rows: list[Any], ds_id: int) -> ingest.PlainBlock | None:
    if not rows or set(map(type, rows)) != {list} or set(map(len, rows)) != {2}:
        return None
    times, raw_values = zip(*rows, strict=True)
    if set(map(type, times)) != {str}:
        return None
    kinds = set(map(type, raw_values))
    if not kinds <= {float, int}:
        return None  # bool, text, null, ...: the row loop refuses them
    if set(map(len, times)) != {20}:
        return None  # another time format (offset, fraction, ...), or a bad one
    joined = "\n".join(times) + "\n"
    n = len(times)
    for position, char in _Z_SHAPE:
        if joined[position::21] != char * n:
            return None
    try:
        # With the separators in place, fromisoformat checks the digits, the ranges and the calendar.
        deque(map(datetime.fromisoformat, times), maxlen=0)
    except ValueError:
        return None
    values = list(map(float, raw_values)) if int in kinds else list(raw_values)
    total = sum(values)
    if total - total != 0.0:
        return None  # an infinite or NaN value somewhere (orjson gives none, other callers might)
    stamps = joined.replace("T", " ").replace("Z", ".000000").split("\n")
    stamps.pop()
    return ingest.PlainBlock(ds_id, stamps, values)


def _plain_block_rows(rows: list[Any], ds_id: int) -> ingest.PlainBlock | None:
    stamps: list[str] = []
    values: list[float] = []
    add_stamp, add_value = stamps.append, values.append
    parse = datetime.fromisoformat
    utc = UTC
    try:
        for t, v in rows:
            tv = type(v)
            if tv is int:
                v = float(v)
            elif tv is not float or v != v or v in (_INF, -_INF):
                return None
            when = parse(t)  # validates the whole text (raises on a bad date)
            if (when.tzinfo is utc and len(t) == 20 and t[19] == "Z" and t[10] == "T" and t[4] == "-"
                    and t[7] == "-" and t[13] == ":" and t[16] == ":"):
                # The usual 'YYYY-MM-DDTHH:MM:SSZ': the stored text is a slice of it.
                add_stamp(t[:10] + " " + t[11:19] + ".000000")
            elif when.tzinfo is None or DATE_THEN_T.match(t) is None:
                return None  # the general path refuses it with its reason
            else:
                add_stamp(ingest.stamp(when))
            add_value(v)
    except (TypeError, ValueError, OverflowError):
        return None
    return ingest.PlainBlock(ds_id, stamps, values)


_INF = float("inf")


def _fast_observation(item: dict[str, Any], ds_id: int, foi: Any) -> ingest.ObservationIn:
    pt = item.get("phenomenonTime")
    if isinstance(pt, str) and "/" not in pt:
        start = parse_time(pt, "phenomenonTime")
        if len(item) == 2 and "result" in item:
            return ingest.ObservationIn(datastream_id=ds_id, phenomenon_time=start, result=item["result"],
                                        feature_of_interest_id=foi if isinstance(foi, int) else None)
    obs = parse_observation(item, ds_id, foi if isinstance(foi, int) else None)
    return obs


# ------------------------------------------------------------------------------------------ update


def update_entity(session: Session, *, actor: Actor, es: EntitySet, row: Any, body: Any) -> Any:
    """Change the properties and links given in ``body`` (PATCH / PUT merge semantics)."""
    _only_users(actor, f"change {es.name}")
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    _check_keys(es, body, creating=False)
    for key in ("name", "encodingType", "definition", "observationType", "unitOfMeasurement", "time"):
        if key in body and body[key] is None:
            raise BadRequest(f"{key} cannot be null.")
    m = es.model
    old_times: list[datetime] = []
    if m is Observation:
        old_times = [row.phenomenon_time]
        merged = {**to_json(es, row), **{k: v for k, v in body.items() if k in _ALLOWED["Observations"]}}
        obs = parse_observation(merged, row.datastream_id, row.feature_of_interest_id)
        number, other = ingest.split_result(obs.result)
        row.phenomenon_time, row.phenomenon_end = obs.phenomenon_time, obs.phenomenon_end
        row.result_time, row.result_number, row.result_json = obs.result_time, number, other
        row.result_quality, row.valid_start, row.valid_end = obs.result_quality, obs.valid_start, obs.valid_end
        row.parameters = obs.parameters
        if isinstance(body.get("Datastream"), dict):
            new_ds = _get(session, SETS["Datastreams"], body["Datastream"].get("@iot.id"))
            old_times.append(row.phenomenon_time)
            ingest.recompute_rollups(session, row.datastream_id, old_times)
            row.datastream_id = new_ds.id
        if isinstance(body.get("FeatureOfInterest"), dict):
            row.feature_of_interest_id = _link_or_create(session, actor=actor, es=SETS["FeaturesOfInterest"],
                                                         body=body["FeatureOfInterest"]).id
        session.flush()
        ingest.recompute_rollups(session, row.datastream_id, [*old_times, row.phenomenon_time])
    else:
        _apply_props(es, row, body)
    if m is Thing and "Locations" in body:
        locs = [_link_or_create(session, actor=actor, es=SETS["Locations"], body=b) for b in _list(body, "Locations")]
        row.locations = locs
        session.add(HistoricalLocation(thing=row, time=clock.now(), locations=list(locs)))
    if m is Datastream:
        for name, attr in (("Thing", "thing"), ("Sensor", "sensor"), ("ObservedProperty", "observed_property")):
            if body.get(name) is not None:
                setattr(row, attr, _link_or_create(session, actor=actor, es=SETS[es.navs[name].target],
                                                   body=body[name]))
    if m is HistoricalLocation:
        if body.get("Thing") is not None:
            row.thing = _link_or_create(session, actor=actor, es=SETS["Things"], body=body["Thing"])
        if "Locations" in body:
            row.locations = [_link_or_create(session, actor=actor, es=SETS["Locations"], body=b)
                             for b in _list(body, "Locations")]
    session.flush()
    _event(session, actor, es, row.id, "update", {"fields": sorted(k for k in body if not k.startswith("@"))})
    return row


def apply_json_patch(document: dict[str, Any], ops: Any) -> dict[str, Any]:
    """Apply RFC 6902 JSON Patch operations (add, replace, remove, test, copy, move) to ``document``."""
    import copy

    if not isinstance(ops, list):
        raise BadRequest("A JSON Patch is an array of operations.")
    doc = copy.deepcopy(document)

    def split(path: Any) -> list[str]:
        if not isinstance(path, str) or not path.startswith("/"):
            raise BadRequest(f"JSON Patch path must start with '/': {path!r}.")
        return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]

    def parent_of(parts: list[str]) -> tuple[Any, str]:
        cur: Any = doc
        for p in parts[:-1]:
            if isinstance(cur, dict) and p in cur:
                cur = cur[p]
            elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
                cur = cur[int(p)]
            else:
                raise BadRequest(f"JSON Patch path not found: /{'/'.join(parts)}.")
        return cur, parts[-1]

    def get(parts: list[str]) -> Any:
        cur, last = parent_of(parts)
        try:
            return cur[int(last)] if isinstance(cur, list) else cur[last]
        except (KeyError, IndexError, ValueError):
            raise BadRequest(f"JSON Patch path not found: /{'/'.join(parts)}.") from None

    def put(parts: list[str], value: Any, *, insert: bool) -> None:
        cur, last = parent_of(parts)
        if isinstance(cur, list):
            if last == "-":
                cur.append(value)
            elif insert:
                cur.insert(int(last), value)
            else:
                cur[int(last)] = value
        elif isinstance(cur, dict):
            cur[last] = value
        else:
            raise BadRequest("JSON Patch target is not a container.")

    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise BadRequest("Each JSON Patch operation needs op and path.")
        parts = split(op["path"])
        kind = op["op"]
        if kind in ("add", "replace"):
            if "value" not in op:
                raise BadRequest(f"JSON Patch {kind} needs a value.")
            if kind == "replace":
                get(parts)
            put(parts, op["value"], insert=kind == "add")
        elif kind == "remove":
            get(parts)
            cur, last = parent_of(parts)
            del cur[int(last) if isinstance(cur, list) else last]
        elif kind == "test":
            if get(parts) != op.get("value"):
                raise ValidationProblem("JSON Patch test failed.")
        elif kind in ("copy", "move"):
            value = get(split(op.get("from")))
            if kind == "move":
                src = split(op.get("from"))
                cur, last = parent_of(src)
                del cur[int(last) if isinstance(cur, list) else last]
            put(parts, value, insert=True)
        else:
            raise BadRequest(f"Unknown JSON Patch operation {kind!r}.")
    return doc


# ------------------------------------------------------------------------------------------ delete


def delete_entity(session: Session, *, actor: Actor, es: EntitySet, row: Any) -> None:
    """Delete an entity and what SensorThings says goes with it (a Datastream's Observations …)."""
    _only_users(actor, f"delete {es.name}")
    m = es.model
    ident = row.id
    if m in (Sensor, ObservedProperty):
        col = Datastream.sensor_id if m is Sensor else Datastream.observed_property_id
        session.execute(sa.delete(Datastream).where(col == ident))
    if m is FeatureOfInterest:
        session.execute(sa.delete(Observation).where(Observation.feature_of_interest_id == ident))
    if m is Observation:
        ds_id, t = row.datastream_id, row.phenomenon_time
        session.delete(row)
        session.flush()
        ingest.recompute_rollups(session, ds_id, [t])
    else:
        session.delete(row)
    session.flush()
    session.expire_all()
    _event(session, actor, es, ident, "delete")


# ------------------------------------------------------------------------------------------ devices


DEVICE_PREFIX = "thing-"
"""Device credentials are sent as HTTP Basic (or MQTT) user ``thing-<id>`` with the issued secret."""


def issue_device_credential(session: Session, *, actor: Actor, thing_id: int) -> str:
    """Make a new secret for a Thing (the old one stops working) and return it; only its hash is kept."""
    thing = session.get(Thing, thing_id)
    if thing is None:
        raise NotFound(f"No Thing with id {thing_id}.")
    secret = "sd_" + secrets.token_urlsafe(24)
    thing.device_secret_hash = hashlib.sha256(secret.encode()).hexdigest()
    audit.record(session, actor=actor, action="sensing.device.issue", object_type="sensing.thing",
                 object_id=str(thing_id))
    bus.publish(session, "sensing.device.issued", {"thing_id": thing_id}, key=str(thing_id))
    return secret


def device_actor(session: Session, username: str, password: str) -> Actor | None:
    """The device actor for Basic credentials ``thing-<id>:<secret>``, or ``None`` when they do not match."""
    if not username.startswith(DEVICE_PREFIX):
        return None
    try:
        thing_id = int(username[len(DEVICE_PREFIX):])
    except ValueError:
        return None
    stored = session.scalar(sa.select(Thing.device_secret_hash).where(Thing.id == thing_id))
    if not stored:
        return None
    if not hmac.compare_digest(stored, hashlib.sha256(password.encode()).hexdigest()):
        return None
    return Actor(id=None, username=username, kind="system", display_name=f"Thing {thing_id}",
                 auth_method="basic", extra={"device_thing_id": thing_id})


# ------------------------------------------------------------------------------------------ thresholds


def _check_threshold(session: Session, *, observed_property_id: int, kind: str, value: float,
                     clear_value: float | None, thing_id: int | None, severity: str) -> None:
    if kind not in ("above", "below", "rate"):
        raise ValidationProblem("kind must be above, below or rate.")
    if severity not in ("info", "warning", "critical"):
        raise ValidationProblem("severity must be info, warning or critical.")
    if session.get(ObservedProperty, observed_property_id) is None:
        raise ValidationProblem(f"No ObservedProperty with id {observed_property_id}.")
    if thing_id is not None and session.get(Thing, thing_id) is None:
        raise ValidationProblem(f"No Thing with id {thing_id}.")
    if clear_value is not None:
        if kind in ("above", "rate") and clear_value > value:
            raise ValidationProblem("For above and rate, clear_value must not be higher than value (hysteresis).")
        if kind == "below" and clear_value < value:
            raise ValidationProblem("For below, clear_value must not be lower than value (hysteresis).")


def create_threshold(session: Session, *, actor: Actor, name: str, observed_property_id: int, kind: str,
                     value: float, clear_value: float | None = None, thing_id: int | None = None,
                     window_minutes: int | None = None, level: str = "", severity: str = "warning",
                     is_active: bool = True) -> Threshold:
    """Add an alarm rule (ngưỡng cảnh báo); it applies to observations stored from now on."""
    _check_threshold(session, observed_property_id=observed_property_id, kind=kind, value=value,
                     clear_value=clear_value, thing_id=thing_id, severity=severity)
    if kind == "rate" and not window_minutes:
        window_minutes = 60
    row = Threshold(name=name, observed_property_id=observed_property_id, thing_id=thing_id, kind=kind, value=value,
                    clear_value=clear_value, window_minutes=window_minutes if kind == "rate" else None, level=level,
                    severity=severity, is_active=is_active, created_at=clock.now())
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="sensing.threshold.create", object_type="sensing.threshold",
                 object_id=row.id, data={"name": name, "kind": kind, "value": value, "clear_value": clear_value})
    bus.publish(session, "sensing.threshold.created", {"id": row.id, "name": name}, key=row.id)
    return row


THRESHOLD_FIELDS = ("name", "observed_property_id", "thing_id", "kind", "value", "clear_value", "window_minutes",
                    "level", "severity", "is_active")


def update_threshold(session: Session, *, actor: Actor, threshold_id: str, changes: dict[str, Any]) -> Threshold:
    """Change an alarm rule. Open alerts of the rule stay open; they clear by the new rule's values.

    ``changes`` holds only the fields to change (names from ``THRESHOLD_FIELDS``).
    """
    row = session.get(Threshold, threshold_id)
    if row is None:
        raise NotFound("No such threshold.")
    unknown = set(changes) - set(THRESHOLD_FIELDS)
    if unknown:
        raise ValidationProblem(f"Unknown field {sorted(unknown)[0]}.")
    merged = {f: changes.get(f, getattr(row, f)) for f in THRESHOLD_FIELDS}
    _check_threshold(session, observed_property_id=merged["observed_property_id"], kind=merged["kind"],
                     value=merged["value"], clear_value=merged["clear_value"], thing_id=merged["thing_id"],
                     severity=merged["severity"])
    if merged["kind"] == "rate" and not merged["window_minutes"]:
        merged["window_minutes"] = 60
    if merged["kind"] != "rate":
        merged["window_minutes"] = None
    before = {f: getattr(row, f) for f in THRESHOLD_FIELDS}
    for f, v in merged.items():
        setattr(row, f, v)
    diff = {f: [before[f], merged[f]] for f in THRESHOLD_FIELDS if before[f] != merged[f]}
    session.flush()
    audit.record(session, actor=actor, action="sensing.threshold.update", object_type="sensing.threshold",
                 object_id=row.id, data={"changes": diff})
    bus.publish(session, "sensing.threshold.updated", {"id": row.id, "name": row.name, "changed": sorted(diff)},
                key=row.id)
    return row


AQI_PRESET = (("VN_AQI Kém", 2, "info"), ("VN_AQI Xấu", 3, "warning"), ("VN_AQI Rất xấu", 4, "critical"),
              ("VN_AQI Nguy hại", 5, "critical"))
"""Bands of the VN_AQI preset: name, index of the breakpoint in ``aqi.BREAKPOINTS`` (AQI 101, 151, 201, 301)."""

WATER_LEVELS = (("Báo động I", "info"), ("Báo động II", "warning"), ("Báo động III", "critical"))
"""Flood alarm levels (cấp báo động lũ) I, II, III of a river water-level station."""


def create_aqi_band_thresholds(session: Session, *, actor: Actor, observed_property_id: int,
                               thing_id: int | None = None, hysteresis_percent: float = 10.0) -> list[Threshold]:
    """Rules at the VN_AQI band limits of one pollutant (Decision 1459/QĐ-TCMT, Table 1).

    The pollutant is the observed property's ``properties.code`` (PM2.5, PM10, O3, CO, SO2, NO2); a
    rule fires when the concentration reaches the breakpoint where the sub-index passes 100 (Kém),
    150 (Xấu), 200 (Rất xấu), 300 (Nguy hại); it clears ``hysteresis_percent`` below.
    """
    from smartprovince.sensing import aqi

    prop = session.get(ObservedProperty, observed_property_id)
    if prop is None:
        raise ValidationProblem(f"No ObservedProperty with id {observed_property_id}.")
    code = (prop.properties or {}).get("code")
    table = aqi.BREAKPOINTS.get("O3_1h" if code == "O3" else str(code))
    if table is None:
        raise ValidationProblem("VN_AQI bands exist only for PM2.5, PM10, O3, CO, SO2 and NO2 "
                                "(properties.code of the observed property).")
    if not 0 <= hysteresis_percent < 100:
        raise ValidationProblem("hysteresis_percent must be between 0 and 100.")
    return [create_threshold(session, actor=actor, name=f"{name} ({code})", observed_property_id=prop.id,
                             thing_id=thing_id, kind="above", value=float(table[i]),
                             clear_value=round(table[i] * (1 - hysteresis_percent / 100), 3), level=name,
                             severity=severity)
            for name, i, severity in AQI_PRESET]


def create_water_level_thresholds(session: Session, *, actor: Actor, observed_property_id: int, thing_id: int,
                                  levels: tuple[float, float, float], hysteresis: float = 0.0) -> list[Threshold]:
    """Rules for the flood alarm levels I, II, III of one river station (values in the datastream's unit).

    The levels must rise (I < II < III); each clears ``hysteresis`` below its level.
    """
    if not levels[0] < levels[1] < levels[2]:
        raise ValidationProblem("Alarm levels must rise: I < II < III.")
    if hysteresis < 0:
        raise ValidationProblem("hysteresis must not be negative.")
    return [create_threshold(session, actor=actor, name=name, observed_property_id=observed_property_id,
                             thing_id=thing_id, kind="above", value=value,
                             clear_value=round(value - hysteresis, 6) if hysteresis else None, level=name,
                             severity=severity)
            for (name, severity), value in zip(WATER_LEVELS, levels, strict=True)]


def delete_threshold(session: Session, *, actor: Actor, threshold_id: str) -> None:
    """Remove an alarm rule; its open alerts are cleared (with ``sensing.alert.cleared`` events)."""
    row = session.get(Threshold, threshold_id)
    if row is None:
        raise NotFound("No such threshold.")
    for alert in session.scalars(sa.select(Alert).where(Alert.threshold_id == row.id, Alert.state == "active")):
        alert.state = "cleared"
        alert.cleared_at = clock.now()
        bus.publish(session, "sensing.alert.cleared", {"alert_id": alert.id, "threshold_id": row.id,
                                                       "datastream_id": alert.datastream_id, "reason": "rule removed"})
    session.flush()
    session.delete(row)
    audit.record(session, actor=actor, action="sensing.threshold.delete", object_type="sensing.threshold",
                 object_id=threshold_id)
    bus.publish(session, "sensing.threshold.deleted", {"id": threshold_id}, key=threshold_id)

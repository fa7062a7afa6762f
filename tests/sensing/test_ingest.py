"""Ingestion behaviour: threshold alerts with hysteresis and deduplication, events, rollups, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartprovince.core.bus import OutboxEvent
from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM
from smartprovince.sensing import ingest, service
from smartprovince.sensing.models import Alert, Observation, Rollup
from smartprovince.sensing.sta import SETS

from .conftest import STA, THING, create_thing

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _post(client: Any, headers: dict[str, str], ds: int, values: list[float], start: int = 0) -> None:
    rows = [[(T0 + timedelta(minutes=10 * (start + i))).isoformat(), v] for i, v in enumerate(values)]
    r = client.post(f"{STA}/CreateObservations", headers=headers,
                    json=[{"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
                           "dataArray": rows}])
    assert r.status_code == 201, r.text


def _events(db: Database, prefix: str) -> list[dict[str, Any]]:
    with db.session() as s:
        rows = s.scalars(sa.select(OutboxEvent).where(OutboxEvent.topic.like(f"{prefix}%")).order_by(
            OutboxEvent.occurred_at, OutboxEvent.id))
        return [{"topic": e.topic, **e.payload} for e in rows]


def test_alarm_levels_raise_once_and_clear_with_hysteresis(client, writer, database) -> None:  # type: ignore[no-untyped-def]
    thing = create_thing(client, writer)
    ds = thing["Datastreams"][0]["@iot.id"]
    prop = client.get(f"{STA}/Datastreams({ds})/ObservedProperty").json()["@iot.id"]
    r = client.post("/api/v1/sensing/thresholds", headers=writer, json={
        "name": "Báo động II", "observed_property_id": prop, "thing_id": thing["@iot.id"], "kind": "above",
        "value": 5.0, "clear_value": 4.8, "level": "Báo động II", "severity": "warning"})
    assert r.status_code == 201, r.text
    _post(client, writer, ds, [4.0, 5.1, 5.4, 4.9, 5.2])  # crosses once; 4.9 is inside the hysteresis band
    alerts = client.get("/api/v1/sensing/alerts?state=active", headers=writer).json()["items"]
    assert len(alerts) == 1
    assert alerts[0]["trigger_value"] == 5.1 and alerts[0]["peak_value"] == 5.4 and alerts[0]["last_value"] == 5.2
    _post(client, writer, ds, [4.7, 5.3], start=5)  # 4.7 < 4.8 clears; 5.3 raises a new alert
    items = client.get("/api/v1/sensing/alerts", headers=writer).json()["items"]
    assert sorted(a["state"] for a in items) == ["active", "cleared"]
    topics = [e["topic"] for e in _events(database, "sensing.alert.")]
    assert topics == ["sensing.alert.raised", "sensing.alert.cleared", "sensing.alert.raised"]
    raised = _events(database, "sensing.alert.raised")[0]
    assert raised["thing"] == THING["name"] and raised["level"] == "Báo động II"
    assert raised["coordinates"] == [106.3146, 20.9373] and raised["unit"] == "µg/m³"


def test_below_and_rate_of_change_rules(client, writer) -> None:  # type: ignore[no-untyped-def]
    thing = create_thing(client, writer)
    ds = thing["Datastreams"][0]["@iot.id"]
    prop = client.get(f"{STA}/Datastreams({ds})/ObservedProperty").json()["@iot.id"]
    for rule in ({"name": "Sắp đầy", "kind": "below", "value": 10, "clear_value": 20},
                 {"name": "Lên nhanh", "kind": "rate", "value": 5, "clear_value": 2, "window_minutes": 30}):
        assert client.post("/api/v1/sensing/thresholds", headers=writer,
                           json={"observed_property_id": prop, **rule}).status_code == 201
    _post(client, writer, ds, [30, 15, 9, 12, 18, 25, 26, 27, 27, 27, 27])
    items = client.get("/api/v1/sensing/alerts", headers=writer).json()["items"]
    by_name = {a["threshold"]: a for a in items}
    assert by_name["Sắp đầy"]["state"] == "cleared" and by_name["Sắp đầy"]["peak_value"] == 9
    # 9 → 25 rises 16 within 30 minutes: raised; flat at 27 for 30 minutes: the rise drops under 2, cleared
    assert by_name["Lên nhanh"]["state"] == "cleared"
    bad = client.post("/api/v1/sensing/thresholds", headers=writer,
                      json={"name": "x", "observed_property_id": prop, "kind": "above", "value": 5, "clear_value": 6})
    assert bad.status_code == 422


def test_rollups_follow_ingestion_and_retention_keeps_them(client, writer, database) -> None:  # type: ignore[no-untyped-def]
    thing = create_thing(client, writer)
    ds = thing["Datastreams"][0]["@iot.id"]
    _post(client, writer, ds, [float(i) for i in range(12)])  # two hours, 6 values each
    series = client.get(f"/api/v1/sensing/datastreams/{ds}/series?period=hour&from=2026-03-01T00:00:00Z"
                        "&to=2026-03-01T03:00:00Z").json()
    assert [(p["count"], p["mean"], p["min"], p["max"]) for p in series["points"]] == [(6, 2.5, 0, 5), (6, 8.5, 6, 11)]
    assert [p["time"] for p in series["points"]] == ["2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z"]
    minutes = client.get(f"/api/v1/sensing/datastreams/{ds}/series?period=minute&from=2026-03-01T00:00:00Z"
                         "&to=2026-03-01T00:30:00Z").json()["points"]
    assert [p["time"] for p in minutes] == ["2026-03-01T00:00:00Z", "2026-03-01T00:10:00Z", "2026-03-01T00:20:00Z"]
    with database.session() as s:
        assert ingest.purge_raw(s, actor=SYSTEM, older_than=T0 + timedelta(hours=1)) == 6
    assert client.get(f"{STA}/Observations?$count=true&$top=0").json()["@iot.count"] == 6
    assert len(client.get(f"/api/v1/sensing/datastreams/{ds}/series?period=hour&from=2026-03-01T00:00:00Z"
                          "&to=2026-03-01T03:00:00Z").json()["points"]) == 2
    assert client.get(f"/api/v1/sensing/datastreams/{ds}/series?period=minute&from=2026-03-01T00:00:00Z"
                      "&to=2026-03-10T00:00:00Z").status_code == 400


def _new_stream(db: Database) -> int:
    with db.session() as s:
        body = {**THING, "Locations": []}
        thing = service.create_entity(s, actor=SYSTEM, es=SETS["Things"], body=body)
        return thing.datastreams[0].id


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(values=st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=30),
       split=st.integers(min_value=0, max_value=30),
       minutes=st.lists(st.integers(min_value=0, max_value=180), min_size=30, max_size=30))
def test_rollups_and_alerts_match_a_model_whatever_the_batches(database, values, split, minutes) -> None:  # type: ignore[no-untyped-def]
    """Stored in two batches in any time order, the hour rollups equal the raw aggregates, and the
    alert history equals a simple reference state machine run over the values in time order."""
    ds = _new_stream(database)
    with database.session() as s:
        prop = s.scalar(sa.text("select observed_property_id from sensing_datastream where id = :d"), {"d": ds})
        service.create_threshold(s, actor=SYSTEM, name="r", observed_property_id=prop, kind="above", value=60,
                                 clear_value=40)
    # distinct times so that "time order" is well defined
    times = [T0 + timedelta(minutes=m, seconds=i) for i, m in enumerate(minutes[: len(values)])]
    obs = [ingest.ObservationIn(datastream_id=ds, phenomenon_time=t, result=v)
           for t, v in zip(times, values, strict=False)]
    first, second = sorted(obs[:split], key=lambda o: o.phenomenon_time), sorted(obs[split:],
                                                                                   key=lambda o: o.phenomenon_time)
    for batch in (first, second):
        with database.session() as s:
            ingest.store_observations(s, actor=SYSTEM, observations=batch)
    with database.session() as s:
        roll = {r.start: (r.count, round(r.total, 6), r.minimum, r.maximum) for r in s.scalars(
            sa.select(Rollup).where(Rollup.datastream_id == ds, Rollup.period == "hour"))}
        raw: dict[datetime, list[float]] = {}
        for o in s.scalars(sa.select(Observation).where(Observation.datastream_id == ds)):
            raw.setdefault(o.phenomenon_time.replace(minute=0, second=0), []).append(o.result_number)
        assert roll == {k: (len(v), round(sum(v), 6), min(v), max(v)) for k, v in raw.items()}
        alerts = list(s.scalars(sa.select(Alert).where(Alert.datastream_id == ds).order_by(Alert.id)))
    # reference model over each batch in time order (batches arrive one after the other)
    expected, active = [], False
    for o in first + second:
        if not active and o.result >= 60:
            active = True
            expected.append([o.result, None])
        elif active and o.result < 40:
            active = False
            expected[-1][1] = o.result
    assert [a.trigger_value for a in alerts] == [e[0] for e in expected]
    assert [a.state for a in alerts] == ["cleared" if e[1] is not None else "active" for e in expected]
    assert sum(a.state == "active" for a in alerts) <= 1  # never two open alerts for one rule and stream


def test_dataarray_fast_path_stores_times_rollups_and_spans_like_the_general_path(client, writer, database) -> None:  # type: ignore[no-untyped-def]
    fast = create_thing(client, writer)["Datastreams"][0]["@iot.id"]
    general = create_thing(client, writer, {**THING, "name": "Trạm 2"})["Datastreams"][0]["@iot.id"]
    rows = [["2026-03-01T00:00:30Z", 1], ["2026-03-01T07:00:45.5+07:00", 3.0], ["2026-03-01T00:01:00Z", 2],
            ["2026-03-01T00:00:10Z", 7.25], ["2026-02-28T23:59:59.999999-00:30", 4]]
    r = client.post(f"{STA}/CreateObservations", headers=writer, json=[
        {"Datastream": {"@iot.id": fast}, "components": ["phenomenonTime", "result"], "dataArray": rows},
        # resultTime sends this block through the general parser
        {"Datastream": {"@iot.id": general}, "components": ["phenomenonTime", "result", "resultTime"],
         "dataArray": [[t, v, "2026-03-01T01:00:00Z"] for t, v in rows]}])
    assert r.status_code == 201, r.text
    assert len(r.json()) == 10

    def stored(ds: int) -> dict[str, Any]:
        obs = client.get(f"{STA}/Datastreams({ds})/Observations?$orderby=phenomenonTime&$select=phenomenonTime,result")
        meta = client.get(f"{STA}/Datastreams({ds})?$select=phenomenonTime").json()
        with database.session() as s:
            rollups = [tuple(r)[1:] for r in s.execute(sa.select(
                Rollup.datastream_id, Rollup.period, Rollup.start, Rollup.count, Rollup.total, Rollup.minimum,
                Rollup.maximum, Rollup.last_value, Rollup.last_time).where(
                Rollup.datastream_id == ds).order_by(Rollup.period, Rollup.start))]
        return {"obs": obs.json()["value"], "span": meta["phenomenonTime"], "rollups": rollups}

    a, b = stored(fast), stored(general)
    assert a == b
    assert [o["phenomenonTime"] for o in a["obs"]][:2] == ["2026-03-01T00:00:10Z", "2026-03-01T00:00:30Z"]
    assert a["span"] == "2026-03-01T00:00:10Z/2026-03-01T00:29:59.999999Z"
    minute = [r for r in a["rollups"] if r[0] == "minute"]
    assert [(r[2], r[3], r[4], r[5], r[6]) for r in minute] == [(3, 11.25, 1.0, 7.25, 3.0), (1, 2.0, 2.0, 2.0, 2.0),
                                                               (1, 4.0, 4.0, 4.0, 4.0)]
    hour = [r for r in a["rollups"] if r[0] == "hour"]
    assert [(r[2], r[6]) for r in hour] == [(5, 4.0)]


def test_dataarray_bad_rows_are_400_and_nothing_is_stored(client, writer, database) -> None:  # type: ignore[no-untyped-def]
    ds = create_thing(client, writer)["Datastreams"][0]["@iot.id"]
    for bad in (["2026-13-01T00:00:00Z", 1], ["2026-03-01T00:00:00", 1], ["2026-03-01T00:00:00Z", "x", 3],
                ["2026-03-01T00:00:00Z", 10**400], [5, 1], ["2026-03-01T00:00:00Z"]):
        rows = [["2026-03-01T00:00:00Z", 1.0], bad]
        r = client.post(f"{STA}/CreateObservations", headers=writer, json=[
            {"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"], "dataArray": rows}])
        assert r.status_code == 400, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    with database.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Observation).where(Observation.datastream_id == ds)) == 0


def _z(i: int) -> str:
    return (T0 + timedelta(seconds=7 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_dataarray_column_path_matches_the_general_path_and_sends_one_event(client, writer, database) -> None:  # type: ignore[no-untyped-def]
    """Device-style blocks (``…Z`` times, in order or not, ints and floats) take the column path; what
    is stored equals the general parser's result, and the request publishes one summary event."""
    fast = create_thing(client, writer)["Datastreams"][0]["@iot.id"]
    shuffled = create_thing(client, writer, {**THING, "name": "Trạm 3"})["Datastreams"][0]["@iot.id"]
    general = create_thing(client, writer, {**THING, "name": "Trạm 2"})["Datastreams"][0]["@iot.id"]
    rows: list[list[Any]] = [[_z(i), i % 7 if i % 3 else (i % 11) / 4] for i in range(300)]  # 35 minutes
    rows[150][1] = 99.5  # a peak inside a minute
    mixed = rows[::2] + rows[1::2]  # not in time order
    r = client.post(f"{STA}/CreateObservations", headers=writer, json=[
        {"Datastream": {"@iot.id": fast}, "components": ["phenomenonTime", "result"], "dataArray": rows},
        {"Datastream": {"@iot.id": shuffled}, "components": ["phenomenonTime", "result"], "dataArray": mixed},
        {"Datastream": {"@iot.id": general}, "components": ["phenomenonTime", "result", "resultTime"],
         "dataArray": [[t, v, "2026-03-01T01:00:00Z"] for t, v in rows]}])
    assert r.status_code == 201, r.text
    links = r.json()
    assert len(links) == 900 and links[0].endswith(")") and "/Observations(" in links[0]

    def stored(ds: int) -> dict[str, Any]:
        obs = client.get(f"{STA}/Datastreams({ds})/Observations?$orderby=phenomenonTime&$top=1000"
                         "&$select=phenomenonTime,result").json()["value"]
        meta = client.get(f"{STA}/Datastreams({ds})?$select=phenomenonTime").json()
        with database.session() as s:
            rollups = [tuple(x) for x in s.execute(sa.select(
                Rollup.period, Rollup.start, Rollup.count, Rollup.total, Rollup.minimum, Rollup.maximum,
                Rollup.last_value, Rollup.last_time).where(Rollup.datastream_id == ds).order_by(
                Rollup.period, Rollup.start))]
        return {"obs": obs, "span": meta["phenomenonTime"], "rollups": rollups}

    a, b, c = stored(fast), stored(shuffled), stored(general)
    assert a == c and b == c
    assert len(a["obs"]) == 300 and a["obs"][150] == {"phenomenonTime": _z(150), "result": 99.5}
    assert a["span"] == f"{_z(0)}/{_z(299)}"
    assert sum(x[2] for x in a["rollups"] if x[0] == "minute") == 300
    events = _events(database, "sensing.observation.received")
    assert len(events) == 1  # one summary event for the whole request
    assert events[0]["count"] == 900
    assert sorted((d["datastream_id"], d["count"]) for d in events[0]["datastreams"]) == [
        (fast, 300), (shuffled, 300), (general, 300)]


def test_dataarray_column_path_refuses_bad_device_rows(client, writer, database) -> None:  # type: ignore[no-untyped-def]
    """Rows shaped like the usual device rows but wrong are 400 problem+json; nothing is stored."""
    ds = create_thing(client, writer)["Datastreams"][0]["@iot.id"]
    good = [[_z(i), 1.5] for i in range(100)]
    for bad in (["2026-02-30T00:00:00Z", 1], ["2026-02-29T00:00:00Z", 1], ["2026-03-01T24:00:00Z", 1],
                ["2026-03-01T00:60:00Z", 1], ["２026-03-01T00:00:00Z", 1], ["2026-03-01T00:00:00ZZ", 1],
                {"t": "2026-03-01T00:00:00Z", "v": 1}, ["2026-03-01T00:00:00Z"]):
        r = client.post(f"{STA}/CreateObservations", headers=writer, json=[
            {"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
             "dataArray": [*good, bad]}])
        assert r.status_code == 400, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    with database.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Observation).where(Observation.datastream_id == ds)) == 0
    # Any JSON is a valid result (a truth or text observation): such a block leaves the column path
    # for the general one and is stored as it came.
    r = client.post(f"{STA}/CreateObservations", headers=writer, json=[
        {"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
         "dataArray": [*good, ["2026-03-02T00:00:00Z", True], ["2026-03-02T00:00:01Z", "cao"]]}])
    assert r.status_code == 201, r.text
    got = client.get(f"{STA}/Datastreams({ds})/Observations?$orderby=phenomenonTime desc&$top=2&$select=result")
    assert [o["result"] for o in got.json()["value"]] == ["cao", True]


def test_plain_block_columns_and_rows_agree() -> None:
    """The column path and the row loop give the same columns; other shapes fall back to the loop."""
    rows: list[Any] = [[_z(i), i if i % 2 else i / 3] for i in range(50)]
    fast, slow = service._plain_block_columns(rows, 7), service._plain_block_rows(rows, 7)
    assert fast is not None and slow is not None
    assert (fast.stamps, fast.values) == (slow.stamps, slow.values)
    assert fast.stamps[1] == "2026-03-01 00:00:07.000000" and all(type(v) is float for v in fast.values)
    tuples = [tuple(r) for r in rows]  # the MQTT bridge passes tuples
    assert service._plain_block_columns(tuples, 7) is None
    block = service.plain_block(tuples, 7)
    assert block is not None and block.stamps == slow.stamps
    assert service._plain_block_columns([[_z(0), float("inf")]], 7) is None
    week = service.plain_block([["2026-W09-1T00:00:00Z", 1]], 7)  # ISO week date: valid, not the column shape
    assert service._plain_block_columns([["2026-W09-1T00:00:00Z", 1]], 7) is None
    assert week is not None and week.stamps == ["2026-02-23 00:00:00.000000"]
    assert service.plain_block([[_z(0), float("nan")]], 7) is None


def test_gc_pause_is_counted_and_restores_the_collector() -> None:
    import gc

    assert gc.isenabled()
    with ingest.gc_paused():
        assert not gc.isenabled()
        with ingest.gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer user still holds it
    assert gc.isenabled()
    gc.disable()
    try:
        with ingest.gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: stays off
    finally:
        gc.enable()


def test_rollup_upsert_meets_buckets_written_by_a_recompute(database) -> None:  # type: ignore[no-untyped-def]
    """A bucket rebuilt through the ORM (after an edit) and a later batch into the same minute and
    hour end up as one row each with the merged figures (the fast SQLite upsert writes the same time
    text as the ORM)."""
    ds = _new_stream(database)
    t = T0 + timedelta(minutes=5)
    with database.session() as s:
        ingest.store_observations(s, actor=SYSTEM, observations=[
            ingest.ObservationIn(datastream_id=ds, phenomenon_time=t, result=4.0)])
    with database.session() as s:
        ingest.recompute_rollups(s, ds, [t])  # deletes and re-adds the buckets through the ORM
    with database.session() as s:
        ingest.store_observations(s, actor=SYSTEM, observations=[
            ingest.ObservationIn(datastream_id=ds, phenomenon_time=t + timedelta(seconds=30), result=1.0),
            ingest.ObservationIn(datastream_id=ds, phenomenon_time=t - timedelta(seconds=20), result=9.0)])
    with database.session() as s:
        rows = [tuple(r) for r in s.execute(sa.select(
            Rollup.period, Rollup.start, Rollup.count, Rollup.total, Rollup.minimum, Rollup.maximum,
            Rollup.last_value, Rollup.last_time).where(Rollup.datastream_id == ds).order_by(
            Rollup.period, Rollup.start))]
    assert rows == [("hour", T0, 3, 14.0, 1.0, 9.0, 1.0, t + timedelta(seconds=30)),
                    ("minute", T0 + timedelta(minutes=4), 1, 9.0, 9.0, 9.0, 9.0, t - timedelta(seconds=20)),
                    ("minute", t, 2, 5.0, 1.0, 4.0, 1.0, t + timedelta(seconds=30))]


def test_dataarray_feature_of_interest_ids_must_name_a_feature(client, writer, database) -> None:  # type: ignore[no-untyped-def]
    """An unknown, non-numeric or out-of-range ``FeatureOfInterest/id`` is a 400 problem (was a 500 or
    silently replaced by the station's feature); a real one is kept."""
    ds = create_thing(client, writer)["Datastreams"][0]["@iot.id"]
    comps = ["phenomenonTime", "result", "FeatureOfInterest/id"]
    r = client.post(f"{STA}/CreateObservations", headers=writer, json=[
        {"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
         "dataArray": [["2026-03-01T00:00:00Z", 1]]}])
    assert r.status_code == 201, r.text
    foi = client.get(r.json()[0].replace("http://testserver", "") + "/FeatureOfInterest").json()["@iot.id"]
    for bad in (999999, "1", True, 10**30, 1.5, -1):
        r = client.post(f"{STA}/CreateObservations", headers=writer, json=[
            {"Datastream": {"@iot.id": ds}, "components": comps, "dataArray": [["2026-03-01T00:01:00Z", 2, bad]]}])
        assert r.status_code == 400, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = client.post(f"{STA}/CreateObservations", headers=writer, json=[
        {"Datastream": {"@iot.id": ds}, "components": comps,
         "dataArray": [["2026-03-01T00:02:00Z", 3, foi], ["2026-03-01T00:03:00Z", 4, None]]}])
    assert r.status_code == 201, r.text
    with database.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Observation).where(Observation.datastream_id == ds)) == 3

"""Incidents fed from the bus: citizen reports, sensor alerts (auto-resolve on clear), the generic ingest topic."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from smartprovince.core.bus import OutboxEvent
from smartprovince.operations.models import Incident, IncidentLink, IncidentStep

LAI_CACH = (20.9600, 106.2270)


def _incidents(env):  # type: ignore[no-untyped-def]
    with env.db.session() as s:
        return list(s.scalars(select(Incident).order_by(Incident.opened_at)))


def _topics(env, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    with env.db.session() as s:
        return list(
            s.scalars(select(OutboxEvent.topic).where(OutboxEvent.topic.startswith(prefix)).order_by(OutboxEvent.id))
        )


def test_citizen_report_opens_an_incident_with_the_sop_of_its_category(env, client, drain) -> None:  # type: ignore[no-untyped-def]
    env.publish(
        "feedback.report.created",
        {
            "id": "rp-1",
            "category": "pothole",
            "title": "Ổ gà sâu trước cổng chợ",
            "lat": LAI_CACH[0],
            "long": LAI_CACH[1],
            "address": "Chợ Lai Cách",
            "org_id": env.orgs["295"].id,
        },
    )
    drain()
    [inc] = _incidents(env)
    assert (inc.source, inc.category, inc.status, inc.severity) == ("citizen_report", "road_damage", "new", "medium")
    assert inc.org_id == env.orgs["295"].id and inc.address == "Chợ Lai Cách"
    r = client.get(f"/api/v1/operations/incidents/{inc.id}", headers=env.headers["operator"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["role"] for s in body["steps"]][:2] == ["ioc_operator", "ioc_operator"]
    assert len(body["steps"]) == 4
    assert (body["links"][0]["kind"], body["links"][0]["ref"]) == ("feedback_report", "rp-1")
    assert body["timeline"][0]["kind"] == "opened"
    assert "operations.incident.opened" in _topics(env, "operations.incident.")


def test_duplicates_join_the_open_incident_and_far_or_late_ones_do_not(env, client, drain, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    base = {"category": "pothole", "lat": LAI_CACH[0], "lon": LAI_CACH[1], "title": "Ổ gà"}
    env.publish("feedback.report.created", {**base, "id": "a"})
    env.publish("feedback.report.created", {**base, "id": "b", "lat": LAI_CACH[0] + 0.0005})  # ~55 m away
    env.publish("feedback.report.created", {**base, "id": "a"})  # the same report delivered again
    env.publish("feedback.report.created", {**base, "id": "c", "lat": LAI_CACH[0] + 0.01})  # ~1.1 km away
    drain()
    incidents = _incidents(env)
    assert len(incidents) == 2
    with env.db.session() as s:
        refs = {lk.ref: lk.incident_id for lk in s.scalars(select(IncidentLink))}
    assert refs["a"] == refs["b"] != refs["c"]
    # another category at the same place is another incident
    env.publish("feedback.report.created", {**base, "id": "d", "category": "garbage"})
    # after the SOP's time window (7 days for road damage) the same place opens a new incident
    frozen_clock[0] += timedelta(days=8)
    env.publish("feedback.report.created", {**base, "id": "e"})
    drain()
    assert len(_incidents(env)) == 4
    assert _topics(env, "operations.incident.").count("operations.incident.linked") == 1


def test_sensor_alert_raises_severity_and_clearing_every_alert_resolves(env, client, drain) -> None:  # type: ignore[no-untyped-def]
    env.publish(
        "sensing.alert.raised",
        {
            "alert_id": "al-1",
            "observed_property": "water_level",
            "severity": "warning",
            "lat": 20.94,
            "lon": 106.31,
            "message": "Mực nước sông Sặt 2,9 m",
        },
    )
    drain()
    [inc] = _incidents(env)
    assert (inc.category, inc.severity, inc.source) == ("flooding", "medium", "sensor")
    env.publish(
        "sensing.alert.raised",
        {"alert_id": "al-2", "observed_property": "water_level", "severity": "critical", "lat": 20.941, "lon": 106.311},
    )
    drain()
    [inc] = _incidents(env)
    assert inc.severity == "critical"
    env.publish("sensing.alert.cleared", {"alert_id": "al-1"})
    drain()
    assert _incidents(env)[0].status == "new"  # one alert is still raised
    env.publish("sensing.alert.cleared", {"alert_id": "al-2"})
    env.publish("sensing.alert.cleared", {"alert_id": "al-2"})  # twice: nothing more happens
    drain()
    [inc] = _incidents(env)
    assert inc.status == "resolved" and inc.resolved_at is not None
    assert _topics(env, "operations.incident.").count("operations.incident.resolved") == 1


def test_generic_ingest_topic_for_cameras_and_soc(env, client, drain) -> None:  # type: ignore[no-untyped-def]
    env.publish(
        "operations.incident.ingest",
        {
            "source": "camera",
            "ref": "cam-7/evt-91",
            "category": "collision",
            "title": "Va chạm tại nút giao",
            "lat": 20.93,
            "lon": 106.32,
            "severity": "high",
        },
    )
    env.publish(
        "operations.incident.ingest",
        {
            "source": "soc",
            "ref": "soc-1",
            "category": "malware",
            "title": "Mã độc trên máy chủ một cửa",
            "severity": "critical",
        },
    )
    drain()
    incidents = {i.category: i for i in _incidents(env)}
    assert set(incidents) == {"traffic_accident", "cyber_security"}
    assert incidents["traffic_accident"].source == "camera"
    with env.db.session() as s:
        kinds = set(s.scalars(select(IncidentLink.kind)))
        assert kinds == {"camera_event", "soc_event"}
        assert s.scalar(select(func.count()).select_from(IncidentStep)) == 8


def test_payloads_as_the_sensing_and_feedback_modules_publish_them(env, client, drain) -> None:  # type: ignore[no-untyped-def]
    env.publish(
        "sensing.alert.raised",
        {
            "alert_id": "a-9",
            "threshold": "Mực nước sông Sặt vượt báo động 2",
            "kind": "above",
            "severity": "critical",
            "thing": "Trạm thủy văn Cầu Cất",
            "datastream": "Mực nước",
            "org_id": "nonexistent-org",
            "coordinates": [106.3146, 20.9373],
            "trigger_value": 3.1,
        },
    )
    env.publish(
        "feedback.report.created",
        {
            "id": "r-5",
            "code": "PA-0005",
            "category": "hu-hong-duong",
            "category_name": "Hư hỏng đường",
            "lat": 20.95,
            "lon": 106.25,
            "address": "QL5, Cẩm Giàng",
            "unit_id": env.orgs["295"].id,
        },
    )
    drain()
    by_source = {i.source: i for i in _incidents(env)}
    flood, report = by_source["sensor"], by_source["citizen_report"]
    assert (flood.category, flood.severity, flood.lat, flood.lon) == ("flooding", "critical", 20.9373, 106.3146)
    assert flood.title.startswith("Trạm thủy văn Cầu Cất") and flood.org_id == env.orgs["30"].id
    assert report.category == "road_damage" and report.org_id == env.orgs["295"].id
    assert "Hư hỏng đường" in report.title


def test_report_resolution_resolves_an_incident_made_of_reports_at_the_source_time(env, client, drain) -> None:  # type: ignore[no-untyped-def]
    base = {"category": "garbage", "lat": 20.95, "lon": 106.25}
    env.publish("feedback.report.created", {**base, "id": "g1", "at": "2026-02-20T01:00:00+00:00"})
    drain()  # events published in the same millisecond may be delivered in either order
    env.publish("feedback.report.created", {**base, "id": "g2", "at": "2026-02-20T03:00:00+00:00"})
    drain()
    [inc] = _incidents(env)
    assert inc.opened_at.isoformat() == "2026-02-20T01:00:00+00:00"  # when the citizen reported, not now
    env.publish("feedback.report.resolved", {"id": "g1", "at": "2026-02-21T01:00:00+00:00"})
    drain()
    assert _incidents(env)[0].status == "new"  # g2 is still open
    env.publish("feedback.report.closed", {"id": "g2", "at": "2026-02-22T01:00:00+00:00"})
    drain()
    [inc] = _incidents(env)
    assert inc.status == "resolved" and inc.resolved_at.isoformat() == "2026-02-22T01:00:00+00:00"

"""KPI engine: periods, formulas, status against targets, the API, alarms, scoping and the bundled set."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from smartprovince.core.audit import AuditEntry
from smartprovince.core.bus import OutboxEvent
from smartprovince.core.errors import ValidationProblem
from smartprovince.operations import kpi_engine

ON_TIME = {
    "name": "Tỷ lệ hồ sơ giải quyết đúng hạn", "unit": "%", "direction": "up", "frequency": "month",
    "formula": "100 * dossiers.finished_on_time / dossiers.finished",
    "targets": [{"period": "*", "org": None, "value": 95}], "amber_band": 0.03,
}
# The same KPI read from reported figures (the warehouse-fed version is tested in test_kpi_warehouse).
REPORTED = {**ON_TIME, "formula": "reference",
            "reference": [{"period": "2026-01", "org": None, "value": 97},
                          {"period": "2026-02", "org": None, "value": 80}]}


def test_periods() -> None:
    p = kpi_engine.parse_period("2022-Q4")
    assert (p.start.isoformat(), p.end.isoformat(), p.frequency) == ("2022-10-01", "2023-01-01", "quarter")
    assert kpi_engine.parse_period("2024-02").end.isoformat() == "2024-03-01"
    assert kpi_engine.parse_period("2022").frequency == "year"
    for bad in ("2022-13", "22", "2022-Q5", "2022-02-30", ""):
        with pytest.raises(ValidationProblem):
            kpi_engine.parse_period(bad)


def test_formula_evaluation() -> None:
    f = "100 * dossiers.finished_on_time / dossiers.finished"
    assert kpi_engine.evaluate(f, {"dossiers.finished_on_time": 45, "dossiers.finished": 50}) == 90
    assert kpi_engine.evaluate(f, {"dossiers.finished_on_time": 0, "dossiers.finished": 0}) is None
    assert kpi_engine.evaluate("-(reference - 2) * 3", {"reference": 5}) == -9
    for bad in ("__import__('os')", "reference > 1", "unknown.source", "reference +"):
        with pytest.raises(ValidationProblem):
            kpi_engine.parse_formula(bad)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)  # the machine is shared with others
@given(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.floats(0, 1),
       st.sampled_from(["up", "down"]))
def test_status_never_worsens_as_the_value_improves(a: float, b: float, target: float, band: float,
                                                     direction: str) -> None:
    """Moving a value in the good direction never makes its status worse."""
    worse, better = (min(a, b), max(a, b)) if direction == "up" else (max(a, b), min(a, b))
    rank = kpi_engine.STATUS_RANK
    assert rank[kpi_engine.status_of(better, target, direction, band)] <= rank[
        kpi_engine.status_of(worse, target, direction, band)]
    assert kpi_engine.status_of(target, target, direction, band) == "green"


def test_reference_plan_figures(database) -> None:  # type: ignore[no-untyped-def]
    """The bundled set carries the plan's 2022 figures: schools miss 82.8 %, trained workers beat 28.3 %."""
    from smartprovince.core.security import SYSTEM

    with database.session() as s:
        assert kpi_engine.load_definitions(s, actor=SYSTEM) == len(kpi_engine.bundled_definitions())
        schools = kpi_engine.compute_kpi(s, actor=SYSTEM, code="schools_national_standard", period="2022")
        workers = kpi_engine.compute_kpi(s, actor=SYSTEM, code="trained_workers_certified", period="2022")
        grdp = kpi_engine.compute_kpi(s, actor=SYSTEM, code="grdp_growth", period="2022")
        d06 = kpi_engine.compute_kpi(s, actor=SYSTEM, code="essential_services_online_d06", period="2023")
        assert (schools.value, schools.target, schools.status) == (78.5, 82.8, "red")
        assert (workers.value, workers.target, workers.status) == (31.5, 28.3, "green")
        assert (grdp.value, grdp.status) == (9.0, "none")
        assert round(d06.value or 0) == 77
        assert kpi_engine.load_definitions(s, actor=SYSTEM) == 0  # kept, not overwritten


def _events(db, topic: str) -> list[dict]:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return [e.payload for e in s.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic))]


def test_define_compute_alarm_through_the_api(client, env, make_user, login) -> None:  # type: ignore[no-untyped-def]
    admin = make_user("quantri", role="admin")
    login(admin)
    r = client.put("/api/v1/operations/kpis/on_time", json=ON_TIME)
    assert r.status_code == 200, r.text
    assert r.json()["formula"] == ON_TIME["formula"]
    r = client.put("/api/v1/operations/kpis/on_time", json=REPORTED)
    assert r.status_code == 200, r.text
    with env.db.session() as s:
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "operations.kpi.defined"))
    jan = client.post("/api/v1/operations/kpis/on_time/values", json={"period": "2026-01"})
    assert jan.status_code == 200, jan.text
    assert (jan.json()["value"], jan.json()["status"], jan.json()["alarm"]) == (97.0, "green", False)
    feb = client.post("/api/v1/operations/kpis/on_time/values", json={"period": "2026-02"}).json()
    assert (feb["value"], feb["status"], feb["alarm"]) == (80.0, "red", True)
    alarms = _events(env.db, "operations.kpi.alarm")
    assert [(a["period"], a["previous_status"], a["status"]) for a in alarms] == [("2026-02", "green", "red")]
    # The leader sees the tile with the latest value, trend and status.
    tiles = client.get("/api/v1/operations/kpis", headers=env.headers["operator"]).json()
    tile = next(t for t in tiles if t["definition"]["code"] == "on_time")
    assert (tile["last"]["period"], tile["trend"], tile["spark"]) == ("2026-02", "down", [97.0, 80.0])
    detail = client.get("/api/v1/operations/kpis/on_time", headers=env.headers["operator"]).json()
    assert [h["alarm"] for h in detail["history"]] == [False, True]


def test_bad_definitions_are_422_and_readers_cannot_define(client, env, make_user, login) -> None:  # type: ignore[no-untyped-def]
    bad = {**ON_TIME, "formula": "open('x')"}
    r = client.put("/api/v1/operations/kpis/x", json=bad, headers=env.headers["operator"])
    assert r.status_code == 403
    login(make_user("quantri", role="admin"))
    r = client.put("/api/v1/operations/kpis/x", json=bad)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    r = client.put("/api/v1/operations/kpis/x", json={**ON_TIME, "targets": [{"period": "2022-13", "value": 1}]})
    assert r.status_code == 422
    r = client.post("/api/v1/operations/kpis/missing/values", json={"period": "2026-01"})
    assert r.status_code == 404
    assert client.get("/api/v1/operations/kpis", headers=env.headers["citizen"]).status_code == 403


def test_area_values_follow_the_org_scope(client, env, make_user, login) -> None:  # type: ignore[no-untyped-def]
    """An area's value and target are the area's own; another district's leader cannot read it."""
    from smartprovince.core.security import SYSTEM

    with env.db.session() as s:
        kpi_engine.define_kpi(s, actor=SYSTEM, code="inc", data={"name": "Sự cố", "direction": "down",
                              "frequency": "month", "formula": "reference",
                              "reference": [{"period": "2026-02", "org": "295", "value": 3}],
                              "targets": [{"period": "*", "org": "295", "value": 2}]})
    login(make_user("quantri", role="admin"))
    r = client.post("/api/v1/operations/kpis/inc/values", json={"period": "2026-02", "org_code": "295"})
    assert (r.json()["value"], r.json()["target"], r.json()["status"]) == (3.0, 2.0, "red")
    other = client.post("/api/v1/operations/kpis/inc/values", json={"period": "2026-02", "org_code": "296"}).json()
    assert other["value"] is None
    mine = client.get("/api/v1/operations/kpis/inc?org=295", headers=env.headers["district"])
    assert [h["value"] for h in mine.json()["history"]] == [3.0]
    assert client.get("/api/v1/operations/kpis/inc?org=295", headers=env.headers["other_district"]).status_code == 404


def test_kpi_pages(client, env, make_user, login) -> None:  # type: ignore[no-untyped-def]
    from smartprovince.core.security import SYSTEM

    with env.db.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)
        kpi_engine.compute_kpi(s, actor=SYSTEM, code="schools_national_standard", period="2022")
    login(make_user("lanhdao", role="provincial_leader", org="30"))
    page = client.get("/ioc/kpis")
    assert page.status_code == 200
    assert "Tỷ lệ trường đạt chuẩn quốc gia" in page.text and 'data-status="red"' in page.text
    detail = client.get("/ioc/kpis/schools_national_standard")
    assert detail.status_code == 200 and "82.8" in detail.text and "Kế hoạch" in detail.text
    assert client.get("/ioc/kpis/khong-co").status_code == 404


def test_nul_characters_are_refused_not_stored(client, env, make_user, login) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL cannot hold NUL: the API answers 422 instead of failing."""
    login(make_user("quantri", role="admin"))
    assert client.put("/api/v1/operations/kpis/x", json={**ON_TIME, "name": "a\x00b"}).status_code == 422
    assert client.get("/api/v1/operations/hotspots?category=a%00b").status_code == 422
    assert client.get("/api/v1/operations/kpis?org=a%00").status_code == 422
    assert client.get("/api/v1/operations/forecasts?kpi=a%00").status_code == 422

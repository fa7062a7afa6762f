"""KPIs over the warehouse: the named queries of ``kpi_data/sources``, values per area, drill-down, alarms that
become IOC incidents, exports, the definition form and the indicators that cannot be computed yet.

The warehouse here is a DuckDB database with the views' documented columns (``smartprovince.datahub``'s
docstring), filled with known rows, behind ``datahub.warehouse_query``; ``test_kpi_demo`` runs the real sync.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest
from sqlalchemy import select

from smartprovince import datahub
from smartprovince.core.security import SYSTEM
from smartprovince.operations import kpi_engine
from smartprovince.operations.models import Incident, IncidentLink

VN = "+07:00"
SCHEMA = {
    "dossiers": "id VARCHAR, procedure_code VARCHAR, agency_path VARCHAR, online BOOLEAN, digitised BOOLEAN, "
                "paid_online BOOLEAN, fee_total BIGINT, received_at TIMESTAMPTZ, due_at TIMESTAMPTZ, "
                "finished_at TIMESTAMPTZ, closed_at TIMESTAMPTZ, timing VARCHAR",
    "reports": "id VARCHAR, unit_path VARCHAR, created_at TIMESTAMPTZ, acknowledged_at TIMESTAMPTZ, "
               "resolved_at TIMESTAMPTZ, on_time BOOLEAN, rating INTEGER, merged BOOLEAN",
    "incidents": "id VARCHAR, source VARCHAR, severity VARCHAR, org_path VARCHAR, opened_at TIMESTAMPTZ, "
                 "acknowledged_at TIMESTAMPTZ, resolved_at TIMESTAMPTZ",
    "observations_hourly": "thing_id VARCHAR, observed_property VARCHAR, org_path VARCHAR, hour TIMESTAMPTZ, "
                           "count BIGINT, mean DOUBLE",
}


class FakeWarehouse:
    """The warehouse views as tables of one in-memory DuckDB, Vietnam time zone, like the data hub's."""

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone='Asia/Ho_Chi_Minh'")
        for name, cols in SCHEMA.items():
            self.con.execute(f"CREATE TABLE {name} ({cols})")
        self.calls = 0

    def add(self, table: str, **row: Any) -> None:
        cols = ", ".join(row)
        self.con.execute(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))

    def query(self, settings: Any, sql: str, params: Any = None) -> list[dict[str, Any]]:
        self.calls += 1
        cur = self.con.execute(sql, params or {})
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@pytest.fixture
def wh(monkeypatch: pytest.MonkeyPatch) -> FakeWarehouse:
    fake = FakeWarehouse()
    monkeypatch.setattr(datahub, "warehouse_query", fake.query, raising=False)
    return fake


def _t(day: str, hm: str = "09:00") -> str:
    return f"2026-{day} {hm}:00{VN}"


def _fill(wh: FakeWarehouse, env: Any) -> None:
    """February 2026: 4 dossiers in commune 10891 (district 295), 2 in district 296; reports; incidents; air."""
    commune, d296 = env.orgs["10891"].path, env.orgs["296"].path
    for i, (path, online, timing) in enumerate([(commune, True, "early"), (commune, True, "on_time"),
                                                (commune, False, "late"), (commune, True, "on_time"),
                                                (d296, False, "late"), (d296, True, "on_time")]):
        wh.add("dossiers", id=f"d{i}", procedure_code=f"p{i % 3}", agency_path=path, online=online, digitised=i < 3,
               paid_online=online, fee_total=10000, received_at=_t("02-03"), due_at=_t("02-10"),
               finished_at=_t("02-09" if timing != "late" else "02-12"), timing=timing)
    wh.add("dossiers", id="jan", procedure_code="p0", agency_path=commune, online=True, digitised=True,
           paid_online=False, fee_total=0, received_at=_t("01-31", "23:30"), timing="open")  # January, Vietnam time
    for i, (ack_h, on_time, rating, merged) in enumerate([(2, True, 5, False), (4, True, 3, False),
                                                          (6, False, None, False), (1, True, 5, True)]):
        wh.add("reports", id=f"r{i}", unit_path=commune, created_at=_t("02-05", "08:00"),
               acknowledged_at=_t("02-05", f"{8 + ack_h:02d}:00"), resolved_at=_t("02-06"), on_time=on_time,
               rating=rating, merged=merged)
    for i, (path, sev, ack_min) in enumerate([(commune, "high", 10), (commune, "low", 50), (d296, "critical", 30)]):
        wh.add("incidents", id=f"i{i}", source="sensor", severity=sev, org_path=path, opened_at=_t("02-07", "10:00"),
               acknowledged_at=_t("02-07", f"10:{ack_min:02d}"), resolved_at=_t("02-07", "16:00"))
    wh.add("incidents", id="kpi", source="kpi", severity="high", org_path=commune, opened_at=_t("02-07"))
    for thing, path, count, mean in (("s1", commune, 10, 30.0), ("s2", d296, 30, 10.0)):
        wh.add("observations_hourly", thing_id=thing, observed_property="Bụi mịn PM2.5", org_path=path,
               hour=_t("02-08", "07:00"), count=count, mean=mean)


def test_every_bundled_query_and_formula_runs_on_the_documented_views(database, env, wh) -> None:  # type: ignore[no-untyped-def]
    _fill(wh, env)
    per = kpi_engine.parse_period("2026-02")
    with database.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)
        for d in kpi_engine.definitions(s):
            kpi_engine.evaluate_kpi(s, d, per, None)
        dummy = kpi_engine.get_definition(s, "d766_on_time_rate")
        ctx = kpi_engine.SourceContext(kpi=dummy, period=per, org=None)
        for name in kpi_engine.WAREHOUSE_QUERIES:
            assert kpi_engine.SOURCES[name](s, ctx) is not None, name  # a broken query would give None


def test_decision_766_feedback_incidents_and_air_by_area(database, env, wh) -> None:  # type: ignore[no-untyped-def]
    _fill(wh, env)
    per = kpi_engine.parse_period("2026-02")
    with database.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)

        def value(code: str, org: str | None = None) -> float | None:
            o = env.orgs[org] if org else None
            return kpi_engine.evaluate_kpi(s, kpi_engine.get_definition(s, code), per, o)["value"]

        assert value("d766_received") == 6  # the 23:30 dossier of 31 January (Vietnam time) is January's
        assert value("d766_on_time_rate") == round(100 * 4 / 6, 4)
        assert value("d766_on_time_rate", "295") == 75.0 and value("d766_on_time_rate", "10891") == 75.0
        assert value("d766_on_time_rate", "296") == 50.0
        assert value("d766_online_rate", "295") == 75.0 and value("d766_late") == 2
        assert value("reports_handled_rate") == 100.0  # merged reports are left out
        assert value("reports_on_time_rate") == round(200 / 3, 4)
        assert value("reports_satisfaction_rate") == 50.0
        assert value("reports_mean_ack_hours") == 4.0
        assert value("incidents_mtta") == 30.0 and value("incidents_mtta", "295") == 30.0
        assert value("iso37120_15_7_response") == 20.0  # high and critical only
        assert value("incidents_mttr", "296") == 6.0
        assert value("iso37120_8_1_pm25") == 15.0  # weighted by the number of observations
        assert value("iso37120_8_1_pm25", "296") == 10.0
        assert value("u4ssc_ec_ict_ps_2a") == 3 and value("u4ssc_ec_ict_ps_2a", "296") == 1  # distinct procedures
        assert value("d766_on_time_rate", "ubnd-tinh") is None  # no dossier there: 0 / 0 is no value
        assert value("d766_received", "ubnd-tinh") == 0


def test_values_by_area_use_one_query_per_source(database, env, wh) -> None:  # type: ignore[no-untyped-def]
    _fill(wh, env)
    with database.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)
        wh.calls = 0
        data = kpi_engine.values_by_area(s, "d766_on_time_rate", "2026-02")
        assert wh.calls == 1  # finished and finished_on_time together, once for the province and both districts
        assert data["area"]["value"] == round(100 * 4 / 6, 4) and data["area"]["level"] == "province"
        children = {c["code"]: (c["value"], c["status"]) for c in data["children"]}
        assert children == {"295": (75.0, "red"), "296": (50.0, "red")}  # bodies are not areas
        communes = kpi_engine.values_by_area(s, "d766_on_time_rate", "2026-02", env.orgs["295"].id)
        assert [(c["code"], c["value"]) for c in communes["children"]] == [("10891", 75.0)]


def test_no_warehouse_means_no_value_not_an_error(database, env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError("warehouse not synced")

    monkeypatch.setattr(datahub, "warehouse_query", broken, raising=False)
    with database.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)
        row = kpi_engine.compute_kpi(s, actor=SYSTEM, code="d766_on_time_rate", period="2026-02")
        assert (row.value, row.status) == (None, "none")


def test_alarm_from_warehouse_values_is_raised_as_an_ioc_incident(client, env, wh, drain, make_user, login) -> None:  # type: ignore[no-untyped-def]
    """January on time (green), February late (red): the value is an alarm, pinned on the chart, and an
    incident of category kpi_alarm opens in the district's unit; computing again joins the same incident."""
    commune = env.orgs["10891"].path
    for month, timings in (("01", ["on_time"] * 10), ("02", ["on_time"] * 7 + ["late"] * 3)):
        for i, timing in enumerate(timings):
            wh.add("dossiers", id=f"{month}-{i}", procedure_code="p", agency_path=commune, online=True,
                   digitised=True, paid_online=False, fee_total=0, received_at=_t(f"{month}-02"),
                   finished_at=_t(f"{month}-05"), timing=timing)
    with env.db.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)
    login(make_user("dulieu", role="data_officer", org="30"))
    for period in ("2026-01", "2026-02"):
        r = client.post("/api/v1/operations/kpis/d766_on_time_rate/values", json={"period": period, "org_code": "295"})
        assert r.status_code == 200, r.text
    assert (r.json()["value"], r.json()["status"], r.json()["alarm"]) == (70.0, "red", True)
    drain()
    client.post("/api/v1/operations/kpis/d766_on_time_rate/values", json={"period": "2026-02", "org_code": "295"})
    drain()
    with env.db.session() as s:
        incidents = s.scalars(select(Incident).where(Incident.source == "kpi")).all()
        assert len(incidents) == 1
        inc = incidents[0]
        assert inc.org_id == env.orgs["295"].id and inc.severity == "high" and "2026-02" in inc.title
        link = s.scalar(select(IncidentLink).where(IncidentLink.incident_id == inc.id))
        assert link is not None and link.kind == "kpi_value"
    page = client.get("/ioc/kpis/d766_on_time_rate?org=295")
    assert page.status_code == 200 and "&#34;alarms&#34;: [false, true]" in page.text  # the red pin on the chart
    assert 'data-area="10891"' in page.text  # drill-down to the communes


def test_export_csv_and_xlsx_follow_the_scope(client, env, wh, make_user, login) -> None:  # type: ignore[no-untyped-def]
    _fill(wh, env)
    with env.db.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)
        kpi_engine.compute_for_areas(s, actor=SYSTEM, code="d766_on_time_rate", periods=["2026-02"], depth=2)
    r = client.get("/api/v1/operations/kpis/d766_on_time_rate/export?format=csv", headers=env.headers["district"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    # Province-wide values are visible to every reader; district 296 is not the district leader's.
    assert sorted((x["area_code"], x["value"]) for x in rows) == [("", "66.6667"), ("10891", "75.0"), ("295", "75.0")]
    x = client.get("/api/v1/operations/kpis/d766_on_time_rate/export?format=xlsx&org=295",
                   headers=env.headers["district"])
    assert x.status_code == 200 and x.content[:2] == b"PK"
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(x.content)).active
    assert ws is not None
    values = list(ws.iter_rows(values_only=True))
    assert values[0][:4] == ("kpi_code", "kpi_name", "unit", "period") and values[1][4] == "295"
    assert client.get("/api/v1/operations/kpis/d766_on_time_rate/export?org=296",
                      headers=env.headers["district"]).status_code == 404
    assert client.get("/api/v1/operations/kpis/nope/export", headers=env.headers["operator"]).status_code == 404
    assert client.get("/api/v1/operations/kpis/d766_on_time_rate/export",
                      headers=env.headers["citizen"]).status_code == 403


def test_areas_api(client, env, wh) -> None:  # type: ignore[no-untyped-def]
    _fill(wh, env)
    with env.db.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)
    r = client.get("/api/v1/operations/kpis/d766_online_rate/areas?period=2026-02", headers=env.headers["district"])
    assert r.status_code == 200, r.text
    assert [c["code"] for c in r.json()["children"]] == ["295"]  # only the areas in the reader's scope
    r = client.get("/api/v1/operations/kpis/d766_online_rate/areas?period=2026-02&org=295",
                   headers=env.headers["district"])
    assert r.json()["area"]["value"] == 75.0 and r.json()["children"][0]["code"] == "10891"
    assert client.get("/api/v1/operations/kpis/d766_online_rate/areas?period=2026-13",
                      headers=env.headers["district"]).status_code == 422
    assert client.get("/api/v1/operations/kpis/d766_online_rate/areas?period=2026-02&org=296",
                      headers=env.headers["district"]).status_code == 404


def test_definition_form_and_unavailable_indicators(client, env, wh, make_user, login) -> None:  # type: ignore[no-untyped-def]
    with env.db.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)
    login(make_user("lanhdao", role="provincial_leader", org="30"))
    page = client.get("/ioc/kpis")
    assert "Chỉ số quốc tế chưa tính được" in page.text and 'data-unavailable="u4ssc_ec_ict_ps_1a"' in page.text
    assert "Định nghĩa chỉ số mới" not in page.text
    assert client.get("/ioc/kpis/new").status_code == 403
    token = login(make_user("dulieu", role="data_officer", org="30"))
    form = client.get("/ioc/kpis/new")
    assert form.status_code == 200 and "dossiers.finished_on_time" in form.text and "Kho dữ liệu" in form.text
    data = {"csrf_token": token, "code": "late_share", "name": "Tỷ lệ hồ sơ quá hạn", "unit": "%", "direction": "down",
            "frequency": "month", "formula": "100 * dossiers.finished_late / dossiers.finished",
            "targets": "*; ; 5\n2026-02; 295; 3", "amber_band": "0,2", "reference": ""}
    bad = client.post("/ioc/kpis/save", data={**data, "formula": "100 * khong.co"}, follow_redirects=False)
    assert bad.status_code == 422 and "khong.co" in bad.text
    bad = client.post("/ioc/kpis/save", data={**data, "targets": "*; 5"}, follow_redirects=False)
    assert bad.status_code == 422
    ok = client.post("/ioc/kpis/save", data=data, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/ioc/kpis/late_share"
    with env.db.session() as s:
        d = kpi_engine.get_definition(s, "late_share")
        assert d.amber_band == 0.2 and d.targets == [{"period": "*", "org": None, "value": 5.0},
                                                     {"period": "2026-02", "org": "295", "value": 3.0}]
    edit = client.get("/ioc/kpis/late_share/edit")
    assert "2026-02; 295; 3.0" in edit.text
    _fill(wh, env)
    done = client.post("/ioc/kpis/late_share/compute", data={"csrf_token": token, "period": "2026-02", "org": "295"},
                       follow_redirects=False)
    assert done.status_code == 303
    with env.db.session() as s:
        v = s.scalar(select(kpi_engine.KpiValue).where(kpi_engine.KpiValue.kpi_code == "late_share"))
        assert v is not None and (v.value, v.target, v.status) == (25.0, 3.0, "red")
    assert client.post("/ioc/kpis/save", data={**data, "csrf_token": "x"}).status_code in (400, 403)


def test_periods_use_vietnam_time() -> None:
    p = kpi_engine.parse_period("2026-02")
    assert p.since == datetime(2026, 1, 31, 17, 0, tzinfo=UTC)

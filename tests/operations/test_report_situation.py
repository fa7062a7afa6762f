"""The situation report for leaders: the page with its figures, the PDF with the same figures, the scope."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from smartprovince import datahub
from smartprovince.core.security import SYSTEM
from smartprovince.operations import kpi_engine, reports
from smartprovince.operations.models import Incident

from .test_kpi_warehouse import FakeWarehouse


@pytest.fixture
def wh(monkeypatch: pytest.MonkeyPatch) -> FakeWarehouse:
    fake = FakeWarehouse()
    monkeypatch.setattr(datahub, "warehouse_query", fake.query, raising=False)
    return fake


def _data(env, wh, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    """Tuesday 3 March 2026: incidents in district 295 (a cluster) and 296, dossiers and reports that day."""
    commune = env.orgs["10891"].path
    for i in range(8):
        timing = "late" if i == 0 else "on_time"
        wh.add("dossiers", id=f"d{i}", procedure_code="p1", agency_path=commune, online=i % 2 == 0, digitised=True,
               paid_online=False, fee_total=0, received_at="2026-03-03 08:00:00+07:00",
               finished_at="2026-03-03 15:00:00+07:00", timing=timing)
    for i in range(3):
        wh.add("reports", id=f"r{i}", unit_path=commune, created_at="2026-03-03 07:00:00+07:00",
               acknowledged_at="2026-03-03 09:00:00+07:00", resolved_at="2026-03-03 16:00:00+07:00",
               on_time=True, rating=5 if i else 2, merged=False)
    frozen_clock[0] = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    with env.db.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)
        # Imported records (no deduplication): a tight cluster of 12 in district 295, 4 scattered in 296.
        opened = frozen_clock[0]
        for i in range(16):
            org = env.orgs["295" if i < 12 else "296"]
            lat, lon = (20.94 + (i % 3) * 0.001, 106.33 + (i // 3) * 0.001) if i < 12 else (20.6 + i * 0.02, 106.0)
            s.add(Incident(title=f"Sự cố {i}", source="manual", category="flooding" if i % 3 else "road_damage",
                           severity="critical" if i == 0 else "medium", status="open", lat=lat, lon=lon,
                           address="Phường Trần Phú" if i < 12 else "", org_id=org.id, org_path=org.path,
                           opened_at=opened, updated_at=opened,
                           resolved_at=opened + timedelta(hours=3) if i == 0 else None))
    frozen_clock[0] = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def test_daily_report_page_and_pdf_have_the_figures(client, env, wh, frozen_clock, make_user, login, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _data(env, wh, frozen_clock)
    login(make_user("lanhdao", role="provincial_leader", org="30"))
    page = client.get("/ioc/reports/situation?period=day&date=2026-03-03")
    assert page.status_code == 200, page.text
    text = page.text
    assert "BÁO CÁO TÌNH HÌNH NGÀY" in text and "03/03/2026" in text
    assert '<strong data-figure="incidents-opened">16</strong>' in text
    assert '<strong data-figure="incidents-closed">1</strong>' in text
    assert "Tỷ lệ hồ sơ giải quyết đúng hạn" in text and "87,5 %" in text  # 7 of 8 on time
    assert "Phường Trần Phú" in text  # the top hotspot, named by its incidents' address
    assert "@media print" in text and 'href="/ioc/reports/situation.pdf?period=day&amp;date=2026-03-03' in text
    pdf = client.get("/ioc/reports/situation.pdf?period=day&date=2026-03-03")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf.content)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout  # noqa: S603, S607
    assert "BÁO CÁO TÌNH HÌNH NGÀY · 03/03/2026" in out
    assert "Tỷ lệ hồ sơ giải quyết đúng hạn" in out and "87,5 %" in out
    assert "Phát sinh: 16 · Xử lý xong: 1" in out
    assert "Phường Trần Phú" in out and "Hồ sơ TTHC tiếp nhận" in out


def test_weekly_report_for_a_district_and_the_scope(client, env, wh, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    _data(env, wh, frozen_clock)
    mine = client.get("/ioc/reports/situation?period=week&date=2026-03-04", headers=env.headers["district"])
    assert mine.status_code == 200
    assert "BÁO CÁO TÌNH HÌNH TUẦN" in mine.text and "02/03/2026 – 08/03/2026" in mine.text
    assert "Huyện Cẩm Giàng" in mine.text  # a district leader's report is their district by default
    assert '<strong data-figure="incidents-opened">12</strong>' in mine.text  # not district 296's four
    other = client.get("/ioc/reports/situation?area=296", headers=env.headers["district"])
    assert other.status_code == 404
    assert client.get("/ioc/reports/situation", headers=env.headers["citizen"]).status_code == 403
    assert client.get("/ioc/reports/situation?date=2026-13-01", headers=env.headers["district"]).status_code == 422
    assert client.get("/ioc/reports/situation?period=year", headers=env.headers["district"]).status_code == 422
    assert client.get("/ioc/reports/situation.pdf?area=296", headers=env.headers["district"]).status_code == 404


def test_report_windows() -> None:
    assert reports.window("week", datetime(2026, 3, 8).date()).code == "2026-W10"
    w = reports.window("week", datetime(2026, 3, 2).date())
    assert (w.start.isoformat(), w.end.isoformat()) == ("2026-03-02", "2026-03-09")
    assert reports.fmt(1234567.0) == "1.234.567" and reports.fmt(87.5, "%") == "87,5 %" and reports.fmt(None) == "—"


def test_a_day_at_the_edge_of_the_calendar_is_a_422_not_a_500(client, env) -> None:  # type: ignore[no-untyped-def]
    """0001-01-01 and 9999-12-31 parse as dates, but their report windows (and the 30 days of hotspots before)
    cannot become UTC instants: the report answered a 500 before."""
    h = env.headers["operator"]
    for url in ("/ioc/reports/situation?date=0001-01-01", "/ioc/reports/situation?date=9999-12-31&period=week",
                "/ioc/reports/situation.pdf?date=0001-01-01"):
        r = client.get(url, headers=h)
        assert r.status_code == 422, (url, r.status_code)
        assert "1900-01-01" in r.text
    assert client.get("/ioc/reports/situation?date=1900-01-01", headers=h).status_code == 200

"""A provincial leader in headless Chromium: the situation report, printed to PDF by the browser (print CSS
hides the navigation), and the KPI list with the indicators not computed yet. Skipped without Chromium.

Screenshots go to the ``shots`` folder (``SMARTPROVINCE_SCREENSHOTS`` when set).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from smartprovince.core.migrate import upgrade

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "lanh-dao-thu-nghiem-1"  # noqa: S105 - a test account in a temporary database


@pytest.fixture
def live(tmp_path: Path, serve) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on a free port with a province, two districts, a leader, incidents and the KPI definitions."""
    from smartprovince import datahub, identity
    from smartprovince.app import create_app
    from smartprovince.core.clock import now
    from smartprovince.core.db import Database
    from smartprovince.core.security import SYSTEM
    from smartprovince.operations import kpi_engine
    from smartprovince.operations.models import Incident
    from smartprovince.settings import Settings

    url = f"sqlite:///{tmp_path / 'report.db'}"
    upgrade(url)
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=url, load_demo=False,
                        secret_key="report-browser-secret", log_json=True, bus_url="inprocess")
    db = Database(url)
    with db.session() as s:
        identity.sync_builtin_roles(s)
        province = identity.create_organisation(s, actor=SYSTEM, code="30", name="Tỉnh Hải Dương", level="province")
        districts = [identity.create_organisation(s, actor=SYSTEM, code=c, name=n, level="district",
                                                  parent_id=province.id)
                     for c, n in (("288", "Thành phố Hải Dương"), ("292", "Thành phố Chí Linh"))]
        identity.create_user(s, actor=SYSTEM, username="lanhdao", password=PASSWORD, full_name="Nguyễn Văn An",
                             kind="officer", org_id=province.id, roles=[("provincial_leader", province.id)])
        kpi_engine.load_definitions(s, actor=SYSTEM)
        t = now() - timedelta(hours=2)
        for i in range(20):
            d = districts[0 if i < 15 else 1]
            lat, lon = (20.94 + (i % 4) * 0.001, 106.33 + (i // 4) * 0.001) if i < 15 else (21.1 + i * 0.01, 106.4)
            s.add(Incident(title=f"Sự cố {i}", source="manual", category=("flooding", "road_damage")[i % 2],
                           severity=("medium", "high", "critical")[i % 3], status="open", lat=lat, lon=lon,
                           address="Phường Trần Phú" if i < 15 else "Phường Sao Đỏ", org_id=d.id, org_path=d.path,
                           opened_at=t, updated_at=t, acknowledged_at=t + timedelta(minutes=12)))
    datahub.sync_warehouse(db, settings)
    yield serve(create_app(settings, db=db))
    db.dispose()


@pytest.fixture
def browser_viewport() -> dict[str, int]:
    return {"width": 1280, "height": 900}


def test_leader_reads_and_prints_the_situation_report(live, page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    base = live
    page.set_default_timeout(60000)  # the machine is shared; a cold first request can be slow
    page.goto(base + "/login")
    page.get_by_label("Tên đăng nhập").fill("lanhdao")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(base + "/")
    page.goto(base + "/ioc/reports/situation")
    assert page.get_by_role("heading", name="Báo cáo tình hình").first.is_visible()
    assert page.locator('[data-figure="incidents-opened"]').inner_text() == "20"
    assert "Phường Trần Phú" in page.locator('[data-section="hotspots"]').inner_text()
    page.screenshot(path=str(shots / "ioc-situation-report.png"), full_page=True)
    page.emulate_media(media="print")
    assert not page.locator(".mainnav").is_visible() and not page.locator(".rep-form").is_visible()
    pdf = shots / "ioc-situation-report-print.pdf"
    page.pdf(path=str(pdf), format="A4")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,  # noqa: S603, S607
                          check=True).stdout
    assert "BÁO CÁO TÌNH HÌNH NGÀY" in text and "Điều hướng chính" not in text
    page.emulate_media(media="screen")
    page.goto(base + "/ioc/kpis")
    assert page.locator("#chua-tinh-duoc tr[data-unavailable]").count() >= 5
    page.screenshot(path=str(shots / "ioc-kpis.png"), full_page=True)
    page.goto(base + "/ioc/kpis/incidents_opened")
    page.screenshot(path=str(shots / "ioc-kpi-detail.png"), full_page=True)


def test_analyst_sees_the_hotspot_map_with_its_significance(live, page, shots: Path) -> None:  # type: ignore[no-untyped-def]
    """The hotspot page draws the Gi* cells over the incident points, with the legend of confidence classes and
    the incident forecast beside its backtest; a click-free look at a planted cluster (15 incidents in one
    ward, 5 scattered)."""
    base = live
    page.set_default_timeout(60000)
    page.goto(base + "/login")
    page.get_by_label("Tên đăng nhập").fill("lanhdao")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(base + "/")
    page.goto(base + "/ioc/hotspots?method=gi_star&days=30&cell_m=1000")
    assert page.get_by_role("heading", name="Bản đồ điểm nóng").first.is_visible()
    assert "20 sự cố có vị trí trong 30 ngày gần nhất" in page.locator(".page-head").inner_text()
    page.locator("#hot-map path.leaflet-interactive").first.wait_for(state="attached")
    assert "Điểm nóng, tin cậy 99%" in page.locator("#hot-legend").inner_text()
    # No tile server is set: the map is drawn on the plain background of the shared map helper.
    assert "sp-map-no-tiles" in (page.locator("#hot-map").get_attribute("class") or "")
    page.locator("#fc-chart canvas").first.wait_for(state="attached")
    page.wait_for_timeout(1500)  # the chart's bars grow in; look at them grown
    page.screenshot(path=str(shots / "ioc-hotspots.png"), full_page=True)
    page.goto(base + "/ioc/hotspots?method=dbscan&days=30&cell_m=1000")
    page.locator("#hot-map path.leaflet-interactive").first.wait_for(state="attached")

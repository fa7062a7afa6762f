"""The IOC wall in headless Chromium over the reference province: it loads with its layers, drills down
to a district, filters to a district's room, and receives a live incident published while it is open.

Screenshots go to a temporary folder, or to ``SMARTPROVINCE_SCREENSHOTS`` (``docs/screenshots`` keeps
``ioc-wall.png`` and ``ioc-room.png``). Skipped only without Chromium or Playwright.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from smartprovince.core.migrate import upgrade

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "tuong-thu-nghiem-1"  # noqa: S105 - a test account in a temporary database
INCIDENTS = [  # (category, title, severity, lat, lon, organisation code)
    ("flooding", "Ngập sâu đường Thanh Niên", "high", 20.9385, 106.3262, "288"),
    ("traffic_accident", "Va chạm ô tô tại ngã tư Quang Trung", "critical", 20.9393, 106.3303, "288"),
    ("road_damage", "Ổ gà lớn trên Quốc lộ 5 qua Lai Cách", "medium", 20.9361, 106.2531, "295"),
    ("environment_waste", "Rác thải ùn ứ chợ Ghẽ", "low", 20.9520, 106.2350, "295"),
    ("air_pollution", "Khói đốt rơm rạ xã Thái Học", "medium", 20.8930, 106.1650, "296"),
    ("fire", "Cháy kho hàng khu công nghiệp Cộng Hòa", "high", 21.1010, 106.3800, "290"),
]


@pytest.fixture
def live(tmp_path: Path, serve) -> Iterator[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    """The app over the Hải Dương tree with rooms, cameras, KPIs and a few open incidents; yields (url, db)."""
    from smartprovince import identity
    from smartprovince.app import create_app
    from smartprovince.core.clock import now
    from smartprovince.core.db import Database
    from smartprovince.core.security import SYSTEM
    from smartprovince.operations import IncidentInput, cameras, kpi_engine, open_incident, rooms
    from smartprovince.settings import Settings

    url = f"sqlite:///{tmp_path / 'wall.db'}"
    upgrade(url)
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=url,
        load_demo=False,
        secret_key="wall-browser-secret",
        log_json=True,
        bus_url="inprocess",
    )
    db = Database(url)
    with db.session() as s:
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
        identity.sync_builtin_roles(s)
        province = identity.get_org_by_code(s, "30")
        district = identity.get_org_by_code(s, "295")
        identity.create_user(
            s,
            actor=SYSTEM,
            username="ioc.vanhanh",
            password=PASSWORD,
            full_name="Vũ Thị Lan",
            kind="officer",
            org_id=province.id,
            roles=[("ioc_operator", province.id)],
        )
        identity.create_user(
            s,
            actor=SYSTEM,
            username="lanhdao.huyen",
            password=PASSWORD,
            full_name="Nguyễn Văn Hùng",
            kind="officer",
            org_id=district.id,
            roles=[("district_leader", district.id)],
        )
        rooms.sync_rooms(s, actor=SYSTEM)
        kpi_engine.load_definitions(s, actor=SYSTEM)
        for cat, title, sev, lat, lon, code in INCIDENTS:
            org = identity.get_org_by_code(s, code)
            open_incident(
                s,
                actor=SYSTEM,
                data=IncidentInput(
                    category=cat, title=title, severity=sev, lat=lat, lon=lon, org_id=org.id, source="manual"
                ),
            )
        month = (now() - timedelta(days=31)).strftime("%Y-%m")
        for code in ("d766_on_time_rate", "d766_online_rate", "reports_handled_rate"):
            for org_code in (None, "288", "295"):
                org = identity.get_org_by_code(s, org_code) if org_code else None
                try:
                    kpi_engine.compute_kpi(s, actor=SYSTEM, code=code, period=month, org_id=org.id if org else None)
                except Exception:  # noqa: BLE001, S112 - a KPI without data simply shows no value
                    continue
        # The top row's stored values, as the KPI run leaves them (province and the district, two months).
        from smartprovince.core.ids import new_id

        before = (now() - timedelta(days=62)).strftime("%Y-%m")
        headline_values = {
            "d766_received": (41250, 38900, 3120, 2950),
            "d766_online_rate": (61.4, 58.2, 66.0, 60.5),
            "d766_on_time_rate": (97.8, 98.4, 99.1, 97.2),
            "d766_finished": (40100, 37800, 3050, 2890),
            "reports_received": (1840, 1712, 152, 160),
            "reports_handled_rate": (92.5, 94.1, 88.0, 91.3),
            "reports_on_time_rate": (86.0, 88.2, 81.5, 84.0),
        }
        from sqlalchemy import delete

        s.execute(delete(kpi_engine.KpiValue).where(kpi_engine.KpiValue.kpi_code.in_(list(headline_values))))
        for code, values in headline_values.items():
            target = {"d766_on_time_rate": 95.0, "reports_handled_rate": 90.0}.get(code)
            for org, (cur, prev) in ((None, values[:2]), (district, values[2:])):
                for period, value in ((month, cur), (before, prev)):
                    status = "none" if target is None else ("green" if value >= target else "amber")
                    s.add(
                        kpi_engine.KpiValue(
                            id=new_id(),
                            kpi_code=code,
                            period=period,
                            org_id=org.id if org else "",
                            org_path=org.path if org else "",
                            value=value,
                            target=target,
                            status=status,
                            alarm=False,
                            computed_at=now(),
                        )
                    )
    cameras.load_demo(db, settings, lambda *a, **k: None)
    yield serve(create_app(settings, db=db)), db
    db.dispose()


@pytest.fixture
def browser_viewport() -> dict[str, int]:
    return {"width": 1440, "height": 1000}


def _login(page: Any, base: str, username: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(base + "/")


def test_wall_drills_down_filters_to_a_room_and_receives_live_incidents(live, page, shots) -> None:  # type: ignore[no-untyped-def]
    from smartprovince import identity
    from smartprovince.core import bus

    base, db = live
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, base, "ioc.vanhanh")
    page.goto(base + "/ioc/wall")
    assert page.get_by_role("heading", name="Màn hình tổng quan").is_visible()
    # The layer control lists every layer; camera pins and the area labels arrive from their APIs.
    page.wait_for_timeout(500)
    assert not errors, errors
    control = page.locator(".leaflet-control-layers")
    for name in ("Sự cố đang mở", "Phản ánh của người dân", "Trạm cảm biến", "Camera", "Địa bàn", "Bản đồ nhiệt"):
        assert name in control.inner_text()
    page.wait_for_function("document.querySelectorAll('#ioc-map .wall-pin').length >= 30")
    assert page.locator("#ioc-map path.leaflet-interactive").count() >= 1  # incidents (clustered where close)
    assert page.locator(".wall-areas tbody tr").count() == 12  # the 12 district-level units
    page.wait_for_timeout(800)
    page.screenshot(path=str(shots / "ioc-wall.png"), full_page=True)

    # Drill down: the district's row narrows the wall to it, with a breadcrumb back to the province.
    page.locator(".wall-areas").get_by_role("link", name="Huyện Cẩm Giàng").click()
    page.wait_for_url("**/ioc/wall?area=*")
    assert "Huyện Cẩm Giàng" in page.locator("h1").inner_text()
    assert page.locator(".breadcrumb").get_by_role("link", name="Tỉnh Hải Dương").is_visible()
    feed = page.locator("#feed").inner_text()
    assert "Ổ gà lớn trên Quốc lộ 5 qua Lai Cách" in feed and "Ngập sâu đường Thanh Niên" not in feed
    assert "Thị trấn Lai Cách" in page.locator(".wall-areas").inner_text()  # its communes, one level down
    page.locator(".breadcrumb").get_by_role("link", name="Tỉnh Hải Dương").click()
    page.wait_for_url("**/ioc/wall?area=*")
    assert page.locator(".wall-areas tbody tr").count() == 12

    # Rooms: the provincial centre sees every room with its state, opens the district's room.
    page.goto(base + "/ioc/rooms")
    assert page.locator("article.room").count() == 26
    page.get_by_role("link", name="Phòng điều hành Huyện Cẩm Giàng").click()
    page.wait_for_url("**/ioc/rooms/dia-ban-295")
    assert "Phòng điều hành Huyện Cẩm Giàng" in page.locator("h1").inner_text()
    assert page.locator("#tile-open").inner_text().strip() == "2"
    page.wait_for_timeout(1500)  # the live stream is connected

    # A live incident in the room's area reaches the open room: feed line, map marker and tile count.
    with db.session() as s:
        org = identity.get_org_by_code(s, "10891")
        bus.publish(
            s,
            "operations.incident.ingest",
            {
                "ref": "cam-77",
                "source": "camera",
                "category": "traffic_accident",
                "severity": "critical",
                "title": "Camera AI: xe đi ngược chiều trên Quốc lộ 5",
                "lat": 20.9372,
                "lon": 106.2545,
                "org_id": org.id,
            },
        )
        other = identity.get_org_by_code(s, "296")
        bus.publish(
            s,
            "operations.incident.ingest",
            {
                "ref": "cam-78",
                "source": "camera",
                "category": "fire",
                "title": "Khói tại Bình Giang",
                "lat": 20.88,
                "lon": 106.18,
                "org_id": other.id,
            },
        )
    item = page.locator("#feed li", has_text="xe đi ngược chiều")
    item.wait_for(timeout=15000)
    assert "Khẩn cấp" in item.inner_text()
    page.locator("#wall-alerts .wall-alert").first.wait_for(timeout=5000)
    page.wait_for_function("document.getElementById('tile-open').textContent.trim() === '3'")
    assert "Khói tại Bình Giang" not in page.locator("#feed").inner_text()  # another district's
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / "ioc-room.png"), full_page=True)
    assert not errors, errors


def test_district_leader_lands_on_their_room(live, page, shots) -> None:  # type: ignore[no-untyped-def]
    base, _ = live
    _login(page, base, "lanhdao.huyen")
    page.goto(base + "/ioc/wall")
    page.wait_for_url("**/ioc/rooms/dia-ban-295")
    text = page.locator("main").inner_text() if page.locator("main").count() else page.content()
    assert "Va chạm ô tô tại ngã tư Quang Trung" not in text  # the city's incident is not theirs
    page.goto(base + "/ioc/cameras/HD-CG-001")
    assert "Thị trấn Lai Cách – Quốc lộ 5" in page.locator("h1").inner_text()


def test_a_rooms_map_layers_keep_to_its_area(live, page) -> None:  # type: ignore[no-untyped-def]
    """Reports, sensors and cameras come from other modules' APIs for the whole province; a district's room
    keeps only those inside the district's outline (checked against identity's own point-in-area)."""
    from smartprovince import feedback, identity
    from smartprovince.core.security import SYSTEM
    from smartprovince.operations import cameras
    from smartprovince.sensing import demo as sensing_demo

    base, db = live
    sensing_demo.load(db, None, lambda *a, **k: None)
    points = [(20.9361, 106.2531), (20.9520, 106.2350), (20.9385, 106.3262), (21.1010, 106.3800)]
    cats = [c.code for c in feedback.all_categories()]
    with db.session() as s:
        district = identity.get_org_by_code(s, "295")

        def inside(lat: float, lon: float) -> bool:
            org = identity.locate(s, lon, lat, level="district")
            return org is not None and org.id == district.id

        for i, (lat, lon) in enumerate(points):
            feedback.submit_report(
                s,
                actor=SYSTEM,
                report=feedback.NewReport(
                    category_code=cats[i % len(cats)], description=f"Phản ánh thử {i}", lat=lat, lon=lon
                ),
            )
        want_reports = sum(inside(lat, lon) for lat, lon in points)
        cams = [(c.lat, c.lon) for c in cameras.cameras_for(s, SYSTEM)]
        want_cams = sum(inside(lat, lon) for lat, lon in cams)
    assert 0 < want_reports < len(points) and 0 < want_cams < len(cams)

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _login(page, base, "ioc.vanhanh")
    page.goto(base + "/ioc/wall")
    # The stations as the viewer gets them from the sensing API.
    stations = page.evaluate(
        "fetch('/api/v1/sensing/stations', {credentials: 'same-origin'}).then(r => r.json())"
        ".then(b => b.items.map(s => [s.latitude, s.longitude]))"
    )
    with db.session() as s:
        want_sensors = sum(inside(lat, lon) for lat, lon in stations if lat is not None)
    assert 0 < want_sensors < len(stations)
    page.wait_for_function(f"window.iocMap && window.iocMap.counts.sensors === {len(stations)}")
    page.wait_for_function(f"window.iocMap && window.iocMap.counts.cameras === {len(cams)}")
    page.goto(base + "/ioc/rooms/dia-ban-295")
    page.wait_for_function(f"window.iocMap && window.iocMap.counts.cameras === {want_cams}")
    page.wait_for_function(f"window.iocMap.counts.sensors === {want_sensors}")
    page.locator(".leaflet-control-layers label", has_text="Phản ánh của người dân").locator("input").check()
    page.wait_for_function(f"window.iocMap.counts.reports === {want_reports}")
    page.wait_for_timeout(300)
    counts = page.evaluate("window.iocMap.counts")
    assert counts == {"reports": want_reports, "sensors": want_sensors, "cameras": want_cams}
    assert not errors, errors

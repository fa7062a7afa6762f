"""An IOC operator in headless Chromium: the wall loads, a sensor alert arrives live in the feed and on
the map, the operator opens it and ticks the first SOP step. Skipped only without Chromium or Playwright.

Screenshots go to a temporary folder, or to ``SMARTPROVINCE_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartprovince.core.migrate import upgrade

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "van-hanh-thu-nghiem-1"  # noqa: S105 - a test account in a temporary database


@pytest.fixture
def live(tmp_path: Path, serve) -> Iterator[tuple[str, object]]:  # type: ignore[no-untyped-def]
    """The app on a free local port (temporary SQLite, in-process bus) with an IOC operator; yields (url, db)."""
    from smartprovince import identity
    from smartprovince.app import create_app
    from smartprovince.core.db import Database
    from smartprovince.core.security import SYSTEM
    from smartprovince.settings import Settings

    url = f"sqlite:///{tmp_path / 'ioc.db'}"
    upgrade(url)
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=url, load_demo=False,
                        secret_key="ioc-browser-secret", log_json=True, bus_url="inprocess")
    db = Database(url)
    with db.session() as s:
        identity.sync_builtin_roles(s)
        province = identity.create_organisation(s, actor=SYSTEM, code="30", name="Tỉnh Hải Dương", level="province")
        identity.create_user(s, actor=SYSTEM, username="ioc.vanhanh", password=PASSWORD, full_name="Vũ Thị Lan",
                             kind="officer", org_id=province.id, roles=[("ioc_operator", province.id)])
    yield serve(create_app(settings, db=db)), db
    db.dispose()


@pytest.fixture
def browser_viewport() -> dict[str, int]:
    return {"width": 1366, "height": 900}


def test_wall_receives_a_live_incident(live, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from smartprovince.core import bus

    base, db = live
    shots = Path(os.environ.get("SMARTPROVINCE_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    page.goto(base + "/login")
    page.get_by_label("Tên đăng nhập").fill("ioc.vanhanh")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(base + "/")
    page.goto(base + "/ioc/wall")
    assert page.get_by_role("heading", name="Màn hình tổng quan").is_visible()
    assert page.locator("#feed li").count() == 0
    page.wait_for_timeout(1200)  # the SSE connection is open

    # Another module raises a sensor alert: it is published on the bus, dispatched, and pushed to the wall.
    with db.session() as s:  # type: ignore[attr-defined]
        bus.publish(s, "sensing.alert.raised", {"alert_id": "al-77", "thing": "Trạm thủy văn Cầu Cất",
                                                "threshold": "Mực nước vượt báo động 2", "severity": "critical",
                                                "coordinates": [106.3146, 20.9373]})
    item = page.locator("#feed li").first
    item.wait_for(timeout=15000)
    assert "Trạm thủy văn Cầu Cất" in item.inner_text() and "Khẩn cấp" in item.inner_text()
    assert page.locator("#ioc-map path.leaflet-interactive").count() == 1  # the marker arrived too
    page.wait_for_function("document.querySelector('#wall-tiles .ioc-tile.alarm .value')?.textContent.trim() === '1'")
    page.screenshot(path=str(shots / "ioc-wall-live.png"))

    item.get_by_role("link").click()
    page.wait_for_url("**/ioc/incidents/*")
    assert "Ngập úng" in page.locator(".page-head").inner_text()
    page.locator(".checklist li").first.get_by_role("button").click()
    assert "Đã cập nhật sự cố." in page.locator(".alert-success").inner_text()
    assert "Hoàn thành bước" in page.locator(".timeline").inner_text()
    page.screenshot(path=str(shots / "ioc-incident.png"), full_page=True)

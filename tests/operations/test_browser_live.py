"""An IOC operator in headless Chromium: the wall loads, a sensor alert arrives live in the feed and on
the map, the operator opens it and ticks the first SOP step. Skipped only without Chromium or Playwright.

Screenshots go to a temporary folder, or to ``SMARTPROVINCE_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smartprovince.core.migrate import upgrade

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
PASSWORD = "van-hanh-thu-nghiem-1"  # noqa: S105 - a test account in a temporary database


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, object]]:
    """The app on a free local port (temporary SQLite, in-process bus) with an IOC operator; yields (url, db)."""
    import uvicorn

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
    app = create_app(settings, db=db)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", db
    server.should_exit = True
    thread.join(10)
    db.dispose()


@pytest.fixture
def page():  # type: ignore[no-untyped-def]
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="vi-VN")
        pg = context.new_page()
        pg.set_default_timeout(15000)
        yield pg
        context.close()
        browser.close()


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

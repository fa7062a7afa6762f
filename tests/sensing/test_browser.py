"""A citizen in headless Chromium: the station map with current values, then a station page with charts.

Skipped (not failed) only when Chromium or Playwright is absent. Screenshots go to a temporary folder,
or to ``SMARTPROVINCE_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from smartprovince.sensing import demo

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def test_station_map_and_station_charts(live_server, database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    playwright = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    demo.load(database, None, lambda *a, **k: None)
    shots = Path(os.environ.get("SMARTPROVINCE_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{live_server}/portal/sensing")
        page.wait_for_selector(".leaflet-marker-icon")
        assert page.locator(".leaflet-marker-icon").count() == 13
        assert page.locator(".sv-alert").count() >= 1  # the Luộc station is above alarm level I
        page.screenshot(path=str(shots / "sensing-stations.png"), full_page=True)
        page.get_by_role("link", name="Trạm không khí Sao Đỏ").click()
        page.wait_for_selector("#aqi")
        page.wait_for_function("document.querySelectorAll('.chart canvas').length >= 6")
        assert "VN_AQI" in page.content()
        page.screenshot(path=str(shots / "sensing-station.png"), full_page=True)
        browser.close()
    assert not errors, errors

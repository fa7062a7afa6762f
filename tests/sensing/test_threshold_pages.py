"""The threshold editing pages (/console/sensing/thresholds): list, create, edit, delete, presets; CSRF
and permissions; and the API's PATCH. The browser test looks at the page in headless Chromium."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from smartprovince.sensing.models import Threshold

from .conftest import THING, create_thing

PAGE = "/console/sensing/thresholds"
WATER = {**THING, "name": "Trạm thủy văn Phả Lại", "properties": {"kind": "water"}, "Locations": [],
         "Datastreams": [{**THING["Datastreams"][0], "name": "Mực nước Phả Lại",
                          "unitOfMeasurement": {"name": "metre", "symbol": "m", "definition": "ucum:m"},
                          "ObservedProperty": {"name": "Mực nước", "definition": "http://example.org/level",
                                               "description": "Mực nước sông", "properties": {"code": "WL"}}}]}


@pytest.fixture
def stations(client, writer) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    air = create_thing(client, writer)
    water = create_thing(client, writer, WATER)
    props = {p["name"]: p["@iot.id"] for p in client.get("/sta/v1.1/ObservedProperties").json()["value"]}
    return {"air": air["@iot.id"], "water": water["@iot.id"], "pm25": props["PM2.5"], "level": props["Mực nước"]}


def _rules(database: Any) -> list[Threshold]:
    with database.session() as s:
        rows = list(s.scalars(sa.select(Threshold).order_by(Threshold.value)))
        s.expunge_all()
        return rows


def test_an_officer_creates_edits_and_deletes_a_rule(client, make_user, login, database, stations) -> None:  # type: ignore[no-untyped-def]
    login(make_user("moi.truong", role="specialist"))
    r = client.get(PAGE)
    assert r.status_code == 200 and "Chưa có ngưỡng cảnh báo nào." in r.text
    assert client.get(f"{PAGE}/new").status_code == 200
    csrf = client.headers["x-csrf-token"]
    form = {"csrf_token": csrf, "name": "Mực nước cao", "observed_property_id": str(stations["level"]),
            "thing_id": str(stations["water"]), "kind": "above", "value": "4.5", "clear_value": "4.3",
            "window_minutes": "", "level": "Báo động II", "severity": "warning", "is_active": "1"}
    r = client.post(f"{PAGE}/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    (rule,) = _rules(database)
    assert (rule.value, rule.clear_value, rule.thing_id, rule.level, rule.is_active) == (
        4.5, 4.3, stations["water"], "Báo động II", True)
    page = client.get(PAGE).text
    assert "Mực nước cao" in page and "Trạm thủy văn Phả Lại" in page
    # hysteresis on the wrong side is refused and the form comes back with the values typed
    r = client.post(f"{PAGE}/{rule.id}/edit", data={**form, "clear_value": "4.8"})
    assert r.status_code == 422 and "Không lưu được" in r.text and 'value="4.8"' in r.text
    r = client.post(f"{PAGE}/{rule.id}/edit", data={**form, "kind": "rate", "value": "0.5", "clear_value": "",
                                                    "window_minutes": "30", "thing_id": ""}, follow_redirects=False)
    assert r.status_code == 303
    (rule,) = _rules(database)
    assert (rule.kind, rule.value, rule.clear_value, rule.window_minutes, rule.thing_id, rule.is_active) == (
        "rate", 0.5, None, 30, None, True)
    r = client.post(f"{PAGE}/{rule.id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert _rules(database) == []


def test_bad_input_csrf_and_permissions(client, make_user, login, database, stations) -> None:  # type: ignore[no-untyped-def]
    assert client.get(PAGE, follow_redirects=False).status_code in (302, 303, 401)
    login(make_user("van.hanh", role="ioc_operator"))
    assert client.get(PAGE).status_code == 200  # may read the rules …
    assert "Thêm ngưỡng" not in client.get(PAGE).text
    assert client.get(f"{PAGE}/new").status_code == 403  # … but not change them
    client.cookies.clear()
    client.headers.pop("x-csrf-token", None)
    login(make_user("moi.truong", role="specialist"))
    csrf = client.headers.pop("x-csrf-token")
    form = {"name": "x", "observed_property_id": str(stations["pm25"]), "kind": "above", "value": "50",
            "severity": "warning"}
    assert client.post(f"{PAGE}/new", data=form).status_code == 403  # no CSRF token
    for bad in ({"value": "nhiều"}, {"value": "nan"}, {"kind": "sideways"}, {"observed_property_id": "999999"},
                {"name": ""}, {"window_minutes": "-3"}, {"thing_id": "abc"}):
        r = client.post(f"{PAGE}/new", data={**form, "csrf_token": csrf, **bad})
        assert r.status_code == 422, (bad, r.status_code)
    assert _rules(database) == []
    assert client.get(f"{PAGE}/{'f' * 32}/edit").status_code == 404
    assert client.post(f"{PAGE}/{'f' * 40}/delete", data={"csrf_token": csrf}).status_code == 404


def test_presets_add_vn_aqi_bands_and_flood_alarm_levels(client, make_user, login, database, stations) -> None:  # type: ignore[no-untyped-def]
    login(make_user("moi.truong", role="specialist"))
    csrf = client.headers["x-csrf-token"]
    r = client.post(f"{PAGE}/preset", data={"csrf_token": csrf, "preset": "aqi",
                                            "observed_property_id": str(stations["pm25"]), "thing_id": "",
                                            "hysteresis": "10"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    rules = _rules(database)
    assert [(x.value, x.clear_value, x.level, x.severity) for x in rules] == [
        (50.0, 45.0, "VN_AQI Kém", "info"), (80.0, 72.0, "VN_AQI Xấu", "warning"),
        (150.0, 135.0, "VN_AQI Rất xấu", "critical"), (250.0, 225.0, "VN_AQI Nguy hại", "critical")]
    # VN_AQI bands exist only for the pollutants of the Decision
    r = client.post(f"{PAGE}/preset", data={"csrf_token": csrf, "preset": "aqi",
                                            "observed_property_id": str(stations["level"])})
    assert r.status_code == 422
    r = client.post(f"{PAGE}/preset", data={"csrf_token": csrf, "preset": "water",
                                            "observed_property_id": str(stations["level"]),
                                            "thing_id": str(stations["water"]), "level1": "3,5", "level2": "4.5",
                                            "level3": "5.5", "hysteresis": "0.1"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    water = [x for x in _rules(database) if x.thing_id == stations["water"]]
    assert [(x.level, x.value, x.clear_value) for x in water] == [
        ("Báo động I", 3.5, 3.4), ("Báo động II", 4.5, 4.4), ("Báo động III", 5.5, 5.4)]
    r = client.post(f"{PAGE}/preset", data={"csrf_token": csrf, "preset": "water",
                                            "observed_property_id": str(stations["level"]),
                                            "thing_id": str(stations["water"]), "level1": "5", "level2": "4",
                                            "level3": "6"})
    assert r.status_code == 422 and "I &lt; II &lt; III" in r.text
    assert client.post(f"{PAGE}/preset", data={"csrf_token": csrf, "preset": "x",
                                               "observed_property_id": "1"}).status_code == 422
    page = client.get(f"{PAGE}?thing={stations['water']}").text
    assert page.count("Báo động III") >= 1 and "VN_AQI Kém" in page  # rules for every station are listed too


def test_api_patch_changes_a_rule(client, writer, stations) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/v1/sensing/thresholds", headers=writer, json={
        "name": "PM2.5 cao", "observed_property_id": stations["pm25"], "kind": "above", "value": 50})
    rule = r.json()["id"]
    r = client.patch(f"/api/v1/sensing/thresholds/{rule}", headers=writer, json={"value": 80, "clear_value": 70})
    assert r.status_code == 200 and r.json()["value"] == 80 and r.json()["clear_value"] == 70
    r = client.patch(f"/api/v1/sensing/thresholds/{rule}", headers=writer, json={"clear_value": 90})
    assert r.status_code == 422
    assert client.patch(f"/api/v1/sensing/thresholds/{rule}", headers=writer, json={"value": None}).status_code == 422
    assert client.patch(f"/api/v1/sensing/thresholds/{rule}", headers=writer, json={"x": 1}).status_code == 422
    assert client.patch(f"/api/v1/sensing/thresholds/{'0' * 32}", headers=writer, json={}).status_code == 404
    assert client.patch(f"/api/v1/sensing/thresholds/{rule}", json={"value": 1}).status_code == 401


@pytest.mark.browser
@pytest.mark.slow
def test_threshold_page_in_a_browser(app, serve, page, shots, make_user, database, client, writer, stations) -> None:  # type: ignore[no-untyped-def]
    make_user("moi.truong", role="specialist")
    base = serve(app)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/login")
    page.get_by_label("Tên đăng nhập").fill("moi.truong")
    page.get_by_label("Mật khẩu").fill("mat-khau-thu-nghiem-1")
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(base + "/")
    page.goto(f"{base}{PAGE}")
    page.select_option("#preset-water select[name=thing_id]", str(stations["water"]))
    page.select_option("#preset-water select[name=observed_property_id]", str(stations["level"]))
    page.fill("#preset-water input[name=level1]", "3.5")
    page.fill("#preset-water input[name=level2]", "4.5")
    page.fill("#preset-water input[name=level3]", "5.5")
    page.locator("#preset-water button[type=submit]").click()
    page.wait_for_selector("text=Báo động III")
    page.locator("#preset-aqi button[type=submit]").click()
    page.wait_for_selector("text=VN_AQI Nguy hại")
    assert page.locator("#thresholds tbody tr").count() == 7
    page.screenshot(path=str(shots / "sensing-thresholds.png"), full_page=True)
    row_ii = page.locator("#thresholds tbody tr").filter(has=page.get_by_role("cell", name="Báo động II", exact=True))
    row_ii.get_by_role("link", name="Sửa").click()
    page.wait_for_selector("#threshold-form")
    page.get_by_label("Ngưỡng", exact=True).fill("4.6")
    page.screenshot(path=str(shots / "sensing-threshold-form.png"), full_page=True)
    page.locator("#threshold-form button[type=submit]").click()
    page.wait_for_selector("#thresholds")
    assert re.search(r"4\.6\s*m", row_ii.inner_text())
    assert not errors, errors

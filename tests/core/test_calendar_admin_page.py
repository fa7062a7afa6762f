"""The administration page /admin/calendar: see the year, add and remove a decision with the form (CSRF)."""

from __future__ import annotations

import re

import pytest

from smartprovince.core import calendar

HTML = {"accept": "text/html"}


@pytest.fixture
def admin(client, make_user, login):
    user = make_user("lich.quantri", role="admin")
    token = login(user)
    yield token
    calendar.bind_database(None)


def cell(html: str, day: str) -> str:
    match = re.search(rf'<td class="cal-day-(\w+)" data-date="{day}" data-working="(\w+)"', html)
    assert match, day
    return f"{match.group(1)}:{match.group(2)}"


def test_the_page_shows_the_year_with_holidays_and_decisions(client, admin):
    r = client.get("/admin/calendar", params={"year": 2025}, headers=HTML)
    assert r.status_code == 200
    html = r.text
    assert "Lịch ngày nghỉ, ngày làm bù" in html
    assert cell(html, "2025-04-26") == "override_working:true"
    assert cell(html, "2025-05-02") == "override_off:false"
    assert cell(html, "2025-04-30") == "holiday:false"
    assert cell(html, "2025-03-08") == "weekend:false"
    assert "Ngày Chiến thắng" in html
    assert "Thông báo 6150/TB-BLĐTBXH" in html


def test_the_page_speaks_english_too(client, admin):
    r = client.get("/admin/calendar", params={"year": 2026}, headers={**HTML, "accept-language": "en"})
    assert r.status_code == 200
    assert "Liberation Day/Reunification Day" in r.text
    assert "Public holidays under the Labour Code (Article 112)" in r.text


def test_add_and_remove_a_decision_with_the_form(client, admin):
    form = {
        "day": "2027-03-12",
        "kind": "off",
        "reason": "Nghỉ theo quyết định thử",
        "reference": "QĐ 9",
        "csrf_token": admin,
    }
    r = client.post("/admin/calendar/overrides", data=form, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/calendar?year=2027"
    page = client.get("/admin/calendar?year=2027", headers=HTML).text
    assert cell(page, "2027-03-12") == "override_off:false"
    assert "Đã lưu ngày 12/03/2027." in page
    api = client.get("/api/v1/calendar/days", params={"from": "2027-03-12", "to": "2027-03-12"}).json()
    assert api["items"][0]["working"] is False

    r = client.post(
        "/admin/calendar/overrides/2027-03-12/delete", data={"csrf_token": admin}, headers=HTML, follow_redirects=False
    )
    assert r.status_code == 303
    assert cell(client.get("/admin/calendar?year=2027", headers=HTML).text, "2027-03-12") == "working_day:true"


def test_the_form_needs_the_csrf_token(client, admin):
    form = {"day": "2027-03-12", "kind": "off", "reason": "Không có mã CSRF"}
    client.headers.pop("x-csrf-token", None)
    r = client.post("/admin/calendar/overrides", data=form, headers=HTML, follow_redirects=False)
    assert r.status_code == 403
    assert cell(client.get("/admin/calendar?year=2027", headers=HTML).text, "2027-03-12") == "working_day:true"


@pytest.mark.parametrize(
    ("day", "kind", "reason", "message"),
    [
        ("12/03/2027", "off", "x", "Ngày không hợp lệ"),
        ("2027-03-12", "holiday", "x", "Loại ngày không hợp lệ."),
        ("2027-03-12", "off", " ", "Lý do không được để trống."),
        ("2150-03-12", "off", "x", "Năm phải từ 1995 đến 2099."),
    ],
)
def test_bad_input_shows_the_form_again_with_the_message(client, admin, day, kind, reason, message):
    form = {"day": day, "kind": kind, "reason": reason, "csrf_token": admin}
    r = client.post("/admin/calendar/overrides", data=form, headers=HTML)
    assert r.status_code == 422
    assert message in r.text


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    r = client.get("/admin/calendar", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_only_calendar_managers_open_the_page(client, make_user, login):
    login(make_user("chuyen.vien", role="specialist"))
    assert client.get("/admin/calendar", headers=HTML).status_code == 403
    assert (
        client.post(
            "/admin/calendar/overrides", data={"day": "2027-03-12", "kind": "off", "reason": "x"}, headers=HTML
        ).status_code
        == 403
    )


def test_the_admin_reloads_the_shipped_decisions(client, admin):
    client.post("/admin/calendar/overrides/2025-05-02/delete", data={"csrf_token": admin}, headers=HTML)
    assert (
        cell(client.get("/admin/calendar?year=2025", headers=HTML).text, "2025-05-02") == "holiday:false"
    )  # the package knows it too
    r = client.post("/admin/calendar/import", data={"csrf_token": admin}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/admin/calendar?year=2025", headers=HTML).text
    assert "Đã nạp 1 quyết định đi kèm phần mềm." in page
    assert cell(page, "2025-05-02") == "override_off:false"

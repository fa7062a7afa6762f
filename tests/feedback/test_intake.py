"""Reports taken by the hotline or at the desk (kênh đường dây nóng / trực tiếp): the officer types the
caller's report; the caller — not the officer — is its reporter, told by e-mail, and the channel is kept."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from smartprovince.feedback.models import Report

BODY = {"category": "waste", "description": "Người gọi báo rác đổ trộm cạnh chợ", "area_code": "10891"}


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF field"
    return m.group(1)


def test_hotline_desk_enters_a_callers_report(client: TestClient, orgs: Any, make_user: Any, login: Any,
                                              database: Any) -> None:
    desk = make_user("tongdai.1022b", role="onestop_officer", org="30", full_name="Cán bộ Tổng đài",
                     email="tongdai@haiduong.gov.vn")
    login(desk)
    r = client.post("/api/v1/feedback/reports", json={**BODY, "channel": "hotline", "name": "Nguyễn Văn Gọi",
                                                      "phone": "0912000111"})
    assert r.status_code == 201, r.text
    no_email = client.post("/api/v1/feedback/reports", json={**BODY, "channel": "desk"})
    assert no_email.status_code == 201, no_email.text
    page = client.get("/portal/feedback/new", headers={"accept": "text/html"}).text
    assert 'name="channel"' in page and "Đường dây nóng" in page
    assert 'value="Cán bộ Tổng đài"' not in page  # the caller's name is typed, not the officer's
    form = client.post("/portal/feedback/new", data={**BODY, "category": "waste", "csrf_token": _csrf(page),
                                                    "channel": "hotline", "email": "goi@example.vn"},
                       follow_redirects=False)
    assert form.status_code == 303, form.text
    with database.session() as s:
        rows = {x.code: x for x in s.scalars(select(Report))}
        hotline, desk_row = rows[r.json()["code"]], rows[no_email.json()["code"]]
        web = next(x for x in rows.values() if x.reporter_email == "goi@example.vn")
        assert (hotline.channel, desk_row.channel, web.channel) == ("hotline", "desk", "hotline")
        # the officer is not the reporter: no inbox, no e-mail of the officer, no rating by the officer
        assert {x.reporter_user_id for x in rows.values()} == {None}
        assert hotline.reporter_name == "Nguyễn Văn Gọi" and hotline.reporter_phone == "0912000111"
        assert desk_row.reporter_email is None and desk_row.reporter_name is None


def test_only_intake_officers_may_say_hotline(client: TestClient, orgs: Any, make_user: Any, login: Any) -> None:
    assert client.post("/api/v1/feedback/reports", json={**BODY, "channel": "hotline"}).status_code == 403
    citizen = make_user("dan.hotline", role="citizen", kind="citizen")
    login(citizen)
    refused = client.post("/api/v1/feedback/reports", json={**BODY, "channel": "desk"})
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert client.post("/api/v1/feedback/reports", json={**BODY, "channel": "fax"}).status_code == 422
    page = client.get("/portal/feedback/new", headers={"accept": "text/html"}).text
    assert 'name="channel"' not in page
    mine = client.post("/api/v1/feedback/reports", json=BODY)
    assert mine.status_code == 201  # a citizen's own report keeps its reporter (rating, inbox)

"""The IOC console's form to open an incident by hand (a hotline call): SOP attached, duplicates joined,
mistakes shown on the form (never a 500), a district leader limited to their district."""

from __future__ import annotations

import re

from sqlalchemy import select

from smartprovince.operations.models import Incident


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no CSRF field"
    return m.group(1)


def test_operator_opens_an_incident_from_the_console(env, client, make_user, login) -> None:  # type: ignore[no-untyped-def]
    make_user("ioc.mo", role="ioc_operator", org="30", full_name="Đỗ Văn Mở")
    login("ioc.mo")
    console = client.get("/ioc/incidents").text
    assert 'href="/ioc/incidents/new"' in console
    page = client.get("/ioc/incidents/new")
    assert page.status_code == 200 and "Mở sự cố" in page.text and "Huyện Cẩm Giàng" in page.text
    csrf = _csrf(page.text)
    form = {"csrf_token": csrf, "category": "fire", "title": "Cháy kho phế liệu", "severity": "critical",
            "lat": "20,95", "lon": "106.21", "address": "Thị trấn Lai Cách", "org_id": env.orgs["295"].id}
    r = client.post("/ioc/incidents/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    incident_url = r.headers["location"]
    page = client.get(incident_url).text
    assert "Cháy kho phế liệu" in page and "Huyện Cẩm Giàng" in page
    again = client.post("/ioc/incidents/new", data={**form, "title": "Người dân gọi lại về đám cháy"},
                        follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == incident_url  # joined, not a second one
    with env.db.session() as s:
        rows = list(s.scalars(select(Incident)))
        assert len(rows) == 1
        inc = rows[0]
        assert (inc.category, inc.severity, inc.source, inc.org_id) == ("fire", "critical", "manual",
                                                                        env.orgs["295"].id)
        assert inc.lat == 20.95

    # mistakes come back on the form with the message
    bad = client.post("/ioc/incidents/new", data={**form, "title": " "})
    assert bad.status_code == 422 and "alert-error" in bad.text and "Cháy kho phế liệu" not in bad.text
    assert client.post("/ioc/incidents/new", data={**form, "lat": "bắc"}).status_code == 422
    assert client.post("/ioc/incidents/new", data={**form, "lon": ""}).status_code == 422
    assert client.post("/ioc/incidents/new", data={**form, "severity": "apocalypse"}).status_code == 422
    assert client.post("/ioc/incidents/new", data={**form, "title": "x" * 301}).status_code == 422
    assert client.post("/ioc/incidents/new", data={**form, "org_id": "nope"}).status_code == 422
    client.headers.pop("x-csrf-token", None)  # the login fixture sends the token as a header too
    assert client.post("/ioc/incidents/new", data={**form, "csrf_token": ""}).status_code == 403


def test_a_district_leader_opens_only_in_their_district(env, client, make_user, login) -> None:  # type: ignore[no-untyped-def]
    make_user("huyen295.mo", role="district_leader", org="295")
    login("huyen295.mo")
    page = client.get("/ioc/incidents/new").text
    assert "Huyện Cẩm Giàng" in page and "Huyện Bình Giang" not in page
    form = {"csrf_token": _csrf(page), "category": "flooding", "title": "Ngập đường", "lat": "20.95", "lon": "106.21"}
    other = client.post("/ioc/incidents/new", data={**form, "org_id": env.orgs["296"].id})
    assert other.status_code == 422
    mine = client.post("/ioc/incidents/new", data={**form, "org_id": env.orgs["295"].id}, follow_redirects=False)
    assert mine.status_code == 303


def test_citizen_cannot_open_the_form(env, client, make_user, login) -> None:  # type: ignore[no-untyped-def]
    make_user("dan.mo", role="citizen", kind="citizen")
    login("dan.mo")
    assert client.get("/ioc/incidents/new").status_code in (403, 404)
    assert 'href="/ioc/incidents/new"' not in client.get("/portal/feedback").text

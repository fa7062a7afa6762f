"""The IOC incident console, the incident page and its forms, the statistics page, the demo hook."""

from __future__ import annotations

from sqlalchemy import func, select

from smartprovince.operations.models import Incident


def _login_cookie(client, env, make_user, login):  # type: ignore[no-untyped-def]
    make_user("ioc.trang", role="ioc_operator", org="30", full_name="Ngô Thu Trang")
    return login("ioc.trang")


def test_console_incident_page_and_forms(env, client, make_user, login) -> None:  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/operations/incidents",
        headers=env.headers["operator"],
        json={
            "category": "air_pollution",
            "title": "Khói đốt rơm rạ dày đặc",
            "lat": 20.9,
            "lon": 106.3,
            "address": "Xã Cẩm Hưng",
        },
    )
    inc = r.json()
    csrf = _login_cookie(client, env, make_user, login)
    page = client.get("/ioc/incidents")
    assert page.status_code == 200
    html = page.text
    assert "Điều hành sự cố" in html and "Khói đốt rơm rạ dày đặc" in html and "Ô nhiễm không khí" in html
    assert 'sse-connect="/ioc/incidents/feed' in html and "vendor/leaflet/leaflet.js" in html
    assert '"lat": 20.9' in html  # the marker of the open incident
    page = client.get(f"/ioc/incidents/{inc['id']}")
    assert "Kiểm tra số liệu trạm quan trắc" in page.text and "Tiếp nhận" in page.text
    step_id = inc["steps"][0]["id"]
    r = client.post(
        f"/ioc/incidents/{inc['id']}/steps/{step_id}", data={"csrf_token": csrf, "done": "1"}, follow_redirects=False
    )
    assert r.status_code == 303
    r = client.post(
        f"/ioc/incidents/{inc['id']}/action",
        data={"csrf_token": csrf, "verb": "acknowledge", "note": "Đã liên hệ UBND xã"},
    )
    assert r.status_code == 200 and "Đã tiếp nhận" in r.text and "Đã liên hệ UBND xã" in r.text
    # a verb not allowed now comes back as a message on the page, not an error page
    r = client.post(f"/ioc/incidents/{inc['id']}/action", data={"csrf_token": csrf, "verb": "close"})
    assert r.status_code == 200 and "Không thực hiện được" in r.text
    # without the CSRF token the form is refused
    r = client.post(
        f"/ioc/incidents/{inc['id']}/action",
        data={"verb": "resolve"},
        follow_redirects=False,
        headers={"x-csrf-token": ""},
    )
    assert r.status_code == 403
    stats = client.get("/ioc/incidents/stats")
    assert stats.status_code == 200 and "Thống kê xử lý sự cố" in stats.text
    en = client.get("/ioc/incidents", cookies={"sp_lang": "en"})
    assert "Incident operations" in en.text and "Air pollution" in en.text


def test_ioc_landing_page_links_to_the_console(env, client, make_user, login) -> None:  # type: ignore[no-untyped-def]
    _login_cookie(client, env, make_user, login)
    assert 'href="/ioc/incidents"' in client.get("/ioc").text


def test_demo_hook_makes_handled_and_open_incidents(env, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from smartprovince.operations import demo, lifecycle

    # the demo's district codes exist in the reference province; here two are enough
    monkeypatch.setattr(demo, "DISTRICTS", {k: v for k, v in demo.DISTRICTS.items() if k in ("295", "296")})
    seen = []
    demo.load(env.db, settings, lambda msg, done=None, total=None: seen.append(done))
    with env.db.session() as s:
        n = s.scalar(select(func.count()).select_from(Incident))
        statuses = set(s.scalars(select(Incident.status)))
    assert 30 <= n <= demo.COUNT
    assert "closed" in statuses and statuses & set(lifecycle.OPEN_STATUSES)
    assert seen[-1] == demo.COUNT
    demo.load(env.db, settings, lambda *a, **k: None)  # a second load adds nothing
    with env.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Incident)) == n

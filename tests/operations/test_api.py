"""The incidents API as an IOC operator, district leaders and a citizen use it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from smartprovince.core.audit import AuditEntry
from smartprovince.core.bus import OutboxEvent

URL = "/api/v1/operations/incidents"


def _open(client, env, **extra):  # type: ignore[no-untyped-def]
    body = {
        "category": "road_damage",
        "title": "Sụt lún mặt đường ĐT 394",
        "lat": 20.96,
        "lon": 106.22,
        "org_id": env.orgs["295"].id,
        **extra,
    }
    r = client.post(URL, json=body, headers=env.headers["operator"])
    assert r.status_code == 201, r.text
    return r.json()


def test_operator_handles_an_incident_from_open_to_close(env, client, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    h = env.headers["operator"]
    inc = _open(client, env)
    assert inc["status"] == "new" and inc["org_name"] == "Huyện Cẩm Giàng" and len(inc["steps"]) == 4
    assert inc["allowed_verbs"] == ["acknowledge", "start", "escalate", "resolve"]
    frozen_clock[0] += timedelta(minutes=10)
    r = client.post(f"{URL}/{inc['id']}/actions", json={"verb": "acknowledge", "note": "Đã xác minh"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    step = inc["steps"][0]["id"]
    r = client.post(f"{URL}/{inc['id']}/steps/{step}", json={"done": True}, headers=h)
    assert r.json()["steps"][0]["done_by"] == "Vũ Thị Lan"
    r = client.post(f"{URL}/{inc['id']}/assign", json={"org_id": env.orgs["so-giao-thong-van-tai"].id}, headers=h)
    assert r.json()["org_name"] == "Sở Giao thông vận tải"
    frozen_clock[0] += timedelta(minutes=50)
    for verb in ("start", "resolve", "close"):
        r = client.post(f"{URL}/{inc['id']}/actions", json={"verb": verb}, headers=h)
        assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "closed" and body["allowed_verbs"] == []
    assert [e["kind"] for e in body["timeline"]] == [
        "opened",
        "acknowledge",
        "step_done",
        "assigned",
        "start",
        "resolve",
        "close",
    ]
    # a closed incident refuses further actions with a problem, not a 500
    r = client.post(f"{URL}/{inc['id']}/actions", json={"verb": "reopen"}, headers=h)
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")
    with env.db.session() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == inc["id"])))
        topics = list(s.scalars(select(OutboxEvent.topic).where(OutboxEvent.key == inc["id"]).order_by(OutboxEvent.id)))
    assert (
        actions
        == topics
        == [
            "operations.incident.opened",
            "operations.incident.acknowledged",
            "operations.incident.step_done",
            "operations.incident.assigned",
            "operations.incident.started",
            "operations.incident.resolved",
            "operations.incident.closed",
        ]
    )
    stats = client.get(f"{URL}/stats", params={"by": "category"}, headers=h).json()["rows"]
    assert stats == [
        {
            "org_id": "",
            "org_name": "",
            "category": "road_damage",
            "total": 1,
            "open": 0,
            "acknowledged": 1,
            "resolved": 1,
            "mean_minutes_to_acknowledge": 10.0,
            "mean_minutes_to_resolve": 60.0,
        }
    ]
    page = client.get("/ioc/incidents/stats", params={"by": "category"}, headers=h)
    assert "10.0 phút" in page.text and "60.0 phút" in page.text and "100.0%" in page.text


def test_escalation_moves_the_incident_to_the_parent_unit(env, client) -> None:  # type: ignore[no-untyped-def]
    inc = _open(client, env, org_id=env.orgs["10891"].id)
    r = client.post(
        f"{URL}/{inc['id']}/actions",
        json={"verb": "escalate", "note": "Vượt khả năng của xã"},
        headers=env.headers["district"],
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["org_name"], r.json()["escalations"]) == ("escalated", "Huyện Cẩm Giàng", 1)
    r = client.post(f"{URL}/{inc['id']}/actions", json={"verb": "escalate"}, headers=env.headers["operator"])
    assert r.json()["org_name"] == "Tỉnh Hải Dương"
    # the province has no parent: a clear 409
    r = client.post(f"{URL}/{inc['id']}/actions", json={"verb": "escalate"}, headers=env.headers["operator"])
    assert r.status_code == 409
    # the district leader no longer sees what went up to the province
    assert client.get(f"{URL}/{inc['id']}", headers=env.headers["district"]).status_code == 404


def test_units_see_only_incidents_of_their_subtree(env, client) -> None:  # type: ignore[no-untyped-def]
    mine = _open(client, env, org_id=env.orgs["10891"].id)
    _open(client, env, org_id=env.orgs["296"].id, lat=20.87, lon=106.18, title="Ổ gà Bình Giang")
    ids = lambda who: {i["id"] for i in client.get(URL, headers=env.headers[who]).json()["items"]}  # noqa: E731
    assert len(ids("operator")) == 2
    assert ids("district") == {mine["id"]}
    assert mine["id"] not in ids("other_district")
    assert client.get(f"{URL}/{mine['id']}", headers=env.headers["other_district"]).status_code == 404
    r = client.post(f"{URL}/{mine['id']}/actions", json={"verb": "acknowledge"}, headers=env.headers["other_district"])
    assert r.status_code == 404
    # a district leader cannot open an incident for another district, nor hand one over to it
    r = client.post(
        URL, json={"category": "fire", "title": "Cháy", "org_id": env.orgs["296"].id}, headers=env.headers["district"]
    )
    assert r.status_code == 422
    r = client.post(f"{URL}/{mine['id']}/assign", json={"org_id": env.orgs["296"].id}, headers=env.headers["district"])
    assert r.status_code == 422
    assert client.get(URL, headers=env.headers["citizen"]).status_code == 403
    assert client.get(URL).status_code == 401
    geo = client.get(f"{URL}/map", headers=env.headers["district"]).json()
    assert [f["id"] for f in geo["features"]] == [mine["id"]]
    assert geo["features"][0]["geometry"]["coordinates"] == [106.22, 20.96]


def test_bad_input_is_a_problem_not_a_500(env, client) -> None:  # type: ignore[no-untyped-def]
    h = env.headers["operator"]
    assert client.post(URL, json={"category": "fire", "title": "x", "lat": 20.9}, headers=h).status_code == 422
    assert client.post(URL, json={"category": "fire", "title": " "}, headers=h).status_code == 422
    assert client.get(f"{URL}/{'x' * 40}", headers=h).status_code == 404
    inc = _open(client, env)
    assert client.post(f"{URL}/{inc['id']}/steps/nope", json={"done": True}, headers=h).status_code == 404
    assert client.post(f"{URL}/{inc['id']}/actions", json={"verb": "reopen"}, headers=h).status_code == 409
    assert (
        client.get(f"{URL}/stats", params={"from_date": "2026-03-05", "to_date": "2026-03-01"}, headers=h).status_code
        == 422
    )
    sops = client.get("/api/v1/operations/sops", headers=h).json()
    assert {"flooding", "air_pollution", "traffic_accident", "fire", "road_damage"} <= {s["code"] for s in sops}


def test_list_is_newest_first_across_pages(env, client, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    titles = []
    for n in range(5):
        frozen_clock[0] += timedelta(minutes=5)
        titles.append(_open(client, env, title=f"Sự cố {n}", lat=20.9 + n / 10)["title"])
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(URL, params=params, headers=env.headers["operator"]).json()
        seen += [i["title"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == titles[::-1]

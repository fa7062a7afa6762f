"""The whole life of a report through the HTTP API, as its reporter and the unit's officer see it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from smartprovince.core.audit import AuditEntry
from smartprovince.core.bus import OutboxEvent


def _report(client: TestClient, **extra: Any) -> dict[str, Any]:
    body = {"category": "road-damage", "description": "Ổ gà lớn trước cổng chợ", "lat": 20.95, "lon": 106.20,
            "area_code": "10891", "name": "Nguyễn Văn An", "email": "an@example.vn", "phone": "0912345678", **extra}
    r = client.post("/api/v1/feedback/reports", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_report_is_routed_handled_rated(client: TestClient, orgs: Any, make_user: Any, login: Any,
                                        database: Any, drain: Any) -> None:
    created = _report(client)
    # road damage is a district job: the district of Lai Cách is Cẩm Giàng
    assert created["unit_name"] == "Huyện Cẩm Giàng"
    assert created["status"] == "submitted"
    assert "email" not in created and "phone" not in created and "0912345678" not in str(created)
    key = created["follow_key"]

    public = client.get(f"/api/v1/feedback/reports/{created['code']}").json()
    assert "follow_key" not in public and "an@example.vn" not in str(public)

    officer = make_user("cb.camgiang", role="district_leader", org="295")
    login(officer)
    work = client.get("/api/v1/feedback/worklist").json()["items"]
    assert [w["code"] for w in work] == [created["code"]]
    assert work[0]["reporter_phone"] == "0912345678"  # the unit sees the contact

    rid = created["id"]
    for action, note in [("accept", None), ("update", "Đã cử đội sửa chữa"), ("resolve", "Đã vá xong")]:
        r = client.post(f"/api/v1/feedback/reports/{rid}/actions", json={"action": action, "note": note})
        assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved"

    # a second accept is a conflict, not a server error
    r = client.post(f"/api/v1/feedback/reports/{rid}/actions", json={"action": "accept"})
    assert r.status_code == 409 and r.headers["content-type"].startswith("application/problem+json")

    client.cookies.clear()
    client.headers.pop("x-csrf-token", None)
    assert client.post(f"/api/v1/feedback/reports/{rid}/rating", json={"rating": 5, "key": "wrong"}).status_code == 403
    r = client.post(f"/api/v1/feedback/reports/{rid}/rating", json={"rating": 5, "comment": "Nhanh", "key": key})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["rating"] == 5
    actions = [a["action"] for a in r.json()["timeline"]]
    assert actions == ["created", "accepted", "updated", "resolved", "rated"]

    with database.session() as s:
        topics = [e.topic for e in s.scalars(select(OutboxEvent).order_by(OutboxEvent.occurred_at))
                  if e.topic.startswith("feedback.report.")]
        audited = [a.action for a in s.scalars(select(AuditEntry).where(AuditEntry.object_id == rid))]
    assert topics == ["feedback.report.created", "feedback.report.accepted", "feedback.report.updated",
                      "feedback.report.resolved", "feedback.report.rated"]
    assert audited == topics
    event = None
    with database.session() as s:
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.topic == "feedback.report.created")).one()
    assert event.payload["category"] == "road-damage" and event.payload["unit_code"] == "295"
    assert event.payload["lat"] == 20.95 and "reporter_email" not in event.payload


def test_unit_sees_only_its_reports(client: TestClient, orgs: Any, make_user: Any, login: Any) -> None:
    mine = _report(client, area_code="10891")
    other = _report(client, area_code="10507", lat=20.94, lon=106.33)
    login(make_user("cb.camgiang2", role="specialist", org="295"))
    codes = [w["code"] for w in client.get("/api/v1/feedback/worklist").json()["items"]]
    assert codes == [mine["code"]]
    assert client.get(f"/api/v1/feedback/reports/{other['id']}/officer").status_code == 404
    r = client.post(f"/api/v1/feedback/reports/{other['id']}/actions", json={"action": "accept"})
    assert r.status_code == 404


def test_send_back_goes_to_dispatcher_who_assigns(client: TestClient, orgs: Any, make_user: Any, login: Any) -> None:
    rep = _report(client, category="pollution", area_code="10894")
    assert rep["unit_name"] == "Sở Tài nguyên và Môi trường"
    login(make_user("cb.stnmt", role="specialist", org="so-tai-nguyen-va-moi-truong"))
    r = client.post(f"/api/v1/feedback/reports/{rep['id']}/actions", json={"action": "send_back", "note": ""})
    assert r.status_code == 422  # a reason is required
    r = client.post(f"/api/v1/feedback/reports/{rep['id']}/actions",
                    json={"action": "send_back", "note": "Tiếng ồn karaoke: việc của xã"})
    assert r.status_code == 200
    assert client.get(f"/api/v1/feedback/reports/{rep['id']}/officer").status_code == 404  # no longer ours
    login(make_user("ioc", role="ioc_operator", org="so-thong-tin-va-truyen-thong"))
    r = client.post(f"/api/v1/feedback/reports/{rep['id']}/actions", json={"action": "assign", "unit_code": "10894"})
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v1/feedback/reports/{rep['code']}").json()["unit_name"] == "Xã Cẩm Hưng"


def test_bad_input_is_a_clear_4xx(client: TestClient, orgs: Any) -> None:
    assert client.post("/api/v1/feedback/reports", json={"category": "nope", "description": "x",
                                                         "area_code": "10891"}).status_code == 422
    assert client.post("/api/v1/feedback/reports", json={"category": "waste", "description": "x"}).status_code == 422
    assert client.post("/api/v1/feedback/reports", json={"category": "waste", "description": "x",
                                                         "lat": 20.9}).status_code == 422
    assert client.get("/api/v1/feedback/reports/PA000000XXXXX").status_code == 404
    assert client.get("/api/v1/feedback/map?bbox=1,2,3").status_code == 422


def test_anonymous_submissions_are_rate_limited(client: TestClient, orgs: Any) -> None:
    for _ in range(10):
        _report(client, category="waste")
    r = client.post("/api/v1/feedback/reports", json={"category": "waste", "description": "x", "area_code": "10891"})
    assert r.status_code == 429

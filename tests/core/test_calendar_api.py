"""The calendar's HTTP API: public reads, the admin's override edits, problem+json for bad input."""

from __future__ import annotations

import pytest

from smartprovince import identity
from smartprovince.core import calendar
from smartprovince.core.security import SYSTEM

PROBLEM = "application/problem+json"


@pytest.fixture
def as_user(client, database, make_user):
    """``as_user("manager")`` / ``as_user("officer")``: headers with a real bearer token of such a user.

    The manager is an administrator (holds ``core.calendar.manage``); the officer is a specialist (does not).
    """
    users = {"manager": make_user("lich.quantri", role="admin"), "officer": make_user("chuyen.vien", role="specialist")}
    tokens = {}
    with database.session() as s:
        for name, user in users.items():
            tokens[name] = identity.issue_token(s, user_id=user.id, name="test", actor=SYSTEM)
    ids = {name: user.id for name, user in users.items()}
    headers = lambda name: {"authorization": f"Bearer {tokens[name]}"}  # noqa: E731
    headers.ids = ids  # type: ignore[attr-defined]
    yield headers
    calendar.bind_database(None)


def test_days_lists_the_2025_swap_with_reasons(client):
    r = client.get("/api/v1/calendar/days", params={"from": "2025-04-25", "to": "2025-05-05"})
    assert r.status_code == 200
    days = {d["date"]: d for d in r.json()["items"]}
    assert days["2025-04-26"]["working"] is True and days["2025-04-26"]["kind"] == "override_working"
    assert days["2025-05-02"]["working"] is False and "26/04/2025" in days["2025-05-02"]["reason"]
    assert days["2025-04-30"]["reason"] == "Ngày Chiến thắng"
    assert days["2025-05-03"]["kind"] == "weekend"
    assert r.json()["working_days"] == 5  # 25/4, 26/4 (Saturday worked), 28/4, 29/4, 5/5


def test_add_gives_the_due_date_with_cutoff(client):
    r = client.get(
        "/api/v1/calendar/working-days/add", params={"start": "2025-04-29T16:30:00+07:00", "days": 1, "cutoff_hour": 16}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["due_date"] == "2025-05-06"
    assert body["due_at_local"] == "2025-05-06T17:00:00+07:00"
    r = client.get("/api/v1/calendar/working-days/add", params={"start": "2025-04-29T09:00:00", "days": 1})
    assert r.json()["due_date"] == "2025-05-05"  # no zone: read as Vietnam time


def test_between_counts_days_and_office_hours(client):
    r = client.get(
        "/api/v1/calendar/working-days/between",
        params={"start": "2025-03-14T16:00:00+07:00", "end": "2025-03-17T08:30:00+07:00"},
    )
    assert r.status_code == 200
    assert r.json()["working_days"] == 1
    assert r.json()["working_hours"] == 2.0


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/v1/calendar/days", {"from": "2020-01-01", "to": "2025-01-01"}, 400),
        ("/api/v1/calendar/days", {"from": "2025-02-01", "to": "2025-01-01"}, 400),
        ("/api/v1/calendar/days", {"from": "nonsense", "to": "2025-01-01"}, 422),
        ("/api/v1/calendar/days", {"from": "2150-01-01", "to": "2150-01-02"}, 422),
        ("/api/v1/calendar/working-days/add", {"start": "2025-01-01T00:00:00Z", "days": -1}, 422),
        ("/api/v1/calendar/working-days/add", {"start": "2025-01-01T00:00:00Z", "days": 3, "cutoff_hour": 24}, 422),
        ("/api/v1/calendar/working-days/add", {"start": "9999-12-31T23:59:59-12:00", "days": 3}, 422),
        ("/api/v1/calendar/working-days/add", {"start": "0001-01-01T00:00:00+14:00", "days": 3}, 422),
        (
            "/api/v1/calendar/working-days/between",
            {"start": "2020-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            400,
        ),
        ("/api/v1/calendar/working-days/between", {"start": "2020-01-01T00:00:00Z"}, 422),
    ],
)
def test_bad_input_is_a_problem_not_a_crash(client, path, params, status):
    r = client.get(path, params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)


def test_admin_adds_and_removes_an_override(client, as_user):
    body = {"day": "2027-03-12", "kind": "off", "reason": "Nghỉ theo quyết định của tỉnh", "reference": "QĐ 1/QĐ-UBND"}
    r = client.post("/api/v1/calendar/overrides", json=body, headers=as_user("manager"))
    assert r.status_code == 201, r.text
    assert r.json()["updated_by"] == as_user.ids["manager"]
    day = client.get("/api/v1/calendar/days", params={"from": "2027-03-12", "to": "2027-03-12"}).json()["items"][0]
    assert (day["working"], day["kind"], day["reference"]) == (False, "override_off", "QĐ 1/QĐ-UBND")
    due = client.get("/api/v1/calendar/working-days/add", params={"start": "2027-03-11T09:00:00+07:00", "days": 1})
    assert due.json()["due_date"] == "2027-03-15"
    listed = client.get("/api/v1/calendar/overrides", params={"year": 2027}).json()["items"]
    assert [o["day"] for o in listed] == ["2027-03-12"]

    assert client.delete("/api/v1/calendar/overrides/2027-03-12", headers=as_user("manager")).status_code == 204
    day = client.get("/api/v1/calendar/days", params={"from": "2027-03-12", "to": "2027-03-12"}).json()["items"][0]
    assert day["working"] is True
    r = client.delete("/api/v1/calendar/overrides/2027-03-12", headers=as_user("manager"))
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)


def test_editing_needs_the_permission(client, as_user):
    body = {"day": "2027-03-12", "kind": "off", "reason": "Không được phép"}
    assert client.post("/api/v1/calendar/overrides", json=body).status_code == 401
    assert client.post("/api/v1/calendar/overrides", json=body, headers=as_user("officer")).status_code == 403
    assert client.delete("/api/v1/calendar/overrides/2025-05-02", headers=as_user("officer")).status_code == 403
    assert client.get("/api/v1/calendar/days", params={"from": "2027-03-12", "to": "2027-03-12"}).json()["items"][0][
        "working"
    ]


def test_bad_override_is_422(client, as_user):
    for body in (
        {"day": "2027-03-12", "kind": "holiday", "reason": "x"},
        {"day": "2027-03-12", "kind": "off", "reason": ""},
        {"day": "2150-03-12", "kind": "off", "reason": "Quá xa"},
    ):
        r = client.post("/api/v1/calendar/overrides", json=body, headers=as_user("manager"))
        assert r.status_code == 422, body
        assert r.headers["content-type"].startswith(PROBLEM)

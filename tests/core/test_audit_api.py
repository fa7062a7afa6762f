"""GET /api/v1/audit: permission, organisation scope, filters, cursor pages."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from smartprovince.core import audit
from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM


@pytest.fixture
def people(database: Database, make_org, make_user):
    """Organisations, users and their bearer tokens, made before the app (and its event bus) starts."""
    from smartprovince import identity

    make_org("30", "Tỉnh Hải Dương", "province")
    district = make_org("288", "Thành phố Hải Dương", "district", parent="30")
    other = make_org("290", "Thành phố Chí Linh", "district", parent="30")
    users = {
        "admin": make_user("quantri", role="admin", password=None),
        "specialist": make_user("chuyenvien", role="specialist", org="288", password=None),
        "soc": make_user("soc.analyst", role="security_analyst", org="288", password=None),
    }
    with database.session() as s:
        tokens = {k: identity.issue_token(s, user_id=u.id, name="test") for k, u in users.items()}
    return SimpleNamespace(district=district, other=other, tokens=tokens)


@pytest.fixture
def api(people, client, drain):
    """``api("admin")`` → the test client calling as that user (bearer token)."""
    drain()  # deliver the setup's events now, so the bus is idle during the test

    def as_user(who: str):
        client.headers["authorization"] = f"Bearer {people.tokens[who]}"
        return client

    return as_user


def add(database: Database, n: int, *, org_path: str | None, object_type: str = "dossier", action: str = "x.y.made"):
    with database.session() as s:
        for i in range(n):
            audit.record(
                s,
                actor=SYSTEM,
                action=action,
                object_type=object_type,
                object_id=f"{object_type}-{i}",
                data={"i": i},
                org_path=org_path,
            )


def get_all(client, url: str, limit: int) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        params: dict = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        r = client.get(url, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return items


def test_anonymous_is_refused_with_problem_json(client) -> None:
    r = client.get("/api/v1/audit")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["request_id"] == r.headers["x-request-id"]


def test_officer_without_permission_is_refused(api) -> None:
    r = api("specialist").get("/api/v1/audit")
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")


def test_admin_sees_everything_newest_first_in_pages(api, database, people) -> None:
    add(database, 7, org_path=people.district.path)
    add(database, 3, org_path=None, object_type="setting")
    items = get_all(api("admin"), "/api/v1/audit", limit=3)
    seqs = [i["seq"] for i in items]
    assert seqs == sorted(seqs, reverse=True)
    assert len(seqs) == len(set(seqs))
    ours = [i for i in items if i["object_type"] in ("dossier", "setting")]
    assert len(ours) == 10
    first = next(i for i in items if i["object_type"] == "dossier" and i["object_id"] == "dossier-0")
    assert first["data"] == {"i": 0}
    assert first["actor_kind"] == "system"
    assert len(first["hash"]) == 64


def test_filters(api, database, people) -> None:
    add(database, 2, org_path=people.district.path, object_type="dossier")
    add(database, 2, org_path=people.district.path, object_type="report", action="feedback.report.created")
    client = api("admin")
    r = client.get("/api/v1/audit", params={"object_type": "report"})
    assert {i["object_type"] for i in r.json()["items"]} == {"report"}
    r = client.get("/api/v1/audit", params={"object_type": "report", "object_id": "report-1"})
    assert [i["object_id"] for i in r.json()["items"]] == ["report-1"]
    r = client.get("/api/v1/audit", params={"actor": "system", "action": "feedback.report.created"})
    assert len(r.json()["items"]) == 2
    r = client.get("/api/v1/audit", params={"actor": "nobody"})
    assert r.json() == {"items": [], "next_cursor": None}


def test_scoped_auditor_sees_only_its_subtree(api, database, people) -> None:
    add(database, 3, org_path=people.district.path)
    add(database, 2, org_path=people.other.path, object_type="elsewhere")
    add(database, 1, org_path=None, object_type="global")
    items = get_all(api("soc"), "/api/v1/audit", limit=2)
    assert len([i for i in items if i["object_type"] == "dossier"]) == 3
    assert all((i["org_path"] or "").startswith(people.district.path) for i in items)
    assert not {i["object_type"] for i in items} & {"elsewhere", "global"}


@pytest.mark.parametrize("params", [{"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 501}, {"limit": "x"}])
def test_bad_paging_is_a_4xx_problem(api, params) -> None:
    r = api("admin").get("/api/v1/audit", params=params)
    assert r.status_code in (400, 422)
    assert r.headers["content-type"].startswith("application/problem+json")

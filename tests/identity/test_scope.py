"""Scope rules: an actor sees and changes users and organisations only inside its subtree.

Tree used here::

    30 (province)
    ├── 288 Thành phố Hải Dương (district) ── 10507 Phường Cẩm Thượng (commune)
    └── 290 Thành phố Chí Linh (district)
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from smartprovince import identity
from smartprovince.core.security import SYSTEM


@pytest.fixture
def tree(make_org):  # type: ignore[no-untyped-def]
    make_org("30", "Tỉnh Hải Dương", "province")
    make_org("288", "Thành phố Hải Dương", "district", parent="30")
    make_org("10507", "Phường Cẩm Thượng", "commune", parent="288")
    make_org("290", "Thành phố Chí Linh", "district", parent="30")


def _id(database, code: str) -> str:  # type: ignore[no-untyped-def]
    with database.session() as s:
        return identity.get_org_by_code(s, code).id


def test_district_admin_sees_only_its_subtree(client, tree, make_user, login, database) -> None:
    make_user("qt-hd", role="admin", org="288")
    in_commune = make_user("cb-camthuong", role="onestop_officer", org="10507")
    other = make_user("cb-chilinh", role="specialist", org="290")
    login("qt-hd")
    listed = client.get("/api/v1/users").json()["items"]
    names = {u["username"] for u in listed}
    assert names == {"qt-hd", "cb-camthuong"}
    assert client.get(f"/api/v1/users/{in_commune.id}").status_code == 200
    # Outside the subtree: the same 404 as a user that does not exist.
    hidden = client.get(f"/api/v1/users/{other.id}")
    missing = client.get("/api/v1/users/khong-ton-tai")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == missing.json()["detail"]
    assert client.patch(f"/api/v1/users/{other.id}", json={"full_name": "Đổi tên"}).status_code == 404
    assert client.delete(f"/api/v1/users/{other.id}").status_code == 404
    assert client.post(f"/api/v1/users/{other.id}/password", json={"password": "mat-khau-moi-1"}).status_code == 404


def test_district_admin_creates_users_only_inside(client, tree, make_user, login, database) -> None:
    make_user("qt-hd", role="admin", org="288")
    login("qt-hd")
    inside = client.post("/api/v1/users", json={
        "username": "mot-cua-camthuong", "password": "mat-khau-dai-1", "full_name": "Trần Văn Bình",
        "org_id": "10507", "roles": [{"role": "onestop_officer", "scope_org_id": "10507"}],
    })
    assert inside.status_code == 201, inside.text
    body = inside.json()
    assert body["org_name"] == "Phường Cẩm Thượng"
    assert [r["role"] for r in body["roles"]] == ["onestop_officer"]
    outside = client.post("/api/v1/users", json={
        "username": "cb-chilinh-2", "password": "mat-khau-dai-1", "full_name": "Lê Thị Hà", "org_id": "290"})
    assert outside.status_code == 403
    # Province-wide roles cannot be given by a district administrator.
    escalate = client.post(f"/api/v1/users/{body['id']}/roles", json={"role": "admin", "scope_org_id": None})
    assert escalate.status_code == 403


def test_nobody_grants_more_than_they_hold(client, tree, make_user, login, database) -> None:
    # A personnel officer may manage users province-wide but holds nothing else.
    with database.session() as s:
        identity.create_role(s, actor=SYSTEM, code="personnel", name="Tổ chức cán bộ",
                             permissions=["identity.user.read", "identity.user.manage"])
        identity.create_role(s, actor=SYSTEM, code="auditor", name="Kiểm toán", permissions=["core.audit.read"])
    make_user("tccb", roles=[("personnel", None)], org="30")
    target = make_user("chuyen-vien", role=None, org="290")
    login("tccb")
    assert client.post(f"/api/v1/users/{target.id}/roles", json={"role": "auditor"}).status_code == 403
    assert client.post(f"/api/v1/users/{target.id}/roles", json={"role": "admin"}).status_code == 403
    unknown = client.post(f"/api/v1/users/{target.id}/roles", json={"role": "khong-co"})
    assert unknown.status_code == 422
    ok = client.post(f"/api/v1/users/{target.id}/roles", json={"role": "personnel", "scope_org_id": "290"})
    assert ok.status_code == 201
    assert ok.json()["scope_org_name"] == "Thành phố Chí Linh"
    assignment = ok.json()["id"]
    assert client.delete(f"/api/v1/users/{target.id}/roles/{assignment}").status_code == 204
    assert client.get(f"/api/v1/users/{target.id}").json()["roles"] == []
    assert client.delete(f"/api/v1/users/{target.id}/roles/{assignment}").status_code == 404


def test_grants_follow_role_assignment_scope(client, app, tree, make_user, login) -> None:
    make_user("qt", role="admin")
    leader = make_user("ld-chilinh", role="district_leader", org="290")
    login("qt")
    me = None
    with TestClient(app) as c:
        login("ld-chilinh", using=c)
        me = c.get("/api/v1/auth/me").json()
        assert {g["scope_org_id"] for g in me["grants"]} == {leader.org_id}
        # identity.user.read over Chí Linh only.
        assert {u["username"] for u in c.get("/api/v1/users").json()["items"]} == {"ld-chilinh"}
        assert c.post("/api/v1/users", json={"username": "x1", "full_name": "X", "org_id": "290"}).status_code == 403


def test_users_without_identity_permissions_are_refused(client, tree, make_user, login) -> None:
    assert client.get("/api/v1/users").status_code == 401
    make_user("cv", role="specialist", org="288")
    login("cv")
    assert client.get("/api/v1/users").status_code == 403
    assert client.post("/api/v1/organisations", json={"code": "x", "name": "X", "level": "unit"}).status_code == 403
    assert client.post("/api/v1/roles", json={"code": "x1", "name": "X"}).status_code == 403


def test_organisation_tree_is_public_and_writes_are_scoped(client, tree, make_user, login, database) -> None:
    roots = client.get("/api/v1/organisations", params={"roots": True}).json()["items"]
    assert [o["code"] for o in roots] == ["30"]
    children = client.get(f"/api/v1/organisations/{roots[0]['id']}/children").json()["items"]
    assert [o["code"] for o in children] == ["288", "290"]
    by_code = client.get("/api/v1/organisations/10507").json()
    assert by_code["depth"] == 2 and by_code["path"].startswith(children[0]["path"])
    assert client.get("/api/v1/organisations/khong-co").status_code == 404

    make_user("qt-hd", role="admin", org="288")
    login("qt-hd")
    made = client.post("/api/v1/organisations", json={
        "code": "288-vp", "name": "Văn phòng HĐND và UBND thành phố", "level": "unit", "parent_id": "288"})
    assert made.status_code == 201, made.text
    assert client.post("/api/v1/organisations", json={
        "code": "290-vp", "name": "Văn phòng", "level": "unit", "parent_id": "290"}).status_code == 403
    assert client.post("/api/v1/organisations", json={
        "code": "moi", "name": "Gốc mới", "level": "province"}).status_code == 403
    # Moving a unit out of the subtree is refused; renaming inside is fine.
    vp = made.json()["id"]
    assert client.patch(f"/api/v1/organisations/{vp}", json={"parent_id": "290"}).status_code == 403
    renamed = client.patch(f"/api/v1/organisations/{vp}", json={"short_name": "VP UBND"})
    assert renamed.status_code == 200 and renamed.json()["short_name"] == "VP UBND"
    assert client.patch(f"/api/v1/organisations/{_id(database, '290')}", json={"name": "X"}).status_code == 403


def test_move_updates_descendant_paths(client, tree, make_user, login, database) -> None:
    make_user("qt", role="admin")
    login("qt")
    commune = client.get("/api/v1/organisations/10507").json()
    chi_linh = client.get("/api/v1/organisations/290").json()
    unit = client.post("/api/v1/organisations", json={
        "code": "10507-t1", "name": "Tổ dân phố 1", "level": "unit", "parent_id": commune["id"]}).json()
    moved = client.patch(f"/api/v1/organisations/{commune['id']}", json={"parent_id": chi_linh["id"]})
    assert moved.status_code == 200
    assert moved.json()["path"] == f"{chi_linh['path']}{commune['id']}/"
    below = client.get(f"/api/v1/organisations/{unit['id']}").json()
    assert below["path"] == f"{chi_linh['path']}{commune['id']}/{unit['id']}/" and below["depth"] == 3
    with database.session() as s:
        assert set(identity.org_subtree_ids(s, chi_linh["id"])) == {chi_linh["id"], commune["id"], unit["id"]}
    # A node cannot go below its own descendant.
    cycle = client.patch(f"/api/v1/organisations/{chi_linh['id']}", json={"parent_id": unit["id"]})
    assert cycle.status_code == 409


def test_deactivated_organisation_stops_its_grants(client, tree, make_user, login, app) -> None:
    make_user("qt", role="admin")
    make_user("qt-hd", role="admin", org="288")
    login("qt")
    hd = client.get("/api/v1/organisations/288").json()
    assert client.patch(f"/api/v1/organisations/{hd['id']}", json={"active": False}).status_code == 200
    assert client.get("/api/v1/organisations/10507").json()["active"] is False
    with TestClient(app) as c:
        login("qt-hd", using=c)
        assert c.get("/api/v1/users").status_code == 403


def test_deactivated_user_loses_sessions_and_tokens(client, app, tree, make_user, login) -> None:
    make_user("qt", role="admin")
    target = make_user("cv", role="specialist", org="288")
    with TestClient(app) as c:
        login("cv", using=c)
        token = c.post("/api/v1/auth/tokens", json={"name": "t"}).json()["token"]
        login("qt")
        r = client.delete(f"/api/v1/users/{target.id}")
        assert r.status_code == 200 and r.json()["active"] is False
        assert c.get("/api/v1/auth/me").status_code == 401
        assert c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "cv", "password": "mat-khau-thu-nghiem-1"}
                       ).status_code == 401


def test_revoked_role_takes_effect_on_the_next_request(client, app, tree, make_user, login) -> None:
    make_user("qt", role="admin")
    leader = make_user("ld", role="district_leader", org="288")
    with TestClient(app) as c:
        login("ld", using=c)
        token = c.post("/api/v1/auth/tokens", json={"name": "bảng điều khiển"}).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    with TestClient(app) as api:
        assert api.get("/api/v1/users", headers=bearer).status_code == 200
        login("qt")
        assignment = client.get(f"/api/v1/users/{leader.id}").json()["roles"][0]["id"]
        assert client.delete(f"/api/v1/users/{leader.id}/roles/{assignment}").status_code == 204
        assert api.get("/api/v1/users", headers=bearer).status_code == 403

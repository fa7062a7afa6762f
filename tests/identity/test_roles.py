"""Roles: built-in roles merged from module manifests, custom roles, and the audit/event trail of writes."""

from __future__ import annotations

from sqlalchemy import select

from smartprovince import identity
from smartprovince.core.audit import AuditEntry
from smartprovince.core.bus import OutboxEvent
from smartprovince.registry import load_modules


def test_builtin_roles_hold_every_module_grant(client, database) -> None:
    with database.session() as s:
        roles = {r.code: r for r in identity.list_roles(s)}
    assert set(identity.BUILTIN_ROLES) <= set(roles)
    assert roles["admin"].permissions == ["*"]
    for m in load_modules():
        for code, perms in m.role_grants.items():
            assert set(perms) <= set(roles[code].permissions), (m.name, code)


def test_sync_is_idempotent_and_repairs_edits(database) -> None:
    with database.session() as s:
        identity.sync_builtin_roles(s)
        assert identity.sync_builtin_roles(s) == []
        identity.get_role_by_code(s, "citizen").permissions = ["*"]
    with database.session() as s:
        assert identity.sync_builtin_roles(s) == ["citizen"]
        assert "*" not in identity.get_role_by_code(s, "citizen").permissions


def test_custom_role_crud(client, make_user, login) -> None:
    make_user("qt", role="admin")
    login("qt")
    made = client.post("/api/v1/roles", json={
        "code": "thong_ke", "name": "Cán bộ thống kê", "permissions": ["procedures.*", "core.audit.read"]})
    assert made.status_code == 201, made.text
    role = made.json()
    assert role["builtin"] is False and role["permissions"] == ["core.audit.read", "procedures.*"]
    assert client.post("/api/v1/roles", json={"code": "thong_ke", "name": "Trùng"}).status_code == 409
    assert client.post("/api/v1/roles", json={"code": "xau", "name": "X", "permissions": ["DROP TABLE"]}
                       ).status_code == 422
    changed = client.patch(f"/api/v1/roles/{role['id']}", json={"permissions": ["procedures.dossier.read"]})
    assert changed.status_code == 200 and changed.json()["permissions"] == ["procedures.dossier.read"]
    listed = {r["code"] for r in client.get("/api/v1/roles").json()}
    assert {"admin", "citizen", "thong_ke"} <= listed
    assert any(p["code"] == "identity.user.manage" for p in client.get("/api/v1/permissions").json())

    admin_role = next(r for r in client.get("/api/v1/roles").json() if r["code"] == "admin")
    assert client.patch(f"/api/v1/roles/{admin_role['id']}", json={"permissions": []}).status_code == 409
    assert client.delete(f"/api/v1/roles/{admin_role['id']}").status_code == 409

    holder = make_user("tk", role="thong_ke")
    assert client.delete(f"/api/v1/roles/{role['id']}").status_code == 409
    assignment = client.get(f"/api/v1/users/{holder.id}").json()["roles"][0]["id"]
    assert client.delete(f"/api/v1/users/{holder.id}/roles/{assignment}").status_code == 204
    assert client.delete(f"/api/v1/roles/{role['id']}").status_code == 204
    assert client.delete(f"/api/v1/roles/{role['id']}").status_code == 404


def test_writes_are_audited_and_published(client, make_user, login, database) -> None:
    admin = make_user("qt", role="admin")
    login("qt")
    created = client.post("/api/v1/users", json={"username": "moi", "password": "mat-khau-dai-1",
                                                 "full_name": "Người Mới"})
    user_id = created.json()["id"]
    assert client.post("/api/v1/auth/login", json={"username": "moi", "password": "sai"}).status_code == 401
    with database.session() as s:
        audit = s.scalars(select(AuditEntry).where(AuditEntry.object_id == user_id)).all()
        events = s.scalars(select(OutboxEvent).where(OutboxEvent.key == user_id)).all()
    actions = [a.action for a in audit]
    assert "identity.user.created" in actions and "identity.login.failed" in actions
    created_entry = next(a for a in audit if a.action == "identity.user.created")
    assert created_entry.actor_id == admin.id
    assert {"identity.user.created", "identity.login.failed"} <= {e.topic for e in events}
    # No secret ever reaches the event log.
    for e in events:
        assert "password" not in str(e.payload)

"""Administration pages through the HTML forms: organisations, users, roles."""

from __future__ import annotations

import re

import pytest

from smartprovince import identity

from .conftest import PASSWORD, form_csrf

HTML = {"accept": "text/html"}


@pytest.fixture
def province(org):  # type: ignore[no-untyped-def]
    org("30", "Tỉnh Hải Dương", "province")
    org("288", "Thành phố Hải Dương", "district", parent="30")
    org("296", "Huyện Cẩm Giàng", "district", parent="30")
    org("10507", "Phường Cẩm Thượng", "commune", parent="288")
    org("so-y-te", "Sở Y tế", "department", parent="30")


@pytest.fixture
def admin(client, province, user, page_login) -> str:  # type: ignore[no-untyped-def]
    """Log in as an administrator of the whole tree; returns the CSRF token."""
    user("quantri", role="admin", org="30", full_name="Quản trị hệ thống", whole_tree=True)
    return page_login("quantri")


def _org_id(database, code: str) -> str:  # type: ignore[no-untyped-def]
    with database.session() as s:
        return identity.get_org_by_code(s, code).id


def test_admin_index_lists_the_sections(client, admin) -> None:
    body = client.get("/admin", headers=HTML).text
    for label in ["Tổ chức, đơn vị", "Người dùng", "Vai trò"]:
        assert label in body


def test_a_specialist_has_no_administration(client, province, user, page_login) -> None:
    user("cv", role="specialist", org="so-y-te")
    page_login("cv")
    assert client.get("/admin", headers=HTML).status_code == 403
    assert client.get("/admin/organisations", headers=HTML).status_code == 403
    assert 'href="/admin"' not in client.get("/", headers=HTML).text


def test_organisation_tree_search_and_create(client, admin, database) -> None:
    page = client.get("/admin/organisations", headers=HTML)
    assert page.status_code == 200
    assert "Tỉnh Hải Dương" in page.text and "Huyện Cẩm Giàng" in page.text
    found = client.get("/admin/organisations", params={"q": "cẩm"}, headers=HTML).text
    results = re.search(r'id="org-results">(.*?)</table>', found, re.S).group(1)
    assert "Huyện Cẩm Giàng" in results and "Phường Cẩm Thượng" in results and "Sở Y tế" not in results

    parent = _org_id(database, "296")
    r = client.post(
        "/admin/organisations",
        data={
            "code": "10792",
            "name": "Thị trấn Lai Cách",
            "level": "commune",
            "parent_id": parent,
            "csrf_token": admin,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"], headers=HTML).text
    assert "Đã tạo tổ chức Thị trấn Lai Cách." in page
    with database.session() as s:
        new = identity.get_org_by_code(s, "10792")
        assert new.parent_id == parent and new.level == "commune"

    # the same code again: refused with the reason, nothing written
    r = client.post(
        "/admin/organisations",
        data={"code": "10792", "name": "Trùng mã", "level": "commune", "parent_id": parent, "csrf_token": admin},
    )
    assert r.status_code == 409 and "10792" in r.text and "đã tồn tại" in r.text
    with database.session() as s:
        assert identity.get_org_by_code(s, "10792").name == "Thị trấn Lai Cách"


def test_organisation_edit_move_deactivate(client, admin, database) -> None:
    ward = _org_id(database, "10507")
    r = client.post(
        f"/admin/organisations/{ward}",
        data={"code": "10507", "name": "Phường Cẩm Thượng (mới)", "level": "commune", "csrf_token": admin},
    )
    assert r.status_code == 200 and "Đã lưu thay đổi." in r.text
    r = client.post(
        f"/admin/organisations/{ward}/move", data={"new_parent_id": _org_id(database, "296"), "csrf_token": admin}
    )
    assert r.status_code == 200 and "Đã chuyển tổ chức." in r.text
    # moving a district below its own ward is refused
    r = client.post(
        f"/admin/organisations/{_org_id(database, '296')}/move", data={"new_parent_id": ward, "csrf_token": admin}
    )
    assert r.status_code == 409 and "bên trong chính nó" in r.text
    r = client.post(f"/admin/organisations/{ward}/deactivate", data={"csrf_token": admin})
    assert r.status_code == 200 and "Đã ngừng hoạt động tổ chức." in r.text
    district = _org_id(database, "296")
    with database.session() as s:
        row = identity.get_org(s, ward)
        assert row.name == "Phường Cẩm Thượng (mới)" and not row.active
        assert row.parent_id == district


def test_forms_without_the_csrf_token_are_refused(client, admin, database) -> None:
    r = client.post(
        "/admin/organisations", data={"code": "x1", "name": "X", "level": "unit", "csrf_token": "sai"}, headers=HTML
    )
    assert r.status_code == 403
    with database.session() as s:
        assert identity.get_org_by_code(s, "x1") is None


def test_users_list_search_and_paging(client, admin, user) -> None:
    for i in range(30):
        user(f"canbo{i:02d}", role="specialist", org="so-y-te", full_name=f"Cán bộ số {i:02d}")
    first = client.get("/admin/users", headers=HTML).text
    assert first.count('href="/admin/users/') - first.count('href="/admin/users/new') == 25
    next_url = re.search(r'href="(/admin/users\?[^"]*cursor=[^"]+)" id="next-page"', first).group(1)
    second = client.get(next_url.replace("&amp;", "&"), headers=HTML).text
    assert second.count('href="/admin/users/') - second.count('href="/admin/users/new') == 6
    found = client.get("/admin/users", params={"q": "số 07"}, headers=HTML).text
    assert "canbo07" in found and "canbo08" not in found


def test_create_user_with_a_role_then_manage_it(client, admin, database) -> None:
    ward = _org_id(database, "10507")
    form = client.get("/admin/users/new", headers=HTML)
    assert form.status_code == 200 and "Phường Cẩm Thượng" in form.text
    r = client.post(
        "/admin/users",
        data={
            "username": "motcua.ct",
            "full_name": "Lê Thị Mai",
            "kind": "officer",
            "org_id": ward,
            "password": "mat-khau-mot-cua-1",
            "role": "onestop_officer",
            "scope_org_id": "",
            "csrf_token": admin,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    user_url = r.headers["location"]
    page = client.get(user_url, headers=HTML).text
    assert "Đã tạo người dùng motcua.ct." in page and "Cán bộ một cửa" in page and "Phường Cẩm Thượng" in page
    user_id = user_url.rsplit("/", 1)[1]

    r = client.post(
        f"{user_url}/roles", data={"role": "specialist", "scope_org_id": _org_id(database, "288"), "csrf_token": admin}
    )
    assert r.status_code == 200 and "Đã phân vai trò." in r.text
    with database.session() as s:
        u = s.get(identity.User, user_id)
        assignments = {(a.role.code, a.scope_org.code if a.scope_org else None): a.id for a in u.assignments}
    assert set(assignments) == {("onestop_officer", "10507"), ("specialist", "288")}
    r = client.post(f"{user_url}/roles/{assignments[('specialist', '288')]}/revoke", data={"csrf_token": admin})
    assert r.status_code == 200 and "Đã thu hồi vai trò." in r.text

    r = client.post(f"{user_url}/lock", data={"csrf_token": admin})
    assert r.status_code == 200 and "Đã khóa tài khoản." in r.text and "Mở khóa tài khoản" in r.text
    r = client.post(f"{user_url}/unlock", data={"csrf_token": admin})
    assert r.status_code == 200 and "Đã mở khóa tài khoản." in r.text
    r = client.post(f"{user_url}/password", data={"password": "mat-khau-moi-99", "csrf_token": admin})
    assert r.status_code == 200 and "Đã đặt lại mật khẩu." in r.text
    with database.session() as s:
        u = s.get(identity.User, user_id)
        assert u.active and [a.role.code for a in u.assignments] == ["onestop_officer"]
        assert identity.authenticate(s, "motcua.ct", "mat-khau-moi-99").id == user_id


def test_invalid_user_form_shows_the_reason_and_writes_nothing(client, admin, database) -> None:
    r = client.post(
        "/admin/users",
        data={
            "username": "A B",
            "full_name": "Sai",
            "kind": "officer",
            "password": "mat-khau-dai-1",
            "csrf_token": admin,
        },
    )
    assert r.status_code == 422 and "Tên đăng nhập" in r.text and 'value="A B"' in r.text
    # a role the admin cannot give over an unknown scope: refused as a whole (the user is not created)
    r = client.post(
        "/admin/users",
        data={
            "username": "an.nguyen",
            "full_name": "Nguyễn An",
            "kind": "officer",
            "password": "mat-khau-dai-1",
            "role": "khong-co",
            "org_id": _org_id(database, "30"),
            "csrf_token": admin,
        },
    )
    assert r.status_code == 422 and "khong-co" in r.text
    with database.session() as s:
        assert identity.get_user_by_username(s, "an.nguyen") is None


def test_scoped_manager_sees_only_users_of_the_subtree(client, province, user, page_login, database) -> None:
    with database.session() as s:
        identity.sync_builtin_roles(s)
    user("ql.huyen", role="admin", org="288")  # an administrator of one district only
    user("cb.phuong", role="specialist", org="10507")
    user("cb.so", role="specialist", org="so-y-te")
    page_login("ql.huyen")
    body = client.get("/admin/users", headers=HTML).text
    assert "cb.phuong" in body and "cb.so" not in body
    with database.session() as s:
        other = identity.get_user_by_username(s, "cb.so").id
    assert client.get(f"/admin/users/{other}", headers=HTML).status_code == 404


def test_roles_create_and_edit(client, admin, database) -> None:
    page = client.get("/admin/roles", headers=HTML).text
    assert "Cán bộ một cửa" in page and "Toàn quyền" in page
    form = client.get("/admin/roles/new", headers=HTML).text
    assert 'value="identity.user.read"' in form and 'value="web.console.view"' in form
    r = client.post(
        "/admin/roles",
        data={
            "code": "xem_nguoi_dung",
            "name": "Xem người dùng",
            "description": "",
            "permissions": ["identity.user.read", "web.console.view"],
            "csrf_token": admin,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    with database.session() as s:
        role = identity.get_role_by_code(s, "xem_nguoi_dung")
        assert sorted(role.permissions) == ["identity.user.read", "web.console.view"]
        role_id = role.id
    r = client.post(
        f"/admin/roles/{role_id}",
        data={
            "name": "Xem người dùng (sửa)",
            "description": "Chỉ xem",
            "permissions": ["identity.user.read"],
            "csrf_token": admin,
        },
    )
    assert r.status_code == 200 and "Đã lưu vai trò Xem người dùng (sửa)." in r.text
    with database.session() as s:
        assert identity.get_role_by_code(s, "xem_nguoi_dung").permissions == ["identity.user.read"]
    builtin = client.get("/admin/roles/onestop_officer", headers=HTML).text
    assert "Vai trò có sẵn" in builtin and "disabled" in builtin


def test_english_admin_pages(client, admin) -> None:
    client.get("/lang/en")
    body = client.get("/admin/organisations", headers=HTML).text
    assert "Organisations" in body and "Add organisation" in body


def test_profile_page_of_the_admin(client, admin) -> None:
    page = client.get("/profile", headers=HTML)
    assert page.status_code == 200 and "Quản trị hệ thống" in page.text
    assert form_csrf(page.text) == admin
    assert PASSWORD not in page.text


def test_a_page_write_is_audited_with_its_event_and_a_refused_one_leaves_nothing(client, admin, database) -> None:
    from sqlalchemy import func, select

    from smartprovince.core.audit import AuditEntry
    from smartprovince.core.bus import OutboxEvent

    def counts() -> tuple[int, int]:
        with database.session() as s:
            audits = s.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "identity.organisation.created", AuditEntry.actor_name == "quantri"))
            events = s.scalar(select(func.count()).select_from(OutboxEvent).where(
                OutboxEvent.topic == "identity.organisation.created"))
            return audits, events

    before = counts()
    parent = _org_id(database, "30")
    r = client.post("/admin/organisations", data={"code": "so-tttt", "name": "Sở Thông tin và Truyền thông",
                                                  "level": "department", "parent_id": parent, "csrf_token": admin})
    assert r.status_code == 200
    after = counts()
    assert after == (before[0] + 1, before[1] + 1)
    r = client.post("/admin/organisations", data={"code": "so-tttt", "name": "Trùng", "level": "department",
                                                  "parent_id": parent, "csrf_token": admin})
    assert r.status_code == 409
    assert counts() == after

"""The web shell as a browser sees it: home, faces, login, logout, profile, error pages, language."""

from __future__ import annotations

import re

from smartprovince.core.security import CSRF_COOKIE
from smartprovince.web.i18n import LANG_COOKIE

from .conftest import PASSWORD, csrf_of, form_csrf

HTML = {"accept": "text/html"}


def test_home_shows_the_three_faces_in_vietnamese(client) -> None:
    r = client.get("/", headers=HTML)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    body = r.text
    assert '<html lang="vi">' in body
    for label, href in [
        ("Cổng dịch vụ công", "/portal"),
        ("Bàn làm việc cán bộ", "/console"),
        ("Trung tâm điều hành IOC", "/ioc"),
    ]:
        assert label in body
        assert f'href="{href}"' in body
    assert "Đăng nhập" in body
    assert client.cookies.get(CSRF_COOKIE), "the first page sets the CSRF cookie"


def test_home_shows_province_facts_from_the_organisation_tree(client, org) -> None:
    org("30", "Tỉnh Hải Dương", "province")
    org("288", "Thành phố Hải Dương", "district", parent="30")
    org("290", "Thành phố Chí Linh", "district", parent="30")
    org("10507", "Phường Cẩm Thượng", "commune", parent="288")
    body = client.get("/", headers=HTML).text
    assert "Tỉnh Hải Dương" in body
    facts = re.findall(r'<div class="value">([^<]+)</div><div class="label">([^<]+)</div>', body)
    assert ("2", "Đơn vị hành chính cấp huyện") in facts
    assert ("1", "Xã, phường, thị trấn") in facts


def test_static_files_are_served_locally(client) -> None:
    body = client.get("/", headers=HTML).text
    for path in re.findall(r'(?:src|href)="(/static/[^"?]+)', body):
        assert client.get(path).status_code == 200, path
    for vendored in [
        "vendor/htmx/htmx.min.js",
        "vendor/htmx/sse.min.js",
        "vendor/leaflet/leaflet.js",
        "vendor/leaflet-markercluster/leaflet.markercluster.js",
        "vendor/leaflet-heat/leaflet-heat.js",
        "vendor/echarts/echarts.min.js",
        "vendor/fonts/be-vietnam-pro/be-vietnam-pro.css",
    ]:
        assert client.get(f"/static/{vendored}").status_code == 200, vendored
    assert "http://" not in body.replace("http://www.w3.org", "") and "https://" not in body, "no CDN links"


def test_language_switch_and_accept_language(client) -> None:
    r = client.get("/lang/en?next=/portal", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/portal"
    assert client.cookies.get(LANG_COOKIE) == "en"
    body = client.get("/", headers=HTML).text
    assert '<html lang="en">' in body and "Citizen portal" in body and "Officer console" in body
    client.get("/lang/vi", follow_redirects=False)
    assert "Cổng dịch vụ công" in client.get("/", headers=HTML).text
    client.cookies.delete(LANG_COOKIE)
    body = client.get("/", headers={**HTML, "accept-language": "en-GB,en;q=0.9,vi;q=0.5"}).text
    assert "Citizen portal" in body


def test_language_switch_refuses_open_redirects(client) -> None:
    for target in ["//evil.example/", "https://evil.example/", "/\\evil"]:
        r = client.get("/lang/en", params={"next": target}, follow_redirects=False)
        assert r.headers["location"] == "/"


def test_console_and_ioc_ask_anonymous_browsers_to_log_in(client) -> None:
    for path in ["/console", "/ioc", "/profile", "/admin", "/admin/users"]:
        r = client.get(path, headers=HTML, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path


def test_login_logout_through_the_form(client, org, user) -> None:
    org("30", "Tỉnh Hải Dương", "province")
    org("so-y-te", "Sở Y tế", "department", parent="30")
    user("lan.yte", role="specialist", org="so-y-te", full_name="Nguyễn Thị Lan")
    token = csrf_of(client)
    r = client.post(
        "/login",
        data={"username": "lan.yte", "password": PASSWORD, "csrf_token": token, "next": "/console"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/console"
    page = client.get("/console", headers=HTML)
    assert page.status_code == 200
    assert "Nguyễn Thị Lan" in page.text and "Sở Y tế" in page.text and "Chuyên viên" in page.text
    assert "Tỉnh Hải Dương" in page.text  # the organisation's parent
    logout = client.post("/logout", data={"csrf_token": form_csrf(page.text)}, follow_redirects=False)
    assert logout.status_code == 303 and logout.headers["location"] == "/"
    home = client.get("/", headers=HTML)
    assert "Bạn đã đăng xuất." in home.text
    assert client.get("/console", headers=HTML, follow_redirects=False).status_code == 303


def test_wrong_password_shows_a_vietnamese_message_then_lockout(client, user, settings) -> None:
    user("binh", role="specialist")
    token = csrf_of(client)
    r = client.post("/login", data={"username": "binh", "password": "sai-mat-khau", "csrf_token": token})
    assert r.status_code == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng." in r.text
    assert 'value="binh"' in r.text
    for _ in range(settings.login_max_failures):
        r = client.post("/login", data={"username": "binh", "password": "sai-mat-khau", "csrf_token": token})
    r = client.post("/login", data={"username": "binh", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429
    assert "Tài khoản tạm khóa do đăng nhập sai nhiều lần" in r.text


def test_login_without_csrf_token_is_refused(client, user) -> None:
    user("chi", role="specialist")
    client.get("/login")
    r = client.post("/login", data={"username": "chi", "password": PASSWORD, "csrf_token": "forged"}, headers=HTML)
    assert r.status_code == 403
    assert "Không có quyền truy cập" in r.text
    assert client.cookies.get("sp_session") is None


def test_oidc_button_only_when_configured(client, app) -> None:
    assert "oidc-login" not in client.get("/login").text
    app.state.settings.oidc_issuer = "http://127.0.0.1:9/"
    app.state.settings.oidc_client_id = "smartprovince"
    body = client.get("/login").text
    assert 'id="oidc-login"' in body and "VNeID / SSO" in body


def test_citizen_cannot_open_the_console(client, user, page_login) -> None:
    user("dan", role="citizen", kind="citizen", cccd="001099012345")
    page_login("dan")
    r = client.get("/console", headers=HTML)
    assert r.status_code == 403
    assert "Không có quyền truy cập" in r.text
    home = client.get("/", headers=HTML).text
    assert 'href="/console"' in home  # the card stays, marked as not allowed
    assert "Không có quyền truy cập" in home


def test_ioc_landing_for_an_operator(client, org, user, page_login) -> None:
    org("30", "Tỉnh Hải Dương", "province")
    user("ioc", role="ioc_operator", org="30")
    page_login("ioc")
    r = client.get("/ioc", headers=HTML)
    assert r.status_code == 200 and "Màn hình điều hành" in r.text


def test_profile_password_change_and_tokens(client, user, page_login) -> None:
    user("hoa", role="specialist", full_name="Trần Thị Hoa", email="hoa@example.gov.vn")
    page_login("hoa")
    page = client.get("/profile", headers=HTML)
    assert page.status_code == 200 and "Trần Thị Hoa" in page.text and "hoa@example.gov.vn" in page.text
    token = form_csrf(page.text)
    # wrong current password
    r = client.post(
        "/profile/password",
        data={
            "current_password": "x",
            "new_password": "mat-khau-moi-2",
            "confirm_password": "mat-khau-moi-2",
            "csrf_token": token,
        },
    )
    assert r.status_code == 403 and "Mật khẩu hiện tại không đúng" in r.text
    r = client.post(
        "/profile/password",
        data={
            "current_password": PASSWORD,
            "new_password": "mat-khau-moi-2",
            "confirm_password": "khac",
            "csrf_token": token,
        },
    )
    assert r.status_code == 422 and "Mật khẩu nhập lại không khớp." in r.text
    r = client.post(
        "/profile/password",
        data={
            "current_password": PASSWORD,
            "new_password": "mat-khau-moi-2",
            "confirm_password": "mat-khau-moi-2",
            "csrf_token": token,
        },
    )
    assert r.status_code == 200 and "Đã đổi mật khẩu." in r.text
    # API token: shown once, works as a bearer, then revoked
    r = client.post("/profile/tokens", data={"name": "Đồng bộ", "csrf_token": token})
    assert r.status_code == 200
    secret = re.search(r'id="new-token">([^<]+)<', r.text).group(1).strip()
    api = client.get("/api/v1/auth/me", headers={"authorization": f"Bearer {secret}"})
    assert api.status_code == 200, api.text
    token_id = re.search(r'action="/profile/tokens/([0-9a-f]{32})/revoke"', r.text).group(1)
    r = client.post(f"/profile/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert r.status_code == 200 and "Đã thu hồi mã truy cập." in r.text and "Đã thu hồi" in r.text
    assert client.get("/api/v1/auth/me", headers={"authorization": f"Bearer {secret}"}).status_code == 401


def test_error_pages_are_html_for_browsers_and_problem_json_for_apis(client) -> None:
    r = client.get("/khong-co-trang-nay", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Không tìm thấy trang" in r.text
    r = client.get("/khong-co-trang-nay", headers={"accept": "application/json"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_pages_set_safe_headers(client) -> None:
    r = client.get("/", headers=HTML)
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_an_unexpected_error_is_a_readable_500_page(app) -> None:
    from fastapi.testclient import TestClient

    def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/_thu-loi", boom, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/_thu-loi", headers=HTML)
        assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
        assert "Đã xảy ra lỗi" in r.text and "boom" not in r.text
        r = c.get("/_thu-loi", headers={"accept": "application/json"})
        assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"

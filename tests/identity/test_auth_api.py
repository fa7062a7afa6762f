"""Login, logout, lockout, CSRF, bearer tokens and HTTP Basic, as a client sees them."""

from __future__ import annotations

import base64
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from smartprovince.app import create_app
from smartprovince.identity.models import ApiToken, User

TEST_PASSWORD = "mat-khau-thu-nghiem-1"  # the password make_user gives (tests/conftest.py)

LOGIN = "/api/v1/auth/login"


def test_login_sets_http_only_cookie_and_me_shows_roles(client, make_org, make_user) -> None:
    make_org("30", "Tỉnh Hải Dương", "province")
    make_user("lan", role="provincial_leader", org="30", full_name="Nguyễn Thị Lan")
    r = client.post(LOGIN, json={"username": "LAN", "password": TEST_PASSWORD})
    assert r.status_code == 200, r.text
    cookie = r.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookie if c.startswith("sp_session="))
    assert "HttpOnly" in session_cookie and "samesite=lax" in session_cookie.lower()
    assert "Secure" not in session_cookie
    assert r.json()["csrf_token"]
    me = client.get("/api/v1/auth/me").json()
    assert me["full_name"] == "Nguyễn Thị Lan"
    assert me["auth_method"] == "session"
    assert [a["role"] for a in me["roles"]] == ["provincial_leader"]
    assert any(g["permission"] == "identity.user.read" for g in me["grants"])


def test_cookie_is_secure_when_site_is_https(settings, database, make_user) -> None:
    make_user("an", role=None)
    app = create_app(settings.model_copy(update={"base_url": "https://smart.haiduong.gov.vn"}), db=database)
    with TestClient(app, base_url="https://testserver") as c:
        r = c.post(LOGIN, json={"username": "an", "password": TEST_PASSWORD})
    assert r.status_code == 200
    assert all("Secure" in h for h in r.headers.get_list("set-cookie"))


def test_same_message_for_unknown_user_and_wrong_password(client, make_user) -> None:
    make_user("binh", role=None)
    wrong = client.post(LOGIN, json={"username": "binh", "password": "sai-mat-khau"})
    unknown = client.post(LOGIN, json={"username": "khong-co-ai", "password": "sai-mat-khau"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert "sp_session" not in client.cookies


def test_lockout_after_repeated_failures_then_unlock(client, make_user, frozen_clock, settings) -> None:
    make_user("chi", role=None)
    for _ in range(settings.login_max_failures):
        assert client.post(LOGIN, json={"username": "chi", "password": "sai-mat-khau"}).status_code == 401
    locked = client.post(LOGIN, json={"username": "chi", "password": TEST_PASSWORD})
    assert locked.status_code == 429
    assert locked.json()["retry_after"] > 0
    frozen_clock[0] += timedelta(minutes=settings.lockout_minutes, seconds=1)
    assert client.post(LOGIN, json={"username": "chi", "password": TEST_PASSWORD}).status_code == 200


def test_successful_login_resets_the_failure_count(client, make_user, settings) -> None:
    make_user("dung", role=None)
    for _ in range(settings.login_max_failures - 1):
        client.post(LOGIN, json={"username": "dung", "password": "sai-mat-khau"})
    assert client.post(LOGIN, json={"username": "dung", "password": TEST_PASSWORD}).status_code == 200
    assert client.post(LOGIN, json={"username": "dung", "password": "sai-mat-khau"}).status_code == 401
    assert client.post(LOGIN, json={"username": "dung", "password": TEST_PASSWORD}).status_code == 200


def test_inactive_user_cannot_log_in(client, make_user, database) -> None:
    user = make_user("em", role=None)
    with database.session() as s:
        s.get(User, user.id).active = False
    r = client.post(LOGIN, json={"username": "em", "password": TEST_PASSWORD})
    assert r.status_code == 401


def test_logout_needs_csrf_and_ends_the_session(client, make_user, login) -> None:
    make_user("giang", role=None)
    token = login("giang")
    del client.headers["x-csrf-token"]
    assert client.post("/api/v1/auth/logout").status_code == 403
    old_cookie = client.cookies.get("sp_session")
    r = client.post("/api/v1/auth/logout", headers={"x-csrf-token": token})
    assert r.status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401
    # The old cookie value no longer works even if a client kept it.
    client.cookies.set("sp_session", old_cookie)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_csrf_is_required_on_cookie_authenticated_unsafe_calls(client, make_user, login) -> None:
    make_user("hoa", role=None)
    token = login("hoa")
    del client.headers["x-csrf-token"]
    refused = client.post("/api/v1/auth/tokens", json={"name": "script"})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    wrong = client.post("/api/v1/auth/tokens", json={"name": "script"}, headers={"x-csrf-token": "khong-dung"})
    assert wrong.status_code == 403
    ok = client.post("/api/v1/auth/tokens", json={"name": "script"}, headers={"x-csrf-token": token})
    assert ok.status_code == 201


def test_bearer_token_lifecycle(client, app, make_user, login, database) -> None:
    make_user("khanh", role=None)
    login("khanh")
    created = client.post("/api/v1/auth/tokens", json={"name": "báo cáo", "days": 7})
    assert created.status_code == 201
    body = created.json()
    token = body["token"]
    with database.session() as s:
        row = s.scalar(select(ApiToken).where(ApiToken.id == body["id"]))
        assert row.token_hash != token and token not in row.token_hash and len(row.token_hash) == 64

    with TestClient(app) as api:
        bearer = {"Authorization": f"Bearer {token}"}
        me = api.get("/api/v1/auth/me", headers=bearer)
        assert me.status_code == 200 and me.json()["auth_method"] == "token"
        # Bearer calls need no CSRF token.
        assert api.post("/api/v1/auth/tokens", json={"name": "second"}, headers=bearer).status_code == 201

        listed = client.get("/api/v1/auth/tokens").json()
        assert {t["name"] for t in listed} == {"báo cáo", "second"}
        assert next(t for t in listed if t["name"] == "báo cáo")["last_used_at"] is not None
        assert all("token" not in t for t in listed)

        assert client.delete(f"/api/v1/auth/tokens/{body['id']}").status_code == 204
        revoked = api.get("/api/v1/auth/me", headers=bearer)
        assert revoked.status_code == 401
        assert revoked.headers["content-type"].startswith("application/problem+json")
        assert api.get("/api/v1/auth/me", headers={"Authorization": "Bearer spt_khong-ton-tai"}).status_code == 401


def test_expired_token_is_refused(client, app, make_user, login, frozen_clock) -> None:
    make_user("lam", role=None)
    login("lam")
    token = client.post("/api/v1/auth/tokens", json={"name": "ngắn hạn", "days": 1}).json()["token"]
    with TestClient(app) as api:
        assert api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        frozen_clock[0] += timedelta(days=1, seconds=1)
        assert api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_cannot_revoke_someone_elses_token(client, app, make_user, login) -> None:
    make_user("minh", role=None)
    make_user("nga", role=None)
    login("minh")
    token_id = client.post("/api/v1/auth/tokens", json={"name": "của Minh"}).json()["id"]
    with TestClient(app) as other:
        login("nga", using=other)
        assert other.delete(f"/api/v1/auth/tokens/{token_id}").status_code == 404


def test_http_basic_for_standard_clients(client, make_user) -> None:
    make_user("oanh", role=None)
    good = base64.b64encode(f"oanh:{TEST_PASSWORD}".encode()).decode()
    r = client.get("/api/v1/auth/me", headers={"Authorization": f"Basic {good}"})
    assert r.status_code == 200 and r.json()["auth_method"] == "basic"
    bad = base64.b64encode(b"oanh:sai").decode()
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Basic !!!"}).status_code == 401


def test_passwords_are_stored_as_argon2id(make_user, database) -> None:
    user = make_user("phuong", role=None)
    with database.session() as s:
        stored = s.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$")
    assert TEST_PASSWORD not in stored


def test_change_own_password_needs_current_one(client, make_user, login) -> None:
    make_user("quang", role=None)
    login("quang")
    wrong = client.post("/api/v1/auth/password", json={"password": "mat-khau-moi-123", "current_password": "sai"})
    assert wrong.status_code == 403
    short = client.post("/api/v1/auth/password", json={"password": "ngan", "current_password": TEST_PASSWORD})
    assert short.status_code == 422
    ok = client.post("/api/v1/auth/password",
                     json={"password": "mat-khau-moi-123", "current_password": TEST_PASSWORD})
    assert ok.status_code == 204
    # The current session survives; the old password no longer works.
    assert client.get("/api/v1/auth/me").status_code == 200
    assert client.post(LOGIN, json={"username": "quang", "password": TEST_PASSWORD}).status_code == 401
    assert client.post(LOGIN, json={"username": "quang", "password": "mat-khau-moi-123"}).status_code == 200


def test_anonymous_is_refused_and_bad_input_is_422(client) -> None:
    assert client.get("/api/v1/auth/me").status_code == 401
    assert client.post(LOGIN, json={"username": "x"}).status_code == 422
    assert client.post(LOGIN, content=b"not json", headers={"content-type": "application/json"}).status_code == 422


def test_session_expires_after_the_configured_hours(client, make_user, login, frozen_clock, settings) -> None:
    make_user("son", role=None)
    login("son")
    frozen_clock[0] += timedelta(hours=settings.session_hours) - timedelta(seconds=1)
    assert client.get("/api/v1/auth/me").status_code == 200
    frozen_clock[0] += timedelta(seconds=2)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_password_reset_by_manager_ends_sessions_and_lifts_lockout(client, app, make_user, login, settings) -> None:
    make_user("qt", role="admin")
    target = make_user("tam", role=None)
    with TestClient(app) as c:
        login("tam", using=c)
        for _ in range(settings.login_max_failures):
            client.post(LOGIN, json={"username": "tam", "password": "sai-mat-khau"})
        assert client.post(LOGIN, json={"username": "tam", "password": TEST_PASSWORD}).status_code == 429
        login("qt")
        r = client.post(f"/api/v1/users/{target.id}/password", json={"password": "mat-khau-moi-456"})
        assert r.status_code == 204
        assert c.get("/api/v1/auth/me").status_code == 401
    with TestClient(app) as fresh:
        assert fresh.post(LOGIN, json={"username": "tam", "password": "mat-khau-moi-456"}).status_code == 200

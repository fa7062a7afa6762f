"""OpenID Connect login against a local test provider (oidc-provider-mock in a thread; no network)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from oidc_provider_mock import run_server_in_thread
from sqlalchemy import func, select

from smartprovince.core.db import Database
from smartprovince.identity import oidc
from smartprovince.identity.models import User
from smartprovince.settings import Settings


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The issuer URL of a local OpenID Connect provider that requires a nonce."""
    with run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def oidc_settings(settings: Settings, provider: str) -> Settings:
    oidc.clear_cache()
    return settings.model_copy(
        update={
            "oidc_issuer": provider,
            "oidc_client_id": "smartprovince-test",
            "oidc_client_secret": "test-client-secret",
            "oidc_label": "SSO thử nghiệm",
        }
    )


@pytest.fixture
def oidc_client(oidc_settings: Settings, database: Database) -> Iterator[TestClient]:
    from smartprovince.app import create_app

    with TestClient(create_app(oidc_settings, db=database)) as c:
        yield c


def _set_claims(provider: str, sub: str, **claims: object) -> None:
    httpx.put(f"{provider}/users/{sub}", json=claims).raise_for_status()


def _login_at_provider(client: TestClient, sub: str, next_url: str = "/") -> tuple[str, dict[str, str]]:
    """Start a login here, let ``sub`` approve at the provider; return the callback path and its query."""
    start = client.get("/auth/oidc/login", params={"next": next_url}, follow_redirects=False)
    assert start.status_code == 303, start.text
    authorize_url = start.headers["location"]
    query = parse_qs(urlparse(authorize_url).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["nonce"][0] and query["state"][0]
    approved = httpx.post(authorize_url, data={"sub": sub}, follow_redirects=False)
    assert approved.status_code in (302, 303), approved.text
    back = urlparse(approved.headers["location"])
    assert back.path == "/auth/oidc/callback"
    return back.path, {k: v[0] for k, v in parse_qs(back.query).items()}


def _user(database: Database, sub: str) -> User | None:
    with database.session() as s:
        return s.scalar(select(User).where(User.oidc_subject == sub))


def test_first_login_creates_a_citizen_and_starts_a_session(
    oidc_client: TestClient, provider: str, database: Database
) -> None:
    _set_claims(provider, "vneid-001", name="Nguyễn Thị Lan", email="lan@example.vn", email_verified=True)
    path, params = _login_at_provider(oidc_client, "vneid-001", next_url="/profile")
    done = oidc_client.get(path, params=params, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/profile"
    assert oidc_client.cookies.get("sp_session")
    me = oidc_client.get("/api/v1/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["full_name"] == "Nguyễn Thị Lan"
    user = _user(database, "vneid-001")
    assert user is not None and user.kind == "citizen" and user.oidc_issuer == provider
    assert user.password_hash is None and user.email == "lan@example.vn"
    # a second login finds the same account
    oidc_client.cookies.clear()
    path, params = _login_at_provider(oidc_client, "vneid-001")
    assert oidc_client.get(path, params=params, follow_redirects=False).status_code == 303
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.oidc_subject == "vneid-001")) == 1


def test_next_cannot_leave_the_site(oidc_client: TestClient) -> None:
    path, params = _login_at_provider(oidc_client, "vneid-002", next_url="https://evil.example/")
    done = oidc_client.get(path, params=params, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/"


def test_wrong_state_is_refused_and_no_session_starts(oidc_client: TestClient, database: Database) -> None:
    path, params = _login_at_provider(oidc_client, "vneid-003")
    params["state"] = "forged-state"
    refused = oidc_client.get(path, params=params, follow_redirects=False)
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "state" in refused.json()["detail"]
    assert not oidc_client.cookies.get("sp_session")
    assert _user(database, "vneid-003") is None


def test_callback_without_a_started_login_is_refused(oidc_client: TestClient) -> None:
    refused = oidc_client.get("/auth/oidc/callback", params={"code": "x", "state": "y"}, follow_redirects=False)
    assert refused.status_code == 400
    assert "started" in refused.json()["detail"]


def test_provider_error_is_refused(oidc_client: TestClient) -> None:
    refused = oidc_client.get("/auth/oidc/callback", params={"error": "access_denied"}, follow_redirects=False)
    assert refused.status_code == 400


def test_wrong_nonce_is_refused(oidc_client: TestClient, oidc_settings: Settings, database: Database) -> None:
    path, params = _login_at_provider(oidc_client, "vneid-004")
    # replace the flow cookie by one with the same state and verifier but another nonce
    flow = oidc._serializer(oidc_settings).loads(oidc_client.cookies.get(oidc.FLOW_COOKIE))
    forged = oidc._serializer(oidc_settings).dumps({**flow, "nonce": "not-the-nonce-sent"})
    oidc_client.cookies.set(oidc.FLOW_COOKIE, forged, path="/auth/oidc")
    refused = oidc_client.get(path, params=params, follow_redirects=False)
    assert refused.status_code == 400
    assert "nonce" in refused.json()["detail"]
    assert _user(database, "vneid-004") is None


def test_tampered_flow_cookie_is_refused(oidc_client: TestClient) -> None:
    path, params = _login_at_provider(oidc_client, "vneid-005")
    cookie = oidc_client.cookies.get(oidc.FLOW_COOKIE)
    oidc_client.cookies.set(oidc.FLOW_COOKIE, cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"), path="/auth/oidc")
    assert oidc_client.get(path, params=params, follow_redirects=False).status_code == 400


def _real_id_token(oidc_client: TestClient, oidc_settings: Settings, sub: str) -> tuple[str, str]:
    """Run a login up to the code and exchange it ourselves: (id_token, nonce)."""
    path, params = _login_at_provider(oidc_client, sub)
    flow = oidc._serializer(oidc_settings).loads(oidc_client.cookies.get(oidc.FLOW_COOKIE))
    tokens = oidc._exchange_code(
        oidc_settings, code=params["code"], verifier=flow["verifier"], redirect_uri=flow["redirect"]
    )
    return tokens["id_token"], flow["nonce"]


def test_id_token_checks(oidc_client: TestClient, oidc_settings: Settings) -> None:
    id_token, nonce = _real_id_token(oidc_client, oidc_settings, "vneid-006")
    claims = oidc.verify_id_token(oidc_settings, id_token, nonce=nonce)
    assert claims["sub"] == "vneid-006"
    with pytest.raises(oidc.OidcError, match="nonce"):
        oidc.verify_id_token(oidc_settings, id_token, nonce="another")
    # a token signed by another key (same kid) is refused
    kid = jwt.decode(id_token, oidc._key_set(oidc_settings)).header.get("kid")
    other = RSAKey.generate_key(2048, parameters={"kid": kid} if kid else None)
    forged = jwt.encode({"alg": "RS256", **({"kid": kid} if kid else {})}, dict(claims), other)
    with pytest.raises(oidc.OidcError, match="signature"):
        oidc.verify_id_token(oidc_settings, forged, nonce=nonce)
    # a token whose payload was changed after signing is refused
    head, payload, sig = id_token.split(".")
    tampered = ".".join([head, payload[:-3] + ("A" if payload[-3] != "A" else "B") + payload[-2:], sig])
    with pytest.raises(oidc.OidcError):
        oidc.verify_id_token(oidc_settings, tampered, nonce=nonce)
    # a token for another application is refused
    oidc_settings.oidc_client_id = "another-app"
    with pytest.raises(oidc.OidcError, match="another application"):
        oidc.verify_id_token(oidc_settings, id_token, nonce=nonce)


def test_forged_id_token_through_the_callback_is_refused(
    oidc_client: TestClient, oidc_settings: Settings, monkeypatch: pytest.MonkeyPatch, database: Database
) -> None:
    path, params = _login_at_provider(oidc_client, "vneid-007")
    flow = oidc._serializer(oidc_settings).loads(oidc_client.cookies.get(oidc.FLOW_COOKIE))
    key = RSAKey.generate_key(2048, parameters={"kid": "attacker"})
    now = int(__import__("time").time())
    forged = jwt.encode(
        {"alg": "RS256", "kid": "attacker"},
        {
            "iss": oidc_settings.oidc_issuer,
            "aud": oidc_settings.oidc_client_id,
            "sub": "vneid-007",
            "iat": now,
            "exp": now + 300,
            "nonce": flow["nonce"],
        },
        key,
    )
    monkeypatch.setattr(oidc, "_exchange_code", lambda *a, **k: {"id_token": forged})
    refused = oidc_client.get(path, params=params, follow_redirects=False)
    assert refused.status_code == 400 and "signature" in refused.json()["detail"]
    assert _user(database, "vneid-007") is None


def test_login_routes_are_404_when_not_configured(client: TestClient) -> None:
    assert client.get("/auth/oidc/login", follow_redirects=False).status_code == 404
    assert client.get("/auth/oidc/callback", params={"code": "x", "state": "y"}).status_code == 404


def test_login_button_shows_only_when_configured(client: TestClient, oidc_client: TestClient) -> None:
    assert "oidc-login" not in client.get("/login").text
    page = oidc_client.get("/login")
    assert "oidc-login" in page.text and "SSO thử nghiệm" in page.text
    assert oidc.oidc_enabled(oidc_client.app.state.settings)


def test_login_button_link_reaches_the_provider(oidc_client: TestClient, provider: str) -> None:
    first = oidc_client.get("/login/oidc", params={"next": "/profile"}, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/auth/oidc/login?next=%2Fprofile"
    second = oidc_client.get(first.headers["location"], follow_redirects=False)
    assert second.headers["location"].startswith(f"{provider}/oauth2/authorize?")


def test_concurrent_first_logins_create_one_account(
    oidc_settings: Settings,
    database: Database,
    provider: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from smartprovince.app import create_app
    from smartprovince.identity import service

    # Make the race certain: both requests have looked for the account (none yet) before either creates it.
    real_create_user = service.create_user
    looked = threading.Barrier(2)

    calls: list[int] = []

    def create_user_after_both_looked(*args: object, **kwargs: object) -> User:
        calls.append(1)
        if len(calls) <= 2:  # only the first attempt of each request waits for the other
            with contextlib.suppress(threading.BrokenBarrierError):
                looked.wait(timeout=5)
        return real_create_user(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "create_user", create_user_after_both_looked)
    caplog.set_level(logging.INFO, logger="smartprovince.identity.oidc")
    app = create_app(oidc_settings, db=database)
    with TestClient(app) as a:  # one lifespan (start-up once); the second browser shares it
        b = TestClient(app)
        legs = [_login_at_provider(c, "vneid-008") for c in (a, b)]
        results: list[int] = []
        barrier = threading.Barrier(2)

        def finish(c: TestClient, leg: tuple[str, dict[str, str]]) -> None:
            barrier.wait()
            results.append(c.get(leg[0], params=leg[1], follow_redirects=False).status_code)

        threads = [threading.Thread(target=finish, args=(c, leg)) for c, leg in zip((a, b), legs, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert sorted(results) == [303, 303]
    if not database.is_sqlite:
        # SQLite writers queue at BEGIN IMMEDIATE, so the race cannot happen there; on PostgreSQL the
        # losing request must have retried instead of failing.
        assert "raced with another one" in caplog.text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(User).where(User.oidc_subject == "vneid-008")) == 1


class _LinkingSettings(Settings):
    oidc_link_by_email: bool = True


def test_first_login_links_an_account_with_the_same_verified_email(
    oidc_settings: Settings, database: Database, provider: str
) -> None:
    from smartprovince.app import create_app
    from smartprovince.core.security import SYSTEM
    from smartprovince.identity.service import create_user

    linking = _LinkingSettings(**oidc_settings.model_dump())
    _set_claims(provider, "sso-canbo", email="canbo@example.gov.vn", email_verified=True, name="Cán Bộ")
    _set_claims(provider, "sso-unverified", email="canbo@example.gov.vn", email_verified=False)
    with TestClient(create_app(linking, db=database)) as c:
        with database.session() as s:
            officer = create_user(
                s,
                actor=SYSTEM,
                username="can.bo",
                password="Mat-khau-rat-dai-2026",
                full_name="Cán Bộ",
                kind="officer",
                email="canbo@example.gov.vn",
            )
        path, params = _login_at_provider(c, "sso-canbo")
        assert c.get(path, params=params, follow_redirects=False).status_code == 303
        linked = _user(database, "sso-canbo")
        assert linked is not None and linked.id == officer.id
        # an unverified e-mail never links: a new citizen account is made instead
        c.cookies.clear()
        path, params = _login_at_provider(c, "sso-unverified")
        assert c.get(path, params=params, follow_redirects=False).status_code == 303
        other = _user(database, "sso-unverified")
        assert other is not None and other.id != officer.id and other.kind == "citizen"

"""OpenID Connect login (đăng nhập qua nhà cung cấp định danh bên ngoài, e.g. VNeID or a provincial SSO).

The flow is the Authorization Code flow with PKCE (RFC 7636):

1. :func:`begin_login` makes a random ``state``, ``nonce`` and PKCE ``code_verifier``, keeps them in a
   short-lived signed value (the browser stores it in a cookie) and returns the provider's
   authorization URL.
2. The provider sends the browser back with ``code`` and ``state``. :func:`finish_login` checks the
   signed value and the ``state``, exchanges the code for tokens (sending the ``code_verifier``),
   and verifies the ID token: signature with the provider's published keys (JWKS), issuer,
   audience, expiry and ``nonce``.
3. :func:`find_or_create_user` matches the platform user by the provider's subject (``sub``). On the
   first login it links an existing account by e-mail (only when ``oidc_link_by_email`` is on and the
   provider says the e-mail is verified) or creates a citizen account.

Settings: ``oidc_issuer``, ``oidc_client_id``, ``oidc_client_secret``, ``oidc_label``. OIDC login is
off while the issuer or the client id is unset (:func:`oidc_enabled`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince.core.errors import BadRequest
from smartprovince.core.security import SYSTEM
from smartprovince.identity.cccd import InvalidCccd, parse_cccd
from smartprovince.identity.events import record_change
from smartprovince.identity.models import User
from smartprovince.settings import Settings

if TYPE_CHECKING:  # httpx is imported where a request is made: the app starts without it (memory)
    import httpx

FLOW_COOKIE = "sp_oidc"
FLOW_MAX_AGE = 600  # seconds the person has to log in at the provider
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
_CACHE_SECONDS = 3600
_VI = "Đăng nhập qua nhà cung cấp định danh không thành công: "
_TIMEOUT = 10.0


class OidcError(BadRequest):
    """The login through the OpenID Connect provider failed (bad state, bad token, provider error)."""

    title = "OpenID Connect login failed"


def oidc_enabled(settings: Settings) -> bool:
    """True when an OpenID Connect provider is configured (issuer and client id are set)."""
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def oidc_label(settings: Settings) -> str:
    """The text of the login button for the external provider (setting ``oidc_label``)."""
    return settings.oidc_label


def safe_next(target: str | None) -> str:
    """Only a local path may be the page after login (no open redirect to another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# --------------------------------------------------------------------------- provider metadata


@dataclass
class _Cached:
    value: Any
    fetched_at: float


_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()


def _http() -> httpx.Client:
    import httpx

    return httpx.Client(timeout=_TIMEOUT, follow_redirects=False)


def _get_json(url: str) -> dict[str, Any]:
    import httpx

    try:
        with _http() as client:
            response = client.get(url)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcError(
            f"{_VI}nhà cung cấp không trả lời đúng (the identity provider did not answer correctly: {url})."
        ) from exc
    if not isinstance(data, dict):
        raise OidcError(f"{_VI}tài liệu không đúng dạng (the identity provider sent an unexpected document: {url}).")
    return data


def _cached(key: str, fetch: Any, *, refresh: bool = False) -> Any:
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and not refresh and time.monotonic() - hit.fetched_at < _CACHE_SECONDS:
            return hit.value
    value = fetch()
    with _cache_lock:
        _cache[key] = _Cached(value, time.monotonic())
    return value


def clear_cache() -> None:
    """Forget the providers' metadata and keys (tests, or after a provider rotated its keys)."""
    with _cache_lock:
        _cache.clear()


def provider_metadata(settings: Settings) -> dict[str, Any]:
    """The provider's discovery document (``/.well-known/openid-configuration``), cached for an hour."""
    issuer = (settings.oidc_issuer or "").rstrip("/")

    def fetch() -> dict[str, Any]:
        meta = _get_json(f"{issuer}/.well-known/openid-configuration")
        if str(meta.get("issuer", "")).rstrip("/") != issuer:
            raise OidcError(
                f"{_VI}issuer không khớp cấu hình (the provider's issuer does not match the configured issuer)."
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not meta.get(key):
                raise OidcError(f"{_VI}thiếu {key} (the provider's metadata has no {key}).")
        return meta

    return _cached(f"meta:{issuer}", fetch)


def _key_set(settings: Settings, *, refresh: bool = False) -> KeySet:
    meta = provider_metadata(settings)
    uri = meta["jwks_uri"]

    def fetch() -> KeySet:
        try:
            return KeySet.import_key_set(_get_json(uri))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OidcError(f"{_VI}không đọc được khóa ký (the provider's signing keys could not be read).") from exc

    return _cached(f"jwks:{uri}", fetch, refresh=refresh)


# --------------------------------------------------------------------------- the flow


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret(), salt="smartprovince.oidc.flow")


def _pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class LoginStart:
    """Where to send the browser, and the signed flow value to keep in the ``sp_oidc`` cookie."""

    authorization_url: str
    flow_cookie: str


def begin_login(settings: Settings, *, redirect_uri: str, next_url: str | None = None) -> LoginStart:
    """Start a login at the provider: make state, nonce and PKCE verifier; return the URL to visit."""
    if not oidc_enabled(settings):
        raise BadRequest("Đăng nhập OpenID Connect chưa được cấu hình (OpenID Connect login is not configured).")
    meta = provider_metadata(settings)
    state = secrets.token_urlsafe(24)
    nonce = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    flow = {"state": state, "nonce": nonce, "verifier": verifier, "next": safe_next(next_url), "redirect": redirect_uri}
    params = {
        "response_type": "code",
        "client_id": settings.oidc_client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid profile email",
        "state": state,
        "nonce": nonce,
        "code_challenge": _pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    endpoint = meta["authorization_endpoint"]
    sep = "&" if "?" in endpoint else "?"
    return LoginStart(f"{endpoint}{sep}{urlencode(params)}", _serializer(settings).dumps(flow))


@dataclass(frozen=True)
class OidcIdentity:
    """What the provider says about the person, taken from a verified ID token."""

    issuer: str
    subject: str
    claims: dict[str, Any]
    next_url: str

    @property
    def email(self) -> str | None:
        value = self.claims.get("email")
        return value.strip().lower() if isinstance(value, str) and value.strip() else None

    @property
    def email_verified(self) -> bool:
        return self.claims.get("email_verified") in (True, "true")

    @property
    def full_name(self) -> str:
        for key in ("name", "preferred_username", "email"):
            value = self.claims.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:255]
        given, family = self.claims.get("given_name"), self.claims.get("family_name")
        joined = " ".join(str(p) for p in (family, given) if p)
        return joined[:255] or "Người dùng OpenID Connect"


def finish_login(
    settings: Settings, *, code: str | None, state: str | None, flow_cookie: str | None, error: str | None = None
) -> OidcIdentity:
    """Check the provider's answer and the ID token; return the verified identity.

    Raises :class:`OidcError` (401) when the state does not match, the flow expired, the code
    exchange fails, or the ID token's signature, issuer, audience, expiry or nonce is wrong.
    """
    if not oidc_enabled(settings):
        raise BadRequest("Đăng nhập OpenID Connect chưa được cấu hình (OpenID Connect login is not configured).")
    if error:
        raise OidcError(f"{_VI}nhà cung cấp từ chối (the identity provider refused the login: {error[:100]}).")
    if not flow_cookie:
        raise OidcError(
            f"{_VI}phiên đăng nhập không bắt đầu tại đây hoặc đã hết hạn, vui lòng thử lại "
            "(the login was not started here or took too long; please start again)."
        )
    try:
        flow = _serializer(settings).loads(flow_cookie, max_age=FLOW_MAX_AGE)
    except SignatureExpired as exc:
        raise OidcError(f"{_VI}quá thời gian, vui lòng thử lại (the login took too long; please start again).") from exc
    except BadSignature as exc:
        raise OidcError(
            f"{_VI}phiên đăng nhập không bắt đầu tại đây, vui lòng thử lại "
            "(the login was not started here; please start again)."
        ) from exc
    if not state or not hmac.compare_digest(str(flow.get("state", "")), state):
        raise OidcError(f"{_VI}phản hồi không thuộc trình duyệt này (state mismatch).")
    if not code:
        raise OidcError(f"{_VI}không có mã cấp quyền (the identity provider sent no authorization code).")
    tokens = _exchange_code(settings, code=code, verifier=flow["verifier"], redirect_uri=flow["redirect"])
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise OidcError(f"{_VI}không có ID token (the identity provider sent no ID token).")
    claims = verify_id_token(settings, id_token, nonce=flow["nonce"])
    return OidcIdentity(issuer=str(claims["iss"]), subject=str(claims["sub"]), claims=claims, next_url=flow["next"])


def _exchange_code(settings: Settings, *, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
    import httpx

    meta = provider_metadata(settings)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    auth: httpx.Auth | None = None
    if settings.oidc_client_secret:
        auth = httpx.BasicAuth(settings.oidc_client_id or "", settings.oidc_client_secret)
    else:
        data["client_id"] = settings.oidc_client_id or ""
    try:
        with _http() as client:
            response = client.post(
                meta["token_endpoint"],
                data=data,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                headers={"Accept": "application/json"},
            )
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcError(
            f"{_VI}máy chủ token không trả lời đúng (the token endpoint did not answer correctly)."
        ) from exc
    if response.status_code != 200 or not isinstance(body, dict):
        reason = body.get("error") if isinstance(body, dict) else None
        raise OidcError(f"{_VI}mã cấp quyền bị từ chối (authorization code refused: {reason or response.status_code}).")
    return body


def verify_id_token(settings: Settings, id_token: str, *, nonce: str) -> dict[str, Any]:
    """Verify an ID token: signature (provider JWKS), ``iss``, ``aud``, ``exp``, ``iat``, ``sub`` and ``nonce``."""
    issuer = (settings.oidc_issuer or "").rstrip("/")
    token = None
    for refresh in (False, True):  # a key we do not know may be new: fetch the key set once more
        try:
            token = jwt.decode(id_token, _key_set(settings, refresh=refresh), algorithms=ALGORITHMS)
            break
        except JoseError as exc:
            if refresh:
                raise OidcError(f"{_VI}chữ ký ID token không hợp lệ (the ID token's signature is not valid).") from exc
        except ValueError as exc:
            raise OidcError(f"{_VI}ID token sai định dạng (the ID token is not a valid JWT).") from exc
    assert token is not None
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        leeway=60,
        iss={"essential": True},
        sub={"essential": True},
        aud={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise OidcError(f"{_VI}ID token không hợp lệ (the ID token is not valid: {exc.error}).") from exc
    if str(claims["iss"]).rstrip("/") != issuer:
        raise OidcError(f"{_VI}ID token do nhà cung cấp khác cấp (issued by another provider).")
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if settings.oidc_client_id not in audience:
        raise OidcError(f"{_VI}ID token cấp cho ứng dụng khác (issued for another application).")
    if len(audience) > 1 and claims.get("azp") != settings.oidc_client_id:
        raise OidcError(f"{_VI}ID token cấp cho ứng dụng khác (issued for another application, azp).")
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        raise OidcError(f"{_VI}ID token không thuộc lần đăng nhập này (nonce mismatch).")
    return claims


# --------------------------------------------------------------------------- the platform user


def _username_for(identity: OidcIdentity) -> str:
    digest = hashlib.sha256(f"{identity.issuer}|{identity.subject}".encode()).hexdigest()[:16]
    return f"oidc.{digest}"


def _cccd_claim(identity: OidcIdentity, session: Session) -> str | None:
    for key in ("cccd", "citizen_id", "national_id"):
        value = identity.claims.get(key)
        if isinstance(value, str) and re.fullmatch(r"\d{12}", value.strip()):
            try:
                number = parse_cccd(value.strip()).number
            except InvalidCccd:
                return None
            taken = session.scalar(select(User.id).where(User.cccd == number))
            return None if taken else number
    return None


def find_or_create_user(session: Session, identity: OidcIdentity, settings: Settings) -> User:
    """The platform user for a verified OIDC identity, matched by ``(issuer, sub)``.

    First login: link the account with the same verified e-mail when ``oidc_link_by_email`` is on,
    otherwise create a citizen account (no password, role ``citizen``). Writes an audit row and an
    event (``identity.user.oidc_linked``; creation is recorded by ``create_user``). When two first
    logins of the same person race, the loser's insert fails on the unique ``(issuer, sub)``: the
    caller retries in a new transaction and then finds the winner's account.
    """
    user = session.scalar(
        select(User).where(User.oidc_issuer == identity.issuer, User.oidc_subject == identity.subject)
    )
    if user is not None:
        if not user.active:
            raise OidcError(f"{_VI}tài khoản đã bị khóa (this account is disabled).")
        return user
    if getattr(settings, "oidc_link_by_email", False) and identity.email and identity.email_verified:
        candidate = session.scalar(select(User).where(User.email == identity.email, User.oidc_subject.is_(None)))
        if candidate is not None and candidate.active:
            candidate.oidc_issuer = identity.issuer
            candidate.oidc_subject = identity.subject
            session.flush()
            record_change(
                session,
                actor=SYSTEM,
                topic="identity.user.oidc_linked",
                object_type="user",
                object_id=candidate.id,
                data={"issuer": identity.issuer, "by": "email"},
            )
            return candidate
    from smartprovince.identity.service import create_user

    user = create_user(
        session,
        actor=SYSTEM,
        username=_username_for(identity),
        password=None,
        full_name=identity.full_name,
        kind="citizen",
        roles=[("citizen", None)],
        cccd=_cccd_claim(identity, session),
        email=identity.email,
    )
    user.oidc_issuer = identity.issuer
    user.oidc_subject = identity.subject
    session.flush()
    record_change(
        session,
        actor=SYSTEM,
        topic="identity.user.oidc_linked",
        object_type="user",
        object_id=user.id,
        data={"issuer": identity.issuer, "by": "first_login"},
    )
    return user

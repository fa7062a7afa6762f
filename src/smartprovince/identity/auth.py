"""Turning a request into an ``Actor``: session cookie, bearer token or HTTP Basic.

The identity module installs ``resolve_actor`` with ``core.security.set_actor_resolver`` when the app
is built. Order of checks: ``Authorization: Bearer`` → ``Authorization: Basic`` (for standard
clients such as SensorThings) → the ``sp_session`` cookie. Wrong credentials in the Authorization
header give 401 (the client asked for them to be used); an unknown or expired cookie just means
"not logged in".
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request, Response

from smartprovince.core.db import Database
from smartprovince.core.errors import Unauthorized
from smartprovince.core.security import ANONYMOUS, CSRF_COOKIE, Actor
from smartprovince.identity import service
from smartprovince.settings import Settings

SESSION_COOKIE = "sp_session"


def client_ip(request: Request) -> str | None:
    """The caller's address as seen by the server (uvicorn applies trusted proxy headers)."""
    return request.client.host if request.client else None


def resolve_actor(request: Request) -> Actor:
    """The actor making ``request`` (anonymous when no credentials are sent)."""
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    scheme = scheme.lower()
    credentials = credentials.strip()
    if scheme == "bearer" and credentials:
        with db.session(write=False) as session:
            found = service.resolve_token(session, credentials)
            if found is None:
                raise Unauthorized("Mã truy cập không hợp lệ, đã hết hạn hoặc đã bị thu hồi (invalid token).")
            user, token = found
            actor = service.actor_for_user(session, user, auth_method="token")
            touch = service.token_needs_touch(token)
        if touch:
            with db.session() as session:
                service.touch_token(session, token.id)
        return actor
    if scheme == "basic" and credentials:
        username, password = _decode_basic(credentials)
        # A write session: a failed attempt is counted (lockout) and a success resets the counter.
        with db.session() as session:
            user = service.authenticate(session, username, password, ip=client_ip(request), settings=settings)
            return service.actor_for_user(session, user, auth_method="basic")
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        with db.session(write=False) as session:
            found_session = service.resolve_session(session, secret)
            if found_session is not None:
                user, row = found_session
                return service.actor_for_user(session, user, auth_method="session", session_id=row.id)
    return ANONYMOUS


def carries_credentials(request: Request) -> bool:
    """Whether ``request`` holds anything ``resolve_actor`` reads (no I/O): an Authorization header or
    the session cookie. Without them the actor is anonymous and the resolver is not called."""
    return "authorization" in request.headers or SESSION_COOKIE in request.cookies


def _decode_basic(credentials: str) -> tuple[str, str]:
    try:
        text = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("Thông tin xác thực Basic không đúng định dạng (malformed Basic credentials).") from None
    username, sep, password = text.partition(":")
    if not sep:
        raise Unauthorized("Thông tin xác thực Basic không đúng định dạng (malformed Basic credentials).")
    return username, password


def _secure(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


def set_login_cookies(response: Response, new: service.NewSession, settings: Settings) -> None:
    """Put a started session on ``response``: the HttpOnly session cookie and the CSRF cookie.

    The CSRF cookie is readable by the page's scripts (double-submit: they send it back in the
    ``X-CSRF-Token`` header or the ``csrf_token`` form field).
    """
    max_age = settings.session_hours * 3600
    secure = _secure(settings)
    response.set_cookie(SESSION_COOKIE, new.secret, max_age=max_age, httponly=True, samesite="lax", secure=secure,
                        path="/")
    response.set_cookie(CSRF_COOKIE, new.csrf_token, max_age=max_age, httponly=False, samesite="lax", secure=secure,
                        path="/")


def clear_login_cookies(response: Response, settings: Settings) -> None:
    """Remove the session and CSRF cookies (logout)."""
    secure = _secure(settings)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="lax", secure=secure)

"""Page routes of the OpenID Connect login: ``GET /auth/oidc/login`` and ``GET /auth/oidc/callback``.

The routes only parse, call :mod:`smartprovince.identity.oidc` and the identity services, and set
cookies. They are public (the person is not logged in yet) and listed in ``tests/public_routes.txt``.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import IntegrityError, OperationalError

from smartprovince.core.db import Database
from smartprovince.core.deps import AppSettings
from smartprovince.core.errors import Conflict, NotFound
from smartprovince.core.security import Actor, public
from smartprovince.identity import oidc
from smartprovince.identity.auth import client_ip, set_login_cookies

OIDC_LOGIN_PATH = "/auth/oidc/login"
OIDC_CALLBACK_PATH = "/auth/oidc/callback"
_RETRIES = 4
log = logging.getLogger("smartprovince.identity.oidc")

router = APIRouter(tags=["identity"])


def _redirect_uri(request: Request, settings: AppSettings) -> str:
    base = (settings.base_url or str(request.base_url)).rstrip("/")
    return f"{base}{OIDC_CALLBACK_PATH}"


def _flow_cookie_secure(settings: AppSettings) -> bool:
    return settings.public_url.startswith("https://")


@router.get(OIDC_LOGIN_PATH)
def oidc_login(
    request: Request,
    settings: AppSettings,
    next: str | None = None,  # noqa: A002 - the usual name of the "page after login" parameter
    actor: Actor = Depends(public("starts the OpenID Connect login; the person is not logged in yet")),
) -> Response:
    """Đăng nhập qua nhà cung cấp định danh — send the browser to the OpenID Connect provider."""
    if not oidc.oidc_enabled(settings):
        raise NotFound("Đăng nhập OpenID Connect chưa được cấu hình (OpenID Connect login is not configured).")
    start = oidc.begin_login(settings, redirect_uri=_redirect_uri(request, settings), next_url=next)
    response = RedirectResponse(start.authorization_url, status_code=303)
    response.set_cookie(
        oidc.FLOW_COOKIE,
        start.flow_cookie,
        max_age=oidc.FLOW_MAX_AGE,
        httponly=True,
        samesite="lax",  # the provider sends the browser back with a top-level GET: lax cookies go along
        secure=_flow_cookie_secure(settings),
        path="/auth/oidc",
    )
    return response


@router.get("/login/oidc")
def oidc_login_alias(
    request: Request,
    actor: Actor = Depends(public("short link of the OpenID Connect login button")),
) -> Response:
    """Short link of the login button: goes to ``/auth/oidc/login`` with the same query."""
    query = urlencode(list(request.query_params.multi_items()))
    return RedirectResponse(OIDC_LOGIN_PATH + (f"?{query}" if query else ""), status_code=303)


@router.get(OIDC_CALLBACK_PATH)
def oidc_callback(
    request: Request,
    settings: AppSettings,
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
    actor: Actor = Depends(public("the OpenID Connect provider sends the browser back here")),
) -> Response:
    """Check the provider's answer, find or create the user, start a session, go to ``next``."""
    if not oidc.oidc_enabled(settings):
        raise NotFound("Đăng nhập OpenID Connect chưa được cấu hình (OpenID Connect login is not configured).")
    identity = oidc.finish_login(
        settings, code=code, state=state, flow_cookie=request.cookies.get(oidc.FLOW_COOKIE), error=error
    )
    db: Database = request.app.state.db
    from smartprovince.identity.service import start_session

    for attempt in range(_RETRIES):
        try:
            with db.session() as session:
                user = oidc.find_or_create_user(session, identity, settings)
                new = start_session(
                    session,
                    user,
                    ip=client_ip(request),
                    user_agent=request.headers.get("user-agent"),
                    auth_method="oidc",
                    settings=settings,
                )
            break
        except (IntegrityError, OperationalError, Conflict):
            # Another first login of the same person won the race (unique issuer+sub or username), or
            # SQLite refused a stale write: a new transaction now sees the committed account.
            log.info("OIDC first login raced with another one; retrying (attempt %d)", attempt + 1)
            if attempt == _RETRIES - 1:
                raise Conflict("Đăng nhập đang được xử lý, vui lòng thử lại (login in progress, try again).") from None
            time.sleep(0.05 * (attempt + 1))
    response = RedirectResponse(identity.next_url, status_code=303)
    set_login_cookies(response, new, settings)
    response.delete_cookie(oidc.FLOW_COOKIE, path="/auth/oidc", httponly=True, samesite="lax")
    return response

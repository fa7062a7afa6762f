"""Login, logout and the personal profile page (own details, password, own API tokens)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from smartprovince.core.deps import AppSettings, DbSession
from smartprovince.core.errors import Problem, TooManyRequests, Unauthorized
from smartprovince.core.security import Actor, authenticated, public, verify_csrf
from smartprovince.web.i18n import request_lang, translator
from smartprovince.web.pages import safe_next
from smartprovince.web.rendering import redirect, render

router = APIRouter()

WRONG_LOGIN = "Tên đăng nhập hoặc mật khẩu không đúng."
LOCKED = "Tài khoản tạm khóa do đăng nhập sai nhiều lần. Vui lòng thử lại sau {minutes} phút."


def _identity() -> Any:
    from smartprovince import identity

    return identity


def _oidc(settings: Any) -> dict[str, Any] | None:
    """The OpenID Connect button (label and link) when OIDC login is configured, else None."""
    idn = _identity()
    enabled = getattr(idn, "oidc_enabled", None)
    # identity's rule (identity.oidc.oidc_enabled): a provider is configured when issuer and client id are set.
    on = enabled(settings) if enabled is not None else bool(settings.oidc_issuer and settings.oidc_client_id)
    if not on:
        return None
    return {"label": settings.oidc_label, "href": "/login/oidc"}


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _login_page(
    request: Request, settings: Any, *, next_url: str, username: str = "", error: str | None = None, status: int = 200
) -> Response:
    return render(
        request,
        "web/login.html",
        {
            "next_url": next_url,
            "username": username,
            "error": error,
            "oidc": _oidc(settings),
        },
        status=status,
    )


@router.get("/login")
def login_form(
    request: Request,
    settings: AppSettings,
    next: str | None = None,  # noqa: A002
    actor: Actor = Depends(public("the login form")),
) -> Response:
    """Đăng nhập — the login form (already logged-in users go straight on)."""
    target = safe_next(next)
    if actor.is_authenticated:
        return redirect(request, target)
    return _login_page(request, settings, next_url=target)


@router.post("/login")
def login_submit(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    username: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/"),  # noqa: A002
    actor: Actor = Depends(public("the login form posts here")),
) -> Response:
    """Check the username and password; on success start a session (cookies) and go to ``next``."""
    verify_csrf(request, csrf_token)
    t = translator(request_lang(request))
    target = safe_next(next)
    idn = _identity()
    try:
        user = idn.authenticate(session, username.strip(), password, ip=_client_ip(request), settings=settings)
    except TooManyRequests as exc:
        minutes = max(1, int(exc.extra.get("retry_after", 60)) // 60 + 1)
        return _login_page(
            request, settings, next_url=target, username=username, error=t(LOCKED, minutes=minutes), status=429
        )
    except Unauthorized:
        return _login_page(request, settings, next_url=target, username=username, error=t(WRONG_LOGIN), status=401)
    new = idn.start_session(
        session, user, ip=_client_ip(request), user_agent=request.headers.get("user-agent"), settings=settings
    )
    session.commit()  # now: DbSession would commit only after the response is sent
    response = redirect(request, target)
    idn.set_login_cookies(response, new, settings)
    return response


@router.post("/logout")
def logout(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    csrf_token: str = Form(""),
    actor: Actor = Depends(authenticated()),
) -> Response:
    """Đăng xuất — end the session and remove the cookies."""
    verify_csrf(request, csrf_token)
    idn = _identity()
    if actor.session_id:
        idn.end_session(session, actor=actor, session_id=actor.session_id)
    session.commit()  # now: DbSession would commit only after the response is sent
    response = redirect(request, "/", message="Bạn đã đăng xuất.")
    idn.clear_login_cookies(response, settings)
    return response


# --------------------------------------------------------------------------- profile


def _profile_page(request: Request, session: Any, actor: Actor, *, status: int = 200, **extra: Any) -> Response:
    from smartprovince.web.people import officer_summary

    idn = _identity()
    tokens = (
        list(
            session.scalars(
                select(idn.ApiToken)
                .where(idn.ApiToken.user_id == actor.id)
                .order_by(idn.ApiToken.created_at.desc(), idn.ApiToken.id.desc())
            )
        )
        if actor.id
        else []
    )
    ctx = {
        "summary": officer_summary(session, actor),
        "tokens": tokens,
        "new_token": None,
        "password_error": None,
        "token_error": None,
    }
    ctx.update(extra)
    return render(request, "web/profile.html", ctx, status=status)


@router.get("/profile")
def profile(request: Request, session: DbSession, actor: Actor = Depends(authenticated())) -> Response:
    """Hồ sơ cá nhân — own details, password change and own API tokens."""
    return _profile_page(request, session, actor)


@router.post("/profile/password")
def change_password(
    request: Request,
    session: DbSession,
    current_password: str = Form(""),
    new_password: str = Form(""),
    confirm_password: str = Form(""),
    csrf_token: str = Form(""),
    actor: Actor = Depends(authenticated()),
) -> Response:
    """Đổi mật khẩu — change one's own password (the current one is required)."""
    verify_csrf(request, csrf_token)
    t = translator(request_lang(request))
    if new_password != confirm_password:
        return _profile_page(request, session, actor, status=422, password_error=t("Mật khẩu nhập lại không khớp."))
    try:
        _identity().set_password(
            session, actor=actor, user_id=actor.id, password=new_password, current_password=current_password
        )
    except Problem as exc:
        session.rollback()
        return _profile_page(
            request,
            session,
            actor,
            status=exc.status if exc.status < 500 else 400,
            password_error=exc.detail or exc.title,
        )
    session.commit()  # now: DbSession would commit only after the response is sent
    return redirect(request, "/profile", message="Đã đổi mật khẩu.")


@router.post("/profile/tokens")
def create_token(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    name: str = Form(""),
    csrf_token: str = Form(""),
    actor: Actor = Depends(authenticated()),
) -> Response:
    """Tạo mã truy cập API — the new token is shown once on the page that follows."""
    verify_csrf(request, csrf_token)
    try:
        token = _identity().issue_token(session, user_id=actor.id, name=name, actor=actor, settings=settings)
    except Problem as exc:
        session.rollback()
        return _profile_page(
            request, session, actor, status=exc.status if exc.status < 500 else 400, token_error=exc.detail or exc.title
        )
    session.commit()  # now: DbSession would commit only after the response is sent
    return _profile_page(request, session, actor, new_token=token)


@router.post("/profile/tokens/{token_id}/revoke")
def revoke_token(
    token_id: str,
    request: Request,
    session: DbSession,
    csrf_token: str = Form(""),
    actor: Actor = Depends(authenticated()),
) -> Response:
    """Thu hồi mã truy cập — the token stops working at once."""
    verify_csrf(request, csrf_token)
    _identity().revoke_token(session, actor=actor, token_id=token_id)
    session.commit()  # now: DbSession would commit only after the response is sent
    return redirect(request, "/profile", message="Đã thu hồi mã truy cập.")

"""Page routes of the three faces: home, citizen portal, officer console, IOC, and the language switch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from smartprovince.core.deps import DbSession
from smartprovince.core.security import Actor, public, require
from smartprovince.web.i18n import LANG_COOKIE, LANGUAGES
from smartprovince.web.province import province_facts, province_name
from smartprovince.web.rendering import CONSOLE_PERMISSION, FACES, IOC_PERMISSION, can_open_face, render

router = APIRouter()


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site; ``default`` otherwise (no open redirects)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@router.get("/")
def home(request: Request, session: DbSession, actor: Actor = Depends(public("home page of the platform"))) -> Response:
    """Trang chủ — the three faces and short facts about the province."""
    faces = [{"face": f, "open": can_open_face(actor, f.key)} for f in FACES]
    return render(
        request,
        "web/home.html",
        {
            "face_cards": faces,
            "facts": province_facts(request, session),
            "province_name": province_name(request, session),
        },
    )


def _face_links(request: Request, actor: Actor, face: str) -> list[Any]:
    from smartprovince.web.rendering import nav_links

    return nav_links(request, actor).get(face, [])


@router.get("/portal")
def portal(
    request: Request, session: DbSession, actor: Actor = Depends(public("citizen portal landing page"))
) -> Response:
    """Cổng dịch vụ công — the citizen portal's landing page with every module's public services."""
    return render(
        request,
        "web/portal.html",
        {
            "links": _face_links(request, actor, "portal"),
            "province_name": province_name(request, session),
        },
    )


@router.get("/console")
def console(request: Request, session: DbSession, actor: Actor = Depends(require(CONSOLE_PERMISSION))) -> Response:
    """Bàn làm việc cán bộ — the officer console: own organisation, roles and the modules' work links."""
    from smartprovince.web.people import officer_summary

    return render(
        request,
        "web/console.html",
        {
            "links": _face_links(request, actor, "console"),
            "summary": officer_summary(session, actor),
            "province_name": province_name(request, session),
        },
    )


@router.get("/ioc")
def ioc(request: Request, session: DbSession, actor: Actor = Depends(require(IOC_PERMISSION))) -> Response:
    """Trung tâm điều hành IOC — the operations center's landing page: the province at a glance and the IOC views."""
    return render(
        request,
        "web/ioc.html",
        {
            "links": _face_links(request, actor, "ioc"),
            "facts": province_facts(request, session),
            "province_name": province_name(request, session),
        },
    )


@router.get("/lang/{code}")
def switch_language(
    code: str,
    request: Request,
    next: str | None = None,  # noqa: A002 - the query name users see
    actor: Actor = Depends(public("language switch link")),
) -> Response:
    """Chuyển ngôn ngữ — remember the chosen language in the ``sp_lang`` cookie and go back."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax", path="/", secure=request.url.scheme == "https"
        )
    return response

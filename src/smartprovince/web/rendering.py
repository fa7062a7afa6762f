"""Rendering of HTML pages: the Jinja2 environment, the base context, CSRF cookie and flash messages.

``render(request, "web/home.html", {...})`` is the one way a page route returns HTML. Templates
come from ``web/templates`` and from the folders that modules list in ``template_dirs``.
The base context that every template receives:

* ``actor`` — who is looking (``core.security.Actor``; anonymous when nobody is logged in);
* ``t`` and ``lang`` — translation function and the language code (``vi`` or ``en``);
* ``csrf_token`` — the double-submit token: forms post it as ``csrf_token``; htmx sends it as the
  ``X-CSRF-Token`` header. The cookie ``core.security.CSRF_COOKIE`` is set when missing;
* ``nav`` — navigation links of every module (``NavLink``), grouped by face, filtered by the
  actor's permissions; ``faces`` — the top-level links the actor may open;
* ``flash`` — a one-time message left by the previous request (``flash(response, …)``).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeSerializer

from smartprovince import __version__
from smartprovince.core.modules import Module, NavLink
from smartprovince.core.security import CSRF_COOKIE, Actor, current_actor
from smartprovince.web.i18n import request_lang, translator

WEB_DIR = Path(__file__).parent
TEMPLATE_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
FLASH_COOKIE = "sp_flash"


@dataclass(frozen=True)
class Face:
    """One of the platform's faces (giao diện): the citizen portal, the officer console, the IOC, administration."""

    key: str
    label: str  # Vietnamese; translated with t()
    href: str
    description: str


FACES: tuple[Face, ...] = (
    Face("portal", "Cổng dịch vụ công", "/portal", "Nộp và tra cứu hồ sơ, phản ánh hiện trường, dữ liệu mở."),
    Face("console", "Bàn làm việc cán bộ", "/console", "Xử lý hồ sơ, phản ánh và dữ liệu của cơ quan."),
    Face("ioc", "Trung tâm điều hành IOC", "/ioc", "Bức tranh toàn tỉnh theo thời gian thực, sự cố, chỉ số."),
)

# Permissions that open the faces which are not public (declared in web/module.py).
CONSOLE_PERMISSION = "web.console.view"
IOC_PERMISSION = "web.ioc.view"


def _template_dirs(modules: tuple[Module, ...] | list[Module]) -> list[str]:
    dirs = [str(TEMPLATE_DIR)]
    package_root = WEB_DIR.parent
    for m in modules:
        for d in m.template_dirs:
            path = Path(d)
            if not path.is_absolute():
                path = package_root / m.name / d
            if str(path) not in dirs:
                dirs.append(str(path))
    return dirs


def build_environment(modules: tuple[Module, ...] | list[Module]) -> jinja2.Environment:
    """The Jinja2 environment for the app's modules (HTML autoescaping on)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_template_dirs(modules)),
        autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    env.globals["version"] = __version__
    env.filters["vn_datetime"] = format_datetime
    env.filters["vn_date"] = format_date
    return env


def environment(request: Request) -> jinja2.Environment:
    """The app's environment, built once on first use and kept on ``app.state``."""
    state = request.app.state
    env = getattr(state, "jinja", None)
    if env is None:
        env = build_environment(getattr(state, "modules", ()))
        state.jinja = env
    return env


def static_url(path: str) -> str:
    """URL of a file under ``web/static``; the version makes browsers reload after an upgrade."""
    return f"/static/{path.lstrip('/')}?v={__version__}"


def format_datetime(value: Any) -> str:
    """A date and time in Vietnam's time zone, written the Vietnamese way (dd/mm/yyyy HH:MM)."""
    if value is None:
        return ""
    from smartprovince.core.clock import VN_TZ

    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def format_date(value: Any) -> str:
    """A date written the Vietnamese way (dd/mm/yyyy)."""
    if value is None:
        return ""
    if hasattr(value, "astimezone") and getattr(value, "tzinfo", None) is not None:
        from smartprovince.core.clock import VN_TZ

        value = value.astimezone(VN_TZ)
    return value.strftime("%d/%m/%Y")


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the cookie's value, or a new one that ``render`` will set as the cookie."""
    token = request.cookies.get(CSRF_COOKIE)
    if token:
        return token
    new = getattr(request.state, "new_csrf_token", None)
    if new is None:
        new = secrets.token_urlsafe(32)
        request.state.new_csrf_token = new
    return new


def set_csrf_cookie(request: Request, response: Response) -> None:
    """Set the CSRF cookie on ``response`` when this request created a new token."""
    new = getattr(request.state, "new_csrf_token", None)
    if new and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(
            CSRF_COOKIE, new, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/"
        )


def safe_actor(request: Request) -> Actor:
    """The request's actor; anonymous when it cannot be resolved (e.g. while rendering an error page)."""
    try:
        return current_actor(request)
    except Exception:  # noqa: BLE001 - an error page must render even when the actor lookup fails
        from smartprovince.core.security import ANONYMOUS

        return ANONYMOUS


def can_open_face(actor: Actor, face: str) -> bool:
    """Whether ``actor`` may open the landing page of ``face``."""
    if face == "portal":
        return True
    if face == "console":
        return actor.has(CONSOLE_PERMISSION)
    if face == "ioc":
        return actor.has(IOC_PERMISSION)
    if face == "admin":
        from smartprovince.web.admin_common import admin_sections

        return bool(admin_sections(actor))
    return False


def nav_links(request: Request, actor: Actor) -> dict[str, list[NavLink]]:
    """Every module's navigation links that ``actor`` may follow, grouped by face."""
    grouped: dict[str, list[NavLink]] = {}
    for m in getattr(request.app.state, "modules", ()):
        for link in m.nav:
            if link.permission and not actor.has(link.permission):
                continue
            grouped.setdefault(link.face, []).append(link)
    return grouped


def _signer(request: Request) -> URLSafeSerializer:
    return URLSafeSerializer(request.app.state.settings.secret(), salt="sp-flash")


def flash(request: Request, response: Response, text: str, *, kind: str = "success", **values: Any) -> None:
    """Leave a one-time message (Vietnamese ``text``, translated when shown) for the next page."""
    data = {"text": text, "kind": kind, "values": {k: str(v) for k, v in values.items()}}
    response.set_cookie(
        FLASH_COOKIE, _signer(request).dumps(data), httponly=True, samesite="lax", path="/", max_age=120
    )


def _pop_flash(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = _signer(request).loads(raw)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return None
    return data


def redirect(
    request: Request, url: str, *, message: str | None = None, kind: str = "success", **values: Any
) -> Response:
    """A 303 redirect after a form post, with an optional flash message."""
    response = RedirectResponse(url, status_code=303)
    if message:
        flash(request, response, message, kind=kind, **values)
    set_csrf_cookie(request, response)
    return response


def _cached_province_name(request: Request) -> str | None:
    """The province's name for the header (read once from the organisation tree, then kept)."""
    name = getattr(request.app.state, "province_name", None)
    if name:
        return name
    try:
        from smartprovince.web.province import province_name

        # A read session: the request's own write session may hold SQLite's write lock already.
        with request.app.state.db.session(write=False) as session:
            return province_name(request, session)
    except Exception:  # noqa: BLE001 - the header falls back to the platform's motto
        return None


def _map_tile_url(request: Request) -> str:
    """The platform's map tile URL (setting ``map_tile_url``); empty = no tile server."""
    settings = getattr(request.app.state, "settings", None)
    return str(getattr(settings, "map_tile_url", "") or "")


def base_context(request: Request) -> dict[str, Any]:
    """The variables every template receives (see the module docstring)."""
    actor = safe_actor(request)
    lang = request_lang(request)
    t = translator(lang)
    faces = [f for f in FACES if can_open_face(actor, f.key)]
    flash_data = _pop_flash(request)
    message = None
    if flash_data:
        values = flash_data.get("values") or {}
        message = {"text": t(flash_data["text"], **values), "kind": flash_data.get("kind", "success")}
    return {
        "request": request,
        "province_name": _cached_province_name(request),
        "actor": actor,
        "t": t,
        "lang": lang,
        "csrf_token": csrf_token(request),
        "nav": nav_links(request, actor),
        "faces": faces,
        "show_admin": can_open_face(actor, "admin"),
        "flash": message,
        "path": request.url.path,
        "current_url": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "map_tile_url": _map_tile_url(request),
    }


def render(request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> HTMLResponse:
    """Render ``template`` with the base context plus ``context``; returns an HTML response.

    Sets the CSRF cookie when the browser has none yet and clears a flash message once shown.
    """
    ctx = base_context(request)
    if context:
        ctx.update(context)
    html = environment(request).get_template(template).render(ctx)
    response = HTMLResponse(html, status_code=status)
    set_csrf_cookie(request, response)
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def json_attr(value: Any) -> str:
    """JSON for an HTML attribute (``hx-headers``), escaped by the template."""
    return json.dumps(value, ensure_ascii=False)

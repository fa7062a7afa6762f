"""Web module manifest: the page routers, the permissions of the faces, static files and error pages."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi.staticfiles import StaticFiles

from smartprovince.core.modules import Module
from smartprovince.web import admin_pages, auth_pages, pages
from smartprovince.web.rendering import CONSOLE_PERMISSION, IOC_PERMISSION, STATIC_DIR

OFFICER_ROLES = (
    "provincial_leader",
    "department_leader",
    "district_leader",
    "onestop_officer",
    "specialist",
    "ioc_operator",
    "security_analyst",
    "data_officer",
)
IOC_ROLES = ("provincial_leader", "department_leader", "district_leader", "ioc_operator", "security_analyst")


def _optional_routers() -> list[Any]:
    """Page routers of web pages owned by other helpers (e.g. the holiday calendar), when present."""
    routers = []
    for name in ("smartprovince.web.admin_calendar",):
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        router = getattr(mod, "router", None)
        if router is not None:
            routers.append(router)
    return routers


def setup_app(app: Any) -> None:
    """Serve ``/static`` and render browser error pages as HTML."""
    from smartprovince.web.errors import render_error

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.state.render_error = render_error


def _role_grants() -> dict[str, list[str]]:
    grants: dict[str, list[str]] = {code: [CONSOLE_PERMISSION] for code in OFFICER_ROLES}
    for code in IOC_ROLES:
        grants[code].append(IOC_PERMISSION)
    return grants


module = Module(
    name="web",
    title="Giao diện web",
    page_routers=[pages.router, auth_pages.router, admin_pages.router, *_optional_routers()],
    permissions={
        CONSOLE_PERMISSION: "Mở bàn làm việc cán bộ",
        IOC_PERMISSION: "Mở trung tâm điều hành IOC",
    },
    role_grants=_role_grants(),
    setup_app=setup_app,
)

"""The kernel's own manifest: operations endpoints, bus and audit administration, calendar API."""

from __future__ import annotations

from smartprovince.core import bus as _bus
from smartprovince.core import calendar as _calendar
from smartprovince.core import http as _http
from smartprovince.core.api_audit import router as audit_router
from smartprovince.core.api_bus import router as bus_router
from smartprovince.core.api_calendar import router as calendar_router
from smartprovince.core.api_ops import router as ops_router
from smartprovince.core.modules import Module

module = Module(
    name="core",
    title="Kernel",
    api_routers=[calendar_router, bus_router],
    on_startup=[_calendar.bind_app, _bus.start_app_bus],
    on_shutdown=[_calendar.unbind_app, _bus.stop_app_bus],
    setup_app=_bus.setup_app,
    permissions={
        "core.bus.admin": "Xem và phát lại sự kiện lỗi (dead letters)",
        "core.audit.read": "Xem nhật ký kiểm toán",
        "core.calendar.manage": "Quản lý lịch ngày nghỉ, ngày làm bù",
    },
)

# Audit log API, /healthz /readyz /metrics, and the request-id / access-log / metrics middleware.
module.api_routers.append(audit_router)
module.raw_routers.append(ops_router)
_setup_before_http = module.setup_app


def _setup_app(app):  # type: ignore[no-untyped-def]
    if _setup_before_http is not None:
        _setup_before_http(app)
    _http.install(app)


module.setup_app = _setup_app
# Security analysts (SOC) read the audit log of the organisations they are assigned to.
module.role_grants.setdefault("security_analyst", []).append("core.audit.read")

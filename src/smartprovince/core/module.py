"""The kernel's own manifest: operations endpoints, bus and audit administration, calendar API."""

from __future__ import annotations

from smartprovince.core import bus as _bus
from smartprovince.core import calendar as _calendar
from smartprovince.core.api_bus import router as bus_router
from smartprovince.core.api_calendar import router as calendar_router
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

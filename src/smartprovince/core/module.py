"""The kernel's own manifest: operations endpoints, bus and audit administration, calendar API."""

from __future__ import annotations

from smartprovince.core.modules import Module

module = Module(
    name="core",
    title="Kernel",
    permissions={
        "core.bus.admin": "Xem và phát lại sự kiện lỗi (dead letters)",
        "core.audit.read": "Xem nhật ký kiểm toán",
        "core.calendar.manage": "Quản lý lịch ngày nghỉ, ngày làm bù",
    },
)

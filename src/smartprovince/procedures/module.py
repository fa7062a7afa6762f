"""Procedures module manifest: routers, permissions and what each built-in role gets."""

from __future__ import annotations

from smartprovince.core.modules import Module, NavLink
from smartprovince.procedures import api, demo, pages, warehouse
from smartprovince.procedures import events as _events  # noqa: F401 - importing registers the bus handlers

PERMISSIONS = {
    "procedures.catalog.manage": "Quản lý danh mục thủ tục hành chính",
    "procedures.dossier.submit": "Nộp hồ sơ trực tuyến",
    "procedures.dossier.read": "Xem hồ sơ thủ tục hành chính của đơn vị",
    "procedures.dossier.receive": "Tiếp nhận, từ chối, yêu cầu bổ sung hồ sơ (bộ phận một cửa)",
    "procedures.dossier.process": "Xử lý, chuyển hồ sơ, yêu cầu phí, gia hạn",
    "procedures.dossier.approve": "Phê duyệt kết quả, dừng xử lý hồ sơ",
    "procedures.dossier.return": "Trả kết quả hồ sơ",
    "procedures.stats.read": "Xem thống kê giải quyết thủ tục hành chính",
}

_OFFICER_WRITE = ["procedures.dossier.read", "procedures.dossier.process"]

module = Module(
    name="procedures",
    title="Thủ tục hành chính",
    api_routers=[api.router],
    page_routers=[pages.router],
    template_dirs=["templates"],
    nav=[
        NavLink("portal", "Thủ tục hành chính", "/portal/procedures"),
        NavLink("portal", "Tra cứu hồ sơ", "/portal/track"),
        NavLink("portal", "Hồ sơ của tôi", "/portal/dossiers", "procedures.dossier.submit"),
        NavLink("console", "Hồ sơ thủ tục hành chính", "/console/procedures", "procedures.dossier.read"),
        NavLink("console", "Thống kê thủ tục hành chính", "/console/procedures/stats", "procedures.stats.read"),
    ],
    cli="smartprovince.procedures.cli:cli",  # imported by the command line only
    demo=demo.load,
    demo_order=200,
    warehouse_feeds=[warehouse.FEED],
    permissions=PERMISSIONS,
    role_grants={
        "onestop_officer": ["procedures.dossier.read", "procedures.dossier.receive", "procedures.dossier.process",
                            "procedures.dossier.return", "procedures.stats.read"],
        "specialist": [*_OFFICER_WRITE],
        "department_leader": [*_OFFICER_WRITE, "procedures.dossier.approve", "procedures.stats.read"],
        "district_leader": [*_OFFICER_WRITE, "procedures.dossier.approve", "procedures.stats.read"],
        "provincial_leader": ["procedures.dossier.read", "procedures.dossier.approve", "procedures.stats.read"],
        "data_officer": ["procedures.stats.read", "procedures.catalog.manage"],
        "citizen": ["procedures.dossier.submit"],
    },
)

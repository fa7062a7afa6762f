"""Data hub module manifest: routers, permissions, navigation, demo data."""

from __future__ import annotations

from smartprovince.core.modules import Module, NavLink
from smartprovince.datahub import api, ckan, dcat, demo, pages

PERMISSIONS = {
    "datahub.dataset.read": "Xem bộ dữ liệu nội bộ và trường dữ liệu cá nhân của đơn vị",
    "datahub.dataset.manage": "Định nghĩa bộ dữ liệu, nạp dữ liệu, xem báo cáo kiểm tra",
    "datahub.codelist.manage": "Quản lý danh mục dùng chung (phiên bản, ngày hiệu lực)",
}

module = Module(
    name="datahub",
    title="Kho dữ liệu dùng chung",
    api_routers=[api.router],
    raw_routers=[ckan.router, dcat.router],
    page_routers=[pages.router],
    template_dirs=["templates"],
    permissions=PERMISSIONS,
    role_grants={
        "data_officer": ["datahub.dataset.read", "datahub.dataset.manage", "datahub.codelist.manage"],
        "provincial_leader": ["datahub.dataset.read"],
        "department_leader": ["datahub.dataset.read"],
        "district_leader": ["datahub.dataset.read"],
        "specialist": ["datahub.dataset.read"],
    },
    nav=[
        NavLink("portal", "Dữ liệu mở", "/opendata"),
        NavLink("console", "Kho dữ liệu", "/console/datahub", "datahub.dataset.manage"),
        NavLink("console", "Danh mục dùng chung", "/console/datahub/codelists", "datahub.dataset.manage"),
    ],
    demo=demo.load,
    demo_order=300,
)

"""Data hub module manifest: routers, permissions, navigation, demo data."""

from __future__ import annotations

from typing import Any

from smartprovince.core.modules import Module, NavLink
from smartprovince.datahub import (
    api,
    ckan,
    dcat,
    demo,
    pages,
    scheduler,
    warehouse_feeds,
    warehouse_jobs,
)
from smartprovince.datahub.config import DatahubSettings

PERMISSIONS = {
    "datahub.dataset.read": "Xem bộ dữ liệu nội bộ và trường dữ liệu cá nhân của đơn vị",
    "datahub.dataset.manage": "Định nghĩa bộ dữ liệu, nạp dữ liệu, xem báo cáo kiểm tra",
    "datahub.codelist.manage": "Quản lý danh mục dùng chung (phiên bản, ngày hiệu lực)",
}


def setup_app(app: Any) -> None:
    """Read the module's settings once (scheduler, secrets of agency APIs)."""
    app.state.datahub_config = DatahubSettings()


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
    warehouse_feeds=[warehouse_feeds.dataset_feeds],
    cli="smartprovince.datahub.cli:group",  # imported by the command line only
    on_startup=[warehouse_jobs.start, scheduler.start],
    on_shutdown=[warehouse_jobs.stop, scheduler.stop],
    setup_app=setup_app,
)

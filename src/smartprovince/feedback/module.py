"""Feedback module manifest: routers, permissions, what each built-in role gets, jobs, demo data."""

from __future__ import annotations

from typing import Any

from smartprovince.core.modules import Module, NavLink
from smartprovince.feedback import api, demo, events, jobs, open311, pages, warehouse
from smartprovince.feedback.config import FeedbackSettings

PERMISSIONS = {
    "feedback.report.submit": "Gửi và theo dõi phản ánh của mình",
    "feedback.report.read": "Xem phản ánh chuyển đến đơn vị",
    "feedback.report.handle": "Tiếp nhận, trả lại, cập nhật, xử lý, gộp phản ánh",
    "feedback.report.assign": "Điều phối: chuyển phản ánh cho đơn vị khác",
    "feedback.report.intake": "Nhập phản ánh qua đường dây nóng (không giới hạn tần suất)",
    "feedback.stats.read": "Xem thống kê xử lý phản ánh",
    "feedback.client.manage": "Cấp khóa API Open311 cho ứng dụng",
}

_HANDLER = ["feedback.report.read", "feedback.report.handle"]


def setup_app(app: Any) -> None:
    """Read the module's settings once and share them with the event handler."""
    app.state.feedback_config = FeedbackSettings(public_url=app.state.settings.public_url)
    events.CONFIG = app.state.feedback_config


module = Module(
    name="feedback",
    title="Phản ánh hiện trường",
    api_routers=[api.router],
    raw_routers=[open311.router],
    page_routers=[pages.router],
    template_dirs=["templates"],
    nav=[
        NavLink("portal", "Gửi phản ánh", "/portal/feedback/new"),
        NavLink("portal", "Bản đồ phản ánh", "/portal/feedback"),
        NavLink("portal", "Phản ánh của tôi", "/portal/feedback/mine", "feedback.report.submit"),
        NavLink("console", "Phản ánh hiện trường", "/console/feedback", "feedback.report.read"),
        NavLink("console", "Thống kê phản ánh", "/console/feedback/stats", "feedback.stats.read"),
    ],
    cli="smartprovince.feedback.cli:cli",  # imported by the command line only
    extra_cli={"open311": "smartprovince.feedback.cli:open311_cli"},
    demo=demo.load,
    demo_order=300,
    warehouse_feeds=[warehouse.FEED],
    permissions=PERMISSIONS,
    role_grants={
        "onestop_officer": [*_HANDLER, "feedback.report.intake"],
        "specialist": [*_HANDLER],
        "department_leader": [*_HANDLER, "feedback.stats.read"],
        "district_leader": [*_HANDLER, "feedback.stats.read"],
        "provincial_leader": ["feedback.report.read", "feedback.stats.read"],
        "ioc_operator": [*_HANDLER, "feedback.report.assign", "feedback.report.intake", "feedback.stats.read"],
        "data_officer": ["feedback.stats.read"],
        "citizen": ["feedback.report.submit"],
    },
    on_startup=[jobs.start],
    on_shutdown=[jobs.stop],
    setup_app=setup_app,
)

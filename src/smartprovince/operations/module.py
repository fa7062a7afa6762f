"""Operations (IOC) module manifest: incidents with SOPs, live feed, statistics."""

from __future__ import annotations

from smartprovince.core.modules import Module, NavLink
from smartprovince.operations import api, demo, events, kpi, pages  # noqa: F401 - events and kpi register bus handlers
from smartprovince.operations import warehouse as _warehouse

PERMISSIONS = {
    "operations.incident.read": "Xem sự cố, diễn biến và thống kê xử lý sự cố của đơn vị",
    "operations.incident.manage": "Mở, tiếp nhận, giao, chuyển cấp trên, đóng sự cố; đánh dấu bước SOP",
}
_BOTH = ["operations.incident.read", "operations.incident.manage"]

module = Module(
    name="operations",
    title="Trung tâm điều hành",
    api_routers=[api.router],
    page_routers=[pages.router],
    template_dirs=["templates"],
    nav=[
        NavLink("ioc", "Màn hình tổng quan", "/ioc/wall", "operations.incident.read"),
        NavLink("ioc", "Điều hành sự cố", "/ioc/incidents", "operations.incident.read"),
        NavLink("ioc", "Thống kê xử lý sự cố", "/ioc/incidents/stats", "operations.incident.read"),
    ],
    demo=demo.load,
    demo_order=400,
    warehouse_feeds=[_warehouse.FEED],
    permissions=PERMISSIONS,
    role_grants={
        "ioc_operator": list(_BOTH),
        "provincial_leader": list(_BOTH),
        "department_leader": list(_BOTH),
        "district_leader": list(_BOTH),
        "security_analyst": ["operations.incident.read"],
    },
)

# The console's "open an incident" form: before the incident pages, so /ioc/incidents/new is not an incident id.
from smartprovince.operations import pages_incident_new  # noqa: E402

module.page_routers.insert(0, pages_incident_new.router)

# IOC analytics (KPIs, hotspots, forecasts): its own routers, permissions, grants, links and demo data.
from smartprovince.operations import api_analytics, kpi_engine, kpi_jobs, pages_analytics  # noqa: E402

module.api_routers.append(api_analytics.router)
module.page_routers.append(pages_analytics.router)
module.permissions.update(kpi_engine.PERMISSIONS)
for _role, _perms in kpi_engine.ROLE_GRANTS.items():
    module.role_grants.setdefault(_role, []).extend(p for p in _perms if p not in module.role_grants.get(_role, []))
module.nav.extend(pages_analytics.NAV)
module.demo = kpi_engine.with_demo(module.demo)
# The KPI run: stored values for the province, districts and communes, refreshed when the warehouse has new data.
module.on_startup.append(kpi_jobs.start)
module.on_shutdown.append(kpi_jobs.stop)

# IOC rooms and the central camera registry (wall work): routers, permissions, demo data.
from smartprovince.operations import cameras, rooms, warmup  # noqa: E402

module.api_routers.extend([rooms.router, cameras.router])
module.permissions.update({**rooms.PERMISSIONS, **cameras.PERMISSIONS})
module.role_grants["ioc_operator"].append(cameras.MANAGE)
module.nav.append(NavLink("ioc", "Phòng điều hành", "/ioc/rooms", "operations.incident.read"))
module.demo = rooms.with_demo(module.demo, rooms.load_demo, cameras.load_demo)
# The demo has no video gateway: a simulator keeps the working demo cameras online (only when serving the demo).
module.on_startup.append(cameras.start_demo_heartbeats)
# The first wall request of a new process should not pay for compiling templates and reading the month's sums.
module.on_startup.append(warmup.warm_up)
module.on_shutdown.append(cameras.stop_demo_heartbeats)

"""Sensing module manifest: SensorThings router, JSON API, pages, MQTT bridge, demo, permissions."""

from __future__ import annotations

from smartprovince.core.modules import Module, NavLink
from smartprovince.sensing import api, demo, mqtt, pages, retention, warehouse

PERMISSIONS = {
    "sensing.sta.write": "Ghi dữ liệu SensorThings (trạm, luồng dữ liệu, kết quả quan trắc)",
    "sensing.station.read": "Xem mọi trạm quan trắc, kể cả trạm không công khai",
    "sensing.alert.read": "Xem cảnh báo và ngưỡng cảnh báo cảm biến",
    "sensing.threshold.manage": "Quản lý ngưỡng cảnh báo cảm biến",
    "sensing.device.manage": "Cấp khóa cho thiết bị cảm biến",
}

module = Module(
    name="sensing",
    title="Cảm biến IoT",
    api_routers=[api.router],
    raw_routers=[api.sta_router],
    page_routers=[pages.router],
    template_dirs=["templates"],
    nav=[
        NavLink("portal", "Trạm quan trắc", "/portal/sensing"),
        NavLink("ioc", "Trạm quan trắc", "/portal/sensing"),
        NavLink("console", "Cảnh báo cảm biến", "/console/sensing/alerts", "sensing.alert.read"),
    ],
    cli="smartprovince.sensing.cli:cli",  # imported by the command line only
    demo=demo.load,
    warehouse_feeds=[warehouse.FEED],
    demo_order=300,
    on_startup=[mqtt.start_app_bridge, retention.start],
    on_shutdown=[mqtt.stop_app_bridge, retention.stop],
    permissions=PERMISSIONS,
    role_grants={
        "ioc_operator": ["sensing.station.read", "sensing.alert.read"],
        "specialist": ["sensing.station.read", "sensing.alert.read", "sensing.threshold.manage"],
        "department_leader": ["sensing.station.read", "sensing.alert.read", "sensing.threshold.manage"],
        "district_leader": ["sensing.station.read", "sensing.alert.read"],
        "provincial_leader": ["sensing.station.read", "sensing.alert.read"],
        "data_officer": ["sensing.sta.write", "sensing.station.read", "sensing.alert.read", "sensing.device.manage",
                         "sensing.threshold.manage"],
    },
)

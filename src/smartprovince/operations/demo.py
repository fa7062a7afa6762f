"""Demo data of the operations module (dữ liệu mẫu): incidents of the last 30 days in Hải Dương.

Made through the normal service functions (so every incident has its SOP checklist, timeline, audit
entries and events), with the platform clock moved to each moment; a fixed random seed gives the same
incidents on every load. Most are handled and closed; the last few days' are still open, so the
console shows a live picture. The IOC operator demo account also gets its role over the whole province
(the operations centre watches every unit).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from smartprovince import identity
from smartprovince.core import clock
from smartprovince.core.db import Database
from smartprovince.core.errors import Conflict, Problem
from smartprovince.core.security import SYSTEM
from smartprovince.operations import service

SEED = 20260302
COUNT = 60
# Approximate centres of the 12 district-level units of Hải Dương (2023): code -> (lat, lon, name).
DISTRICTS = {
    "288": (20.9373, 106.3146, "TP Hải Dương"),
    "290": (21.1320, 106.3830, "TP Chí Linh"),
    "291": (21.0040, 106.3370, "Nam Sách"),
    "292": (21.0030, 106.5060, "Kinh Môn"),
    "293": (20.9330, 106.4880, "Kim Thành"),
    "294": (20.8960, 106.4330, "Thanh Hà"),
    "295": (20.9600, 106.2270, "Cẩm Giàng"),
    "296": (20.8740, 106.1870, "Bình Giang"),
    "297": (20.8720, 106.2930, "Gia Lộc"),
    "298": (20.8150, 106.4060, "Tứ Kỳ"),
    "299": (20.7330, 106.3950, "Ninh Giang"),
    "300": (20.7760, 106.2280, "Thanh Miện"),
}
# category, source, link kind, Vietnamese title pattern, weight
KINDS = [
    ("road_damage", "citizen_report", "feedback_report", "Ổ gà lớn trên đường tại {d}", 5),
    ("environment_waste", "citizen_report", "feedback_report", "Rác thải tập kết sai quy định tại {d}", 4),
    ("flooding", "sensor", "sensor_alert", "Mực nước vượt ngưỡng báo động tại {d}", 3),
    ("air_pollution", "sensor", "sensor_alert", "Chỉ số PM2.5 vượt ngưỡng tại trạm {d}", 3),
    ("traffic_accident", "camera", "camera_event", "Va chạm giao thông phát hiện qua camera tại {d}", 3),
    ("fire", "citizen_report", "feedback_report", "Cháy kho xưởng tại {d}", 1),
    ("public_order", "camera", "camera_event", "Tụ tập đông người bất thường tại {d}", 2),
]


def _assign_ioc_operator(session: Any) -> None:
    user = identity.get_user_by_username(session, "ioc.vanhanh")
    root = identity.get_org_by_code(session, "30")
    if user is None or root is None:
        return
    identity.assign_role(session, actor=SYSTEM, user_id=user.id, role_code="ioc_operator", scope_org_id=root.id)


def load(db: Database, settings: Any, progress: Callable[..., Any]) -> None:
    """Load the demo incidents (about 60) and give the IOC operator the whole province."""
    rnd = random.Random(SEED)  # noqa: S311 - demo data, not security
    try:
        with db.session() as s:
            _assign_ioc_operator(s)
    except Problem:
        pass  # already assigned by an earlier load
    now = clock.now().replace(second=0, microsecond=0)
    weights = [k[4] for k in KINDS]
    plan = []
    for n in range(COUNT):
        age_h = rnd.uniform(0.2, 30 * 24) if n >= 12 else rnd.uniform(0.1, 20)
        plan.append((now - timedelta(hours=age_h), rnd.choices(KINDS, weights)[0], rnd.choice(list(DISTRICTS))))
    plan.sort(key=lambda p: p[0])
    current = [now]
    clock.set_clock(lambda: current[0])
    try:
        for n, (at, (category, source, kind, title, _), dcode) in enumerate(plan, start=1):
            progress("Sự cố mẫu", n, COUNT)
            lat, lon, dname = DISTRICTS[dcode]
            lat, lon = lat + rnd.uniform(-0.02, 0.02), lon + rnd.uniform(-0.02, 0.02)
            current[0] = at
            org_code = dcode if category in ("road_damage", "environment_waste", "flooding") else None
            with db.session() as s:
                inc, created = service.open_incident(
                    s,
                    actor=SYSTEM,
                    data=service.IncidentInput(
                        source=source,
                        category=category,
                        title=title.format(d=dname),
                        lat=lat,
                        lon=lon,
                        address=f"{dname}, Hải Dương",
                        org_code=org_code,
                        links=[(kind, f"demo-{SEED}-{n}")],
                    ),
                )
                if not created:
                    continue
                age = now - at
                steps = _steps_of(s, inc.id)
                for verb, minutes in _story(rnd, age):
                    current[0] = current[0] + timedelta(minutes=minutes)
                    if current[0] > now:
                        break
                    if verb == "step":
                        if steps:
                            service.set_step(s, actor=SYSTEM, incident_id=inc.id, step_id=steps.pop(0), done=True)
                        continue
                    try:
                        with s.begin_nested():
                            service.act_on_incident(s, actor=SYSTEM, incident_id=inc.id, verb=verb)
                    except Conflict:
                        continue  # e.g. no parent unit to escalate to
    finally:
        clock.set_clock(None)


def _steps_of(session: Any, incident_id: str) -> list[str]:
    from smartprovince.operations import queries

    return [st.id for st in queries.steps(session, incident_id)]


def _story(rnd: random.Random, age: timedelta) -> list[tuple[str, float]]:
    """What happened to an incident after it opened: (verb, minutes after the previous one)."""
    story: list[tuple[str, float]] = [("acknowledge", rnd.uniform(2, 40)), ("start", rnd.uniform(5, 60))]
    story += [("step", rnd.uniform(10, 120)) for _ in range(rnd.randint(1, 4))]
    if rnd.random() < 0.12:
        story.append(("escalate", rnd.uniform(30, 240)))
        story.append(("acknowledge", rnd.uniform(5, 60)))
    story += [("resolve", rnd.uniform(60, 1440)), ("close", rnd.uniform(30, 600))]
    return story

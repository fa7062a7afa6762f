"""Demo data of the feedback module (phản ánh mẫu).

About 400 reports of the last 60 days across the province's communes, made through the normal
service functions (so timelines, audit entries and events are real), with a fixed random seed:
most are resolved (some late, most rated), some are in progress, some are still new — among them
reports for the demo accounts' units (Thị trấn Lai Cách, Huyện Cẩm Giàng, the IOC centre).

Each demo point lies a few hundred metres from the centre of the commune picked for the report
(``identity.area_centre``), so routing by the point (``identity.locate``) and by the commune agree; without
commune areas the points are drawn inside the province's bounding box (see docs/feedback.md).
An Open311 API key for a demo client application is written to ``DATA_DIR/open311-demo-key.txt`` (0600).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from smartprovince import identity
from smartprovince.core import clock
from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM, Actor, Grant
from smartprovince.feedback import categories, service
from smartprovince.feedback.models import ApiClient

SEED = 20261202
COUNT = 400
BBOX = (20.62, 106.08, 21.15, 106.62)  # south, west, north, east of Hải Dương (approximate)
TEXTS = {
    "road-damage": ["Ổ gà lớn giữa đường, xe máy dễ ngã", "Vỉa hè bị sụt lún, gạch vỡ", "Mặt cầu nứt, lan can hỏng"],
    "street-lighting": ["Đèn đường không sáng cả đoạn", "Cột đèn nghiêng, dây điện lòng thòng"],
    "waste": ["Rác thải tồn đọng nhiều ngày", "Đổ trộm phế thải xây dựng ven đường"],
    "flooding": ["Đường ngập sâu sau mưa", "Cống thoát nước bị tắc, nước tràn vào nhà dân"],
    "pollution": ["Khói đốt rơm rạ gây ô nhiễm", "Xưởng sản xuất xả nước thải ra mương"],
    "traffic": ["Xe tải đỗ chiếm lòng đường", "Ùn tắc giờ cao điểm tại ngã tư"],
    "public-order": ["Tụ tập gây mất trật tự ban đêm", "Lấn chiếm vỉa hè để buôn bán"],
    "trees": ["Cây xanh gãy cành đè lên đường", "Cây nghiêng có nguy cơ đổ"],
    "construction": ["Xây dựng công trình không phép", "Lấn chiếm đất công làm quán"],
    "food-safety": ["Cơ sở bán thực phẩm không rõ nguồn gốc"],
    "other": ["Biển báo bị che khuất"],
}


def _at(instant: datetime) -> Callable[[], datetime]:
    """A clock that always says ``instant`` (the demo replays the past through the normal service functions)."""
    return lambda: instant


def _officer(code: str) -> Actor:
    return Actor(id=None, username=f"demo.{code}", kind="officer", display_name="Cán bộ đơn vị",
                 grants=(Grant("feedback.*", ""),))


def load(db: Database, settings: Any, progress: Any) -> None:
    """Load the demo reports (idempotent: does nothing when reports exist)."""
    from smartprovince.feedback.models import Report

    rng = random.Random(SEED)  # noqa: S311 - reproducible demo data, not secrets
    with db.session() as s:
        if s.scalar(select(Report.id).limit(1)) is not None:
            return
        rows = list(s.execute(select(identity.Organisation.code, identity.Organisation.id)
                              .where(identity.Organisation.level == "commune").order_by(identity.Organisation.code)))
        communes = [code for code, _ in rows]
        centres = {code: identity.area_centre(s, org_id) for code, org_id in rows}
        citizen = identity.get_user_by_username(s, "congdan")
    if not communes:
        return
    cats = [c.code for c in categories.all_categories()]
    real_now = clock.now()
    officer = _officer("unit")
    try:
        for i in range(COUNT):
            created = real_now - timedelta(days=60) + timedelta(minutes=rng.randint(0, 60 * 24 * 59))
            cat = rng.choice(cats)
            area = "10891" if i % 10 == 0 else rng.choice(communes)
            if i % 17 == 0:
                cat, area = "road-damage", "10891"  # Lai Cách, Cẩm Giàng: the district leader's demo account
            clock.set_clock(_at(created))
            with db.session() as s:
                who: Actor = SYSTEM
                channel = rng.choice(["web", "open311", "hotline"])
                if citizen is not None and i % 7 == 0 and channel != "hotline":
                    # a hotline report is typed in by the desk for a caller; only web/app reports carry the
                    # citizen's own account (the citizen may not use the intake channels)
                    who = identity.actor_for_user(s, citizen)
                centre = centres.get(area)
                if centre is not None:  # ~250 m around the commune's centre
                    lat, lon = centre[1] + rng.uniform(-0.002, 0.002), centre[0] + rng.uniform(-0.002, 0.002)
                else:
                    lat, lon = rng.uniform(BBOX[0], BBOX[2]), rng.uniform(BBOX[1], BBOX[3])
                r = service.submit_report(s, actor=who, report=service.NewReport(
                    category_code=cat, description=rng.choice(TEXTS.get(cat, ["Phản ánh"])),
                    lat=round(lat, 6), lon=round(lon, 6),
                    area_code=area if area in communes else None, channel=channel,
                    reporter_name="Người dân", reporter_phone=None))
                fate = rng.random()
                age = real_now - created
                recent = age < timedelta(days=4)  # older reports are nearly all handled, as in Hue-S
                if age < timedelta(hours=6) or fate < (0.25 if recent else 0.005):
                    continue
                step = timedelta(hours=rng.uniform(0.5, 20))
                clock.set_clock(_at(created + step))
                service.accept_report(s, actor=officer, report=r)
                if fate < (0.45 if recent else 0.015):
                    continue
                late = rng.random() < 0.07
                took = (r.due_at - created) * (1.3 if late else rng.uniform(0.2, 0.9))
                done_at = created + took
                if done_at >= real_now:
                    service.update_report(s, actor=officer, report=r, note="Đơn vị đang xử lý")
                    continue
                clock.set_clock(_at(done_at))
                service.resolve_report(s, actor=officer, report=r, note="Đã khắc phục xong")
                if rng.random() < 0.8 and r.reporter_user_id is None:
                    clock.set_clock(_at(done_at + timedelta(hours=rng.uniform(1, 48))))
                    service.rate_report(s, actor=SYSTEM, report=r, follow_key=r.follow_key,
                                        rating=rng.choices([5, 4, 3, 2, 1], weights=[62, 31, 4, 2, 1])[0])
            progress("Phản ánh mẫu (citizen reports)", i + 1, COUNT)
    finally:
        clock.set_clock(None)
    with db.session() as s:
        if s.scalar(select(ApiClient.id).where(ApiClient.name == "Ứng dụng Hải Dương S (demo)")) is None:
            _, key = service.create_api_client(s, actor=SYSTEM, name="Ứng dụng Hải Dương S (demo)",
                                               rate_per_minute=600)
            path = settings.data_dir / "open311-demo-key.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(key + "\n")
            progress(f"Khóa API Open311 (demo): {key}", 1, 1)

"""Writes of the feedback module: every change of a report is one function here.

Each function takes the caller's session and ``actor`` (keyword-only), checks the actor and the
status (:mod:`smartprovince.feedback.lifecycle`), changes rows, writes a timeline step, an audit row
(``core.audit.record``) and publishes ``feedback.report.<verb>`` on the bus — all in the caller's
transaction, so nothing is half-written.

Event payload (every ``feedback.report.*`` topic): ``id``, ``code``, ``category``, ``category_name``,
``lat``, ``lon``, ``address``, ``area_code``, ``unit_id``, ``unit_code``, ``unit_name``, ``unit_path``,
``status``, ``previous_status``, ``due_at``, ``merged_into``, ``note``, ``at``. Never the reporter's
contact.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core import audit, bus, calendar, clock
from smartprovince.core.errors import Conflict, Forbidden, NotFound, ValidationProblem
from smartprovince.core.ids import new_id
from smartprovince.core.security import SYSTEM, Actor
from smartprovince.core.storage import Storage
from smartprovince.feedback import categories, lifecycle, photos, videos
from smartprovince.feedback import stats as _stats  # noqa: F401 - registers the listener that keeps feedback_stat
from smartprovince.feedback.models import ApiClient, Report, ReportActivity, ReportMedia

REOPEN_DAYS = 7
INTAKE_CHANNELS = ("hotline", "desk")
"""Channels of a report an officer types in for somebody else: a caller of the hotline (đường dây nóng) or a
visitor at the reception desk (trực tiếp). Needs ``feedback.report.intake``; the caller is the reporter."""
INTAKE_PERMISSION = "feedback.report.intake"
"""A reporter may reopen a resolved report during this many days after it was resolved."""
WARN_FRACTION = 0.8
"""An SLA warning is sent when this fraction of the time allowed has passed."""
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
HANDLE = "feedback.report.handle"
ASSIGN = "feedback.report.assign"


@dataclass
class Photo:
    """An uploaded photo or video before it is checked and stored (the real type is read from the bytes)."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass
class NewReport:
    """What a reporter sends (from the web form, the API or an Open311 client)."""

    category_code: str
    description: str
    lat: float | None = None
    lon: float | None = None
    address: str | None = None
    area_code: str | None = None
    reporter_name: str | None = None
    reporter_email: str | None = None
    reporter_phone: str | None = None
    channel: str = "web"
    client_id: str | None = None
    photos: list[Photo] = field(default_factory=list)


# --------------------------------------------------------------------------------------- helpers


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points (haversine formula)."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


_NOBODY = categories.Category(code="", name="", name_en="", group="", keywords="", unit="")
"""A category no unit handles: routing it gives the dispatcher."""


def route(session: Session, category: categories.Category, area: Any | None) -> Any:
    """Đơn vị xử lý — the organisation responsible for ``category`` in ``area`` (a commune or None).

    Order: an override for the commune, then for its district (``category.areas``); then the rule
    ``category.unit`` ("commune", "district" or an organisation code). When no organisation fits
    (no area given, or the code is not loaded), the dispatcher (the IOC centre) gets the report and
    assigns it by hand. Returns an ``identity.Organisation``.
    """
    district = area.parent if area is not None and area.level == "commune" else area
    candidates: list[str | None] = []
    if area is not None:
        candidates.append(category.areas.get(area.code))
    if district is not None:
        candidates.append(category.areas.get(district.code))
    if category.unit == "commune":
        candidates.append(area.code if area is not None and area.level == "commune" else None)
    elif category.unit == "district":
        candidates.append(district.code if district is not None else None)
    else:
        candidates.append(category.unit)
    candidates.append(categories.dispatcher_code())
    for code in candidates:
        if code:
            org = identity.get_org_by_code(session, code)
            if org is not None and org.active:
                return org
    # Last resort: the root of the tree, so a report is never lost.
    root = session.scalar(select(identity.Organisation).where(identity.Organisation.parent_id.is_(None))
                          .order_by(identity.Organisation.code))
    if root is None:
        raise ValidationProblem("Chưa có đơn vị nào để nhận phản ánh (no organisation is loaded).")
    return root


AREA_LEVELS = ("commune", "district")
"""Organisation levels a report's area can be (a commune, or a whole district when nothing finer is known)."""
_NAME_PREFIXES = ("thị trấn", "thị xã", "thành phố", "phường", "huyện", "quận", "xã")


def locate_point(session: Session, lat: float | None, lon: float | None) -> Any | None:
    """Xã/phường chứa điểm — the commune whose area contains the point, or ``None``.

    Uses ``identity.locate(session, lon, lat)`` (the commune boundaries kept by the identity module) when
    that function exists in this installation; without it, or for a point outside every commune, the
    answer is ``None`` and routing falls back to the commune the reporter picked.
    """
    locate = getattr(identity, "locate", None)
    if locate is None or lat is None or lon is None:
        return None
    found = locate(session, lon, lat)
    if found is not None and not isinstance(found, identity.Organisation):
        # Accept a code, or any object with a ``code``, so routing does not depend on the return shape.
        code = found if isinstance(found, str) else getattr(found, "code", None)
        found = identity.get_org_by_code(session, str(code)) if code else None
    if found is None or not found.active or found.level not in AREA_LEVELS:
        return None
    return found


def _bare_name(name: str) -> str:
    """``"Xã Cẩm Hưng"`` → ``"cẩm hưng"``: the name without its administrative prefix, lower case."""
    text = " ".join(unicodedata.normalize("NFC", name).lower().split())
    for prefix in _NAME_PREFIXES:
        if text.startswith(prefix + " "):
            return text[len(prefix) + 1:]
    return text


def area_from_address(session: Session, address: str | None) -> Any | None:
    """The commune named in a free-text address (``"… thị trấn Lai Cách, huyện Cẩm Giàng"``), or ``None``.

    A commune counts only with its full name (prefix included: ``xã``, ``phường``, ``thị trấn``); when
    several communes carry that name, the district named in the address decides; still ambiguous →
    ``None`` (the dispatcher decides, never a guess).
    """
    if not address:
        return None
    text = " ".join(unicodedata.normalize("NFC", address).lower().split())
    org = identity.Organisation
    communes = session.scalars(select(org).where(org.level == "commune", org.active.is_(True)))

    def named(name: str) -> bool:
        full = " ".join(unicodedata.normalize("NFC", name).lower().split())
        return re.search(r"(?<!\w)" + re.escape(full) + r"(?!\w)", text) is not None

    found = [c for c in communes if named(c.name)]
    if len(found) > 1:
        found = [c for c in found if c.parent is not None and named(c.parent.name)]
    return found[0] if len(found) == 1 else None


def report_area(session: Session, *, lat: float | None, lon: float | None, area_code: str | None,
                address: str | None) -> Any | None:
    """Khu vực của phản ánh — the commune (or district) a report is routed by. Order:

    1. the commune containing the point (:func:`locate_point`), when a point is given and found;
    2. the commune (or district) the reporter picked (``area_code``; an unknown code is a 422);
    3. the commune named in the address (:func:`area_from_address`);
    4. ``None``: :func:`route` then uses the category's default (its unit rule, else the dispatcher).
    """
    picked = None
    if area_code:
        picked = identity.get_org_by_code(session, area_code)
        if picked is None or picked.level not in AREA_LEVELS:
            raise ValidationProblem(f"Không có xã/phường mã '{area_code}' (unknown area).")
    return locate_point(session, lat, lon) or picked or area_from_address(session, address)


def due_at_for(category: categories.Category, start: datetime, session: Session | None = None) -> datetime:
    """Hạn xử lý — when a report of ``category`` received at ``start`` must be resolved."""
    if category.sla_hours is not None:
        return start + timedelta(hours=category.sla_hours)
    return calendar.add_working_days(start, category.sla_working_days or 0, session=session)


def _new_code(session: Session) -> str:
    day = clock.local_now().strftime("%y%m%d")
    for _ in range(20):
        code = f"PA{day}" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(5))
        if session.scalar(select(Report.id).where(Report.code == code)) is None:
            return code
    raise Conflict("Không tạo được mã phản ánh, hãy thử lại (could not make a unique code).")


def _payload(session: Session, r: Report, *, previous: str | None = None, note: str | None = None) -> dict[str, Any]:
    cat = categories.get_category(r.category_code)
    unit = identity.get_org(session, r.unit_id)
    area = identity.get_org(session, r.area_id) if r.area_id else None
    return {
        "id": r.id, "code": r.code, "category": r.category_code, "category_name": cat.name if cat else None,
        "lat": r.lat, "lon": r.lon, "address": r.address, "area_code": area.code if area else None,
        "unit_id": r.unit_id, "unit_code": unit.code if unit else None, "unit_name": unit.name if unit else None,
        "unit_path": r.unit_path, "status": r.status, "previous_status": previous, "due_at": r.due_at,
        "merged_into": r.merged_into_id, "note": note, "at": clock.now(),
    }


def _record(session: Session, r: Report, *, actor: Actor, action: str, previous: str | None,
            note: str | None = None, data: dict[str, Any] | None = None) -> None:
    """Timeline step + audit row + event, in the caller's transaction."""
    unit = identity.get_org(session, r.unit_id)
    session.add(ReportActivity(id=new_id(), report_id=r.id, at=clock.now(), action=action, status=r.status,
                               actor_name=(actor.display_name or actor.username) if actor.is_authenticated
                               and actor.kind != "system" else None,
                               unit_name=unit.name if unit else None, note=note))
    r.updated_at = clock.now()
    session.flush()
    topic = f"feedback.report.{action}"
    audit.record(session, actor=actor, action=topic, object_type="feedback_report", object_id=r.id,
                 data={"status": r.status, "previous_status": previous, "unit_id": r.unit_id, **(data or {})},
                 org_path=r.unit_path)
    bus.publish(session, topic, _payload(session, r, previous=previous, note=note), key=r.id)


def _set_status(session: Session, r: Report, status: str) -> None:
    """Change the status of ``r`` and of every report merged into it (they share the status)."""
    r.status = status
    session.execute(update(Report).where(Report.merged_into_id == r.id).values(status=status, updated_at=clock.now()))


def _store_photos(session: Session, r: Report, items: list[Photo], *, kind: str, storage: Storage | None,
                  video_limits: videos.VideoLimits | None = None) -> None:
    """Check, clean (EXIF, video metadata) and store the photos and videos; one media row each."""
    if not items:
        return
    if storage is None:
        raise ValidationProblem("Không lưu được ảnh (no file storage configured).")
    if len(items) > photos.MAX_PHOTOS:
        raise ValidationProblem(f"Tối đa {photos.MAX_PHOTOS} ảnh hoặc video "
                                f"(at most {photos.MAX_PHOTOS} photos or videos).")
    for p in items:
        if videos.is_video(p.data):
            stored = videos.save_video(storage, p.data, filename=p.filename, content_type=p.content_type,
                                       limits=video_limits)
        else:
            stored = photos.save_photo(storage, p.data, filename=p.filename, content_type=p.content_type)
        session.add(ReportMedia(id=new_id(), report_id=r.id, kind=kind, key=stored.key,
                                content_type=stored.content_type, size=stored.size, created_at=clock.now()))


def _hours(later: datetime, earlier: datetime) -> float:
    return round((later - earlier).total_seconds() / 3600.0, 4)


def _acknowledge(r: Report) -> None:
    """Record the first acknowledgement (for the mean time to acknowledge)."""
    if r.acknowledged_at is None:
        r.acknowledged_at = clock.now()
        r.ack_hours = _hours(r.acknowledged_at, r.created_at)


def _check_handler(r: Report, actor: Actor, permission: str = HANDLE) -> None:
    if not actor.can(permission, r.unit_path):
        raise NotFound("Không tìm thấy phản ánh (report not found).")
    if r.merged_into_id:
        raise Conflict("Phản ánh này đã được gộp; hãy xử lý phản ánh chính (this report was merged).")


def _clean_text(value: str | None, *, max_len: int, name: str, required: bool = False) -> str | None:
    text = (value or "").strip()
    if required and not text:
        raise ValidationProblem(f"Thiếu {name} ({name} is required).")
    if len(text) > max_len:
        raise ValidationProblem(f"{name} dài quá {max_len} ký tự (too long).")
    return text or None


# --------------------------------------------------------------------------------------- submit


def find_duplicate(session: Session, *, category: categories.Category, lat: float | None, lon: float | None,
                   at: datetime, exclude_id: str | None = None) -> Report | None:
    """Phản ánh trùng — the nearest open report of the same category within the category's distance and
    time window (``duplicate_radius_m``, ``duplicate_hours``), or ``None``."""
    if lat is None or lon is None or category.duplicate_radius_m <= 0 or category.duplicate_hours <= 0:
        return None
    dlat = category.duplicate_radius_m / 111_000.0
    dlon = dlat / max(0.01, math.cos(math.radians(lat)))
    stmt = (select(Report).where(Report.category_code == category.code, Report.merged_into_id.is_(None),
                                 Report.status.in_(lifecycle.OPEN_STATUSES),
                                 Report.created_at >= at - timedelta(hours=category.duplicate_hours),
                                 Report.lat.between(lat - dlat, lat + dlat),
                                 Report.lon.between(lon - dlon, lon + dlon)))
    best: tuple[float, Report] | None = None
    for other in session.scalars(stmt):
        if other.id == exclude_id or other.lat is None or other.lon is None:
            continue
        d = distance_m(lat, lon, other.lat, other.lon)
        if d <= category.duplicate_radius_m and (best is None or d < best[0]):
            best = (d, other)
    return best[1] if best else None


def submit_report(session: Session, *, actor: Actor, report: NewReport, storage: Storage | None = None,
                  video_limits: videos.VideoLimits | None = None) -> Report:
    """Gửi phản ánh — record a new report, route it to the responsible unit and set its deadline.

    The unit is found from the category and the report's area (:func:`report_area`: the commune
    containing the point, else the commune picked, else the one named in the address).

    Anybody may report (``actor`` may be anonymous). A logged-in citizen is kept as the reporter; the
    contact fields are private. A nearby open report of the same category is noted as a suggested
    duplicate (``duplicate_of_id``) for the unit to merge. Publishes ``feedback.report.created``.
    """
    intake = report.channel in INTAKE_CHANNELS
    if intake and not actor.has(INTAKE_PERMISSION):
        raise Forbidden("Chỉ cán bộ tiếp nhận được nhập phản ánh qua đường dây nóng hoặc trực tiếp "
                        "(only intake officers enter reports for callers).")
    cat = categories.get_category(report.category_code)
    if cat is None:
        raise ValidationProblem(f"Không có loại phản ánh '{report.category_code}' (unknown category).")
    description = _clean_text(report.description, max_len=4000, name="description", required=True)
    address = _clean_text(report.address, max_len=500, name="address")
    if (report.lat is None) != (report.lon is None):
        raise ValidationProblem("Cần cả vĩ độ và kinh độ (lat and long go together).")
    if report.lat is not None and report.lon is not None and (
            not -90 <= report.lat <= 90 or not -180 <= report.lon <= 180
            or math.isnan(report.lat) or math.isnan(report.lon)):
        raise ValidationProblem("Tọa độ không hợp lệ (invalid coordinates).")
    if report.lat is None and not address and not report.area_code:
        raise ValidationProblem("Cần vị trí trên bản đồ, địa chỉ hoặc xã/phường (a location is required).")
    area = report_area(session, lat=report.lat, lon=report.lon, area_code=report.area_code, address=address)
    email = _clean_text(report.reporter_email, max_len=254, name="email")
    if email and ("@" not in email or " " in email):
        raise ValidationProblem("Địa chỉ e-mail không hợp lệ (invalid e-mail).")
    phone = _clean_text(report.reporter_phone, max_len=20, name="phone")
    name = _clean_text(report.reporter_name, max_len=200, name="name")
    # A report typed in for a caller belongs to the caller (the contact typed), never to the officer: the
    # officer would otherwise receive the caller's notifications and could rate or reopen it.
    user_id = actor.id if actor.kind in ("citizen", "officer") and actor.id and not intake else None
    if user_id and (not email or not name):
        user = session.get(identity.User, user_id)
        if user is not None:
            email = email or user.email
            name = name or user.full_name
    unit = route(session, cat, area)
    now = clock.now()
    r = Report(
        id=new_id(), code=_new_code(session), token=secrets.token_urlsafe(18), follow_key=secrets.token_urlsafe(18),
        category_code=cat.code, description=description or "", lat=report.lat, lon=report.lon, address=address,
        area_id=area.id if area else None, unit_id=unit.id, unit_path=unit.path, status="submitted",
        channel=report.channel, client_id=report.client_id, reporter_user_id=user_id, reporter_name=name,
        reporter_email=email, reporter_phone=phone, reopen_count=0, escalation_level=0, created_at=now,
        updated_at=now, due_at=due_at_for(cat, now, session),
    )
    dup = find_duplicate(session, category=cat, lat=report.lat, lon=report.lon, at=now)
    r.duplicate_of_id = dup.id if dup else None
    session.add(r)
    session.flush()
    _store_photos(session, r, report.photos, kind="report", storage=storage, video_limits=video_limits)
    _record(session, r, actor=actor, action="created", previous=None,
            data={"category": cat.code, "channel": report.channel, "duplicate_of": r.duplicate_of_id})
    return r


# ------------------------------------------------------------------------------------ officers


def accept_report(session: Session, *, actor: Actor, report: Report, note: str | None = None) -> Report:
    """Tiếp nhận — the responsible unit accepts the report (acknowledgement time is recorded)."""
    _check_handler(report, actor)
    prev = report.status
    _set_status(session, report, lifecycle.next_status(prev, "accept"))
    _acknowledge(report)
    _record(session, report, actor=actor, action="accepted", previous=prev,
            note=_clean_text(note, max_len=2000, name="note"))
    return report


def send_back_report(session: Session, *, actor: Actor, report: Report, note: str) -> Report:
    """Trả lại — the unit says the report is not its job; it goes to the dispatcher with the reason."""
    _check_handler(report, actor)
    reason = _clean_text(note, max_len=2000, name="note", required=True)
    prev = report.status
    dispatcher = route(session, _NOBODY, None)  # the dispatcher (or the root when it is not loaded)
    if dispatcher.id == report.unit_id:
        raise Conflict("Phản ánh đang ở đơn vị điều phối; hãy chuyển cho đơn vị khác (already at the dispatcher).")
    _set_status(session, report, lifecycle.next_status(prev, "send_back"))
    report.unit_id, report.unit_path = dispatcher.id, dispatcher.path
    _record(session, report, actor=actor, action="sent_back", previous=prev, note=reason)
    return report


def assign_report(session: Session, *, actor: Actor, report: Report, unit_code: str, note: str | None = None) -> Report:
    """Chuyển đơn vị — the dispatcher (IOC) gives the report to another unit."""
    _check_handler(report, actor, ASSIGN)
    unit = identity.get_org_by_code(session, unit_code)
    if unit is None or not unit.active:
        raise ValidationProblem(f"Không có đơn vị mã '{unit_code}' (unknown unit).")
    prev = report.status
    _set_status(session, report, lifecycle.next_status(prev, "assign"))
    report.unit_id, report.unit_path = unit.id, unit.path
    _record(session, report, actor=actor, action="assigned", previous=prev,
            note=_clean_text(note, max_len=2000, name="note"), data={"unit_code": unit.code})
    return report


def update_report(session: Session, *, actor: Actor, report: Report, note: str) -> Report:
    """Cập nhật tiến độ — the unit tells what is being done (status becomes 'in progress')."""
    _check_handler(report, actor)
    text = _clean_text(note, max_len=2000, name="note", required=True)
    prev = report.status
    _set_status(session, report, lifecycle.next_status(prev, "update"))
    _acknowledge(report)
    report.status_note = text
    _record(session, report, actor=actor, action="updated", previous=prev, note=text)
    return report


def resolve_report(session: Session, *, actor: Actor, report: Report, note: str,
                   photos_after: list[Photo] | None = None, storage: Storage | None = None,
                   video_limits: videos.VideoLimits | None = None) -> Report:
    """Đã xử lý — the unit reports the result, with a note and photos of the result."""
    _check_handler(report, actor)
    text = _clean_text(note, max_len=2000, name="note", required=True)
    prev = report.status
    _set_status(session, report, lifecycle.next_status(prev, "resolve"))
    now = clock.now()
    _acknowledge(report)
    report.resolved_at = now
    report.resolve_hours = _hours(now, report.created_at)
    report.status_note = text
    _store_photos(session, report, photos_after or [], kind="result", storage=storage, video_limits=video_limits)
    _record(session, report, actor=actor, action="resolved", previous=prev, note=text)
    return report


def merge_reports(session: Session, *, actor: Actor, report: Report, into: Report) -> Report:
    """Gộp phản ánh trùng — ``report`` becomes part of ``into``: same status from now on, and every
    reporter of both is told of each change."""
    _check_handler(report, actor)
    _check_handler(into, actor)
    if report.id == into.id:
        raise Conflict("Không thể gộp phản ánh vào chính nó (cannot merge a report into itself).")
    if report.category_code != into.category_code:
        raise Conflict("Chỉ gộp phản ánh cùng loại (only reports of the same category can be merged).")
    lifecycle.next_status(report.status, "merge")
    lifecycle.next_status(into.status, "merge")
    prev = report.status
    # Reports merged into ``report`` earlier follow it into ``into``.
    session.execute(update(Report).where(Report.merged_into_id == report.id).values(merged_into_id=into.id))
    report.merged_into_id = into.id
    report.status = into.status
    report.unit_id, report.unit_path = into.unit_id, into.unit_path
    _record(session, report, actor=actor, action="merged", previous=prev,
            note=f"Gộp vào phản ánh {into.code}", data={"into": into.id})
    return report


# ------------------------------------------------------------------------------------ reporters


def _check_reporter(report: Report, actor: Actor, follow_key: str | None) -> None:
    own = actor.id is not None and actor.id == report.reporter_user_id
    by_key = bool(follow_key) and secrets.compare_digest(follow_key or "", report.follow_key)
    if not own and not by_key:
        raise Forbidden("Chỉ người gửi phản ánh mới được đánh giá hoặc mở lại (only the reporter may do this).")
    if report.merged_into_id:
        raise Conflict("Phản ánh này đã được gộp; hãy đánh giá phản ánh chính (this report was merged).")


def rate_report(session: Session, *, actor: Actor, report: Report, rating: int, comment: str | None = None,
                follow_key: str | None = None) -> Report:
    """Đánh giá — the reporter rates the resolution from 1 (very unhappy) to 5 (very happy); closes it."""
    _check_reporter(report, actor, follow_key)
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValidationProblem("Điểm đánh giá từ 1 đến 5 (rating must be 1 to 5).")
    prev = report.status
    _set_status(session, report, lifecycle.next_status(prev, "rate"))
    report.rating = rating
    report.rating_comment = _clean_text(comment, max_len=2000, name="comment")
    report.closed_at = report.closed_at or clock.now()
    _record(session, report, actor=actor, action="rated", previous=prev, note=report.rating_comment,
            data={"rating": rating})
    return report


def reopen_report(session: Session, *, actor: Actor, report: Report, reason: str,
                  follow_key: str | None = None) -> Report:
    """Mở lại — the reporter says the problem is not fixed, within ``REOPEN_DAYS`` of the resolution."""
    _check_reporter(report, actor, follow_key)
    text = _clean_text(reason, max_len=2000, name="reason", required=True)
    if report.resolved_at is None or clock.now() > report.resolved_at + timedelta(days=REOPEN_DAYS):
        raise Conflict(f"Chỉ mở lại trong {REOPEN_DAYS} ngày sau khi xử lý (the reopening period is over).")
    prev = report.status
    _set_status(session, report, lifecycle.next_status(prev, "reopen"))
    report.reopen_count += 1
    report.resolved_at = None
    report.resolve_hours = None
    report.closed_at = None
    report.rating = None
    cat = categories.get_category(report.category_code)
    if cat is not None:
        report.due_at = due_at_for(cat, clock.now(), session)
    report.warned_at = None
    _record(session, report, actor=actor, action="reopened", previous=prev, note=text)
    return report


# ------------------------------------------------------------------------------------ SLA job


@dataclass
class SlaResult:
    """What one run of :func:`check_sla` did."""

    warned: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)


def check_sla(session: Session, *, actor: Actor = SYSTEM, limit: int = 500) -> SlaResult:
    """Kiểm tra hạn xử lý — the periodic job: warn before the deadline, escalate after it, close resolved
    reports whose reopening period is over.

    * warning: ``WARN_FRACTION`` of the allowed time has passed and the report is still open →
      ``feedback.report.sla_warning`` (once per deadline);
    * escalation: the deadline has passed → the report moves to the parent of its unit
      (``feedback.report.escalated``), and gets a new deadline of the same length;
    * auto-close: resolved more than ``REOPEN_DAYS`` ago without a rating → ``closed``.
    """
    now = clock.now()
    result = SlaResult()
    open_rows = session.scalars(select(Report).where(Report.status.in_(lifecycle.OPEN_STATUSES),
                                                     Report.merged_into_id.is_(None),
                                                     Report.due_at <= now + timedelta(days=30))
                                .order_by(Report.due_at).limit(limit))
    for r in list(open_rows):
        start = r.escalated_at or r.created_at
        allowed = r.due_at - start
        if now > r.due_at:
            unit = identity.get_org(session, r.unit_id)
            parent = unit.parent if unit is not None else None
            if parent is None:
                continue
            prev = r.status
            r.unit_id, r.unit_path = parent.id, parent.path
            r.escalation_level += 1
            r.escalated_at = now
            r.due_at = now + max(allowed, timedelta(hours=1))
            r.warned_at = None
            _record(session, r, actor=actor, action="escalated", previous=prev,
                    note=f"Quá hạn xử lý; chuyển lên {parent.name}", data={"to": parent.code})
            result.escalated.append(r.id)
        elif r.warned_at is None and now >= start + allowed * WARN_FRACTION:
            r.warned_at = now
            _record(session, r, actor=actor, action="sla_warning", previous=r.status,
                    note="Sắp đến hạn xử lý")
            result.warned.append(r.id)
    stale = session.scalars(select(Report).where(Report.status == "resolved", Report.merged_into_id.is_(None),
                                                 Report.resolved_at <= now - timedelta(days=REOPEN_DAYS)).limit(limit))
    for r in list(stale):
        prev = r.status
        _set_status(session, r, lifecycle.next_status(prev, "close"))
        r.closed_at = now
        _record(session, r, actor=actor, action="closed", previous=prev, note="Hết thời hạn đánh giá")
        result.closed.append(r.id)
    return result


# ---------------------------------------------------------------------------------- API clients


def hash_key(key: str) -> str:
    """SHA-256 of an API key (the table keeps only this)."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_client(session: Session, *, actor: Actor, name: str, rate_per_minute: int = 60) -> tuple[ApiClient, str]:
    """Cấp khóa API — register an Open311 client application; returns it and its key (shown once)."""
    clean = _clean_text(name, max_len=200, name="name", required=True)
    if not 1 <= rate_per_minute <= 100_000:
        raise ValidationProblem("rate_per_minute must be 1 to 100000.")
    if session.scalar(select(ApiClient.id).where(ApiClient.name == clean)) is not None:
        raise Conflict(f"Đã có ứng dụng tên '{clean}' (a client with this name exists).")
    key = "o311_" + secrets.token_urlsafe(24)
    client = ApiClient(id=new_id(), name=clean or "", key_hash=hash_key(key), rate_per_minute=rate_per_minute,
                       active=True, created_at=clock.now())
    session.add(client)
    session.flush()
    audit.record(session, actor=actor, action="feedback.api_client.created", object_type="feedback_api_client",
                 object_id=client.id, data={"name": client.name, "rate_per_minute": rate_per_minute})
    bus.publish(session, "feedback.api_client.created", {"id": client.id, "name": client.name}, key=client.id)
    return client, key


def client_for_key(session: Session, key: str | None) -> ApiClient | None:
    """The active client application holding ``key``, or ``None``."""
    if not key:
        return None
    return session.scalar(select(ApiClient).where(ApiClient.key_hash == hash_key(key), ApiClient.active.is_(True)))

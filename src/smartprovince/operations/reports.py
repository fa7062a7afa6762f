"""Báo cáo tình hình — the daily or weekly situation report of the IOC for leaders.

One report covers a window (a Vietnamese calendar day, or an ISO week Monday → Sunday) and an area
(the province, a district or a commune). It gathers, for that window and area:

* the KPIs computed over the warehouse (each KPI's formula evaluated on the window itself), with
  target and status;
* incidents opened and closed, by category and by severity, and those still open at the end;
* citizen reports received, handled, handled on time, rated and satisfied (warehouse);
* sensor alerts raised in the window and still active;
* public-service figures (dossiers received, online, finished, on time, late — warehouse);
* the top hotspots (Getis-Ord Gi*) of the incidents of the 30 days that end with the window.

:func:`situation` builds the figures as plain data; the page renders them as HTML (with print CSS)
and :func:`situation_pdf` as a PDF in Vietnamese (ReportLab with DejaVu Sans).
"""

from __future__ import annotations

import io
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core.clock import VN_TZ, local_now, now
from smartprovince.core.errors import NotFound, ValidationProblem
from smartprovince.core.security import Actor
from smartprovince.operations import kpi_engine
from smartprovince.operations.models import Incident, IncidentLink
from smartprovince.operations.sops import all_sops

READ = kpi_engine.READ
SEVERITY_LABELS = {"critical": "Nghiêm trọng", "high": "Cao", "medium": "Trung bình", "low": "Thấp"}
HOTSPOT_DAYS = 30

# Warehouse sources shown in the report's sections (name → Vietnamese label).
REPORT_FIGURES = {
    "reports.received": "Phản ánh tiếp nhận",
    "reports.resolved": "Phản ánh đã xử lý",
    "reports.resolved_on_time": "Phản ánh xử lý đúng hạn",
    "reports.rated": "Phản ánh được đánh giá",
    "reports.satisfied": "Đánh giá hài lòng",
}
SERVICE_FIGURES = {
    "dossiers.received": "Hồ sơ TTHC tiếp nhận",
    "dossiers.received_online": "Tiếp nhận trực tuyến",
    "dossiers.finished": "Hồ sơ đã giải quyết",
    "dossiers.finished_on_time": "Giải quyết đúng hạn",
    "dossiers.finished_late": "Giải quyết quá hạn",
}


def window(kind: str, day: date) -> kpi_engine.Period:
    """The report window: the day itself (``day``) or the ISO week that contains it (``week``)."""
    if kind == "day":
        return kpi_engine.Period(day.isoformat(), "day", day, day + timedelta(days=1))
    if kind == "week":
        monday = day - timedelta(days=day.weekday())
        year, week, _ = monday.isocalendar()
        return kpi_engine.Period(f"{year}-W{week:02d}", "week", monday, monday + timedelta(days=7))
    raise ValidationProblem("period phải là 'day' hoặc 'week'.")


def report_area(session: Session, actor: Actor, code: str | None) -> Any:
    """The area of the report: ``code`` if the actor may read it (the same 404 for missing and forbidden);
    without a code, the province for a province-wide reader, otherwise the reader's own organisation."""
    if code:
        org = identity.get_org_by_code(session, code)
        if org is None or not actor.can(READ, org.path):
            raise NotFound("Không tìm thấy đơn vị.")
        return org
    if "" in actor.scopes(READ):
        return None
    org = identity.get_org(session, actor.org_id) if actor.org_id else None
    if org is None or not actor.can(READ, org.path):
        raise NotFound("Không tìm thấy đơn vị.")
    return org


def _in_area(column: Any, area: Any) -> Any:
    return column.startswith(area.path) if area is not None else column.is_not(None)


def _counts(session: Session, column: Any, key: Any, area: Any, per: kpi_engine.Period) -> dict[str, int]:
    stmt = (select(key, func.count()).where(column >= per.since, column < per.until, _in_area(Incident.org_path, area))
            .group_by(key))
    return {str(row[0]): int(row[1]) for row in session.execute(stmt).tuples()}


def _incidents(session: Session, area: Any, per: kpi_engine.Period, lang: str) -> dict[str, Any]:
    sops = all_sops()

    def cat_name(code: str) -> str:
        s = sops.get(code)
        if s is None:
            return code
        return s.name_en if lang == "en" and s.name_en else s.name

    opened = _counts(session, Incident.opened_at, Incident.category, area, per)
    closed = _counts(session, Incident.resolved_at, Incident.category, area, per)
    by_severity_opened = _counts(session, Incident.opened_at, Incident.severity, area, per)
    by_severity_closed = _counts(session, Incident.resolved_at, Incident.severity, area, per)
    still_open = session.scalar(
        select(func.count()).select_from(Incident).where(
            Incident.opened_at < per.until, _in_area(Incident.org_path, area),
            or_(Incident.resolved_at.is_(None), Incident.resolved_at >= per.until))
    ) or 0
    categories = sorted(set(opened) | set(closed), key=lambda c: (-opened.get(c, 0), c))
    return {
        "by_category": [{"code": c, "name": cat_name(c), "opened": opened.get(c, 0), "closed": closed.get(c, 0)}
                        for c in categories],
        "by_severity": [{"code": s, "name": SEVERITY_LABELS[s], "opened": by_severity_opened.get(s, 0),
                         "closed": by_severity_closed.get(s, 0)} for s in SEVERITY_LABELS],
        "opened": sum(opened.values()), "closed": sum(closed.values()), "open_at_end": int(still_open),
    }


def _alerts(session: Session, area: Any, per: kpi_engine.Period) -> dict[str, int]:
    base = (select(func.count()).select_from(IncidentLink).join(Incident, Incident.id == IncidentLink.incident_id)
            .where(IncidentLink.kind == "sensor_alert", _in_area(Incident.org_path, area)))
    raised = base.where(IncidentLink.created_at >= per.since, IncidentLink.created_at < per.until)
    active = base.where(IncidentLink.active.is_(True), IncidentLink.created_at < per.until)
    return {"raised": int(session.scalar(raised) or 0), "active": int(session.scalar(active) or 0)}


def _figures(session: Session, names: dict[str, str], area: Any, per: kpi_engine.Period, settings: Any,
             cache: dict[Any, Any]) -> list[dict[str, Any]]:
    """Warehouse figures of the window (``None`` when the warehouse cannot answer)."""
    dummy = kpi_engine.KpiDefinition(code="_report", formula="0", targets=[], reference=[])
    ctx = kpi_engine.SourceContext(kpi=dummy, period=per, org=area, settings=settings, cache=cache)
    out = []
    for name, label in names.items():
        source = kpi_engine.SOURCES.get(name)
        value = source(session, ctx) if source is not None else None
        out.append({"name": name, "label": label, "value": value})
    return out


def _kpis(session: Session, area: Any, per: kpi_engine.Period, settings: Any, cache: dict[Any, Any],
          lang: str) -> list[dict[str, Any]]:
    """Every KPI computed from the warehouse, evaluated on the report window."""
    rows = []
    for d in kpi_engine.definitions(session):
        try:
            _, names = kpi_engine.parse_formula(d.formula)
        except ValidationProblem:
            continue
        if not names or any(kpi_engine.SOURCE_KINDS.get(n) != "warehouse" for n in names):
            continue
        r = kpi_engine.evaluate_kpi(session, d, per, area, settings=settings, cache=cache)
        rows.append({"code": d.code, "name": d.name_en if lang == "en" and d.name_en else d.name, "unit": d.unit,
                     "group": d.group, "value": r["value"], "target": r["target"], "status": r["status"]})
    return rows


def _hotspots(session: Session, area: Any, per: kpi_engine.Period, top: int = 5) -> list[dict[str, Any]]:
    """The hottest Gi* cells (1 km) of the incidents opened in the 30 days that end with the window."""
    import numpy as np

    from smartprovince.operations import hotspots

    since = per.until - timedelta(days=HOTSPOT_DAYS)
    rows = session.execute(
        select(Incident.lon, Incident.lat, Incident.address).where(
            Incident.lat.is_not(None), Incident.lon.is_not(None), Incident.opened_at >= since,
            Incident.opened_at < per.until, _in_area(Incident.org_path, area))
    ).all()
    if len(rows) < 3:
        return []
    lon = np.array([r[0] for r in rows], dtype=float)
    lat = np.array([r[1] for r in rows], dtype=float)
    layer = hotspots.gi_star(lon, lat, cell_m=1000)
    # Gi* marks the neighbours of a cluster too; a leader wants the places where incidents happened.
    hot = [f for f in layer["features"]
           if str(f["properties"].get("class", "")).startswith("hot") and int(f["properties"]["count"]) > 0]
    hot.sort(key=lambda f: -float(f["properties"]["z"]))
    out = []
    for f in hot[:top]:
        ring = f["geometry"]["coordinates"][0]
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        inside = [r[2] for r in rows if min(xs) <= r[0] <= max(xs) and min(ys) <= r[1] <= max(ys) and r[2]]
        place = Counter(inside).most_common(1)[0][0] if inside else ""
        out.append({"lat": round(sum(ys[:4]) / 4, 5), "lon": round(sum(xs[:4]) / 4, 5), "place": place,
                    "count": int(f["properties"]["count"]), "z": float(f["properties"]["z"]),
                    "class": f["properties"]["class"]})
    return out


def situation(session: Session, actor: Actor, *, kind: str = "day", day: date | None = None,
              area_code: str | None = None, settings: Any = None, lang: str = "vi") -> dict[str, Any]:
    """Build the situation report of ``kind`` (``day`` | ``week``) containing ``day`` (default: today) for the
    area ``area_code`` (default: the reader's whole scope). Returns plain data for the page and the PDF."""
    area = report_area(session, actor, area_code)
    per = window(kind, day or local_now().date())
    cache: dict[Any, Any] = {}
    # Every warehouse figure of the window in one call (the province's answer serves the area too).
    kpi_engine.prefetch(cache, settings, set(kpi_engine.WAREHOUSE_QUERIES), per.start, per.end, exact=True)
    return {
        "kind": kind, "period": per, "start": per.start, "end": per.end - timedelta(days=1),
        "area": area, "area_name": area.name if area is not None else _province_name(session),
        "generated_at": now().astimezone(VN_TZ),
        "kpis": _kpis(session, area, per, settings, cache, lang),
        "incidents": _incidents(session, area, per, lang),
        "alerts": _alerts(session, area, per),
        "reports": _figures(session, REPORT_FIGURES, area, per, settings, cache),
        "services": _figures(session, SERVICE_FIGURES, area, per, settings, cache),
        "hotspots": _hotspots(session, area, per),
    }


def _province_name(session: Session) -> str:
    root, _ = kpi_engine.child_areas(session, None)
    return root.name if root is not None else "Toàn tỉnh"


# ------------------------------------------------------------------------------------------ PDF

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts")


def _fonts() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "DejaVu" in pdfmetrics.getRegisteredFontNames():
        return
    for folder in _FONT_DIRS:
        regular, bold = Path(folder, "DejaVuSans.ttf"), Path(folder, "DejaVuSans-Bold.ttf")
        if regular.exists() and bold.exists():
            pdfmetrics.registerFont(TTFont("DejaVu", str(regular)))
            pdfmetrics.registerFont(TTFont("DejaVu-Bold", str(bold)))
            return
    raise RuntimeError("DejaVu Sans not found; install the Debian package fonts-dejavu-core")


def fmt(value: float | None, unit: str = "") -> str:
    """A figure the Vietnamese way (``1.234``, ``95,5``); ``—`` for no value."""
    if value is None:
        return "—"
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return f"{text} {unit}".strip() if unit else text


def status_label(k: dict[str, Any]) -> str:
    """The Vietnamese status of a KPI row: "no data" when there is no value, else the status's label."""
    return "Chưa có số liệu" if k["value"] is None else kpi_engine.STATUS_LABELS[k["status"]]


def situation_pdf(report: dict[str, Any], t: Any = lambda s, **kw: s.format(**kw) if kw else s) -> bytes:
    """The situation report as an A4 PDF (Vietnamese with DejaVu Sans); ``t`` translates the labels."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _fonts()
    base = ParagraphStyle("base", fontName="DejaVu", fontSize=9.5, leading=12.5)
    h1 = ParagraphStyle("h1", parent=base, fontName="DejaVu-Bold", fontSize=14, leading=18, spaceAfter=4)
    h2 = ParagraphStyle("h2", parent=base, fontName="DejaVu-Bold", fontSize=11, leading=14, spaceBefore=8,
                        spaceAfter=4)
    status_colours = {"green": "#2e7d32", "amber": "#b8860b", "red": "#b71c1c", "none": "#5b6675"}

    def esc(text: object) -> str:
        return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def table(head: list[str], rows: list[list[Any]], widths: list[float]) -> Table:
        data = [[Paragraph(f"<b>{esc(h)}</b>", base) for h in head]]
        data += [[c if isinstance(c, Paragraph) else Paragraph(esc(c), base) for c in r] for r in rows]
        tb = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
        tb.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#b0b8c4")),
                                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef3")),
                                ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return tb

    r = report
    title = t("BÁO CÁO TÌNH HÌNH NGÀY") if r["kind"] == "day" else t("BÁO CÁO TÌNH HÌNH TUẦN")
    span = (r["start"].strftime("%d/%m/%Y") if r["kind"] == "day"
            else f"{r['start'].strftime('%d/%m/%Y')} – {r['end'].strftime('%d/%m/%Y')}")
    story: list[Any] = [
        Paragraph(esc(t("Trung tâm giám sát, điều hành thông minh (IOC)")), base),
        Paragraph(esc(f"{title} · {span}"), h1),
        Paragraph(esc(f"{t('Địa bàn')}: {r['area_name']} · {t('Lập lúc')} {r['generated_at']:%H:%M %d/%m/%Y}"), base),
        Paragraph(esc(t("1. Chỉ số KPI")), h2),
    ]
    kpi_rows = [[k["name"], fmt(k["value"], k["unit"]), fmt(k["target"], k["unit"]),
                 Paragraph(f'<font color="{status_colours[k["status"]]}">{esc(t(status_label(k)))}</font>', base)]
                for k in r["kpis"]]
    story.append(table([t("Chỉ số"), t("Giá trị"), t("Mục tiêu"), t("Trạng thái")], kpi_rows, [88, 30, 30, 32]))
    inc = r["incidents"]
    story += [Paragraph(esc(t("2. Sự cố")), h2),
              Paragraph(esc(f"{t('Phát sinh')}: {inc['opened']} · {t('Xử lý xong')}: {inc['closed']} · "
                            f"{t('Còn mở cuối kỳ')}: {inc['open_at_end']}"), base), Spacer(1, 3 * mm),
              table([t("Loại sự cố"), t("Phát sinh"), t("Xử lý xong")],
                    [[c["name"], c["opened"], c["closed"]] for c in inc["by_category"]] or [["—", 0, 0]],
                    [110, 35, 35]), Spacer(1, 3 * mm),
              table([t("Mức độ"), t("Phát sinh"), t("Xử lý xong")],
                    [[t(s["name"]), s["opened"], s["closed"]] for s in inc["by_severity"]], [110, 35, 35]),
              Paragraph(esc(t("3. Phản ánh của người dân")), h2),
              table([t("Nội dung"), t("Số lượng")], [[t(f["label"]), fmt(f["value"])] for f in r["reports"]],
                    [130, 50]),
              Paragraph(esc(t("4. Cảnh báo cảm biến")), h2),
              Paragraph(esc(f"{t('Cảnh báo phát sinh')}: {r['alerts']['raised']} · "
                            f"{t('Đang hiệu lực')}: {r['alerts']['active']}"), base),
              Paragraph(esc(t("5. Dịch vụ công")), h2),
              table([t("Nội dung"), t("Số lượng")], [[t(f["label"]), fmt(f["value"])] for f in r["services"]],
                    [130, 50]),
              Paragraph(esc(t("6. Điểm nóng sự cố (30 ngày)")), h2)]
    hot_rows = [[i, h["place"] or f"{h['lat']}, {h['lon']}", h["count"], f"{h['z']:.2f}"]
                for i, h in enumerate(r["hotspots"], start=1)]
    story.append(table(["#", t("Vị trí"), t("Sự cố"), "z (Gi*)"], hot_rows or [["—", t("Không có điểm nóng"), "", ""]],
                       [10, 120, 25, 25]))
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=14 * mm,
                      bottomMargin=14 * mm, title=f"{title} {span}", author="Smart Province IOC").build(story)
    return buf.getvalue()


def parse_day(raw: str | None) -> date | None:
    """``YYYY-MM-DD`` → date; ``None`` for empty; a 422 problem for anything else, and for a day outside the years
    1900–2999 (a report window around 0001-01-01 or 9999-12-31 cannot be turned into UTC instants)."""
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=VN_TZ).date()
    except ValueError as exc:
        raise ValidationProblem("Ngày không hợp lệ (YYYY-MM-DD).") from exc
    if not date(1900, 1, 1) <= day <= date(2999, 12, 31):
        raise ValidationProblem("Ngày phải trong khoảng 1900-01-01 đến 2999-12-31.")
    return day

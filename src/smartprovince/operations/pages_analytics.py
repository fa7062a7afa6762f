"""IOC analytics pages: KPI tiles, one KPI's history with its forecast, the hotspot map."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from smartprovince.core.deps import DbSession
from smartprovince.core.errors import ValidationProblem
from smartprovince.core.modules import NavLink
from smartprovince.core.security import Actor, require, verify_csrf
from smartprovince.operations import api_analytics, kpi_engine, reports
from smartprovince.operations.sops import all_sops
from smartprovince.web import redirect, render, request_lang, translator

router = APIRouter()
READ = kpi_engine.READ
STATUS_COLOURS = {"green": "#2e7d32", "amber": "#d39e00", "red": "#b71c1c", "none": "#8a94a6"}
METHOD_LABELS = {
    "gi_star": "Điểm nóng Getis-Ord Gi*",
    "kde": "Mật độ hạt nhân",
    "dbscan": "Cụm DBSCAN",
    "emerging": "Xu hướng điểm nóng theo thời gian",
}
CLASS_LABELS = {
    "hot_99": "Điểm nóng, tin cậy 99%", "hot_95": "Điểm nóng, tin cậy 95%", "hot_90": "Điểm nóng, tin cậy 90%",
    "cold_99": "Điểm lạnh, tin cậy 99%", "cold_95": "Điểm lạnh, tin cậy 95%", "cold_90": "Điểm lạnh, tin cậy 90%",
    "new": "Điểm nóng mới", "consecutive": "Điểm nóng liên tiếp", "intensifying": "Điểm nóng tăng cường",
    "persistent": "Điểm nóng kéo dài", "diminishing": "Điểm nóng suy giảm", "sporadic": "Điểm nóng rải rác",
    "historical": "Điểm nóng trước đây",
}


def _name(d: kpi_engine.KpiDefinition, lang: str) -> str:
    return d.name_en if lang == "en" and d.name_en else d.name


@router.get("/ioc/kpis")
def kpi_page(request: Request, session: DbSession, org: str | None = Query(default=None, max_length=64),
             actor: Actor = Depends(require(READ))) -> Response:
    """Chỉ số KPI — one tile per KPI with value, target, trend and status colour, grouped."""
    area = api_analytics._area(session, actor, org)
    lang = request_lang(request)
    groups: dict[str, list[dict[str, Any]]] = {}
    for tile in kpi_engine.tiles(session, actor, org_id=area.id if area else ""):
        groups.setdefault(tile["definition"].group or "—", []).append(tile)
    unavailable = [{**u, "name": u.get("name_en") if lang == "en" and u.get("name_en") else u["name"],
                    "reason": u.get("unavailable_en") if lang == "en" and u.get("unavailable_en") else u["unavailable"]}
                   for u in kpi_engine.unavailable_indicators()]
    return render(request, "operations/analytics/kpis.html", {
        "groups": groups, "area": area, "colours": STATUS_COLOURS, "status_labels": kpi_engine.STATUS_LABELS,
        "name": lambda d: _name(d, lang), "unavailable": unavailable, "can_manage": actor.has(kpi_engine.MANAGE),
    })


def _entries_text(entries: list[dict[str, Any]]) -> str:
    return "\n".join(f"{e.get('period')}; {e.get('org') or ''}; {e.get('value')}" for e in entries or [])


def _entries(text: str, label: str) -> list[dict[str, Any]]:
    """Lines ``period; area code (empty = province); value`` → target / reference entries."""
    out = []
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(";")]
        if len(parts) != 3:
            raise ValidationProblem(f"{label}, dòng {n}: cần 3 phần «kỳ; mã đơn vị; giá trị».")
        try:
            value = float(parts[2].replace(",", "."))
        except ValueError as exc:
            raise ValidationProblem(f"{label}, dòng {n}: giá trị không phải là số.") from exc
        if value != value or value in (float("inf"), float("-inf")):
            raise ValidationProblem(f"{label}, dòng {n}: giá trị không phải là số.")
        out.append({"period": parts[0][:10], "org": parts[1][:64] or None, "value": value})
    return out


def _form_page(request: Request, form: dict[str, Any], *, editing: bool, error: str | None = None,
               status: int = 200) -> Response:
    sources = [{"name": n, "label": kpi_engine.SOURCE_LABELS[n], "kind": kpi_engine.SOURCE_KINDS.get(n, "")}
               for n in sorted(kpi_engine.SOURCES)]
    return render(request, "operations/analytics/kpi_form.html", {
        "f": form, "editing": editing, "error": error, "sources": sources,
    }, status=status)


@router.get("/ioc/kpis/new")
def kpi_new_page(request: Request, actor: Actor = Depends(require(kpi_engine.MANAGE))) -> Response:
    """Định nghĩa chỉ số mới — the analyst's form: formula over data sources, unit, direction, targets."""
    return _form_page(request, {"code": "", "name": "", "name_en": "", "group": "", "unit": "", "direction": "up",
                                "frequency": "month", "owner": "", "formula": "", "targets": "", "reference": "",
                                "amber_band": 0.05, "source_note": ""}, editing=False)


@router.get("/ioc/kpis/{code}/edit")
def kpi_edit_page(request: Request, code: str, session: DbSession,
                  actor: Actor = Depends(require(kpi_engine.MANAGE))) -> Response:
    """Sửa định nghĩa chỉ số — the same form, filled with the stored definition."""
    d = kpi_engine.get_definition(session, code)
    form = {f: getattr(d, f) for f in ("code", "name", "name_en", "group", "unit", "direction", "frequency", "owner",
                                        "formula", "amber_band", "source_note")}
    form["targets"], form["reference"] = _entries_text(d.targets), _entries_text(d.reference)
    return _form_page(request, form, editing=True)


@router.post("/ioc/kpis/save")
def kpi_save(
    request: Request,
    session: DbSession,
    csrf_token: str = Form(""),
    code: str = Form(..., max_length=60),
    name: str = Form(..., max_length=300),
    name_en: str = Form("", max_length=300),
    group: str = Form("", max_length=60),
    unit: str = Form("", max_length=40),
    direction: str = Form("up", max_length=4),
    frequency: str = Form("month", max_length=10),
    owner: str = Form("", max_length=64),
    formula: str = Form(..., max_length=2000),
    targets: str = Form("", max_length=20000),
    reference: str = Form("", max_length=20000),
    amber_band: str = Form("0.05", max_length=10),
    source_note: str = Form("", max_length=4000),
    editing: str = Form("", max_length=1),
    actor: Actor = Depends(require(kpi_engine.MANAGE)),
) -> Response:
    """Save the form: the same checks as the API (formula over registered sources, periods, direction)."""
    verify_csrf(request, csrf_token)
    form = {"code": code.strip(), "name": name.strip(), "name_en": name_en.strip(), "group": group.strip(),
            "unit": unit.strip(), "direction": direction, "frequency": frequency, "owner": owner.strip(),
            "formula": formula.strip(), "targets": targets, "reference": reference, "amber_band": amber_band,
            "source_note": source_note.strip()}
    try:
        for v in form.values():
            api_analytics.no_nul(v)
        if not form["code"] or not form["code"].replace("_", "").isalnum():
            raise ValidationProblem("Mã chỉ số chỉ gồm chữ, số và dấu gạch dưới (tối đa 60 ký tự).")
        if not form["name"]:
            raise ValidationProblem("Cần nhập tên chỉ số.")
        try:
            band = float(amber_band.replace(",", "."))
        except ValueError as exc:
            raise ValidationProblem("Biên độ vàng phải là số từ 0 đến 1.") from exc
        if not 0 <= band <= 1:
            raise ValidationProblem("Biên độ vàng phải là số từ 0 đến 1.")
        data = {**form, "amber_band": band, "targets": _entries(targets, "Mục tiêu"),
                "reference": _entries(reference, "Giá trị tham chiếu")}
        data.pop("code")
        with session.begin_nested():
            kpi_engine.define_kpi(session, actor=actor, code=form["code"], data=data)
    except ValidationProblem as exc:
        return _form_page(request, form, editing=bool(editing), error=exc.detail, status=422)
    return redirect(request, f"/ioc/kpis/{form['code']}", message="Đã lưu định nghĩa chỉ số.")


@router.post("/ioc/kpis/{code}/compute")
def kpi_compute(
    request: Request,
    code: str,
    session: DbSession,
    csrf_token: str = Form(""),
    period: str = Form(..., max_length=10),
    org: str = Form("", max_length=64),
    actor: Actor = Depends(require(kpi_engine.MANAGE)),
) -> Response:
    """Compute and store the KPI for one period and area (the province when no area is chosen)."""
    verify_csrf(request, csrf_token)
    area = api_analytics._area(session, actor, org or None)
    target = f"/ioc/kpis/{code}" + (f"?org={area.code}" if area else "")
    try:
        with session.begin_nested():
            kpi_engine.compute_kpi(session, actor=actor, code=code, period=period.strip(),
                                   org_id=area.id if area else None, settings=request.app.state.settings)
    except ValidationProblem as exc:
        return redirect(request, target, message="Không thực hiện được: {reason}", kind="error",
                        reason=exc.detail or exc.title)
    return redirect(request, target, message="Đã tính giá trị chỉ số.")


@router.get("/ioc/kpis/{code}")
def kpi_detail_page(request: Request, code: str, session: DbSession,
                    org: str | None = Query(default=None, max_length=64),
                    actor: Actor = Depends(require(READ))) -> Response:
    """One KPI: definition, history chart with target line, alarms and the forecast band with its backtest;
    the value of each child area for the latest period (drill-down); CSV / XLSX export."""
    d = kpi_engine.get_definition(session, code)
    area = api_analytics._area(session, actor, org)
    rows = kpi_engine.history(session, actor, code, org_id=area.id if area else "")
    areas = None
    last = next((r for r in reversed(rows) if r.value is not None), None)
    if last is not None and d.formula != "reference":
        areas = kpi_engine.values_by_area(session, code, last.period, area.id if area else None,
                                          settings=request.app.state.settings, actor=actor)
    fc = None
    if not area and sum(1 for r in rows if r.value is not None) >= 6:
        fc = api_analytics.get_forecast(request=request, session=session, kpi=code, subject="incidents",
                                        category=None, days=120, horizon=3, actor=actor)
    chart = {
        "labels": [r.period for r in rows], "values": [r.value for r in rows], "targets": [r.target for r in rows],
        "alarms": [r.alarm for r in rows], "status": [r.status for r in rows],
        "forecast": fc.model_dump() if fc else None,
    }
    return render(request, "operations/analytics/kpi.html", {
        "d": d, "rows": rows, "chart": json.dumps(chart), "fc": fc, "colours": STATUS_COLOURS,
        "status_labels": kpi_engine.STATUS_LABELS, "title": _name(d, request_lang(request)), "area": area,
        "areas": areas, "can_manage": actor.has(kpi_engine.MANAGE),
    })


@router.get("/ioc/hotspots")
def hotspot_page(
    request: Request,
    session: DbSession,
    method: Literal["gi_star", "kde", "dbscan", "emerging"] = "gi_star",
    subject: Literal["incidents", "reports"] = "incidents",
    category: str | None = Query(default=None, max_length=60),
    days: int = Query(default=90, ge=1, le=3660),
    cell_m: float = Query(default=1000, ge=100, le=20000),
    actor: Actor = Depends(require(READ)),
) -> Response:
    """Bản đồ điểm nóng — the hotspot layer of the chosen method on a map (incidents, or citizen reports from the
    warehouse), and for incidents the forecast of their daily counts."""
    category = category or None
    error = None
    settings = request.app.state.settings
    try:
        layer = json.loads(api_analytics.hotspot_json(session, actor, method=method, category=category, days=days,
                                                      cell_m=cell_m, slices=6, subject=subject, settings=settings))
    except ValidationProblem as exc:
        layer, error = {"type": "FeatureCollection", "features": [], "meta": {}}, exc.detail
    lang = request_lang(request)
    fc = api_analytics.get_forecast(request=request, session=session, kpi=None, subject=subject, category=category,
                                    days=max(min(days, 365), 28), horizon=7, actor=actor)
    if subject == "reports":
        from smartprovince import feedback

        pts = api_analytics.report_points(settings, actor, days=days, category=category)
        categories = [(c.code, c.name_en if lang == "en" else c.name) for c in feedback.all_categories()]
    else:
        pts = api_analytics.incident_points(session, actor, days=days, category=category)
        categories = sorted(((c, (s.name_en if lang == "en" and s.name_en else s.name)) for c, s in all_sops().items()),
                            key=lambda x: x[1])
    points = [[round(float(p[1]), 5), round(float(p[0]), 5)] for p in pts[:5000]]
    return render(request, "operations/analytics/hotspots.html", {
        "subject": subject,
        "layer": json.dumps(layer), "points": json.dumps(points), "method": method, "category": category or "",
        "days": days, "cell_m": int(cell_m), "methods": METHOD_LABELS, "class_labels": CLASS_LABELS,
        "categories": categories, "count": len(pts), "features": len(layer["features"]), "error": error,
        "fc": fc, "fc_json": json.dumps(fc.model_dump()),
    })


@dataclass(frozen=True)
class ReportQuery:
    """The report's query string: ``period`` (day | week), ``date`` (YYYY-MM-DD), ``area`` (a code)."""

    period: Literal["day", "week"] = "day"
    date: str | None = None
    area: str | None = None


def report_query(period: Literal["day", "week"] = "day", date: str | None = Query(default=None, max_length=10),
                 area: str | None = Query(default=None, max_length=64)) -> ReportQuery:
    return ReportQuery(period, date, area)


def _situation(request: Request, session: Any, actor: Actor, q: ReportQuery) -> dict[str, Any]:
    return reports.situation(session, actor, kind=q.period, day=reports.parse_day(q.date), area_code=q.area or None,
                             settings=request.app.state.settings, lang=request_lang(request))


@router.get("/ioc/reports/situation")
def situation_page(request: Request, session: DbSession, q: ReportQuery = Depends(report_query),
                   actor: Actor = Depends(require(READ))) -> Response:
    """Báo cáo tình hình — the daily or weekly situation report for leaders (prints cleanly; PDF beside it)."""
    r = _situation(request, session, actor, q)
    parent, districts = kpi_engine.child_areas(session, None)
    areas = [o for o in districts if actor.can(READ, o.path)]
    return render(request, "operations/report_situation.html", {
        "r": r, "fmt": reports.fmt, "colours": STATUS_COLOURS, "status_label": reports.status_label,
        "areas": areas, "province_wide": "" in actor.scopes(READ), "area_code": r["area"].code if r["area"] else "",
        "date_value": r["period"].start.isoformat(),
    })


@router.get("/ioc/reports/situation.pdf")
def situation_pdf(request: Request, session: DbSession, q: ReportQuery = Depends(report_query),
                  actor: Actor = Depends(require(READ))) -> Response:
    """The situation report as a PDF in Vietnamese (or English with the English interface)."""
    r = _situation(request, session, actor, q)
    pdf = reports.situation_pdf(r, translator(request_lang(request)))
    name = f"bao-cao-tinh-hinh-{r['period'].code}.pdf"
    return Response(pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'})


NAV = [
    NavLink("ioc", "Chỉ số KPI", "/ioc/kpis", READ),
    NavLink("ioc", "Bản đồ điểm nóng", "/ioc/hotspots", READ),
    NavLink("ioc", "Báo cáo tình hình", "/ioc/reports/situation", READ),
]

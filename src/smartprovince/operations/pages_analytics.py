"""IOC analytics pages: KPI tiles, one KPI's history with its forecast, the hotspot map."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from smartprovince.core.deps import DbSession
from smartprovince.core.errors import ValidationProblem
from smartprovince.core.modules import NavLink
from smartprovince.core.security import Actor, require
from smartprovince.operations import api_analytics, kpi_engine
from smartprovince.operations.sops import all_sops
from smartprovince.web import render, request_lang

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
    return render(request, "operations/analytics/kpis.html", {
        "groups": groups, "area": area, "colours": STATUS_COLOURS, "status_labels": kpi_engine.STATUS_LABELS,
        "name": lambda d: _name(d, lang),
    })


@router.get("/ioc/kpis/{code}")
def kpi_detail_page(request: Request, code: str, session: DbSession, actor: Actor = Depends(require(READ))) -> Response:
    """One KPI: definition, history chart with target line, alarms and the forecast band with its backtest."""
    d = kpi_engine.get_definition(session, code)
    rows = kpi_engine.history(session, actor, code)
    fc = None
    if sum(1 for r in rows if r.value is not None) >= 6:
        fc = api_analytics.get_forecast(session=session, kpi=code, category=None, days=120,
                                        horizon=3, actor=actor)
    chart = {
        "labels": [r.period for r in rows], "values": [r.value for r in rows], "targets": [r.target for r in rows],
        "alarms": [r.alarm for r in rows], "status": [r.status for r in rows],
        "forecast": fc.model_dump() if fc else None,
    }
    return render(request, "operations/analytics/kpi.html", {
        "d": d, "rows": rows, "chart": json.dumps(chart), "fc": fc, "colours": STATUS_COLOURS,
        "status_labels": kpi_engine.STATUS_LABELS, "title": _name(d, request_lang(request)),
    })


@router.get("/ioc/hotspots")
def hotspot_page(
    request: Request,
    session: DbSession,
    method: Literal["gi_star", "kde", "dbscan", "emerging"] = "gi_star",
    category: str | None = Query(default=None, max_length=60),
    days: int = Query(default=90, ge=1, le=3660),
    cell_m: float = Query(default=1000, ge=100, le=20000),
    actor: Actor = Depends(require(READ)),
) -> Response:
    """Bản đồ điểm nóng — the hotspot layer of the chosen method on a map, and the forecast of incident counts."""
    category = category or None
    error = None
    try:
        layer = api_analytics.get_hotspots(session=session, method=method, category=category, days=days,
                                           cell_m=cell_m, slices=6, actor=actor)
    except ValidationProblem as exc:
        layer, error = {"type": "FeatureCollection", "features": [], "meta": {}}, exc.detail
    pts = api_analytics.incident_points(session, actor, days=days, category=category)
    points = [[round(float(p[1]), 5), round(float(p[0]), 5)] for p in pts[:5000]]
    fc = api_analytics.get_forecast(session=session, kpi=None, category=category, days=max(min(days, 365), 28),
                                    horizon=7, actor=actor)
    lang = request_lang(request)
    sops = all_sops()
    categories = sorted(((c, (s.name_en if lang == "en" and s.name_en else s.name)) for c, s in sops.items()),
                        key=lambda x: x[1])
    return render(request, "operations/analytics/hotspots.html", {
        "layer": json.dumps(layer), "points": json.dumps(points), "method": method, "category": category or "",
        "days": days, "cell_m": int(cell_m), "methods": METHOD_LABELS, "class_labels": CLASS_LABELS,
        "categories": categories, "count": len(pts), "features": len(layer["features"]), "error": error,
        "fc": fc, "fc_json": json.dumps(fc.model_dump()),
    })


NAV = [
    NavLink("ioc", "Chỉ số KPI", "/ioc/kpis", READ),
    NavLink("ioc", "Bản đồ điểm nóng", "/ioc/hotspots", READ),
]

"""Web pages of the sensing module: the station map and list, a station page with history charts,
and the officers' alert board."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from smartprovince.core.deps import DbSession
from smartprovince.core.security import Actor, public, require
from smartprovince.sensing import aqi, queries
from smartprovince.web import render

router = APIRouter()

KIND_LABELS = {"air": "Không khí", "water": "Mực nước", "traffic": "Giao thông", "parking": "Bãi đỗ xe"}
SEVERITY_LABELS = {"info": "Thông tin", "warning": "Cảnh báo", "critical": "Nguy hiểm"}
_PUBLIC = "station positions and current values of public stations are open data"


@router.get("/portal/sensing")
def stations_page(request: Request, session: DbSession, actor: Actor = Depends(public(_PUBLIC))) -> Response:
    """Trạm quan trắc — map layer and list of stations with their current values."""
    items = queries.stations(session, actor)
    return render(request, "sensing/stations.html", {
        "stations": items, "kind_labels": KIND_LABELS, "stations_json": json.dumps(items, ensure_ascii=False),
    })


@router.get("/portal/sensing/{thing_id}")
def station_page(thing_id: int, request: Request, session: DbSession,
                 actor: Actor = Depends(public(_PUBLIC))) -> Response:
    """One station: current values, VN_AQI for air stations, charts of the last three days."""
    thing = queries.access_thing_by_id(session, actor, thing_id)
    item = next(s for s in queries.stations(session, actor) if s["id"] == thing.id)
    ctx: dict[str, Any] = {"station": item, "kind_labels": KIND_LABELS, "severity_labels": SEVERITY_LABELS,
                           "aqi": None, "alerts": []}
    if item["kind"] == "air":
        ctx["aqi"] = queries.station_aqi(session, thing)
        ctx["bands"] = aqi.BANDS
    if actor.has("sensing.alert.read"):
        ctx["alerts"] = [a for a in queries.alerts(session, limit=500) if a["thing_id"] == thing.id][:20]
    return render(request, "sensing/station.html", ctx)


@router.get("/console/sensing/alerts")
def alerts_page(request: Request, session: DbSession,
                actor: Actor = Depends(require("sensing.alert.read"))) -> Response:
    """Cảnh báo cảm biến — open and recent alerts, and the alarm rules that raise them."""
    rows = queries.alerts(session, limit=300)
    return render(request, "sensing/alerts.html", {
        "active": [a for a in rows if a["state"] == "active"], "recent": [a for a in rows if a["state"] != "active"],
        "thresholds": queries.thresholds(session), "severity_labels": SEVERITY_LABELS,
    })

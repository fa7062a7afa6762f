"""Web pages of the sensing module: the station map and list, a station page with history charts,
and the officers' alert board."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from smartprovince.core.deps import DbSession
from smartprovince.core.errors import Problem, ValidationProblem
from smartprovince.core.security import Actor, public, require, verify_csrf
from smartprovince.sensing import aqi, queries, service
from smartprovince.web import redirect, render

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


# ------------------------------------------------------------------------------------------ thresholds

MANAGE = "sensing.threshold.manage"
KIND_RULE_LABELS = {"above": "Vượt trên", "below": "Xuống dưới", "rate": "Tốc độ thay đổi"}
_FIELDS = ("name", "observed_property_id", "thing_id", "kind", "value", "clear_value", "window_minutes", "level",
           "severity")


def _form_data(form: Any) -> dict[str, Any]:
    data: dict[str, Any] = {f: str(form.get(f, "")).strip()[:300] for f in _FIELDS}
    data["is_active"] = form.get("is_active") is not None
    return data


def _rule_in(data: dict[str, Any]) -> dict[str, Any]:
    """Check the form with the API's schema; empty optional fields are ``None``."""
    from pydantic import ValidationError

    from smartprovince.sensing.schemas import ThresholdCreate

    values = {k: (v if v != "" else None) for k, v in data.items()}
    for key in ("name", "kind", "severity"):
        values[key] = values[key] or ""
    values["level"] = values["level"] or ""
    try:
        return ThresholdCreate(**values).model_dump()
    except ValidationError as exc:
        raise ValidationProblem("; ".join(
            f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])) from exc


def _rule_form(request: Request, session: Any, rule: Any, *, errors: str = "", form: dict[str, Any] | None = None,
               status: int = 200) -> Response:
    if form is None:
        form = ({f: ("" if getattr(rule, f) is None else getattr(rule, f)) for f in _FIELDS} | {
            "is_active": rule.is_active} if rule is not None else
            {f: "" for f in _FIELDS} | {"kind": "above", "severity": "warning", "is_active": True})
    return render(request, "sensing/threshold_form.html", {
        "rule": rule, "form": form, "errors": errors, "choices": queries.threshold_choices(session),
        "kind_labels": KIND_RULE_LABELS, "severity_labels": SEVERITY_LABELS,
    }, status=status)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@router.get("/console/sensing/thresholds")
def thresholds_page(request: Request, session: DbSession,
                    actor: Actor = Depends(require("sensing.alert.read"))) -> Response:
    """Ngưỡng cảnh báo — the alarm rules per observed property and station, with editing for managers."""
    prop = _int_or_none(request.query_params.get("property"))
    thing = _int_or_none(request.query_params.get("thing"))
    return render(request, "sensing/thresholds.html", {
        "rows": queries.threshold_rows(session, observed_property_id=prop, thing_id=thing),
        "choices": queries.threshold_choices(session), "selected": {"property": prop, "thing": thing},
        "can_manage": actor.has(MANAGE), "kind_labels": KIND_RULE_LABELS, "severity_labels": SEVERITY_LABELS,
    })


@router.get("/console/sensing/thresholds/new")
def threshold_new(request: Request, session: DbSession, actor: Actor = Depends(require(MANAGE))) -> Response:
    """Form: a new alarm rule."""
    return _rule_form(request, session, None)


@router.post("/console/sensing/thresholds/new")
async def threshold_create(request: Request, session: DbSession, actor: Actor = Depends(require(MANAGE))) -> Response:
    """Create an alarm rule from the form (CSRF-checked)."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token", "")))
    data = _form_data(form)
    try:
        with session.begin_nested():
            service.create_threshold(session, actor=actor, **_rule_in(data))
    except Problem as exc:
        if exc.status != 422:
            raise
        return _rule_form(request, session, None, errors=exc.detail or exc.title, form=data, status=422)
    return redirect(request, "/console/sensing/thresholds", message="Đã thêm ngưỡng cảnh báo.")


@router.get("/console/sensing/thresholds/{threshold_id}/edit")
def threshold_edit(threshold_id: str, request: Request, session: DbSession,
                   actor: Actor = Depends(require(MANAGE))) -> Response:
    """Form: change an alarm rule."""
    return _rule_form(request, session, queries.threshold_by_id(session, threshold_id))


@router.post("/console/sensing/thresholds/{threshold_id}/edit")
async def threshold_update(threshold_id: str, request: Request, session: DbSession,
                           actor: Actor = Depends(require(MANAGE))) -> Response:
    """Save a changed alarm rule (CSRF-checked)."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token", "")))
    rule = queries.threshold_by_id(session, threshold_id)
    data = _form_data(form)
    try:
        with session.begin_nested():
            service.update_threshold(session, actor=actor, threshold_id=rule.id, changes=_rule_in(data))
    except Problem as exc:
        if exc.status != 422:
            raise
        return _rule_form(request, session, rule, errors=exc.detail or exc.title, form=data, status=422)
    return redirect(request, "/console/sensing/thresholds", message="Đã lưu ngưỡng cảnh báo.")


@router.post("/console/sensing/thresholds/{threshold_id}/delete")
async def threshold_delete(threshold_id: str, request: Request, session: DbSession,
                           actor: Actor = Depends(require(MANAGE))) -> Response:
    """Remove an alarm rule; its open alerts end (CSRF-checked)."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token", "")))
    rule = queries.threshold_by_id(session, threshold_id)
    service.delete_threshold(session, actor=actor, threshold_id=rule.id)
    return redirect(request, "/console/sensing/thresholds", message="Đã xóa ngưỡng cảnh báo.")


@router.post("/console/sensing/thresholds/preset")
async def threshold_preset(request: Request, session: DbSession, actor: Actor = Depends(require(MANAGE))) -> Response:
    """Add a set of rules at once: the VN_AQI bands of a pollutant, or flood alarm levels I, II, III (CSRF-checked)."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token", "")))
    preset = str(form.get("preset", ""))
    prop = _int_or_none(str(form.get("observed_property_id", "")))
    thing = _int_or_none(str(form.get("thing_id", "")))

    def number(name: str, default: float | None = None) -> float:
        raw = str(form.get(name, "")).strip().replace(",", ".")
        try:
            value = float(raw) if raw else default
        except ValueError:
            value = None
        if value is None or value != value or abs(value) > 1e12:
            raise ValidationProblem(f"{name}: cần một số (a number is needed).")
        return value

    try:
        if prop is None:
            raise ValidationProblem("Chọn đại lượng quan trắc (choose an observed property).")
        with session.begin_nested():
            if preset == "aqi":
                rules = service.create_aqi_band_thresholds(session, actor=actor, observed_property_id=prop,
                                                           thing_id=thing, hysteresis_percent=number("hysteresis", 10))
            elif preset == "water":
                if thing is None:
                    raise ValidationProblem("Chọn trạm mực nước (choose the water-level station).")
                rules = service.create_water_level_thresholds(
                    session, actor=actor, observed_property_id=prop, thing_id=thing,
                    levels=(number("level1"), number("level2"), number("level3")),
                    hysteresis=number("hysteresis", 0))
            else:
                raise ValidationProblem("Bộ ngưỡng không hợp lệ (unknown preset).")
    except Problem as exc:
        if exc.status != 422:
            raise
        return render(request, "sensing/thresholds.html", {
            "rows": queries.threshold_rows(session), "choices": queries.threshold_choices(session),
            "selected": {"property": None, "thing": None}, "can_manage": True, "kind_labels": KIND_RULE_LABELS,
            "severity_labels": SEVERITY_LABELS, "errors": exc.detail or exc.title,
        }, status=422)
    return redirect(request, "/console/sensing/thresholds", message="Đã thêm {n} ngưỡng cảnh báo.", n=len(rules))

"""HTTP API of IOC analytics, under ``/api/v1/operations``: KPIs, hotspots and forecasts.

Routes parse, authorise and call :mod:`kpi_engine`, :mod:`hotspots` and :mod:`forecast`; nothing else.
Reading needs ``operations.analytics.read``; defining and computing KPIs needs ``operations.kpi.manage``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core.clock import VN_TZ, local_now, now
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import NotFound, ValidationProblem
from smartprovince.core.security import Actor, require
from smartprovince.operations import kpi_engine
from smartprovince.operations.models import Incident

if TYPE_CHECKING:  # numpy is imported where used: the app starts without it (memory)
    import numpy as np

router = APIRouter(prefix="/operations", tags=["operations analytics"])
log = logging.getLogger(__name__)

READ = kpi_engine.READ
MANAGE = kpi_engine.MANAGE
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def no_nul(value: Any) -> Any:
    """Refuse the NUL character in text (PostgreSQL cannot store or compare it): a 422, not a 500."""
    if isinstance(value, str) and "\x00" in value:
        raise ValidationProblem("Văn bản không được chứa ký tự NUL.")
    return value


class _Text(BaseModel):
    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("text must not contain NUL")
        return value


class TargetIn(_Text):
    """A target or reference value: ``period`` (``2022``, ``2022-Q3``, ``2022-07`` or ``*``), area code or null."""

    period: str = Field(max_length=10)
    org: str | None = Field(default=None, max_length=64)
    value: float = Field(allow_inf_nan=False)


class KpiDefinitionIn(_Text):
    """A KPI definition as an administrator writes it."""

    name: str = Field(min_length=1, max_length=300)
    name_en: str = Field(default="", max_length=300)
    group: str = Field(default="", max_length=60)
    unit: str = Field(default="", max_length=40)
    direction: Literal["up", "down"]
    frequency: Literal["year", "quarter", "month", "day"]
    owner: str = Field(default="", max_length=64)
    formula: str = Field(min_length=1, max_length=2000)
    targets: list[TargetIn] = Field(default_factory=list, max_length=500)
    reference: list[TargetIn] = Field(default_factory=list, max_length=500)
    amber_band: float = Field(default=0.05, ge=0, le=1)
    source_note: str = Field(default="", max_length=4000)


class KpiDefinitionOut(KpiDefinitionIn):
    """A stored KPI definition."""

    code: str
    updated_at: datetime


class KpiValueOut(BaseModel):
    """One computed value: period, area (``org_id`` empty = province), value, target, status, alarm."""

    period: str
    org_id: str
    value: float | None
    target: float | None
    status: str
    alarm: bool
    computed_at: datetime


class KpiTileOut(BaseModel):
    """A KPI tile: the definition, its latest value, the trend against the previous one and recent values."""

    definition: KpiDefinitionOut
    last: KpiValueOut | None
    trend: Literal["up", "down", "flat"] | None
    spark: list[float | None]


class KpiDetailOut(BaseModel):
    """A KPI with the history of its values for one area."""

    definition: KpiDefinitionOut
    history: list[KpiValueOut]


class ComputeIn(_Text):
    """Compute a KPI for ``period`` in the area ``org_code`` (empty = the whole province)."""

    period: str = Field(max_length=10)
    org_code: str | None = Field(default=None, max_length=64)


class BacktestOut(BaseModel):
    """Error of the method on the held-out last ``horizon`` points, and the seasonal-naive baseline's error."""

    horizon: int
    model: str
    mae: float
    mape: float | None
    coverage: float
    baseline_mae: float
    actual: list[float]
    predicted: list[float]


class ForecastOut(BaseModel):
    """History (``labels`` / ``values``), the forecast (``forecast_labels``, ``mean``, band) and its backtest."""

    subject: str
    step: str
    labels: list[str]
    values: list[float]
    forecast_labels: list[str]
    mean: list[float]
    lower: list[float]
    upper: list[float]
    level: float
    model: str
    backtest: BacktestOut | None


def _definition(d: kpi_engine.KpiDefinition) -> KpiDefinitionOut:
    return KpiDefinitionOut.model_validate(d, from_attributes=True)


def _value(v: kpi_engine.KpiValue | None) -> KpiValueOut | None:
    return None if v is None else KpiValueOut.model_validate(v, from_attributes=True)


def _area(session: Session, actor: Actor, org_code: str | None) -> Any:
    """The organisation of ``org_code`` if the actor may read it; the same 404 for missing and forbidden."""
    if not org_code:
        return None
    no_nul(org_code)
    org = identity.get_org_by_code(session, org_code)
    if org is None or not actor.can(READ, org.path):
        raise NotFound("Không tìm thấy đơn vị.")
    return org


@router.get("/kpis", response_model=list[KpiTileOut])
def list_kpis(session: DbSession, org: str | None = Query(default=None, max_length=64),
              actor: Actor = Depends(require(READ))) -> list[KpiTileOut]:
    """Every KPI with its latest value for the province or the area ``org`` (a code)."""
    area = _area(session, actor, org)
    return [
        KpiTileOut(definition=_definition(t["definition"]), last=_value(t["last"]), trend=t["trend"], spark=t["spark"])
        for t in kpi_engine.tiles(session, actor, org_id=area.id if area else "")
    ]


@router.get("/kpis/{code}", response_model=KpiDetailOut)
def get_kpi(code: str, session: DbSession, org: str | None = Query(default=None, max_length=64),
            actor: Actor = Depends(require(READ))) -> KpiDetailOut:
    """One KPI and its history for the province or the area ``org``."""
    d = kpi_engine.get_definition(session, no_nul(code))
    area = _area(session, actor, org)
    rows = kpi_engine.history(session, actor, code, org_id=area.id if area else "")
    return KpiDetailOut(definition=_definition(d), history=[v for v in map(_value, rows) if v is not None])


@router.put("/kpis/{code}", response_model=KpiDefinitionOut)
def put_kpi(code: str, body: KpiDefinitionIn, session: DbSession,
            actor: Actor = Depends(require(MANAGE))) -> KpiDefinitionOut:
    """Create or change a KPI definition (formula over registered sources, targets, reference values)."""
    if not code.replace("_", "").isalnum() or len(code) > 60:
        raise ValidationProblem("Mã chỉ số chỉ gồm chữ, số và dấu gạch dưới (tối đa 60 ký tự).")
    return _definition(kpi_engine.define_kpi(session, actor=actor, code=code, data=body.model_dump()))


@router.post("/kpis/{code}/values", response_model=KpiValueOut)
def compute_kpi(code: str, body: ComputeIn, request: Request, session: DbSession,
                actor: Actor = Depends(require(MANAGE))) -> KpiValueOut:
    """Compute and store the KPI for a period and area; raises ``operations.kpi.alarm`` when it gets worse."""
    area = _area(session, actor, body.org_code)
    row = kpi_engine.compute_kpi(session, actor=actor, code=no_nul(code), period=body.period,
                                 org_id=area.id if area else None, settings=request.app.state.settings)
    out = _value(row)
    assert out is not None  # noqa: S101 - compute always returns a row
    return out


class AreaValueOut(BaseModel):
    """The value of a KPI in one area for a period (evaluated from its sources, not stored)."""

    org_id: str
    code: str
    name: str
    level: str
    value: float | None
    target: float | None
    status: str


class AreasOut(BaseModel):
    """A KPI for a period in an area and in each of its child areas (drill-down)."""

    kpi: str
    period: str
    area: AreaValueOut
    children: list[AreaValueOut]


@router.get("/kpis/{code}/areas", response_model=AreasOut)
def kpi_areas(code: str, request: Request, session: DbSession, period: str = Query(max_length=10),
              org: str | None = Query(default=None, max_length=64),
              actor: Actor = Depends(require(READ))) -> AreasOut:
    """The KPI for ``period`` in the area ``org`` (default the province) and in each child area it holds."""
    area = _area(session, actor, org)
    data = kpi_engine.values_by_area(session, no_nul(code), period, area.id if area else None,
                                     settings=request.app.state.settings, actor=actor)
    return AreasOut.model_validate(data)


@router.get("/kpis/{code}/export", summary="A KPI's stored values as CSV or XLSX",
            responses={200: {"content": {"text/csv": {}, XLSX: {}}}, 404: {"description": "Not found"}})
def export_kpi(code: str, session: DbSession, format: Literal["csv", "xlsx"] = "csv",
               org: str | None = Query(default=None, max_length=64),
               actor: Actor = Depends(require(READ))) -> Response:
    """Every stored value of the KPI (all areas the reader may see, or only ``org``), as CSV or XLSX."""
    area = _area(session, actor, org)
    rows = kpi_engine.export_rows(session, actor, no_nul(code), org_id=(area.id if area else None) if org else None)
    if format == "xlsx":
        return Response(kpi_engine.to_xlsx(rows, title=code), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="kpi-{code}.xlsx"'})
    return Response(kpi_engine.to_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="kpi-{code}.csv"'})


def _located(stmt: Any, actor: Actor, *, days: int, category: str | None) -> Any:
    """``stmt`` narrowed to the located incidents the actor may read, opened in the last ``days`` days."""
    no_nul(category)
    since = now() - timedelta(days=days)
    stmt = stmt.where(Incident.lat.is_not(None), Incident.lon.is_not(None), Incident.opened_at >= since)
    if category:
        stmt = stmt.where(Incident.category == category)
    scopes = actor.scopes(READ)
    if "" not in scopes:
        stmt = stmt.where(or_(*[Incident.org_path.startswith(s) for s in scopes]) if scopes else Incident.id == "")
    return stmt


# Hotspot layers, kept per database, parameters and scope while the incidents they were computed from stay
# the same: the stamp (how many located incidents the window holds, the newest opened and the newest change)
# moves with every new, changed or expired incident, so a cached layer is never stale; the wall's hotspot
# layer is otherwise computed again (Gi*: ≈ 0.5 s) each time someone switches it on.
_HOTSPOT_CACHE_SIZE = 64
_hotspot_cache: dict[tuple[Any, ...], tuple[tuple[Any, ...], bytes]] = {}


def _hotspot_stamp(session: Session, actor: Actor, *, days: int, category: str | None) -> tuple[Any, ...]:
    stmt = select(func.count(), func.max(Incident.opened_at), func.max(Incident.updated_at))
    return tuple(session.execute(_located(stmt.select_from(Incident), actor, days=days, category=category)).one())


def incident_points(session: Session, actor: Actor, *, days: int, category: str | None) -> np.ndarray:
    """Located incidents the actor may read, opened in the last ``days`` days: rows of (lon, lat, epoch seconds)."""
    import numpy as np

    stmt = _located(select(Incident.lon, Incident.lat, Incident.opened_at), actor, days=days, category=category)
    rows = session.execute(stmt).all()
    if not rows:
        return np.empty((0, 3))
    return np.array([(r[0], r[1], r[2].timestamp()) for r in rows], dtype=float)


def report_points(settings: Any, actor: Actor, *, days: int, category: str | None) -> np.ndarray:
    """Located citizen reports the actor may read (by handling unit), created in the last ``days`` days, read from
    the data hub's warehouse (view ``reports``; merged reports left out): rows of (lon, lat, epoch seconds).
    A warehouse that cannot answer (not synced yet) gives no points, not an error."""
    import numpy as np

    from smartprovince import datahub

    no_nul(category)
    empty = np.empty((0, 3))
    scopes = actor.scopes(READ)
    if not scopes:
        return empty
    where = ["lon IS NOT NULL", "lat IS NOT NULL", "NOT coalesce(merged, false)", "created_at >= $since"]
    params: dict[str, Any] = {"since": now() - timedelta(days=days)}
    if category:
        where.append("category = $category")
        params["category"] = category
    if "" not in scopes:
        where.append("(" + " OR ".join(f"starts_with(unit_path, $p{i})" for i in range(len(scopes))) + ")")
        params.update({f"p{i}": path for i, path in enumerate(scopes)})
    sql = f"SELECT lon, lat, epoch(created_at) AS t FROM reports WHERE {' AND '.join(where)}"  # noqa: S608 - fixed text
    try:
        rows = datahub.warehouse_query(settings, sql, params)
    except Exception as exc:  # noqa: BLE001 - no warehouse means no points, never a crash
        log.warning("report points: the warehouse did not answer: %s", exc)
        return empty
    if not rows:
        return empty
    return np.array([(r["lon"], r["lat"], float(r["t"])) for r in rows], dtype=float)


@router.get(
    "/hotspots",
    responses={200: {"description": "A GeoJSON FeatureCollection", "content": {"application/json": {}}}},
)
def get_hotspots(
    request: Request,
    session: DbSession,
    method: Literal["gi_star", "kde", "dbscan", "emerging"] = "gi_star",
    subject: Literal["incidents", "reports"] = "incidents",
    category: str | None = Query(default=None, max_length=60),
    days: int = Query(default=90, ge=1, le=3660),
    cell_m: float = Query(default=1000, ge=100, le=20000),
    slices: int = Query(default=6, ge=2, le=24),
    actor: Actor = Depends(require(READ)),
) -> Response:
    """A GeoJSON hotspot layer (Gi*, kernel density, DBSCAN clusters or emerging hotspots) of incidents, or of
    citizen reports (``subject=reports``: the warehouse's reports, ``category`` a report category code).

    Incidents: computed once per set of incidents: the same request while no incident in the window was opened,
    changed or left it answers the stored layer."""
    body = hotspot_json(
        session, actor, method=method, category=category, days=days, cell_m=cell_m, slices=slices,
        subject=subject, settings=request.app.state.settings,
    )
    return Response(body, media_type="application/json")


def hotspot_json(
    session: Session, actor: Actor, *, method: str, category: str | None, days: int, cell_m: float, slices: int,
    subject: str = "incidents", settings: Any = None,
) -> bytes:
    """The hotspot layer as GeoJSON bytes; for incidents from the cache while the incidents' stamp is unchanged."""
    import orjson

    if subject == "reports":
        pts = report_points(settings, actor, days=days, category=category)
        layer = _layer_of(pts, method, cell_m, slices)
        layer.setdefault("meta", {})["subject"] = "reports"
        return orjson.dumps(layer, option=orjson.OPT_SERIALIZE_NUMPY)
    bind: Any = session.get_bind()
    key = (str(getattr(bind, "url", id(bind))), method, category, days, cell_m, slices, tuple(actor.scopes(READ)))
    stamp = _hotspot_stamp(session, actor, days=days, category=category)
    hit = _hotspot_cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    layer = _hotspot_layer(session, actor, method, category, days, cell_m, slices)
    body = orjson.dumps(layer, option=orjson.OPT_SERIALIZE_NUMPY)
    if len(_hotspot_cache) >= _HOTSPOT_CACHE_SIZE:
        _hotspot_cache.clear()
    _hotspot_cache[key] = (stamp, body)
    return body


def _hotspot_layer(
    session: Session, actor: Actor, method: str, category: str | None, days: int, cell_m: float, slices: int
) -> dict[str, Any]:
    return _layer_of(incident_points(session, actor, days=days, category=category), method, cell_m, slices)


def _layer_of(pts: np.ndarray, method: str, cell_m: float, slices: int) -> dict[str, Any]:
    from smartprovince.operations import hotspots

    if len(pts) < 3:
        return {"type": "FeatureCollection", "features": [], "meta": {"method": method, "points": int(len(pts))}}
    lon, lat, t = pts[:, 0], pts[:, 1], pts[:, 2]
    try:
        if method == "gi_star":
            return hotspots.gi_star(lon, lat, cell_m=cell_m)
        if method == "kde":
            return hotspots.kernel_density(lon, lat, cell_m=cell_m, bandwidth_m=cell_m * 1.5)
        if method == "dbscan":
            return hotspots.dbscan_clusters(lon, lat, eps_m=cell_m / 2, min_samples=5)
        return hotspots.emerging_hotspots(lon, lat, t, slices=slices, cell_m=cell_m)
    except ValueError as exc:
        raise ValidationProblem(str(exc)) from exc


def daily_counts(session: Session, actor: Actor, *, days: int, category: str | None) -> tuple[list[date], list[float]]:
    """Incidents opened per Vietnamese calendar day over the last ``days`` days (zeros included)."""
    return _per_day(incident_points(session, actor, days=days, category=category), days)


def _per_day(pts: np.ndarray, days: int) -> tuple[list[date], list[float]]:
    """Points (lon, lat, epoch seconds) counted per Vietnamese calendar day over the last ``days`` days."""
    today = local_now().date()
    start = today - timedelta(days=days - 1)
    counts = [0.0] * days
    for ts in pts[:, 2] if len(pts) else []:
        d = datetime.fromtimestamp(float(ts), tz=VN_TZ).date()
        if start <= d <= today:
            counts[(d - start).days] += 1
    return [start + timedelta(days=i) for i in range(days)], counts


@router.get("/forecasts", response_model=ForecastOut)
def get_forecast(
    request: Request,
    session: DbSession,
    kpi: str | None = Query(default=None, max_length=60),
    subject: Literal["incidents", "reports"] = "incidents",
    category: str | None = Query(default=None, max_length=60),
    days: int = Query(default=120, ge=14, le=1095),
    horizon: int = Query(default=14, ge=1, le=90),
    actor: Actor = Depends(require(READ)),
) -> ForecastOut:
    """Forecast a KPI's values (``kpi``), or incidents per day — citizen reports per day with ``subject=reports``
    (the warehouse's reports) — optionally of one ``category``, with the band and the backtest error on the last
    ``horizon`` known points."""
    import numpy as np

    from smartprovince.operations import forecast

    if kpi:
        d = kpi_engine.get_definition(session, no_nul(kpi))
        rows = [r for r in kpi_engine.history(session, actor, kpi) if r.value is not None]
        labels, values = [r.period for r in rows], [float(r.value or 0) for r in rows]
        season = {"month": 12, "quarter": 4, "day": 7}.get(d.frequency, 1)
        f = forecast.forecast(np.array(values), horizon, season=season, clip=d.unit in ("%", "sự cố"),
                              with_backtest=len(values) >= horizon + 4)
        future = [f"+{i}" for i in range(1, horizon + 1)]
        name, step = d.code, d.frequency
    else:
        if subject == "reports":
            pts = report_points(request.app.state.settings, actor, days=days, category=category)
        else:
            pts = incident_points(session, actor, days=days, category=category)
        day_list, values = _per_day(pts, days)
        labels = [x.isoformat() for x in day_list]
        f = forecast.forecast(np.array(values), horizon, season=7)
        future = [(day_list[-1] + timedelta(days=i)).isoformat() for i in range(1, horizon + 1)]
        name, step = f"{subject}:{category or '*'}", "day"
    return ForecastOut(subject=name, step=step, labels=labels, values=values, forecast_labels=future, mean=f.mean,
                       lower=f.lower, upper=f.upper, level=f.level, model=f.model,
                       backtest=BacktestOut(**f.backtest) if f.backtest else None)

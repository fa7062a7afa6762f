"""Hàng chỉ số đầu màn hình — the IOC wall's top KPI row, read from the KPI engine's stored values.

The row shows, for the wall's area (the province, a district or a commune), the newest month the KPI run
stored (``operations_kpi_value``, computed from the analytics warehouse by :func:`kpi_engine.refresh_values`
for the province, its districts and its communes): dossiers received with the online share, dossiers
finished on time, citizen reports received and handled — each with its period, target, status colour
and the trend against the previous period — plus the live count of active sensor alerts (from the
incidents, not the warehouse).

An area without a stored value of a KPI (a commune of a KPI the run keeps to the province, a KPI not run
yet) shows the nearest enclosing area's value, marked with the area it belongs to. Nothing here is
computed per request: one indexed query over the stored values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from smartprovince.core.security import Actor
from smartprovince.operations import kpi_engine
from smartprovince.operations.kpi_engine import KpiValue

READ = "operations.incident.read"
COLOURS = {"green": "#2e7d32", "amber": "#d35400", "red": "#b71c1c", "none": "#7f8c8d"}


@dataclass(frozen=True)
class Headline:
    """One tile of the row: a KPI code and, optionally, a second KPI shown under it (``sub``)."""

    code: str
    sub: str = ""
    sub_label: str = ""


HEADLINE = (
    Headline("d766_received", "d766_online_rate", "trực tuyến"),
    Headline("d766_on_time_rate", "d766_finished", "đã giải quyết"),
    Headline("reports_received"),
    Headline("reports_handled_rate", "reports_on_time_rate", "đúng hạn"),
)


def _ancestor_ids(org: Any) -> list[str]:
    """The organisation ids of ``org``'s path, nearest first, then ``""`` (the province-wide value)."""
    if org is None or org.parent_id is None:
        return [""]
    ids = [p for p in str(org.path).strip("/").split("/") if p]
    return [*reversed(ids[1:]), ""]  # the root's values are stored as the province's ('')


def latest_values(
    session: Session, actor: Actor, codes: set[str], org_ids: list[str]
) -> dict[tuple[str, str], list[Any]]:
    """The two newest stored values (newest first) per (KPI code, area id), for the areas the actor may see."""
    stmt = (
        select(
            KpiValue.kpi_code,
            KpiValue.org_id,
            KpiValue.org_path,
            KpiValue.period,
            KpiValue.value,
            KpiValue.target,
            KpiValue.status,
            KpiValue.computed_at,
        )
        .where(KpiValue.kpi_code.in_(sorted(codes)), KpiValue.org_id.in_(org_ids), func.length(KpiValue.period) == 7)
        .order_by(KpiValue.kpi_code, KpiValue.org_id, KpiValue.period.desc())
    )
    out: dict[tuple[str, str], list[Any]] = {}
    for v in session.execute(stmt):
        if not kpi_engine.visible(actor, v.org_path):
            continue
        got = out.setdefault((v.kpi_code, v.org_id), [])
        if len(got) < 2:
            got.append(v)
    return out


def _pick(values: dict[tuple[str, str], list[Any]], code: str, chain: list[str]) -> tuple[list[Any], str]:
    for org_id in chain:
        got = values.get((code, org_id))
        if got and got[0].value is not None:
            return got, org_id
    return [], ""


def _trend(vals: list[Any]) -> str | None:
    if len(vals) < 2 or vals[0].value is None or vals[1].value is None:
        return None
    return "up" if vals[0].value > vals[1].value else ("down" if vals[0].value < vals[1].value else "flat")


def headline(session: Session, actor: Actor, org: Any, *, names: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The top row for the area ``org`` (``None`` or the root = the province): one dict per :data:`HEADLINE`
    tile with ``definition``, ``value`` (the stored row or ``None``), ``previous``, ``trend``, ``status``,
    ``colour``, ``sub`` / ``sub_value``, and ``from_area`` — ``""`` when the value is the area's own, else the
    id of the enclosing area (``"province"`` for the province-wide value) whose value is shown.

    ``names`` maps area ids to names for the caller's "value of …" label (optional)."""
    defs = {d.code: d for d in kpi_engine.definitions(session)}
    tiles = [h for h in HEADLINE if h.code in defs]
    chain = _ancestor_ids(org)
    codes = {h.code for h in tiles} | {h.sub for h in tiles if h.sub}
    values = latest_values(session, actor, codes, chain)
    own = chain[0]
    out = []
    for h in tiles:
        vals, at = _pick(values, h.code, chain)
        v = vals[0] if vals else None
        sub_vals: list[Any] = []
        if h.sub and v is not None:
            # The second figure of the same period and area as the first (never a mix of two areas).
            sub_vals = [s for s in values.get((h.sub, at), []) if s.period == v.period]
        status = v.status if v is not None else "none"
        out.append(
            {
                "definition": defs[h.code],
                "value": v,
                "previous": vals[1] if len(vals) > 1 else None,
                "trend": _trend(vals),
                "status": status,
                "colour": COLOURS.get(status, COLOURS["none"]),
                "sub": defs.get(h.sub) if h.sub else None,
                "sub_label": h.sub_label,
                "sub_value": sub_vals[0] if sub_vals else None,
                "from_area": "" if v is None or at == own else (at or "province"),
                "from_name": (names or {}).get(at, "") if v is not None and at != own else "",
            }
        )
    return out

"""Nguồn kho phân tích — the ``incidents`` feed this module gives the analytics warehouse.

One row per incident in its current state (no title, description or address: free text may name
people). Every change sets ``updated_at``: the change window is on ``(updated_at, id)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince.core.warehouse import ChangeWindow, WarehouseFeed, back_seconds
from smartprovince.operations.models import Incident

TS = "TIMESTAMPTZ"
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"), ("source", "VARCHAR"), ("category", "VARCHAR"), ("severity", "VARCHAR"),
    ("status", "VARCHAR"), ("org_id", "VARCHAR"), ("org_path", "VARCHAR"), ("lon", "DOUBLE"), ("lat", "DOUBLE"),
    ("opened_at", TS), ("acknowledged_at", TS), ("resolved_at", TS), ("closed_at", TS), ("escalations", "INTEGER"),
)
BATCH = 20_000
OVERLAP_SECONDS = 120

_SELECT = select(
    Incident.id, Incident.source, Incident.category, Incident.severity, Incident.status, Incident.org_id,
    Incident.org_path, Incident.lon, Incident.lat, Incident.opened_at, Incident.acknowledged_at,
    Incident.resolved_at, Incident.closed_at, Incident.escalations, Incident.updated_at,
)


def _rows(session: Session, window: ChangeWindow) -> Iterator[tuple[Any, ...]]:
    for r in session.execute(window.where(_SELECT).execution_options(yield_per=BATCH)):
        if window.fresh(r.id, r.updated_at):
            yield tuple(r)[:-1]


def incident_rows(session: Session, after: Any) -> tuple[Iterator[tuple[Any, ...]], Any]:
    """Rows of the incidents changed since ``after`` (all of them when ``after`` is None)."""
    window = ChangeWindow.open(session, Incident.updated_at, Incident.id, after, back=back_seconds(OVERLAP_SECONDS))
    return _rows(session, window), window.watermark


def incident_keys(session: Session) -> Any:
    """Every incident id that exists now: the warehouse writes a tombstone for an id that is gone (deleted)."""
    return session.execute(select(Incident.id).execution_options(yield_per=50_000))


FEED = WarehouseFeed(
    name="incidents",
    description="Sự cố — one row per IOC incident, current state",
    columns=COLUMNS,
    key=("id",),
    rows=incident_rows,
    keys=incident_keys,
)

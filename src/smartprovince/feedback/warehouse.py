"""Nguồn kho phân tích — the ``reports`` feed this module gives the analytics warehouse.

One row per citizen report in its current state. Never the reporter's name, e-mail, phone, the
description or comments (free text a citizen wrote) or the address: only what statistics and hotspot
maps need. Every change goes through ``service._record``, which sets ``updated_at``: the change window
is on ``(updated_at, id)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core.warehouse import ChangeWindow, WarehouseFeed, back_seconds, place_ids
from smartprovince.feedback.models import Report

TS = "TIMESTAMPTZ"
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"), ("code", "VARCHAR"), ("category", "VARCHAR"), ("channel", "VARCHAR"),
    ("unit_org_id", "VARCHAR"), ("unit_path", "VARCHAR"), ("area_org_id", "VARCHAR"),
    ("district_org_id", "VARCHAR"), ("commune_org_id", "VARCHAR"), ("lon", "DOUBLE"), ("lat", "DOUBLE"),
    ("created_at", TS), ("acknowledged_at", TS), ("resolved_at", TS), ("closed_at", TS), ("due_at", TS),
    ("status", "VARCHAR"), ("on_time", "BOOLEAN"), ("rating", "INTEGER"), ("merged", "BOOLEAN"),
    ("reopen_count", "INTEGER"),
)
BATCH = 20_000
OVERLAP_SECONDS = 120

_SELECT = select(
    Report.id, Report.code, Report.category_code, Report.channel, Report.unit_id, Report.unit_path, Report.area_id,
    Report.lon, Report.lat, Report.created_at, Report.acknowledged_at, Report.resolved_at, Report.closed_at,
    Report.due_at, Report.status, Report.rating, Report.merged_into_id, Report.reopen_count, Report.updated_at,
)


def _rows(session: Session, window: ChangeWindow) -> Iterator[tuple[Any, ...]]:
    orgs = session.execute(select(identity.Organisation.id, identity.Organisation.level,
                                  identity.Organisation.path)).tuples().all()
    levels = {i: level for i, level, _ in orgs}
    paths = {i: path for i, _, path in orgs}
    for r in session.execute(window.where(_SELECT).execution_options(yield_per=BATCH)):
        if not window.fresh(r.id, r.updated_at):
            continue
        district, commune = place_ids(paths.get(r.area_id or "") or r.unit_path, levels)
        on_time = None if r.resolved_at is None else r.resolved_at <= r.due_at
        yield (r.id, r.code, r.category_code, r.channel, r.unit_id, r.unit_path, r.area_id, district, commune,
               r.lon, r.lat, r.created_at, r.acknowledged_at, r.resolved_at, r.closed_at, r.due_at, r.status,
               on_time, r.rating, r.merged_into_id is not None, r.reopen_count)


def report_rows(session: Session, after: Any) -> tuple[Iterator[tuple[Any, ...]], Any]:
    """Rows of the reports changed since ``after`` (all of them when ``after`` is None)."""
    window = ChangeWindow.open(session, Report.updated_at, Report.id, after, back=back_seconds(OVERLAP_SECONDS))
    return _rows(session, window), window.watermark


def report_keys(session: Session) -> Any:
    """Every report id that exists now: the warehouse writes a tombstone for an id that is gone (deleted)."""
    return session.execute(select(Report.id).execution_options(yield_per=50_000))


FEED = WarehouseFeed(
    name="reports",
    description="Phản ánh hiện trường — one row per citizen report, current state, no reporter data",
    columns=COLUMNS,
    key=("id",),
    rows=report_rows,
    keys=report_keys,
)

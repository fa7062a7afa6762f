"""Nguồn kho phân tích — the ``dossiers`` feed this module gives the analytics warehouse.

One row per dossier in its current state, without the applicant's personal data (name, citizen id,
phone, e-mail, address, form data). A dossier changes only through its action log (every change appends
a :class:`~smartprovince.procedures.models.DossierAction` with a time-ordered id), so the changed
dossiers since the last sync are those with an action id in the change window.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core.warehouse import ChangeWindow, WarehouseFeed, back_uuid7_seconds, place_ids
from smartprovince.procedures import timing
from smartprovince.procedures.lifecycle import Status
from smartprovince.procedures.models import Dossier, DossierAction, Procedure

TS = "TIMESTAMPTZ"
COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"), ("code", "VARCHAR"), ("procedure_code", "VARCHAR"), ("procedure_field", "VARCHAR"),
    ("procedure_level", "VARCHAR"), ("essential", "BOOLEAN"), ("agency_code", "VARCHAR"),
    ("agency_org_id", "VARCHAR"), ("agency_path", "VARCHAR"), ("district_org_id", "VARCHAR"),
    ("commune_org_id", "VARCHAR"), ("channel", "VARCHAR"), ("online", "BOOLEAN"), ("status", "INTEGER"),
    ("submitted_at", TS), ("received_at", TS), ("due_at", TS), ("finished_at", TS), ("returned_at", TS),
    ("closed_at", TS), ("timing", "VARCHAR"), ("supplement_requests", "INTEGER"), ("fee_total", "BIGINT"),
    ("fee_paid", "BIGINT"), ("paid_online", "BOOLEAN"), ("digitised", "BOOLEAN"),
)
BATCH = 20_000
OVERLAP_SECONDS = 120  # a write transaction commits within two minutes of taking its action id
_CLOSED = {int(Status.REFUSED), int(Status.STOPPED)}

_SELECT = select(
    Dossier.id, Dossier.code, Dossier.procedure_code, Procedure.field, Procedure.level, Procedure.is_essential,
    Dossier.agency_code, Dossier.agency_org_id, Dossier.agency_path, Dossier.channel, Dossier.status,
    Dossier.submitted_at, Dossier.received_at, Dossier.due_at, Dossier.finished_at, Dossier.returned_at,
    Dossier.closed_at, Dossier.supplement_requests, Dossier.fee_total, Dossier.fee_paid, Dossier.paid_online,
    Dossier.digitised,
).join(Procedure, Procedure.id == Dossier.procedure_id)


def timing_class(due_at: Any, finished_at: Any, supplement_requests: int | None, status: int) -> str | None:
    """``early`` / ``on_time`` / ``late`` (Decision 766) once finished; ``open`` while in progress;
    ``None`` for a dossier refused or stopped without a result."""
    if finished_at is not None:
        return timing.classify(due_at=due_at, finished_at=finished_at,
                               supplement_requests=supplement_requests or 0, at=finished_at)
    if status in _CLOSED:
        return None
    return "open"


def _tuples(session: Session, stmt: Any) -> Iterator[tuple[Any, ...]]:
    levels = dict(session.execute(select(identity.Organisation.id, identity.Organisation.level)).tuples().all())
    places: dict[str, tuple[str | None, str | None]] = {}  # a few hundred agencies: place once per path
    row: Any
    for row in session.connection().execute(stmt.execution_options(yield_per=BATCH)).tuples():
        (id_, code, proc_code, field, level, essential, agency_code, agency_org_id, path, channel, status,
         submitted, received, due, finished, returned, closed, supplements, fee_total, fee_paid, paid_online,
         digitised) = row
        place = places.get(path)
        if place is None:
            place = places[path] = place_ids(path, levels)
        yield (id_, code, proc_code, field, level, bool(essential), agency_code, agency_org_id, path, place[0],
               place[1], channel, channel == "online", status, submitted, received, due, finished, returned, closed,
               timing_class(due, finished, supplements, status), supplements, fee_total, fee_paid, bool(paid_online),
               bool(digitised))


def _changed(session: Session, window: ChangeWindow) -> Iterator[tuple[Any, ...]]:
    pairs: list[Any] = list(session.execute(window.where(select(DossierAction.id, DossierAction.dossier_id))))
    ids: list[str] = sorted({str(p[1]) for p in pairs if window.fresh(p[0], p[0])})
    for i in range(0, len(ids), 500):
        yield from _tuples(session, _SELECT.where(Dossier.id.in_(ids[i:i + 500])))


def dossier_rows(session: Session, after: Any) -> tuple[Iterator[tuple[Any, ...]], Any]:
    """Rows of the dossiers changed since ``after`` (all of them when ``after`` is None)."""
    window = ChangeWindow.open(session, DossierAction.id, DossierAction.id, after,
                               back=back_uuid7_seconds(OVERLAP_SECONDS))
    if after is None:
        return _tuples(session, _SELECT), window.watermark
    return _changed(session, window), window.watermark


def dossier_keys(session: Session) -> Any:
    """Every dossier id that exists now: the warehouse writes a tombstone for an id that is gone (deleted)."""
    return session.execute(select(Dossier.id).execution_options(yield_per=50_000))


FEED = WarehouseFeed(
    name="dossiers",
    description="Hồ sơ thủ tục hành chính — one row per dossier, current state, no applicant data",
    columns=COLUMNS,
    key=("id",),
    rows=dossier_rows,
    keys=dossier_keys,
)

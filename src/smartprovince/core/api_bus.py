"""HTTP API of the event bus for administrators: dead letters (list, read, replay) and counters.

Every route needs the permission ``core.bus.admin``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from smartprovince.core import bus
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import NotFound
from smartprovince.core.pagination import CursorParams, Page, paginate
from smartprovince.core.security import Actor, require

router = APIRouter(prefix="/bus", tags=["bus"])

ADMIN = "core.bus.admin"


class DeadLetterPublic(BaseModel):
    """A dead letter as shown to an administrator."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    event_id: str = Field(description="Id of the event in the outbox.")
    handler: str = Field(description="Name of the handler that kept failing.")
    topic: str
    attempts: int = Field(description="How many times the handler was tried before giving up.")
    error: str = Field(description="The last error (traceback text).")
    dead_at: datetime
    replayed_at: datetime | None = None
    replayed_by: str | None = None


class DeadLetterDetail(DeadLetterPublic):
    """A dead letter with the event it is about."""

    payload: Any = Field(None, description="The event's JSON payload.")
    key: str | None = None
    occurred_at: datetime | None = None


class BusStats(BaseModel):
    """Counters of the bus: what is waiting, retrying, processed, dead."""

    backend: str = Field(description="inprocess or nats")
    ready: bool = Field(description="True when the dispatcher (and the NATS connection) is running.")
    events_total: int
    events_pending: int = Field(description="Events committed but not yet dispatched.")
    deliveries_pending: int = Field(description="Deliveries to handlers still to do (including retries).")
    deliveries_retrying: int = Field(description="Deliveries that failed at least once and wait for a retry.")
    processed_total: int
    dead_letters_open: int = Field(description="Dead letters not yet replayed.")
    dead_letters_total: int


def _detail(session: Any, dl: bus.DeadLetter) -> DeadLetterDetail:
    ev = session.get(bus.OutboxEvent, dl.event_id)
    out = DeadLetterDetail.model_validate(dl, from_attributes=True)
    if ev is not None:
        out.payload, out.key, out.occurred_at = ev.payload, ev.key, ev.occurred_at
    return out


@router.get("/dead-letters", response_model=Page[DeadLetterPublic], summary="List dead letters (newest first)")
def list_dead_letters(
    session: DbSession,
    params: CursorParams = Depends(),
    status: Literal["open", "replayed", "all"] = Query("open", description="open (not replayed), replayed or all"),
    actor: Actor = Depends(require(ADMIN)),
) -> Page[Any]:
    stmt = select(bus.DeadLetter)
    if status == "open":
        stmt = stmt.where(bus.DeadLetter.replayed_at.is_(None))
    elif status == "replayed":
        stmt = stmt.where(bus.DeadLetter.replayed_at.is_not(None))
    return paginate(session, stmt, params, key=bus.DeadLetter.id, descending=True, into=DeadLetterPublic)


@router.get("/dead-letters/{dead_letter_id}", response_model=DeadLetterDetail, summary="One dead letter")
def get_dead_letter(dead_letter_id: str, session: DbSession, actor: Actor = Depends(require(ADMIN))) -> Any:
    return _detail(session, bus.get_dead_letter(session, dead_letter_id))


@router.post(
    "/dead-letters/{dead_letter_id}/replay",
    response_model=DeadLetterDetail,
    status_code=202,
    summary="Deliver a dead-lettered event to its handler again",
)
def replay_dead_letter(dead_letter_id: str, session: DbSession, actor: Actor = Depends(require(ADMIN))) -> Any:
    if len(dead_letter_id) > 32:
        raise NotFound(f"No dead letter {dead_letter_id}")
    dl = bus.replay_dead_letter(session, actor=actor, dead_letter_id=dead_letter_id)
    return _detail(session, dl)


@router.get("/stats", response_model=BusStats, summary="Counters of the event bus")
def stats(request: Request, session: DbSession, actor: Actor = Depends(require(ADMIN))) -> Any:
    running = getattr(request.app.state, "bus", None)
    return BusStats(
        backend=running.backend if running else "inprocess",
        ready=bool(running and running.ready()),
        **bus.bus_stats(session),
    )

"""Audit log API: ``GET /api/v1/audit`` — read the audit entries, newest first, one page at a time.

Needs the permission ``core.audit.read``. An auditor scoped to an organisation sees the entries of
that organisation's subtree only (see ``audit.entries_query``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from smartprovince.core import audit
from smartprovince.core.deps import DbSession
from smartprovince.core.pagination import CursorParams, Page, paginate
from smartprovince.core.security import Actor, require

router = APIRouter(tags=["audit"])


class AuditEntryPublic(BaseModel):
    """One audit entry as the API shows it (``data`` decoded from JSON)."""

    id: str
    seq: int = Field(description="Position in the chain: 1, 2, 3 … without gaps.")
    occurred_at: datetime
    actor_id: str | None = Field(description="Id of the acting user; null for the system.")
    actor_name: str = Field(description="Username of the acting user, or 'system'.")
    actor_kind: str = Field(description="officer, citizen, anonymous or system.")
    action: str
    object_type: str
    object_id: str
    org_path: str | None
    data: Any = Field(None, description="Details recorded with the action (JSON).")
    request_id: str | None = Field(description="Id of the HTTP request that made the change, if any.")
    prev_hash: str
    hash: str

    @classmethod
    def from_entry(cls, entry: audit.AuditEntry) -> AuditEntryPublic:
        return cls(
            id=entry.id,
            seq=entry.seq,
            occurred_at=entry.occurred_at,
            actor_id=entry.actor_id,
            actor_name=entry.actor_name,
            actor_kind=entry.actor_kind,
            action=entry.action,
            object_type=entry.object_type,
            object_id=entry.object_id,
            org_path=entry.org_path,
            data=entry.data_value,
            request_id=entry.request_id,
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )


@router.get("/audit", response_model=Page[AuditEntryPublic], summary="List audit entries (newest first)")
def list_audit_entries(
    session: DbSession,
    params: CursorParams = Depends(),
    object_type: str | None = Query(None, max_length=100, description="Only entries about this kind of object."),
    object_id: str | None = Query(None, max_length=200, description="Only entries about this object."),
    actor: str | None = Query(None, max_length=150, description="Only entries by this user (id or username)."),
    action: str | None = Query(None, max_length=100, description="Only entries with this action."),
    who: Actor = Depends(require("core.audit.read")),
) -> Page[AuditEntryPublic]:
    stmt = audit.entries_query(who, object_type=object_type, object_id=object_id, actor_ref=actor, action=action)
    page = paginate(session, stmt, params, key=audit.AuditEntry.seq, descending=True)
    return Page[AuditEntryPublic](
        items=[AuditEntryPublic.from_entry(e) for e in page.items], next_cursor=page.next_cursor
    )

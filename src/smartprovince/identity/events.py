"""Topics the identity module publishes, and the one helper that audits and publishes a write.

Every identity write calls ``record_change``: one audit row (``core.audit.record``) and one outbox
event (``core.bus.publish``), both in the caller's transaction. Payloads carry ids and codes only,
never passwords, CCCD numbers or contact details.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from smartprovince.core import audit, bus
from smartprovince.core.security import Actor

TOPICS = (
    "identity.user.created",
    "identity.user.updated",
    "identity.user.deactivated",
    "identity.user.password_set",
    "identity.role.assigned",
    "identity.role.revoked",
    "identity.role.created",
    "identity.role.updated",
    "identity.role.deleted",
    "identity.organisation.created",
    "identity.organisation.updated",
    "identity.organisation.moved",
    "identity.organisation.deactivated",
    "identity.area.loaded",  # official area polygons loaded (identity/areas.py)
    "identity.token.issued",
    "identity.token.revoked",
    "identity.session.started",
    "identity.session.ended",
    "identity.login.failed",
    "identity.user.locked",
)


def record_change(
    session: Session,
    *,
    actor: Actor,
    topic: str,
    object_type: str,
    object_id: str,
    data: dict[str, Any] | None = None,
    org_path: str | None = None,
) -> None:
    """Write the audit row and the outbox event for one change (same transaction as the change).

    The audit action and the event topic are the same string (``identity.user.created`` …).
    """
    payload = {"id": object_id, **(data or {})}
    audit.record(session, actor=actor, action=topic, object_type=object_type, object_id=object_id, data=payload,
                 org_path=org_path)
    bus.publish(session, topic, payload, key=object_id)

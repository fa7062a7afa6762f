"""Events of the procedures module.

Published by :mod:`.service` for every action: ``procedures.dossier.<word>`` with the word of
``service.EVENT_NAMES`` (``submitted``, ``received``, ``paid``, ``returned`` …); the payload carries the
dossier's code, status, dates, channel, payment and result fields.

Handled: ``procedures.dossier.*`` → ``procedures.portal_sync`` pushes each status change (and each
new due date) to the national public-service portal. A failed push raises, so the bus retries the
event from its outbox with growing delays and finally keeps it as a dead letter.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from smartprovince.core.bus import Event, subscribe
from smartprovince.procedures.adapters import portal
from smartprovince.procedures.config import get_procedures_settings

NOT_FOR_PORTAL = {"claimed", "released"}
"""Internal hand-offs between officers: no status or date changes, the portal does not need them."""


@subscribe("procedures.dossier.*", name="procedures.portal_sync")
def push_to_portal(session: Session, event: Event) -> None:
    """Send the dossier's new state to the national portal (raises on failure: the bus retries)."""
    payload = event.payload or {}
    if event.topic.rsplit(".", 1)[-1] in NOT_FOR_PORTAL or not payload.get("code"):
        return
    cfg = get_procedures_settings()
    portal.portal_from_settings(cfg).push(portal.portal_record(payload), unit_code=cfg.portal_unit_code,
                                          updating=payload.get("from_status") is not None)

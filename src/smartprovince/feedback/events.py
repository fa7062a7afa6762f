"""Events of the feedback module.

Published (see ``service.py`` for the payload): ``feedback.report.created``, ``.accepted``,
``.sent_back``, ``.assigned``, ``.updated``, ``.resolved``, ``.merged``, ``.rated``, ``.reopened``,
``.closed``, ``.sla_warning``, ``.escalated``; ``feedback.api_client.created``. The operations module
links reports to incidents from these events (category, location, unit, status).

Handled: ``feedback.report.*`` → ``feedback.notify`` writes the reporters' notifications (the
sender's outbox). The bus runs it once per event (processed-event table), so it is idempotent.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from smartprovince.core.bus import Event, subscribe
from smartprovince.feedback import notify
from smartprovince.feedback.config import FeedbackSettings

CONFIG: FeedbackSettings = FeedbackSettings()
"""Settings the handler uses for message texts; the app replaces it at start-up."""


@subscribe("feedback.report.*", name="feedback.notify")
def on_report_event(session: Session, event: Event) -> None:
    """Queue the notifications a reporter should get for this change."""
    payload = event.payload or {}
    action = event.topic.rsplit(".", 1)[-1]
    if not payload.get("id"):
        return
    notify.queue_for_event(session, event_id=event.id, report_id=payload["id"], action=action,
                           note=payload.get("note"), cfg=CONFIG)

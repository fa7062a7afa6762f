"""Background jobs of the feedback module in the app process: the notification sender and the SLA check.

One daemon thread runs both on their own intervals (``FeedbackSettings.sender_interval_seconds``,
``sla_interval_seconds``). With several API processes, run them in one only
(``SMARTPROVINCE_FEEDBACK_BACKGROUND_JOBS=false`` elsewhere) or from cron with
``smartprovince feedback check-sla`` and ``smartprovince feedback send``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from smartprovince.core.security import SYSTEM
from smartprovince.feedback import notify, ratelimit, service

log = logging.getLogger("smartprovince.feedback.jobs")


class Jobs:
    """The thread that runs the periodic work until :meth:`stop`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="feedback-jobs", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        cfg = self.app.state.feedback_config
        db = self.app.state.db
        next_sla = 0.0
        while not self.stop_event.is_set():
            try:
                notify.deliver_pending(db, cfg)
                if time.monotonic() >= next_sla:
                    with db.session() as s:
                        service.check_sla(s, actor=SYSTEM)
                        ratelimit.prune(s)
                    next_sla = time.monotonic() + cfg.sla_interval_seconds
            except Exception:  # noqa: BLE001 - a failing run must not end the thread; it is logged
                log.exception("feedback background job failed")
            self.stop_event.wait(cfg.sender_interval_seconds)


def start(app: Any) -> None:
    """on_startup: start the jobs unless disabled or in tests."""
    cfg = app.state.feedback_config
    if not cfg.background_jobs or app.state.settings.environment == "test":
        return
    jobs = Jobs(app)
    app.state.feedback_jobs = jobs
    jobs.start()


def stop(app: Any) -> None:
    """on_shutdown: stop the jobs thread."""
    jobs = getattr(app.state, "feedback_jobs", None)
    if jobs is not None:
        jobs.stop()

"""Lưu giữ dữ liệu thô — the raw-data retention of the sensing module.

Raw observations older than ``SMARTPROVINCE_SENSING_RAW_RETENTION_DAYS`` (default 365) are deleted;
the minute and hour rollups stay, so charts and hourly series keep their history. The app process
runs the purge in a daemon thread once at start and then every ``SMARTPROVINCE_SENSING_PURGE_HOURS``
(default 24); ``smartprovince sensing purge`` runs it by hand or from cron. Deleting is idempotent, so
several API processes may each run it.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartprovince.core import clock
from smartprovince.core.security import SYSTEM

log = logging.getLogger("smartprovince.sensing.retention")


class RetentionSettings(BaseSettings):
    """How long raw observations are kept, and how often the app process deletes older ones."""

    model_config = SettingsConfigDict(env_prefix="SMARTPROVINCE_SENSING_", extra="ignore")

    raw_retention_days: int = Field(365, ge=1, description="Days of raw observations to keep (rollups stay).")
    background_purge: bool = Field(True, description="Delete older raw observations from the app process.")
    purge_hours: float = Field(24.0, gt=0, description="Hours between two purges in the app process.")


def purge_once(db: Any, config: RetentionSettings) -> int:
    """Delete the raw observations older than the retention period; returns how many."""
    from smartprovince.sensing import ingest

    with db.session() as s:
        return ingest.purge_raw(s, actor=SYSTEM, older_than=clock.now() - timedelta(days=config.raw_retention_days))


class PurgeRun:
    """The thread: purge, wait ``purge_hours``, purge again, until :meth:`stop`."""

    def __init__(self, db: Any, config: RetentionSettings) -> None:
        self.db, self.config = db, config
        self.runs = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sensing-purge", daemon=True)

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                count = purge_once(self.db, self.config)
                self.runs += 1
                if count:
                    log.info("sensing purge deleted %d raw observations", count)
            except Exception:  # noqa: BLE001 - a failing purge must not end the thread; logged, retried
                log.exception("sensing raw-data purge failed")
            self.stop_event.wait(self.config.purge_hours * 3600)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=60)


def start(app: Any) -> None:
    """on_startup: start the periodic purge unless disabled or in tests."""
    config = RetentionSettings()
    if not config.background_purge or app.state.settings.environment == "test":
        return
    job = PurgeRun(app.state.db, config)
    app.state.sensing_purge = job
    job.start()


def stop(app: Any) -> None:
    """on_shutdown: stop the thread."""
    job = getattr(app.state, "sensing_purge", None)
    if job is not None:
        job.stop()

"""The periodic warehouse sync in the app process (đồng bộ kho phân tích định kỳ).

A daemon thread syncs at start-up (so the demo data loaded by ``run`` reaches the KPIs) and then every
``WarehouseSettings.sync_interval_seconds``. Several API processes may run it: the sync takes a file
lock without waiting, so only one of them syncs at a time and the others skip that round.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from smartprovince.datahub.warehouse import SyncBusy, sync_warehouse
from smartprovince.datahub.warehouse_config import WarehouseSettings

log = logging.getLogger("smartprovince.datahub.warehouse")


class WarehouseJob:
    """The thread that syncs until :meth:`stop`."""

    def __init__(self, app: Any, config: WarehouseSettings) -> None:
        self.app = app
        self.config = config
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="warehouse-sync", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=30)

    def run_once(self) -> dict[str, int] | None:
        try:
            return sync_warehouse(self.app.state.db, self.app.state.settings, wait=False)
        except SyncBusy:
            log.info("warehouse sync skipped: another process is syncing")
        except Exception:  # noqa: BLE001 - a failing sync must not end the thread; it is logged and retried
            log.exception("periodic warehouse sync failed")
        return None

    def _run(self) -> None:
        while not self.stop_event.is_set():
            self.run_once()
            self.stop_event.wait(self.config.sync_interval_seconds)


def start(app: Any) -> None:
    """on_startup: start the periodic sync unless disabled or in tests."""
    config = WarehouseSettings()
    if not config.background_sync or app.state.settings.environment == "test":
        return
    job = WarehouseJob(app, config)
    app.state.warehouse_job = job
    job.start()


def stop(app: Any) -> None:
    """on_shutdown: stop the thread (a sync under way finishes first)."""
    job = getattr(app.state, "warehouse_job", None)
    if job is not None:
        job.stop()

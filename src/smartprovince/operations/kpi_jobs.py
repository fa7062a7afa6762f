"""Lượt tính chỉ số định kỳ — the periodic KPI run in the app process.

The wall and the rooms read stored KPI values (``operations_kpi_value``), never the warehouse per request.
A daemon thread looks at the analytics warehouse's sync stamp (the data hub's ``warehouse_status``: each
feed's watermark and rows written) every ``SMARTPROVINCE_KPI_CHECK_SECONDS``; when new data arrived since
its last run it computes the warehouse KPIs of the last ``SMARTPROVINCE_KPI_RECENT_MONTHS`` months for the
province, its districts and its communes (:func:`kpi_engine.refresh_values`), after adding the bundled KPI
definitions the database lacks (an upgrade's new KPIs; definitions an admin changed are kept). Several API
processes may run it: a file lock taken without waiting lets one of them run at a time; the others skip that
round.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartprovince.core.security import SYSTEM
from smartprovince.operations import kpi_engine

log = logging.getLogger("smartprovince.operations.kpi")


class KpiRunSettings(BaseSettings):
    """How often the app process looks for new warehouse data to compute the KPIs from."""

    model_config = SettingsConfigDict(env_prefix="SMARTPROVINCE_KPI_", extra="ignore")

    background_run: bool = Field(True, description="Run the KPIs in the app process when the warehouse has new data.")
    check_seconds: float = Field(60.0, ge=1, description="Seconds between two looks at the warehouse's sync stamp.")
    recent_months: int = Field(2, ge=1, le=24, description="How many of the newest months each run computes.")
    depth: int = Field(2, ge=0, le=3, description="Area levels below the province (1 districts, 2 communes too).")


def sync_stamp(settings: Any) -> tuple[Any, ...] | None:
    """The warehouse's data stamp: each feed's watermark and rows written (None without a warehouse)."""
    from smartprovince import datahub

    status = getattr(datahub, "warehouse_status", None)
    if status is None:
        return None
    try:
        feeds = status(settings)["feeds"]
    except Exception:  # noqa: BLE001 - no warehouse yet: nothing to compute from
        return None
    return tuple((name, str(f.get("watermark")), f.get("rows_written")) for name, f in sorted(feeds.items())) or None


@contextmanager
def _lock(folder: Path) -> Iterator[bool]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "kpi-run.lock", "w") as fh:  # noqa: PTH123 - a lock file, not data
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class KpiRun:
    """The thread: look at the stamp, run the KPIs when it changed, until :meth:`stop`."""

    def __init__(self, db: Any, settings: Any, config: KpiRunSettings) -> None:
        self.db, self.settings, self.config = db, settings, config
        self.last: tuple[Any, ...] | None = None
        self.runs = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="kpi-run", daemon=True)

    def run_once(self) -> int | None:
        """One look: run the KPIs if the warehouse changed since the last run; returns the values stored."""
        stamp = sync_stamp(self.settings)
        if stamp is None or stamp == self.last:
            return None
        with _lock(Path(self.settings.data_dir)) as mine:
            if not mine:
                log.info("KPI run skipped: another process is running it")
                return None
            with self.db.session() as s:  # bundled KPIs added by an upgrade (kept as edited otherwise)
                kpi_engine.load_definitions(s, actor=SYSTEM)
            n = kpi_engine.refresh_values(
                self.db, self.settings, depth=self.config.depth, recent=self.config.recent_months
            )
        self.last = stamp
        self.runs += 1
        log.info("KPI run stored %d values", n)
        return n

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a failing run must not end the thread; it is logged and retried
                log.exception("periodic KPI run failed")
            self.stop_event.wait(self.config.check_seconds)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=60)


def start(app: Any) -> None:
    """on_startup: start the periodic KPI run unless disabled or in tests."""
    config = KpiRunSettings()
    if not config.background_run or app.state.settings.environment == "test":
        return
    job = KpiRun(app.state.db, app.state.settings, config)
    app.state.kpi_run = job
    job.start()


def stop(app: Any) -> None:
    """on_shutdown: stop the thread (a run under way finishes first)."""
    job = getattr(app.state, "kpi_run", None)
    if job is not None:
        job.stop()

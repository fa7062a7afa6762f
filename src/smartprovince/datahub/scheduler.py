"""Bộ lập lịch kéo dữ liệu — runs the due pulls in the app process, in one process of many.

Once a day the holder also stores fresh quality scores of every dataset with data, so the "sống"
(live) score and the history on the dataset page follow a dataset that stops being updated.

Every API process starts a daemon thread (``on_startup``). On each tick a thread tries to take the
lease on the ``datahub_scheduler_lock`` row with one conditional ``UPDATE`` (free, expired, or
already its own); only the holder pulls, and it renews the lease on every tick. When the holder
stops (shutdown releases the row) or dies (the lease expires), another process takes over. The
``UPDATE`` is atomic on PostgreSQL and SQLite alike, so two processes never both hold the lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from smartprovince.core.clock import now
from smartprovince.core.db import Database
from smartprovince.core.ids import new_id
from smartprovince.core.security import SYSTEM
from smartprovince.datahub import schedule, sources
from smartprovince.datahub.config import DatahubSettings
from smartprovince.datahub.models import Dataset, PullRun, SchedulerLock, Source

log = logging.getLogger("smartprovince.datahub.scheduler")
LOCK_NAME = "pull"


def holder_id() -> str:
    """Who this process is, for the lock row: host, process id and a random part."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{new_id()}"


def acquire(db: Database, holder: str, lease_seconds: float) -> bool:
    """Take or renew the lease; ``True`` when ``holder`` holds it now."""
    at = now()
    with db.session() as s:
        result = s.execute(
            update(SchedulerLock).where(
                SchedulerLock.name == LOCK_NAME,
                (SchedulerLock.holder == holder) | (SchedulerLock.holder == "")
                | SchedulerLock.expires_at.is_(None) | (SchedulerLock.expires_at < at))
            .values(holder=holder, expires_at=at + timedelta(seconds=lease_seconds)))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return True
        if s.get(SchedulerLock, LOCK_NAME) is None:  # a database made without the migration's row
            s.add(SchedulerLock(name=LOCK_NAME, holder=holder, expires_at=at + timedelta(seconds=lease_seconds)))
            return True
    return False


def release(db: Database, holder: str) -> None:
    """Give the lease back (on shutdown) so another process takes over at once."""
    with db.session() as s:
        s.execute(update(SchedulerLock).where(SchedulerLock.name == LOCK_NAME, SchedulerLock.holder == holder)
                  .values(holder="", expires_at=None))


def run_due(db: Database, config: DatahubSettings, data_dir: Path, *, transport: Any = None) -> list[PullRun]:
    """Pull every due source once, each in its own transaction; return the runs."""
    with db.session(write=False) as s:
        names = sources.due_sources(s)
    runs = []
    for name in names:
        try:
            with db.session() as s:
                runs.append(sources.pull(s, actor=SYSTEM, name=name, data_dir=data_dir, config=config,
                                         trigger="schedule", transport=transport))
        except Exception as exc:  # noqa: BLE001 - one broken dataset must not stop the others; it is recorded
            log.exception("scheduled pull of %s failed", name)
            runs.append(_record_failure(db, name, f"{type(exc).__name__}: {str(exc)[:300]}"))
    return runs


def _record_failure(db: Database, name: str, error: str) -> PullRun:
    """Record a pull that broke unexpectedly (its transaction was rolled back) and move the schedule on."""
    from sqlalchemy import select

    with db.session() as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == name))
        assert ds is not None  # noqa: S101 - it was just listed as due
        src = s.get(Source, ds.id)
        at = now()
        if src is not None:
            src.last_run_at = at
            src.next_run_at = schedule.next_run(every_minutes=src.every_minutes, cron=src.cron, after=at)
        run = PullRun(dataset_id=ds.id, trigger="schedule", status="failed", started_at=at, finished_at=at,
                      error=error[:1000])
        s.add(run)
        return run


def remeasure_quality(db: Database) -> int:
    """Store today's quality scores of every dataset with data (the "sống" score falls with time)."""
    from sqlalchemy import select

    from smartprovince.datahub import service

    with db.session(write=False) as s:
        names = list(s.scalars(select(Dataset.name).where(Dataset.snapshot > 0)))
    done = 0
    for name in names:
        try:
            with db.session() as s:
                service.measure_quality(s, actor=SYSTEM, name=name)
            done += 1
        except Exception:  # noqa: BLE001 - one dataset must not stop the others; it is logged
            log.exception("quality measurement of %s failed", name)
    return done


class Scheduler:
    """The daemon thread of one process (see the module docstring)."""

    def __init__(self, db: Database, config: DatahubSettings, data_dir: Path) -> None:
        self.db, self.config, self.data_dir = db, config, data_dir
        self.holder = holder_id()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="datahub-scheduler", daemon=True)
        self.next_quality = now()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=30)
        try:
            release(self.db, self.holder)
        except Exception:  # noqa: BLE001 - the database may already be gone at shutdown; the lease expires
            log.debug("could not release the scheduler lock", exc_info=True)

    def tick(self) -> list[PullRun]:
        """One round: take or renew the lease, then pull what is due."""
        if not acquire(self.db, self.holder, self.config.scheduler_lease_seconds):
            return []
        runs = run_due(self.db, self.config, self.data_dir)
        if now() >= self.next_quality:  # once a day, so the scores over time show a dataset going stale
            remeasure_quality(self.db)
            self.next_quality = now() + timedelta(hours=24)
        return runs

    def _loop(self) -> None:
        while not self.stop_event.wait(self.config.scheduler_interval_seconds):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a failing round must not end the thread; it is logged
                log.exception("datahub scheduler round failed")


def start(app: Any) -> None:
    """on_startup: start the scheduler thread unless disabled or in tests."""
    config: DatahubSettings = app.state.datahub_config
    if not config.scheduler or app.state.settings.environment == "test":
        return
    scheduler = Scheduler(app.state.db, config, app.state.settings.data_dir)
    app.state.datahub_scheduler = scheduler
    scheduler.start()


def stop(app: Any) -> None:
    """on_shutdown: stop the thread and release the lock."""
    scheduler = getattr(app.state, "datahub_scheduler", None)
    if scheduler is not None:
        scheduler.stop()

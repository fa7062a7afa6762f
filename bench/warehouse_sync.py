"""Warehouse benchmark: sync rate of the ``dossiers`` feed and a KPI query over it, at 1 M dossiers.

Builds (once) a SQLite database (embedded default) with the Hải Dương organisations, the 25 essential
services and ``ROWS`` synthetic dossiers of 2023 (one action each), cached under
``var/bench/warehouse/`` (or ``WAREHOUSE_BENCH_DIR``). Then, in one run, prints:

* baseline: reading the same dossier rows straight from the database (SQLAlchemy, the columns the feed
  reads) — rows/s;
* full sync of ``dossiers`` into a fresh warehouse (rows/s, the ratio to the baseline, peak RSS);
* incremental sync after ``CHANGED`` dossiers changed and ``DELETED`` were deleted, looking for
  deletions (rows/s, seconds, tombstones written); then an incremental sync with nothing changed,
  without and with the look for deletions (what reading every key costs);
* a KPI query — on-time rate per district and month over every dossier — through
  ``warehouse_query`` (DuckDB over Parquet), warm median of 5, beside the same aggregate in SQL on the
  operational database (the baseline) in the same run.

Run: ``python -m bench warehouse`` (``WAREHOUSE_BENCH_ROWS=270000`` for a smaller case). The machine is
shared: the figures are as measured, under whatever load there is.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROWS = int(os.environ.get("WAREHOUSE_BENCH_ROWS", "1000000"))
CHANGED = int(os.environ.get("WAREHOUSE_BENCH_CHANGED", "10000"))
DELETED = int(os.environ.get("WAREHOUSE_BENCH_DELETED", "1000"))
ROOT = Path(__file__).resolve().parent.parent
FOLDER = Path(os.environ.get("WAREHOUSE_BENCH_DIR", ROOT / "var" / "bench" / "warehouse"))
BATCH = 20_000

KPI_WAREHOUSE = """
SELECT district_org_id, date_trunc('month', received_at) AS month, count(*) AS finished,
       avg(CASE WHEN timing IN ('early', 'on_time') THEN 1.0 ELSE 0.0 END) AS on_time_rate
FROM dossiers WHERE finished_at IS NOT NULL GROUP BY ALL ORDER BY ALL
"""
KPI_DIRECT = """
SELECT o.parent_id, substr(d.received_at, 1, 7) AS month, count(*) AS finished,
       avg(CASE WHEN d.finished_at <= d.due_at AND d.supplement_requests <= 1 THEN 1.0 ELSE 0.0 END)
FROM procedure_dossier d JOIN identity_organisation o ON o.id = d.agency_org_id
WHERE d.finished_at IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2
"""


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _build(path: Path) -> None:
    """Fill a new database file with ``ROWS`` dossiers (bulk inserts, seeded random)."""
    from sqlalchemy import select

    from smartprovince import identity
    from smartprovince.core.db import Database
    from smartprovince.core.ids import new_id
    from smartprovince.core.migrate import upgrade
    from smartprovince.core.security import SYSTEM
    from smartprovince.procedures import catalog
    from smartprovince.procedures.models import Dossier, DossierAction, Procedure

    tmp = path.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{tmp}"
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
        catalog.load_essential_services(s, actor=SYSTEM)
    with db.session() as s:
        procs = [(p.id, p.code) for p in s.scalars(select(Procedure))]
        communes = [(o.id, o.code, o.path) for o in s.scalars(
            select(identity.Organisation).where(identity.Organisation.level == "commune"))]
    rng = random.Random(2023)
    prefix = new_id()[:16]
    start = datetime(2023, 1, 1, 1, 0, tzinfo=UTC)
    dossiers: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    began = time.perf_counter()
    for n in range(1, ROWS + 1):
        proc_id, proc_code = procs[rng.randrange(len(procs))]
        org_id, org_code, org_path = communes[rng.randrange(len(communes))]
        received = start + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        due = received + timedelta(days=rng.choice((1, 3, 5, 7)))
        finished = received + timedelta(hours=rng.randrange(2, 240)) if rng.random() < 0.93 else None
        row_id = f"{prefix}{n:016x}"
        dossiers.append({
            "id": row_id, "code": f"BENCH-{n:08d}", "lookup_key": "k", "procedure_id": proc_id,
            "procedure_code": proc_code, "agency_code": org_code, "agency_org_id": org_id, "agency_path": org_path,
            "channel": "online" if rng.random() < 0.8 else "counter", "status": 10 if finished else 4,
            "applicant_name": "Người nộp", "submitted_at": received, "received_at": received, "due_at": due,
            "finished_at": finished, "returned_at": finished, "supplement_requests": rng.choice((0, 0, 0, 1, 2)),
            "fee_total": rng.choice((0, 0, 50_000)), "fee_paid": 0,
        })
        actions.append({"id": f"{prefix}{n:016x}", "dossier_id": row_id, "seq": 1, "verb": "receive",
                        "to_status": 2, "at": received})
        if len(dossiers) == BATCH or n == ROWS:
            with db.session() as s:
                s.execute(Dossier.__table__.insert(), dossiers)
                s.execute(DossierAction.__table__.insert(), actions)
            dossiers, actions = [], []
            if n % 200_000 == 0 or n == ROWS:
                print(f"  built {n:,}/{ROWS:,} dossiers ({n / (time.perf_counter() - began):,.0f}/s)", flush=True)
    db.dispose()
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    tmp.rename(path)


def _database() -> Path:
    from smartprovince.core.migrate import upgrade

    FOLDER.mkdir(parents=True, exist_ok=True)
    path = FOLDER / f"dossiers-{ROWS}.db"
    if path.exists():
        print(f"cached database {path}", flush=True)
        upgrade(f"sqlite:///{path}")
    else:
        print(f"building {path} (once; later runs reuse it)", flush=True)
        _build(path)
    return path


def _change(db: Any, n: int) -> None:
    """``n`` dossiers get one more action and a new status (what a day of work does)."""
    from sqlalchemy import func, select, update

    from smartprovince.core.ids import new_id
    from smartprovince.procedures.models import Dossier, DossierAction

    with db.session() as s:
        # any n dossiers (a cached database may have no open ones left after earlier runs)
        ids = list(s.scalars(select(Dossier.id).order_by(Dossier.id.desc()).limit(n)))
        if not ids:
            return
        s.execute(update(Dossier).where(Dossier.id.in_(ids)).values(status=9, finished_at=datetime.now(UTC)))
        # the next action number of each (an earlier run on a cached database added some already)
        last = dict(s.execute(select(DossierAction.dossier_id, func.max(DossierAction.seq))
                              .where(DossierAction.dossier_id.in_(ids)).group_by(DossierAction.dossier_id)).all())
        s.execute(DossierAction.__table__.insert(), [
            {"id": new_id(), "dossier_id": i, "seq": last.get(i, 0) + 1, "verb": "finish", "to_status": 9,
             "at": datetime.now(UTC)} for i in ids])


def _delete(db: Any, n: int) -> None:
    """Delete ``n`` dossiers and their actions (the oldest ones; every run deletes ``n`` more)."""
    from sqlalchemy import delete, select

    from smartprovince.procedures.models import Dossier, DossierAction

    with db.session() as s:
        ids = list(s.scalars(select(Dossier.id).order_by(Dossier.id).limit(n)))
        s.execute(delete(DossierAction).where(DossierAction.dossier_id.in_(ids)))
        s.execute(delete(Dossier).where(Dossier.id.in_(ids)))


def main() -> None:
    from sqlalchemy import text

    from smartprovince.core.db import Database
    from smartprovince.datahub import sync_warehouse, warehouse_query, warehouse_status
    from smartprovince.datahub.warehouse import load_state
    from smartprovince.procedures import warehouse as feed
    from smartprovince.registry import load_modules
    from smartprovince.settings import Settings

    load_modules()  # import every module before timing (the sync finds the feeds in the manifests)
    path = _database()
    url = f"sqlite:///{path}"
    db = Database(url)
    data_dir = Path(tempfile.mkdtemp(prefix="warehouse-bench-"))
    settings = Settings(environment="test", data_dir=data_dir, database_url=url, secret_key="bench-secret-key")
    try:
        with db.session(write=False) as s:
            total = s.scalar(text("SELECT count(*) FROM procedure_dossier"))
        print(f"dossiers: {total:,}  (2 cores shared with other work; figures as measured)")

        t = time.perf_counter()
        with db.session(write=False) as s:
            n = sum(1 for _ in s.execute(feed._SELECT.execution_options(yield_per=feed.BATCH)))
        base = time.perf_counter() - t
        print(f"baseline: read the same rows from the database        {n / base:>12,.0f} rows/s  ({base:.1f} s)")

        rss0 = _rss_mb()
        t = time.perf_counter()
        written = sync_warehouse(db, settings, feeds=["dossiers"], full=True)["dossiers"]
        full = time.perf_counter() - t
        size = sum(p.stat().st_size for p in (data_dir / "warehouse" / "dossiers").glob("*.parquet"))
        print(f"full sync of dossiers (read, classify, write Parquet) {written / full:>12,.0f} rows/s  ({full:.1f} s, "
              f"{full / base:.1f}× the bare read; Parquet {size / 1e6:.0f} MB; peak RSS {_rss_mb():.0f} MB, "
              f"was {rss0:.0f} MB)")

        _change(db, CHANGED)
        _delete(db, DELETED)
        t = time.perf_counter()
        changed = sync_warehouse(db, settings, feeds=["dossiers"], deletions=True)["dossiers"]
        inc = time.perf_counter() - t
        gone = warehouse_status(settings)["feeds"]["dossiers"]
        state = load_state(data_dir / "warehouse")["feeds"]["dossiers"]
        print(f"incremental sync after {CHANGED:,} changes, {DELETED:,} deletions {changed / inc:>8,.0f} rows/s  "
              f"({changed:,} rows and {state.get('deleted_last_sync', 0):,} tombstones, {inc:.2f} s; "
              f"{gone['parts']} parts)")
        t = time.perf_counter()
        sync_warehouse(db, settings, feeds=["dossiers"], deletions=False)
        idle = time.perf_counter() - t
        t = time.perf_counter()
        sync_warehouse(db, settings, feeds=["dossiers"], deletions=True)
        keys = time.perf_counter() - t
        print(f"incremental sync with nothing changed: {idle:.2f} s; the same looking for deletions (reads every "
              f"key; hourly by default): {keys:.2f} s")
        left = warehouse_query(settings, "SELECT count(*) AS n FROM dossiers")[0]["n"]
        with db.session(write=False) as s:
            print(f"dossiers in the warehouse view {left:,}, in the database "
                  f"{s.scalar(text('SELECT count(*) FROM procedure_dossier')):,}")

        times_wh, times_db = [], []
        for _ in range(5):
            t = time.perf_counter()
            rows_wh = warehouse_query(settings, KPI_WAREHOUSE)
            times_wh.append(time.perf_counter() - t)
        for _ in range(3):
            t = time.perf_counter()
            with db.session(write=False) as s:
                rows_db = s.execute(text(KPI_DIRECT)).all()
            times_db.append(time.perf_counter() - t)
        wh_ms, db_ms = statistics.median(times_wh) * 1000, statistics.median(times_db) * 1000
        print(f"KPI query: on-time rate per district × month ({len(rows_wh)} rows)")
        print(f"  warehouse (DuckDB over Parquet), warm median        {wh_ms:>10,.0f} ms")
        print(f"  baseline: same aggregate in SQL on the database     {db_ms:>10,.0f} ms  ({len(rows_db)} rows); "
              f"ratio {db_ms / wh_ms:.1f}×")
    finally:
        db.dispose()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

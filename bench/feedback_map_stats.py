"""Feedback benchmark: 200,000 reports — public map GeoJSON for a viewport, statistics per unit and category.

Builds a fresh SQLite database (embedded default) in a temporary folder with the Hải Dương organisations,
bulk-inserts ``FEEDBACK_BENCH_REPORTS`` reports (default 200,000) spread over the province and the last
year (a benchmark fixture: rows are inserted directly, without timelines or events), then prints:

* bulk-insert rate (reports per second);
* ``GET /api/v1/feedback/map`` for a city-sized viewport and for the whole province (p50 / p95 in ms,
  features returned; the API returns at most ``limit`` = 5,000 points, newest first);
* the statistics per unit and per category (``queries.statistics``) over all reports — read from the
  statistics kept on write (``feedback_stat``, recounted once after the bulk insert) — the recount for a
  period (a scan of the covering index), and the ``/console/feedback/stats`` page as a provincial leader
  sees it;
* the bare ``/healthz`` endpoint of the same app, as the baseline of the same run, and the ratio to it;
* the recount and the city map again without the covering indexes of migration ``feedback_0002`` (the
  schema before it), as a second baseline of the same run.

Targets (issue 4): map viewport ≤ 300 ms, statistics page ≤ 1 s. Run: ``python -m bench feedback``.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._timing import median_p95_ms

REPORTS = int(os.environ.get("FEEDBACK_BENCH_REPORTS", "200000"))
RUNS = 20


def _ms(fn: Any, runs: int = RUNS) -> tuple[float, float]:
    return median_p95_ms(fn, runs)


def main() -> None:
    import logging

    from fastapi.testclient import TestClient
    from sqlalchemy import insert, select

    from smartprovince import identity
    from smartprovince.app import create_app
    from smartprovince.core.db import Database
    from smartprovince.core.ids import new_id
    from smartprovince.core.migrate import upgrade
    from smartprovince.core.security import SYSTEM
    from smartprovince.feedback import categories, queries, stats
    from smartprovince.feedback.models import Report
    from smartprovince.settings import Settings

    logging.disable(logging.INFO)
    folder = Path(tempfile.mkdtemp(prefix="sp-feedback-bench-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
        identity.sync_builtin_roles(s)
        communes = list(s.execute(select(identity.Organisation.id, identity.Organisation.path)
                                  .where(identity.Organisation.level == "commune")).all())
        leader = identity.create_user(s, actor=SYSTEM, username="bench.leader", password="bench-password-1",
                                      full_name="Lãnh đạo tỉnh", kind="officer", roles=[("provincial_leader", None)])
        token = identity.issue_token(s, user_id=leader.id, name="bench", actor=SYSTEM)
    rng = random.Random(4)  # noqa: S311 - benchmark data, not secrets
    cats = [c.code for c in categories.all_categories()]
    now = datetime.now(UTC)
    started = time.perf_counter()
    batch = []
    for i in range(REPORTS):
        created = now - timedelta(minutes=rng.randint(0, 365 * 24 * 60))
        area_id, path = rng.choice(communes)
        status = rng.choices(["closed", "resolved", "in_progress", "submitted"], weights=[80, 10, 6, 4])[0]
        done = status in ("closed", "resolved")
        ack = rng.uniform(0.2, 12)
        res = rng.uniform(2, 90) if done else None
        batch.append({
            "id": new_id(), "code": f"PB{i:09d}", "token": f"t{i}", "follow_key": f"k{i}",
            "category_code": rng.choice(cats), "description": "Phản ánh thử nghiệm",
            "lat": rng.uniform(20.62, 21.15), "lon": rng.uniform(106.08, 106.62), "address": None,
            "area_id": area_id, "unit_id": area_id, "unit_path": path, "status": status, "channel": "web",
            "reopen_count": 0, "escalation_level": 0, "created_at": created, "updated_at": created,
            "acknowledged_at": created + timedelta(hours=ack), "ack_hours": ack,
            "resolved_at": created + timedelta(hours=res) if res is not None else None, "resolve_hours": res,
            "due_at": created + timedelta(hours=72), "rating": rng.choice([None, 5, 5, 4, 3]) if done else None,
        })
        if len(batch) == 10_000:
            with db.session() as s:
                s.execute(insert(Report), batch)
            batch = []
    if batch:
        with db.session() as s:
            s.execute(insert(Report), batch)
    elapsed = time.perf_counter() - started
    print(f"inserted {REPORTS:,} reports in {elapsed:.1f} s ({REPORTS / elapsed:,.0f} reports/s)")
    started = time.perf_counter()
    with db.session() as s:  # the bulk insert bypassed the ORM: recount the kept statistics once
        rows = stats.rebuild(s)
    print(f"rebuild-stats: {rows:,} (unit, category) rows in {time.perf_counter() - started:.1f} s")

    settings = Settings(environment="test", data_dir=folder / "data", database_url=url, load_demo=False,
                        secret_key="bench-secret-key")
    app = create_app(settings, db=db)
    with TestClient(app) as client:
        city = "/api/v1/feedback/map?bbox=106.28,20.91,106.36,20.97"
        province = "/api/v1/feedback/map?bbox=106.0,20.5,106.7,21.2&status=open"
        for name, path in [("map, city viewport", city), ("map, whole province, open only", province)]:
            n = len(client.get(path).json()["features"])
            p50, p95 = _ms(lambda p=path: client.get(p))
            print(f"{name}: {n:,} features, p50 {p50:.0f} ms, p95 {p95:.0f} ms (target ≤ 300 ms)")
        epoch = datetime(2000, 1, 1, tzinfo=UTC)
        with db.session(write=False) as s:
            p50, p95 = _ms(lambda: queries.statistics(s, SYSTEM, by="unit"), runs=5)
            print(f"statistics per unit (kept on write): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
            p50, p95 = _ms(lambda: queries.statistics(s, SYSTEM, by="category"), runs=5)
            print(f"statistics per category (kept on write): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
            scan50, p95 = _ms(lambda: queries.statistics(s, SYSTEM, by="unit", since=epoch), runs=5)
            print(f"statistics per unit for a period (recount, covering index): p50 {scan50:.0f} ms, p95 {p95:.0f} ms")
        headers = {"authorization": f"Bearer {token}"}
        assert client.get("/console/feedback/stats", headers=headers).status_code == 200
        page50, p95 = _ms(lambda: client.get("/console/feedback/stats", headers=headers), runs=5)
        print(f"statistics page (both tables): p50 {page50:.0f} ms, p95 {p95:.0f} ms (target ≤ 1 s)")
        city50, _ = _ms(lambda: client.get(city))
        health50, p95 = _ms(lambda: client.get("/healthz"))
        print(f"baseline /healthz: p50 {health50:.1f} ms, p95 {p95:.1f} ms; statistics page = "
              f"{page50 / health50:,.0f} × /healthz, city map = {city50 / health50:,.0f} × /healthz")
        # Baseline of the same run: the schema before feedback_0002 (no covering indexes, the plain lat/lon
        # index), same data, same queries.
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP INDEX ix_feedback_report_stats")
            conn.exec_driver_sql("DROP INDEX ix_feedback_report_map")
            conn.exec_driver_sql("CREATE INDEX ix_feedback_report_lat_lon ON feedback_report (lat, lon)")
        with db.session(write=False) as s:
            old_scan, _ = _ms(lambda: queries.statistics(s, SYSTEM, by="unit", since=epoch), runs=5)
        old_city, _ = _ms(lambda: client.get(city))
        print(f"without the covering indexes: statistics recount p50 {old_scan:.0f} ms ({old_scan / page50:.1f}× the "
              f"page with kept statistics), city map p50 {old_city:.0f} ms ({old_city / city50:.1f}× slower)")
    db.dispose()


if __name__ == "__main__":
    main()

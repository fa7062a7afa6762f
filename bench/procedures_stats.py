"""Procedures benchmark: demo load speed, statistics over a half year, dossier lookup by code.

Builds a fresh SQLite database (embedded default) in a temporary folder, loads the Hải Dương
organisations and the 2023 demo history (270,448 dossiers) ``SCALE`` times — each copy in an earlier
half-year, so ``SCALE=4`` gives about 1.08 M dossiers — then prints:

* bulk-load rate (dossiers per second, with their action logs);
* time of the Decision 766 statistics for 1 Jan – 15 Jun 2023 (per agency × procedure);
* ``GET /api/v1/procedures/lookup`` latency p50 / p99 and requests per second from concurrent
  in-process clients, beside the bare ``/healthz`` endpoint of the same app measured the same way.

Run: ``python -m bench procedures`` (``PROCEDURES_BENCH_SCALE=4`` for about a million dossiers).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

SCALE = int(os.environ.get("PROCEDURES_BENCH_SCALE", "1"))
CLIENTS = int(os.environ.get("PROCEDURES_BENCH_CLIENTS", "8"))
REQUESTS = int(os.environ.get("PROCEDURES_BENCH_REQUESTS", "2000"))


def _percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def _load(client, paths: list[str]) -> tuple[list[float], float]:  # type: ignore[no-untyped-def]
    times: list[float] = []
    lock = threading.Lock()
    per = max(1, len(paths) // CLIENTS)

    def worker(chunk: list[str]) -> None:
        local = []
        for p in chunk:
            t = time.perf_counter()
            r = client.get(p)
            local.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
        with lock:
            times.extend(local)

    threads = [threading.Thread(target=worker, args=(paths[i * per:(i + 1) * per],)) for i in range(CLIENTS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, time.perf_counter() - started


def main() -> None:
    import logging

    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from smartprovince import identity
    from smartprovince.app import create_app
    from smartprovince.core.db import Database
    from smartprovince.core.migrate import upgrade
    from smartprovince.core.security import SYSTEM
    from smartprovince.procedures import catalog, demo, stats
    from smartprovince.procedures.models import Dossier
    from smartprovince.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="sp-bench-proc-"))
    settings = Settings(environment="test", data_dir=tmp, secret_key="bench" * 8, load_demo=False)
    upgrade(settings.db_url)
    db = Database(settings.db_url)
    with db.session() as s:
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
        catalog.load_essential_services(s, actor=SYSTEM)
    real = demo.demo_figures
    total = 0
    started = time.perf_counter()
    for copy in range(SCALE):
        year = 2023 - copy

        def shifted(year: int = year) -> dict:  # type: ignore[type-arg]
            f = real()
            f["period"] = {"from": f"{year}-01-01", "to": f"{year}-06-15"}
            return f

        demo.demo_figures = shifted  # type: ignore[assignment]
        total += demo.load_history(db)
    demo.demo_figures = real  # type: ignore[assignment]
    elapsed = time.perf_counter() - started
    print(f"demo history: {total:,} dossiers in {elapsed:.1f} s ({total / elapsed:,.0f} dossiers/s with action logs)")

    with db.session() as s:
        started = time.perf_counter()
        out = stats.compute(s, date(2023, 1, 1), date(2023, 6, 15))
        took = time.perf_counter() - started
        print(f"statistics 2023-01-01..2023-06-15 over {total:,} dossiers: {took:.2f} s; "
              f"{out.total.received_online:,}/{out.total.received:,} online ({out.total.online_rate}%)")
        started = time.perf_counter()
        stats.compute(s, date(2023, 1, 1), date(2023, 6, 15), by="procedure")
        print(f"statistics by procedure: {time.perf_counter() - started:.2f} s")
        sample = s.execute(select(Dossier.code, Dossier.lookup_key).limit(REQUESTS)).all()

    for noisy in ("httpx", "smartprovince.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app = create_app(settings, db=db)
    client = TestClient(app)
    lookups = [f"/api/v1/procedures/lookup?code={c}&key={k}" for c, k in sample]
    bare = ["/healthz"] * len(lookups)
    for name, paths in (("bare /healthz", bare), ("lookup by code", lookups)):
        times, wall = _load(client, paths)
        print(f"{name}: {len(times)} requests, {CLIENTS} clients: p50 {statistics.median(times) * 1000:.1f} ms, "
              f"p99 {_percentile(times, 0.99) * 1000:.1f} ms, {len(times) / wall:,.0f} req/s")
    db.dispose()


if __name__ == "__main__":
    main()

"""Data hub benchmark: load, filter and export a large dataset (default 1 M rows; the issue's figure is 10 M).

Builds a fresh SQLite database (embedded default) in a temporary folder, defines a dataset of
school-like rows (8 fields: text, integers, a number, a boolean, a date, a category code), writes a
CSV of ``DATAHUB_BENCH_ROWS`` rows and prints:

* baseline: SQLite ``executemany`` of 10 k rows per transaction into an indexed table (rows/s);
* load rate of ``service.load_file`` from the CSV (parse, check every cell, duplicate keys, records
  table, two Parquet snapshots), rows/s, and the process's peak RSS;
* CKAN ``datastore_search`` with a filter through the HTTP app: median and p95 latency;
* CKAN ``datastore_search`` with a filter on a non-key field (a district), plain and sorted;
* full CSV download over HTTP from the app in a uvicorn process: MB/s and that process's peak RSS;
* an append load of 10,000 rows to the dataset.

Run: ``python -m bench datahub`` (``DATAHUB_BENCH_ROWS=10000000`` for the 10 M-row figure; about
ten minutes and 3 GB of disk on two cores).
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import resource
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

ROWS = int(os.environ.get("DATAHUB_BENCH_ROWS", "1000000"))
FIELDS = [
    {"name": "ma", "title": "Mã"},
    {"name": "ten", "title": "Tên", "required": True},
    {"name": "huyen", "title": "Huyện", "type": "code", "codelist": "don-vi-hanh-chinh", "required": True},
    {"name": "so_hoc_sinh", "title": "Số học sinh", "type": "integer", "minimum": 0},
    {"name": "diem", "title": "Điểm", "type": "number"},
    {"name": "chuan", "title": "Chuẩn", "type": "boolean"},
    {"name": "ngay", "title": "Ngày", "type": "date"},
    {"name": "dien_thoai", "title": "Điện thoại", "personal": True},
]
DISTRICTS = [str(c) for c in range(288, 301)]


def _rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss would carry the parent's peak over a spawn)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _baseline(folder: Path) -> float:
    con = sqlite3.connect(folder / "baseline.db")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT, data TEXT)")
    con.execute("CREATE INDEX ix_t_k ON t (k)")
    n, started = 200_000, time.perf_counter()
    for start in range(0, n, 10_000):
        con.executemany("INSERT INTO t VALUES (?, ?, ?)",
                        [(i, f"k{i}", '{"a": 1, "b": "Trường"}') for i in range(start, start + 10_000)])
        con.commit()
    con.close()
    return n / (time.perf_counter() - started)


def _write_csv(path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([f["name"] for f in FIELDS])
        for i in range(ROWS):
            w.writerow([f"S{i}", f"Trường số {i}", DISTRICTS[i % 13], i % 1500, f"{(i % 100) / 10:.1f}",
                        "true" if i % 3 else "false", f"20{i % 24:02d}-0{1 + i % 9}-1{i % 9}", "0912345678"])


def _serve(url: str, port: int) -> None:
    """The app on a real HTTP server in its own process (so its memory is measured alone)."""
    import uvicorn

    from smartprovince.app import create_app
    from smartprovince.settings import Settings

    settings = Settings(environment="test", data_dir=Path(url).parent, database_url=f"sqlite:///{url}",
                        secret_key="bench-secret-key-not-for-production-use", load_demo=False)
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _download(db_path: Path) -> tuple[int, float, float, float]:
    """Stream the full CSV from a server process; return (bytes, seconds, idle and peak RSS of the server)."""
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_serve, args=(str(db_path), port))
    proc.start()
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert proc.pid is not None
        idle = _hwm_mb(proc.pid)
        started, size = time.perf_counter(), 0
        with httpx.stream("GET", base + "/opendata/bench/download/csv", timeout=None) as r:
            for chunk in r.iter_bytes():
                size += len(chunk)
        seconds = time.perf_counter() - started
        return size, seconds, idle, _hwm_mb(proc.pid)
    finally:
        proc.terminate()
        proc.join(30)


def main() -> None:
    from fastapi.testclient import TestClient

    from smartprovince import identity
    from smartprovince.app import create_app
    from smartprovince.core.db import Database
    from smartprovince.core.migrate import upgrade
    from smartprovince.core.security import SYSTEM
    from smartprovince.datahub import codelists, service
    from smartprovince.settings import Settings

    with tempfile.TemporaryDirectory(prefix="datahub-bench-") as tmp:
        folder = Path(tmp)
        print(f"baseline: SQLite executemany (10 k rows per transaction, indexed): {_baseline(folder):,.0f} rows/s")
        db_path = folder / "bench.db"
        url = f"sqlite:///{db_path}"
        upgrade(url)
        db = Database(url)
        with db.session() as s:
            org = identity.create_organisation(s, actor=SYSTEM, code="30", name="Tỉnh Hải Dương", level="province")
            codelists.create_codelist(s, actor=SYSTEM, code="don-vi-hanh-chinh", name="Đơn vị hành chính")
            from datetime import date

            codelists.publish_version(s, actor=SYSTEM, code="don-vi-hanh-chinh", effective_from=date(2020, 1, 1),
                                      items=[{"code": c} for c in DISTRICTS])
            service.define_dataset(s, actor=SYSTEM, name="bench", org_id=org.id, title="Bench", sector="education",
                                   fields=FIELDS, key=["ma"])
        source = folder / "bench.csv"
        started = time.perf_counter()
        _write_csv(source)
        took = time.perf_counter() - started
        print(f"wrote {ROWS:,} rows CSV ({source.stat().st_size / 1e6:,.0f} MB) in {took:.1f} s")
        started = time.perf_counter()
        with db.session() as s:
            load = service.load_file(s, actor=SYSTEM, name="bench", source=source, filename="bench.csv",
                                     data_dir=folder)
        took = time.perf_counter() - started
        print(f"load: {load.status}, {load.valid_rows:,} rows in {took:.1f} s = {ROWS / took:,.0f} rows/s; "
              f"peak RSS {_rss_mb():,.0f} MB")
        db.dispose()

        settings = Settings(environment="test", data_dir=folder, database_url=url,
                            secret_key="bench-secret-key-not-for-production-use", load_demo=False)
        with TestClient(create_app(settings)) as client:
            times = []
            for i in range(30):
                t0 = time.perf_counter()
                r = client.get("/api/3/action/datastore_search", params={
                    "resource_id": "bench", "filters": f'{{"ma": "S{(i * 7919) % ROWS}"}}', "limit": 10})
                times.append((time.perf_counter() - t0) * 1000)
                assert r.json()["result"]["total"] == 1
            times.sort()
            print(f"datastore_search, filter on the key over {ROWS:,} rows (HTTP, in-process): "
                  f"median {statistics.median(times):.0f} ms, p95 {times[int(len(times) * 0.95) - 1]:.0f} ms")
            times = []
            for i in range(20):
                t0 = time.perf_counter()
                r = client.get("/api/3/action/datastore_search", params={
                    "resource_id": "bench", "filters": f'{{"huyen": "{DISTRICTS[i % 13]}"}}', "limit": 100,
                    "offset": 100 * i})
                times.append((time.perf_counter() - t0) * 1000)
                assert len(r.json()["result"]["records"]) == 100
            times.sort()
            print(f"datastore_search, filter on a non-key field (district, 1/13 of rows), 100 rows: "
                  f"median {statistics.median(times):.0f} ms, p95 {times[int(len(times) * 0.95) - 1]:.0f} ms")
            times = []
            for i in range(10):
                t0 = time.perf_counter()
                r = client.get("/api/3/action/datastore_search", params={
                    "resource_id": "bench", "filters": f'{{"huyen": "{DISTRICTS[i]}"}}', "limit": 100,
                    "sort": "so_hoc_sinh desc"})
                times.append((time.perf_counter() - t0) * 1000)
            print(f"datastore_search, filter on a district (1/13 of rows) sorted by a number, 100 rows: "
                  f"median {statistics.median(times):.0f} ms")

        size, seconds, base, peak = _download(db_path)
        print(f"CSV download over HTTP (uvicorn process): {size / 1e6:,.0f} MB in {seconds:.1f} s = "
              f"{size / 1e6 / seconds:,.0f} MB/s ({ROWS / seconds:,.0f} rows/s); server process peak RSS "
              f"{peak:,.0f} MB (idle after start-up: {base:,.0f} MB)")

        extra = folder / "extra.csv"
        with extra.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([f["name"] for f in FIELDS])
            for i in range(ROWS, ROWS + 10_000):
                w.writerow([f"S{i}", f"Trường số {i}", DISTRICTS[i % 13], i % 1500, "1.0", "true", "2020-01-01", ""])
        db = Database(url)
        started = time.perf_counter()
        with db.session() as s:
            load = service.load_file(s, actor=SYSTEM, name="bench", source=extra, filename="extra.csv",
                                     data_dir=folder, mode="append")
        print(f"append 10,000 rows to {ROWS:,}: {load.status} in {time.perf_counter() - started:.1f} s "
              "(the snapshot is rewritten; only the new rows go to the records table)")
        db.dispose()


if __name__ == "__main__":
    main()

"""Data hub benchmark: load, filter and export a large dataset (the issue's figure is 10 M rows).

Two parts, in one run:

1. **Load** (``DATAHUB_BENCH_LOAD_ROWS``, default 200 k rows) into a fresh SQLite database (embedded
   default) in a temporary folder: a CSV of school-like rows (8 fields: text, integers, a number, a
   boolean, a date, a category code, a personal phone) through ``service.load_file``, then an
   append of 10,000 rows. Baseline: SQLite ``executemany`` of 10 k rows per transaction.
2. **Query and download** at ``DATAHUB_BENCH_ROWS`` (default 10 M) on a cached database under
   ``var/bench/datahub-<rows>-v2/`` (or ``DATAHUB_BENCH_DIR``): the dataset is defined and loaded
   through the service with 1,000 rows, then its snapshot is rewritten with ``store.write_snapshot``
   (the loader's own writer: full and public Parquet files and the index copies of ``huyen`` and
   the key ``ma``) from the same rows generated in DuckDB — the records table keeps the 1,000 rows
   (searches and downloads read only the snapshot). Building it takes about a minute; later runs
   reuse it. It prints:

   * CKAN ``datastore_search`` through the HTTP app (in-process): filter on the key, on a district
     (1/13 of the rows, pages 1–20), the same sorted by a number, a word search with
     ``total_estimation_threshold``; median and p95 — beside ``status_show`` (the cost of a request
     that reads no data) measured in the same run;
   * full CSV download over HTTP from the app in a uvicorn process: MB/s and that process's peak RSS
     (VmHWM), beside its RSS when idle after start-up.

Run: ``python -m bench datahub``. The machine is shared: compare the figures with the baselines of
the same run.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import resource
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._timing import median_p95_ms

ROWS = int(os.environ.get("DATAHUB_BENCH_ROWS", "10000000"))
LOAD_ROWS = int(os.environ.get("DATAHUB_BENCH_LOAD_ROWS", "200000"))
ROOT = Path(__file__).resolve().parent.parent
FOLDER = Path(os.environ.get("DATAHUB_BENCH_DIR", ROOT / "var" / "bench" / f"datahub-{ROWS}-v2"))
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


def _write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([f["name"] for f in FIELDS])
        for i in range(rows):
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


def _hwm_mb(pid: int, field: str = "VmHWM") -> float:
    """Peak (``VmHWM``) or current (``VmRSS``) resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
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
        print(f"server idle after start-up: RSS {_hwm_mb(proc.pid, 'VmRSS'):,.0f} MB, peak so far {idle:,.0f} MB")
        started, size = time.perf_counter(), 0
        with httpx.stream("GET", base + "/opendata/bench/download/csv", timeout=None) as r:
            for chunk in r.iter_bytes():
                size += len(chunk)
        seconds = time.perf_counter() - started
        return size, seconds, idle, _hwm_mb(proc.pid)
    finally:
        proc.terminate()
        proc.join(30)


# The rows of ``_write_csv`` generated in DuckDB (same values, row i → _row i + 1).
_GENERATED = """
SELECT i + 1 AS _row, 'S' || i AS ma, 'Trường số ' || i AS ten, CAST(288 + i % 13 AS VARCHAR) AS huyen,
       CAST(i % 1500 AS BIGINT) AS so_hoc_sinh, (i % 100) / 10.0 AS diem, i % 3 <> 0 AS chuan,
       make_date(2000 + CAST(i % 24 AS INTEGER), 1 + CAST(i % 9 AS INTEGER), 10 + CAST(i % 9 AS INTEGER)) AS ngay,
       '0912345678' AS dien_thoai, 'S' || i AS _key
FROM range({rows}) t(i)
"""


def _define(db: Any) -> None:
    from datetime import date

    from smartprovince import identity
    from smartprovince.core.security import SYSTEM
    from smartprovince.datahub import codelists, service

    with db.session() as s:
        org = identity.create_organisation(s, actor=SYSTEM, code="30", name="Tỉnh Hải Dương", level="province")
        codelists.create_codelist(s, actor=SYSTEM, code="don-vi-hanh-chinh", name="Đơn vị hành chính")
        codelists.publish_version(s, actor=SYSTEM, code="don-vi-hanh-chinh", effective_from=date(2020, 1, 1),
                                  items=[{"code": c} for c in DISTRICTS])
        service.define_dataset(s, actor=SYSTEM, name="bench", org_id=org.id, title="Bench", sector="education",
                               fields=FIELDS, key=["ma"])


def _cached_database() -> Path:
    """The ``ROWS``-row dataset of part 2 (built once, see the module's docstring); returns the database file."""
    from sqlalchemy import select

    from smartprovince.core.db import Database
    from smartprovince.core.migrate import upgrade
    from smartprovince.core.security import SYSTEM
    from smartprovince.datahub import service, store
    from smartprovince.datahub.fields import parse_fields
    from smartprovince.datahub.models import Dataset

    db_path = FOLDER / "bench.db"
    if (FOLDER / "ready").exists():
        print(f"cached {ROWS:,}-row dataset in {FOLDER}", flush=True)
        upgrade(f"sqlite:///{db_path}")
        return db_path
    print(f"building the {ROWS:,}-row dataset in {FOLDER} (once; later runs reuse it)", flush=True)
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    started = time.perf_counter()
    url = f"sqlite:///{db_path}"
    upgrade(url)
    db = Database(url)
    _define(db)
    small = FOLDER / "small.csv"
    _write_csv(small, 1000)
    with db.session() as s:
        service.load_file(s, actor=SYSTEM, name="bench", source=small, filename="small.csv", data_dir=FOLDER)
    small.unlink()
    with db.session() as s:
        ds = s.scalars(select(Dataset).where(Dataset.name == "bench")).one()
        fields, key = parse_fields(ds.fields, ds.key)
        con = store.connect(FOLDER / "staging.duckdb")
        con.execute("SET preserve_insertion_order = false")
        con.execute(f"CREATE TABLE staged AS {_GENERATED.format(rows=ROWS)}")  # noqa: S608 - a number
        snapshot = ds.snapshot + 1
        rows = store.write_snapshot(store.Prepared(con=con, duplicate_rows=[]), fields, set(),
                                    store.snapshot_path(FOLDER, ds.id, snapshot, public=False),
                                    store.snapshot_path(FOLDER, ds.id, snapshot, public=True), key=key)
        con.close()
        (FOLDER / "staging.duckdb").unlink()
        ds.snapshot, ds.row_count = snapshot, rows
        store.prune_snapshots(FOLDER, ds.id, keep_from=snapshot)
    db.dispose()
    (FOLDER / "ready").write_text("ok\n")
    size = sum(p.stat().st_size for p in FOLDER.rglob("*.parquet"))
    print(f"built in {time.perf_counter() - started:.0f} s ({size / 1e6:,.0f} MB of Parquet)", flush=True)
    return db_path


def _load_part() -> None:
    from smartprovince.core.db import Database
    from smartprovince.core.migrate import upgrade
    from smartprovince.core.security import SYSTEM
    from smartprovince.datahub import service

    with tempfile.TemporaryDirectory(prefix="datahub-bench-") as tmp:
        folder = Path(tmp)
        base = _baseline(folder)
        print(f"baseline: SQLite executemany (10 k rows per transaction, indexed): {base:,.0f} rows/s")
        url = f"sqlite:///{folder / 'load.db'}"
        upgrade(url)
        db = Database(url)
        _define(db)
        source = folder / "bench.csv"
        _write_csv(source, LOAD_ROWS)
        started = time.perf_counter()
        with db.session() as s:
            load = service.load_file(s, actor=SYSTEM, name="bench", source=source, filename="bench.csv",
                                     data_dir=folder)
        took = time.perf_counter() - started
        print(f"load of {LOAD_ROWS:,} rows: {load.status} in {took:.1f} s = {LOAD_ROWS / took:,.0f} rows/s "
              f"({LOAD_ROWS / took / base:.3f} × baseline); peak RSS {_rss_mb():,.0f} MB")
        extra = folder / "extra.csv"
        with extra.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([f["name"] for f in FIELDS])
            for i in range(LOAD_ROWS, LOAD_ROWS + 10_000):
                w.writerow([f"S{i}", f"Trường số {i}", DISTRICTS[i % 13], i % 1500, "1.0", "true", "2020-01-01", ""])
        started = time.perf_counter()
        with db.session() as s:
            load = service.load_file(s, actor=SYSTEM, name="bench", source=extra, filename="extra.csv",
                                     data_dir=folder, mode="append")
        print(f"append 10,000 rows to {LOAD_ROWS:,}: {load.status} in {time.perf_counter() - started:.1f} s "
              "(the snapshot and its index copies are rewritten; only the new rows go to the records table)")
        db.dispose()


def _line(label: str, med: float, p95: float, base: float) -> None:
    print(f"  {label:<62} median {med:>6.0f} ms, p95 {p95:>6.0f} ms ({med / base:.1f} × status_show)")


def main() -> None:
    from fastapi.testclient import TestClient

    from smartprovince.app import create_app
    from smartprovince.settings import Settings

    print(f"machine load: {os.getloadavg()[0]:.1f} (1-min average on {os.cpu_count()} cores)")
    if LOAD_ROWS:
        _load_part()
    db_path = _cached_database()
    settings = Settings(environment="test", data_dir=FOLDER, database_url=f"sqlite:///{db_path}",
                        secret_key="bench-secret-key-not-for-production-use", load_demo=False)
    api = "/api/3/action/datastore_search"
    with TestClient(create_app(settings)) as client:
        client.get(api, params={"resource_id": "bench", "limit": 1})  # DuckDB opened once per process
        base, base95 = median_p95_ms(lambda: client.get("/api/3/action/status_show"), 30)
        print(f"datastore_search over {ROWS:,} rows (HTTP, in-process); baseline status_show median {base:.1f} ms, "
              f"p95 {base95:.1f} ms")
        keys = iter(range(10**9))

        def key_filter() -> None:
            r = client.get(api, params={"resource_id": "bench", "limit": 10,
                                        "filters": f'{{"ma": "S{(next(keys) * 7919) % ROWS}"}}'})
            assert r.json()["result"]["total"] == 1, r.text

        _line("filter on the key (index copy)", *median_p95_ms(key_filter, 30), base)
        pages = iter(range(10**9))

        def district() -> None:
            i = next(pages) % 20
            r = client.get(api, params={"resource_id": "bench", "filters": f'{{"huyen": "{DISTRICTS[i % 13]}"}}',
                                        "limit": 100, "offset": 100 * i})
            assert len(r.json()["result"]["records"]) == 100

        _line("filter on a district (1/13 of rows), 100 rows, pages 1-20", *median_p95_ms(district, 20), base)

        def district_sorted() -> None:
            i = next(pages) % 13
            client.get(api, params={"resource_id": "bench", "filters": f'{{"huyen": "{DISTRICTS[i]}"}}',
                                    "limit": 100, "sort": "so_hoc_sinh desc"})

        _line("the same, sorted by a number", *median_p95_ms(district_sorted, 10), base)

        def no_total() -> None:
            client.get(api, params={"resource_id": "bench", "filters": '{"huyen": "290"}', "limit": 100,
                                    "include_total": "false"})

        _line("filter on a district, include_total=false", *median_p95_ms(no_total, 10), base)

        def words(threshold: str | None) -> Callable[[], None]:
            def run() -> None:
                params = {"resource_id": "bench", "q": "Trường 77", "limit": 10}
                if threshold is not None:
                    params["total_estimation_threshold"] = threshold
                client.get(api, params=params)
            return run

        _line("word search q (every row), exact total", *median_p95_ms(words(None), 5), base)
        r = client.get(api, params={"resource_id": "bench", "q": "Trường 77", "limit": 10,
                                    "total_estimation_threshold": 1000}).json()["result"]
        _line(f"the same, total_estimation_threshold=1000 (estimated: {r['total_was_estimated']})",
              *median_p95_ms(words("1000"), 5), base)

    size, seconds, idle, peak = _download(db_path)
    print(f"CSV download over HTTP (uvicorn process): {size / 1e6:,.0f} MB in {seconds:.1f} s = "
          f"{size / 1e6 / seconds:,.0f} MB/s ({ROWS / seconds:,.0f} rows/s); server process peak RSS "
          f"{peak:,.0f} MB (baseline: idle after start-up {idle:,.0f} MB; +{peak - idle:,.0f} MB)")


if __name__ == "__main__":
    main()

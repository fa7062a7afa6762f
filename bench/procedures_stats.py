"""Procedures benchmark: statistics over a half year and dossier lookup by code under load, at 1 M dossiers.

Builds (once) a SQLite database (embedded default) with the Hải Dương organisations and the 2023 demo
history (270,448 dossiers) ``SCALE`` times — each copy in the first half of an earlier year, so the default
``SCALE=5`` gives about 1.35 M dossiers. The file is cached under ``var/bench/procedures/`` (or
``PROCEDURES_BENCH_DIR``), so reruns start at once; generation prints its progress and resumes
where it stopped (a year already loaded is skipped). Then it prints:

* the Decision 766 statistics for 1 Jan – 15 Jun 2023 per agency × procedure and per procedure,
  read from the daily table (``stats.compute``), beside the same figures counted from the dossier
  rows (``stats.compute_from_dossiers``, the baseline) in the same run, and whether they agree;
* ``GET /api/v1/procedures/lookup`` under concurrent load against a real server — uvicorn (uvloop +
  httptools, ``WORKERS`` processes) in a child process on the cached database — p50 / p99 / p99.9
  latency and requests per second, beside the bare ``/healthz`` endpoint of the same server measured
  the same way in the same run, twice. The load comes from ``wrk`` (a C program, so the load
  generator barely competes with the server for the cores): ``CONNECTIONS`` keep-alive connections
  on ``THREADS`` threads for ``SECONDS`` seconds, each request a random code from 20,000 existing
  dossiers (a Lua script). Without ``wrk`` (``apt-get install -y wrk``) it says so and falls back to
  ``CLIENTS`` Python client processes (``REQUESTS`` each), whose figures include the clients' own
  share of the cores.

Run: ``python -m bench procedures`` (``PROCEDURES_BENCH_SCALE=1`` for the 270 k figure;
``PROCEDURES_BENCH_CONNECTIONS`` / ``_THREADS`` / ``_SECONDS`` / ``_WORKERS`` / ``_LOG_LEVEL``;
``PROCEDURES_BENCH_NO_WRK=1`` forces the Python clients, ``PROCEDURES_BENCH_CLIENTS``,
``PROCEDURES_BENCH_REQUESTS`` per client). The machine is shared: the figures are as measured,
under whatever load there is, and the load average is printed at the end.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

SCALE = int(os.environ.get("PROCEDURES_BENCH_SCALE", "5"))
CLIENTS = int(os.environ.get("PROCEDURES_BENCH_CLIENTS", "4"))
REQUESTS = int(os.environ.get("PROCEDURES_BENCH_REQUESTS", "500"))  # per client (Python fallback)
CONNECTIONS = int(os.environ.get("PROCEDURES_BENCH_CONNECTIONS", "4"))  # wrk
THREADS = int(os.environ.get("PROCEDURES_BENCH_THREADS", "1"))  # wrk
SECONDS = int(os.environ.get("PROCEDURES_BENCH_SECONDS", "10"))  # wrk, per measurement
WORKERS = int(os.environ.get("PROCEDURES_BENCH_WORKERS", "1"))  # uvicorn processes
LOG_LEVEL = os.environ.get("PROCEDURES_BENCH_LOG_LEVEL", "WARNING")  # INFO writes one access line per request
WRK = None if os.environ.get("PROCEDURES_BENCH_NO_WRK") else shutil.which("wrk")
SAMPLE = max(CLIENTS * REQUESTS, 20_000)  # random existing codes the load draws from
ROOT = Path(__file__).resolve().parent.parent
FOLDER = Path(os.environ.get("PROCEDURES_BENCH_DIR", ROOT / "var" / "bench" / "procedures"))
SECRET = "bench-secret-key-not-for-production"


def _percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def _progress(label: str, done: int, total: int) -> None:
    print(f"  {label}: {done:,}/{total:,}", flush=True)


def _build(path: Path) -> int:
    """Fill the database file with ``SCALE`` copies of the demo half year; returns the dossier count.

    Resumable: years already in a half-built file are kept, the missing ones are loaded.
    """
    from sqlalchemy import func, select

    from smartprovince import identity
    from smartprovince.core.db import Database
    from smartprovince.core.migrate import upgrade
    from smartprovince.core.security import SYSTEM
    from smartprovince.procedures import catalog, demo
    from smartprovince.procedures.models import Dossier

    tmp = path.with_suffix(".building")
    url = f"sqlite:///{tmp}"
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        if not identity.get_org_by_code(s, "30"):
            identity.load_organisations(s, "hai-duong", actor=SYSTEM)
        catalog.load_essential_services(s, actor=SYSTEM)
        years = {int(str(y)[:4]) for (y,) in s.execute(select(func.substr(Dossier.received_at, 1, 4)).distinct())
                 if y}
    real = demo.demo_figures
    started = time.perf_counter()
    loaded = 0
    try:
        for copy in range(SCALE):
            year = 2023 - copy
            if year in years:
                print(f"  {year}: already loaded", flush=True)
                continue

            def shifted(year: int = year) -> dict:  # type: ignore[type-arg]
                f = real()
                f["period"] = {"from": f"{year}-01-01", "to": f"{year}-06-15"}
                return f

            demo.demo_figures = shifted  # type: ignore[assignment]
            loaded += demo.load_history(db, lambda label, done, n, y=year: _progress(f"{y}", done, n))
    finally:
        demo.demo_figures = real  # type: ignore[assignment]
    elapsed = time.perf_counter() - started
    if loaded:
        print(f"demo history: {loaded:,} dossiers in {elapsed:.1f} s ({loaded / elapsed:,.0f} dossiers/s with "
              "action logs and daily statistics)", flush=True)
    with db.session() as s:
        s.connection().exec_driver_sql("ANALYZE")
        total = s.scalar(select(func.count()).select_from(Dossier)) or 0
    db.dispose()  # the last connection closed folds the WAL into the file
    for suffix in ("-wal", "-shm", ""):
        part = Path(str(tmp) + suffix)
        if part.exists():
            part.rename(str(path) + suffix)
    return total


def _database() -> Path:
    from smartprovince.core.migrate import upgrade

    FOLDER.mkdir(parents=True, exist_ok=True)
    path = FOLDER / f"procedures-x{SCALE}.db"
    if path.exists():
        print(f"cached database {path}", flush=True)
        upgrade(f"sqlite:///{path}")  # a newer schema since it was built
    else:
        print(f"building {path} (once; later runs reuse it)", flush=True)
        _build(path)
    return path


def _stats(url: str) -> None:
    from sqlalchemy import func, select

    from smartprovince.core.db import Database
    from smartprovince.procedures import stats
    from smartprovince.procedures.models import Dossier

    db = Database(url)
    first, last = date(2023, 1, 1), date(2023, 6, 15)
    with db.session() as s:
        n = s.scalar(select(func.count()).select_from(Dossier)) or 0
        timings = {}
        for name, fn in (("daily table", stats.compute), ("recount from dossiers", stats.compute_from_dossiers)):
            for by in ("agency_procedure", "procedure"):
                best = []
                for _ in range(3 if fn is stats.compute else 1):
                    t0 = time.perf_counter()
                    out = fn(s, first, last, by=by)
                    best.append(time.perf_counter() - t0)
                timings[(name, by)] = (min(best), out)
        for (name, by), (took, out) in timings.items():
            print(f"statistics {first}..{last}, {by}, {name}, over {n:,} dossiers: {took:.3f} s "
                  f"({len(out.rows)} rows; {out.total.received_online:,}/{out.total.received:,} online, "
                  f"{out.total.online_rate}%; on time {out.total.on_time_rate}%)", flush=True)
        for by in ("agency_procedure", "procedure"):
            fast, slow = timings[("daily table", by)], timings[("recount from dossiers", by)]
            same = fast[1].total.model_dump(exclude={"avg_processing_days"}) == slow[1].total.model_dump(
                exclude={"avg_processing_days"}) and len(fast[1].rows) == len(slow[1].rows)
            print(f"  {by}: daily table {slow[0] / fast[0]:.0f}× faster than the recount; same figures: {same}")
    db.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# wrk (a C load generator, ``apt-get install wrk``) picks a random path of the list for every request
# and prints its own latency percentiles (microseconds) on one line the bench parses.
_WRK_SCRIPT = """
local paths = {}
local id = 0
setup = function(thread)
  id = id + 1
  thread:set("id", id)
end
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  math.randomseed(7 + (id or 0))
end
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRKRESULT %d %d %d %d %d %d %d\\n", latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max, summary.requests, summary.duration,
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def _wrk(base: str, paths: list[str]) -> tuple[float, float, float, float, int, float]:
    """Drive ``paths`` with wrk for ``SECONDS``; (p50, p99, p99.9, max in ms, requests, req/s)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        script, listing = Path(tmp) / "paths.lua", Path(tmp) / "paths.txt"
        script.write_text(_WRK_SCRIPT)
        listing.write_text("\n".join(paths) + "\n")
        out = subprocess.run(  # noqa: S603 - wrk from PATH with our own arguments
            [str(WRK), f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", "-s", str(script), base,
             "--", str(listing)], capture_output=True, text=True, check=True, timeout=SECONDS + 60).stdout
    line = next((x for x in out.splitlines() if x.startswith("WRKRESULT")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    p50, p99, p999, top, n, duration, errors = (int(v) for v in line.split()[1:])
    if errors:
        raise RuntimeError(f"wrk: {errors} failed or non-2xx responses out of {n}:\n{out}")
    return p50 / 1000, p99 / 1000, p999 / 1000, top / 1000, n, n / (duration / 1e6)


def _client(args: tuple[str, list[str]]) -> tuple[list[float], float, float]:
    """One client process: its own connection, requests one after the other; (latencies, start, end)."""
    import httpx

    base, paths = args
    times: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for p in paths[:5]:  # warm the connection
            client.get(p)
        start = time.time()
        for p in paths:
            t = time.perf_counter()
            r = client.get(p)
            times.append(time.perf_counter() - t)
            if r.status_code != 200:
                raise RuntimeError(f"{p}: {r.status_code} {r.text[:200]}")
        return times, start, time.time()


def _python_load(base: str, paths: list[str]) -> tuple[float, float, float, float, int, float]:
    """Fallback without wrk: ``CLIENTS`` Python processes (they compete with the server for the cores)."""
    ctx = multiprocessing.get_context("spawn")
    paths = paths[:CLIENTS * REQUESTS]
    per = len(paths) // CLIENTS
    with ctx.Pool(CLIENTS) as pool:
        results = pool.map(_client, [(base, paths[i * per:(i + 1) * per]) for i in range(CLIENTS)])
    times = sorted(t for r in results for t in r[0])
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    return (_percentile(times, 0.5) * 1000, _percentile(times, 0.99) * 1000, _percentile(times, 0.999) * 1000,
            times[-1] * 1000, len(times), len(times) / wall)


def _server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by the server process and its worker processes (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1] is the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _server_flags() -> list[str]:
    """uvicorn's event loop and HTTP parser: uvloop and httptools when installed (``uvicorn[standard]``)."""
    import importlib.util

    flags = []
    if importlib.util.find_spec("uvloop"):
        flags += ["--loop", "uvloop"]
    if importlib.util.find_spec("httptools"):
        flags += ["--http", "httptools"]
    return flags + ["--workers", str(WORKERS)] if WORKERS > 1 else flags


def _serve(path: Path, data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    import httpx

    port = _free_port()
    env = {**os.environ, "SMARTPROVINCE_DATABASE_URL": f"sqlite:///{path}", "SMARTPROVINCE_DATA_DIR": str(data_dir),
           "SMARTPROVINCE_LOAD_DEMO": "false", "SMARTPROVINCE_LOG_LEVEL": LOG_LEVEL, "SMARTPROVINCE_SECRET_KEY": SECRET,
           # A fresh benchmark database has never been copied into the warehouse: the app's first periodic
           # sync would copy 1.35 M dossiers in the server process during the measurement (minutes of CPU).
           # An installation does that once; the warehouse benchmark measures it.
           "SMARTPROVINCE_WAREHOUSE_BACKGROUND_SYNC": "false"}
    env.pop("SMARTPROVINCE_MQTT_URL", None)
    flags = _server_flags()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "uvicorn", "smartprovince.app:create_app", "--factory", "--port", str(port),
         "--log-level", "warning", "--no-access-log", *flags], env=env,
        stderr=None if LOG_LEVEL == "WARNING" else subprocess.DEVNULL)  # INFO: the access lines are written, unread
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                time.sleep(2 if WORKERS > 1 else 0)  # let every worker finish starting
                label = f"uvicorn {WORKERS} worker{'s' if WORKERS > 1 else ''} {' '.join(flags) or '(auto loop/http)'}"
                return proc, base, label
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.terminate()
            raise RuntimeError("server did not start")
        time.sleep(0.3)


def _lookup(path: Path) -> None:
    import random

    from sqlalchemy import select, text

    from smartprovince.core.db import Database
    from smartprovince.procedures.models import Dossier

    db = Database(f"sqlite:///{path}")
    with db.session() as s:
        n = SAMPLE
        # Codes spread over the whole table (random rowids), not only the first rows written.
        top = s.connection().exec_driver_sql("SELECT max(rowid) FROM procedure_dossier").scalar() or 1
        rng = random.Random(7)  # noqa: S311 - sampling for a benchmark
        rowids = rng.sample(range(1, top + 1), min(n, top))
        sample = []
        for i in range(0, len(rowids), 500):
            sample += [tuple(r) for r in s.execute(select(Dossier.code, Dossier.lookup_key).where(
                text("rowid IN (" + ",".join(map(str, rowids[i:i + 500])) + ")")))]
        rng.shuffle(sample)
    db.dispose()
    data_dir = FOLDER / "server-data"
    data_dir.mkdir(exist_ok=True)
    proc, base, server = _serve(path, data_dir)
    if WRK:
        how = f"wrk {THREADS} thread(s), {CONNECTIONS} connections, {SECONDS} s, random codes from {len(sample):,}"
        load = _wrk
    else:
        print("wrk not found (apt-get install -y wrk): falling back to Python client processes, which share "
              "the cores with the server (higher latencies)", flush=True)
        how = f"{CLIENTS} Python client processes, {min(len(sample), CLIENTS * REQUESTS):,} requests per measurement"
        load = _python_load
    print(f"load: {how}; server: {server}; log level {LOG_LEVEL}; periodic warehouse sync off", flush=True)
    try:
        lookups = [f"/api/v1/procedures/lookup?code={c}&key={k}" for c, k in sample]
        plans = {"bare /healthz": ["/healthz"] * len(lookups), "lookup by code": lookups}
        for round_ in (1, 2):
            figures = {}
            cpu = {}
            for name, paths in plans.items():
                before = _server_cpu_seconds(proc.pid)
                p50, p99, p999, top_ms, count, rate = figures[name] = load(base, paths)
                # Server CPU per request hardly depends on what else runs on the machine; latency does.
                cpu[name] = (_server_cpu_seconds(proc.pid) - before) * 1000 / max(count, 1)
                print(f"{name} (round {round_}): {count:,} requests: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
                      f"p99.9 {p999:.1f} ms, max {top_ms:.1f} ms, {rate:,.0f} req/s; "
                      f"server CPU {cpu[name]:.2f} ms/request", flush=True)
            bare, look = figures["bare /healthz"], figures["lookup by code"]
            print(f"  lookup / bare (round {round_}): p50 {look[0] / bare[0]:.1f}×, p99 {look[1] / bare[1]:.1f}×, "
                  f"throughput {look[5] / bare[5]:.2f}×, "
                  f"server CPU {cpu['lookup by code'] / cpu['bare /healthz']:.1f}×", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} cores)", flush=True)


def main() -> None:
    only = os.environ.get("PROCEDURES_BENCH_ONLY", "")  # "stats" or "lookup" to run one part
    path = _database()
    if only in ("", "stats"):
        _stats(f"sqlite:///{path}")
    if only in ("", "lookup"):
        _lookup(path)
    if os.environ.get("PROCEDURES_BENCH_CLEAN"):
        shutil.rmtree(FOLDER)


if __name__ == "__main__":
    main()

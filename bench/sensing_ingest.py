"""Sensing benchmark: SensorThings DataArray ingestion over HTTP vs direct inserts into the same engine.

Builds a fresh SQLite database (the embedded default) in a temporary folder, starts the platform with
uvicorn in a child process (one worker, the in-process event bus running), and prints:

* HTTP ingestion: ``POST /sta/v1.1/CreateObservations`` with ``SENSING_BENCH_BATCH`` observations per
  request (default 10,000), authenticated with a device credential — observations per second,
  everything included (parsing, checks, insert, rollups, thresholds, audit, event, commit, response).
  The client is ``wrk`` (another process, C) when it is installed (``apt-get install -y wrk``): a Lua
  script posts ``SENSING_BENCH_BODIES`` (default 30) different bodies in turn for
  ``SENSING_BENCH_SECONDS`` (default 2) over 1 and then 2 connections (``SENSING_BENCH_CONNECTIONS``,
  default ``1,2``: with two, one request is parsed while the other's rows are written);
  bodies come round again, so a run stores a body's rows twice, as a device that resends would.
  Without ``wrk`` the benchmark says so and posts ``SENSING_BENCH_HTTP_OBS`` observations (default
  300,000) one request after another with httpx from this process (a Python client costs CPU on the
  same machine, so the rate is lower);
* direct insert: the same kind of rows inserted into the same database engine in 10,000-row
  transactions with raw DBAPI ``executemany`` of prepared tuples (the physical limit; the ratio is
  taken against it), and once with SQLAlchemy Core. ``SENSING_BENCH_ROUNDS`` (default 6) rounds
  alternate a direct insert of 150,000 rows and the HTTP runs, so both see the same machine load (the
  server stays up, idle, during the direct insert); rates are totals over the rounds.

The hourly series over 10 M observations is ``bench/sensing_series.py``; MQTT through Mosquitto into
PostgreSQL is ``bench/sensing_mqtt.py``.

Targets (issue 5): ≥ 50,000 observations/s over HTTP and ≥ 0.5 of the direct insert rate.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _setup(url: str) -> tuple[int, int, int, str]:
    from smartprovince.core.db import Database
    from smartprovince.core.migrate import upgrade
    from smartprovince.core.security import SYSTEM
    from smartprovince.sensing import service
    from smartprovince.sensing.sta import SETS

    upgrade(url)
    db = Database(url)
    body = {
        "name": "Bench station", "description": "",
        "Datastreams": [{
            "name": f"Stream {i}", "description": "", "unitOfMeasurement": {"symbol": "m"},
            "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
            "ObservedProperty": {"name": "Level", "definition": "x"} if i == 0 else {"@iot.id": 1},
            "Sensor": {"name": "S", "encodingType": "text/plain"} if i == 0 else {"@iot.id": 1},
        } for i in range(3)],
    }
    with db.session() as s:
        thing = service.create_entity(s, actor=SYSTEM, es=SETS["Things"], body=body)
        ids = sorted(d.id for d in thing.datastreams)
        secret = service.issue_device_credential(s, actor=SYSTEM, thing_id=thing.id)
        thing_id = thing.id
    db.dispose()
    return ids[0], ids[1], ids[2], f"thing-{thing_id}:{secret}"


def _rows(n: int, start: datetime) -> list[list[object]]:
    return [[(start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"), (i % 1000) / 10] for i in range(n)]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server(url: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = _free_port()
    env = {**os.environ, "SMARTPROVINCE_DATABASE_URL": url, "SMARTPROVINCE_DATA_DIR": str(data_dir),
           "SMARTPROVINCE_LOAD_DEMO": "false", "SMARTPROVINCE_LOG_LEVEL": "WARNING",
           "SMARTPROVINCE_SECRET_KEY": "bench-secret-key-not-for-production"}
    env.pop("SMARTPROVINCE_MQTT_URL", None)
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "uvicorn", "smartprovince.app:create_app", "--factory", "--port", str(port),
         "--log-level", "warning", "--no-access-log"], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("server did not start")
        time.sleep(0.2)


def _bodies(ds: int, count: int, batch: int) -> list[bytes]:
    import orjson

    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [orjson.dumps([{"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
                           "dataArray": _rows(batch, start + timedelta(seconds=k * batch))}])
            for k in range(count)]


_LUA = """
local paths = {%(paths)s}
local requests = {}
local n = 0
function init(args)
  for k, p in ipairs(paths) do
    local f = assert(io.open(p, "rb"))
    local body = f:read("*a")
    f:close()
    requests[k] = wrk.format("POST", "/sta/v1.1/CreateObservations",
      {["Authorization"] = "%(auth)s", ["Content-Type"] = "application/json"}, body)
  end
end
function request()
  n = n %% #requests + 1
  return requests[n]
end
"""


def _http_wrk(wrk: str, base: str, work: Path, bodies: list[bytes], auth: str, seconds: int,
              connections: int, pid: int) -> tuple[float, float, int]:
    """(requests per second, server CPU seconds per request, requests) measured by wrk."""
    paths = []
    for k, body in enumerate(bodies):
        path = work / f"body{k}.json"
        path.write_bytes(body)
        paths.append(f'"{path}"')
    script = work / "post.lua"
    script.write_text(_LUA % {"paths": ", ".join(paths), "auth": auth})
    c0 = _cpu_seconds(pid)
    out = subprocess.run(  # noqa: S603 - wrk found on PATH, our own arguments
        [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "-s", str(script),
         f"{base}/sta/v1.1/CreateObservations"], capture_output=True, text=True, check=True).stdout
    cpu = _cpu_seconds(pid) - c0
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad or "Socket errors" in out:
        raise RuntimeError(f"wrk saw failed requests:\n{out}")
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rate, cpu / max(done, 1), done


def _http_python(base: str, bodies: list[bytes], auth: str, pid: int) -> tuple[float, float, int]:
    """Same figures with httpx, one request after another from this process."""
    import httpx

    headers = {"Authorization": auth, "Content-Type": "application/json"}
    with httpx.Client(timeout=120) as client:
        t0, c0 = time.perf_counter(), _cpu_seconds(pid)
        for body in bodies:
            client.post(f"{base}/sta/v1.1/CreateObservations", content=body, headers=headers).raise_for_status()
        elapsed, cpu = time.perf_counter() - t0, _cpu_seconds(pid) - c0
    return len(bodies) / elapsed, cpu / len(bodies), len(bodies)


def _direct_raw(url: str, ds: int, total: int, start: datetime) -> tuple[float, float]:
    """Rows per second (wall, per CPU second) of raw DBAPI ``executemany`` of prepared tuples into the
    same engine, 10,000 rows per transaction — the physical limit the HTTP path is compared with."""
    from smartprovince.core.db import Database

    db = Database(url)
    tuples = [(ds, (start + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f"), (i % 1000) / 10, None)
              for i in range(total)]
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(0, total, 10_000):
        with db.session() as s:
            cursor = s.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
            cursor.executemany("INSERT INTO sensing_observation (datastream_id, phenomenon_time, result_number, "
                               "feature_of_interest_id) VALUES (?, ?, ?, ?)", tuples[k:k + 10_000])
            cursor.close()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    db.dispose()
    return total / wall, total / max(cpu, 1e-9)


def _direct_core(url: str, ds: int, total: int) -> float:
    """Rows per second of a SQLAlchemy Core executemany into the same engine (for comparison)."""
    import sqlalchemy as sa

    from smartprovince.core.db import Database
    from smartprovince.sensing.models import Observation

    db = Database(url)
    start = datetime(2025, 9, 1, tzinfo=UTC)
    rows = [{"datastream_id": ds, "phenomenon_time": start + timedelta(seconds=i), "result_number": (i % 1000) / 10}
            for i in range(total)]
    t0 = time.perf_counter()
    for k in range(0, total, 10_000):
        with db.session() as s:
            s.execute(sa.insert(Observation.__table__), rows[k:k + 10_000])
    core = total / (time.perf_counter() - t0)
    db.dispose()
    return core


def main() -> None:
    batch = int(os.environ.get("SENSING_BENCH_BATCH", "10000"))
    seconds = int(os.environ.get("SENSING_BENCH_SECONDS", "2"))
    rounds = int(os.environ.get("SENSING_BENCH_ROUNDS", "6"))
    wrk = shutil.which("wrk")
    # Python client: one connection (it posts one request after another).
    connections = [int(c) for c in os.environ.get("SENSING_BENCH_CONNECTIONS", "1,2").split(",")] if wrk else [1]
    count = int(os.environ.get("SENSING_BENCH_BODIES", "30")) if wrk else (
        int(os.environ.get("SENSING_BENCH_HTTP_OBS", "300000")) // batch)
    direct_rows = 150_000
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'bench.db'}"
        ds_http, ds_direct, ds_core, credential = _setup(url)
        auth = "Basic " + base64.b64encode(credential.encode()).decode()
        bodies = _bodies(ds_http, count, batch)
        if not wrk:
            print("  wrk is not installed (apt-get install -y wrk): the Python client posts instead")
        # Rounds alternate the direct insert and the HTTP runs, so both see the same machine load.
        http = {c: [0.0, 0.0, 0.0] for c in connections}  # observations, wall seconds, server CPU seconds
        direct_wall = direct_cpu = 0.0
        direct_rates: list[float] = []
        proc, base = _server(url, work / "data")
        try:
            _http_python(base, bodies[:1], auth, proc.pid)  # warm-up (imports, first queries)
            share = max(1, (len(bodies) - 1) // rounds)
            for r in range(rounds):
                rate, cpu = _direct_raw(url, ds_direct, direct_rows, datetime(2026 + r, 6, 1, tzinfo=UTC))
                direct_rates.append(rate)
                direct_wall += direct_rows / rate
                direct_cpu += direct_rows / cpu
                for c in connections:
                    if wrk:
                        req_rate, cpu_per_request, done = _http_wrk(wrk, base, work, bodies, auth, seconds, c,
                                                                    proc.pid)
                    else:
                        part = bodies[1 + r * share:1 + (r + 1) * share]
                        req_rate, cpu_per_request, done = _http_python(base, part, auth, proc.pid)
                    http[c][0] += done * batch
                    http[c][1] += done / req_rate
                    http[c][2] += done * cpu_per_request
        finally:
            proc.terminate()
            proc.wait(10)
        core_rate = _direct_core(url, ds_core, direct_rows)
    direct_rate, per_cpu_direct = direct_rows * rounds / direct_wall, direct_rows * rounds / direct_cpu
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work on the machine)")
    print(f"  direct insert, same engine, raw executemany of prepared tuples: {direct_rate:,.0f} rows/s "
          f"({rounds} runs of {direct_rows:,} rows, one before each round of HTTP runs: "
          f"{', '.join(f'{x:,.0f}' for x in direct_rates)})")
    print(f"  direct insert, same engine, SQLAlchemy Core executemany: {core_rate:,.0f} rows/s")
    for c, (obs, wall, cpu) in http.items():
        client = (f"wrk, {c} connection(s), {rounds} runs of {seconds} s, {count} bodies in turn" if wrk
                  else "httpx from the benchmark process, one request after another")
        rate = obs / wall
        print(f"  HTTP DataArray ingestion, {client}: {rate:,.0f} obs/s ({batch:,} per request, {obs:,.0f} "
              "observations; one uvicorn worker; parsing, checks, insert, rollups, thresholds, audit, event, "
              "commit, response)")
        print(f"    ratio HTTP / raw direct: {rate / direct_rate:.2f} (target ≥ 0.5; target rate ≥ 50,000 obs/s)")
        # Per CPU second: what one core would do if the machine were not shared (wall rates include
        # waiting for a core).
        print(f"    per CPU second of the server process: {obs / cpu:,.0f} obs; raw direct insert: "
              f"{per_cpu_direct:,.0f} rows; ratio {obs / cpu / per_cpu_direct:.2f}")


if __name__ == "__main__":
    main()

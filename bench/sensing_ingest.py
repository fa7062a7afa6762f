"""Sensing benchmark: SensorThings DataArray ingestion over HTTP vs direct inserts into the same engine.

Builds a fresh SQLite database (the embedded default) in a temporary folder, starts the platform with
uvicorn in a child process (one worker), and prints:

* HTTP ingestion: ``POST /sta/v1.1/CreateObservations`` with ``SENSING_BENCH_BATCH`` observations per
  request (default 10,000), ``SENSING_BENCH_HTTP_OBS`` in total (default 300,000), authenticated with
  a device credential — observations per second, everything included (parsing, checks, insert,
  rollups, thresholds, audit, event);
* direct insert: the same number of rows inserted into the same database engine in 10,000-row
  transactions, measured in the same run — with raw DBAPI ``executemany`` of prepared tuples (the
  physical limit; the ratio is taken against it) and with SQLAlchemy Core.

The hourly series over 10 M observations is ``bench/sensing_series.py``; MQTT through Mosquitto into
PostgreSQL is ``bench/sensing_mqtt.py``.

Targets (issue 5): ≥ 50,000 observations/s over HTTP and ≥ 0.5 of the direct insert rate.
"""

from __future__ import annotations

import base64
import os
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


def _http(url: str, data_dir: Path, ds: int, credential: str, total: int, batch: int) -> tuple[float, float]:
    import httpx
    import orjson

    port = _free_port()
    env = {**os.environ, "SMARTPROVINCE_DATABASE_URL": url, "SMARTPROVINCE_DATA_DIR": str(data_dir),
           "SMARTPROVINCE_LOAD_DEMO": "false", "SMARTPROVINCE_LOG_LEVEL": "WARNING",
           "SMARTPROVINCE_SECRET_KEY": "bench-secret-key-not-for-production", "SMARTPROVINCE_MQTT_URL": ""}
    env.pop("SMARTPROVINCE_MQTT_URL")
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "uvicorn", "smartprovince.app:create_app", "--factory", "--port", str(port),
         "--log-level", "warning", "--no-access-log"], env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        headers = {"Authorization": "Basic " + base64.b64encode(credential.encode()).decode(),
                   "Content-Type": "application/json"}
        start = datetime(2025, 1, 1, tzinfo=UTC)
        bodies = [orjson.dumps([{"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
                                 "dataArray": _rows(batch, start + timedelta(seconds=k * batch))}])
                  for k in range(total // batch)]
        with httpx.Client(timeout=120) as client:
            r = client.post(f"{base}/sta/v1.1/CreateObservations", content=bodies[0], headers=headers)  # warm-up
            r.raise_for_status()
            t0, c0 = time.perf_counter(), _cpu_seconds(proc.pid)
            for body in bodies[1:]:
                r = client.post(f"{base}/sta/v1.1/CreateObservations", content=body, headers=headers)
                r.raise_for_status()
            elapsed, cpu = time.perf_counter() - t0, _cpu_seconds(proc.pid) - c0
        n = (len(bodies) - 1) * batch
        return n / elapsed, n / max(cpu, 1e-9)
    finally:
        proc.terminate()
        proc.wait(10)


def _direct(url: str, ds: int, total: int) -> tuple[float, float, float]:
    """Rows per second of (raw DBAPI ``executemany`` of prepared tuples, SQLAlchemy Core insert) into
    the same engine, 10,000 rows per transaction — the physical limit the HTTP path is compared with."""
    import sqlalchemy as sa

    from smartprovince.core.db import Database
    from smartprovince.sensing.models import Observation

    db = Database(url)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    tuples = [(ds, (start + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f"), (i % 1000) / 10, None)
              for i in range(total)]
    t0, c0 = time.perf_counter(), time.process_time()
    for k in range(0, total, 10_000):
        with db.session() as s:
            cursor = s.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
            cursor.executemany("INSERT INTO sensing_observation (datastream_id, phenomenon_time, result_number, "
                               "feature_of_interest_id) VALUES (?, ?, ?, ?)", tuples[k:k + 10_000])
            cursor.close()
    raw = total / (time.perf_counter() - t0)
    raw_cpu = total / max(time.process_time() - c0, 1e-9)
    start = datetime(2025, 9, 1, tzinfo=UTC)
    rows = [{"datastream_id": ds, "phenomenon_time": start + timedelta(seconds=i), "result_number": (i % 1000) / 10}
            for i in range(total)]
    t0 = time.perf_counter()
    for k in range(0, total, 10_000):
        with db.session() as s:
            s.execute(sa.insert(Observation.__table__), rows[k:k + 10_000])
    core = total / (time.perf_counter() - t0)
    db.dispose()
    return raw, core, raw_cpu


def main() -> None:
    total = int(os.environ.get("SENSING_BENCH_HTTP_OBS", "300000"))
    batch = int(os.environ.get("SENSING_BENCH_BATCH", "10000"))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        ds_http, ds_direct, _, credential = _setup(url)
        http_rate, http_cpu = _http(url, Path(tmp) / "data", ds_http, credential, total, batch)
        direct_rate, core_rate, direct_cpu = _direct(url, ds_direct, total)
        print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work on the machine)")
        print(f"  HTTP DataArray ingestion: {http_rate:,.0f} obs/s ({batch:,} per request, {total:,} in total; "
              "parsing, checks, insert, rollups, thresholds, audit, event, commit, response)")
        print(f"  direct insert, same engine, raw executemany of prepared tuples: {direct_rate:,.0f} rows/s")
        print(f"  direct insert, same engine, SQLAlchemy Core executemany: {core_rate:,.0f} rows/s")
        print(f"  ratio HTTP / raw direct: {http_rate / direct_rate:.2f} (target ≥ 0.5; target rate ≥ 50,000 obs/s)")
        # Per CPU second: what one core would do if the machine were not shared (wall rates above
        # include waiting for a core).
        print(f"  per CPU second of the server process: {http_cpu:,.0f} obs; raw direct insert: "
              f"{direct_cpu:,.0f} rows; ratio {http_cpu / direct_cpu:.2f}")


if __name__ == "__main__":
    main()

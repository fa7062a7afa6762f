"""Sensing benchmark: the hourly series of one datastream holding 10 M observations (embedded default).

The data is generated once into a cached SQLite file (``SENSING_BENCH_CACHE_DIR``, default
``var/bench``; ``SENSING_BENCH_SERIES_OBS`` observations, default 10,000,000 — one per second,
about 116 days) through the platform's own ingestion path (``ingest.store_blocks``, 100,000 per
transaction, so the minute and hour rollups are built as in production); progress is shown. Later
runs reuse the file. Then it prints:

* the hourly series over the whole period (what ``GET /api/v1/sensing/datastreams/{id}/series``
  and the station charts read — from the hour rollups), best and median of 7;
* the hourly series of the last 30 days, and the minute series of the last day;
* for comparison, one day computed from the raw rows with ``GROUP BY`` (the whole period from raw
  rows takes tens of seconds; set ``SENSING_BENCH_RAW=1`` to measure it).

Target (issue 5): hourly series of one datastream over 10 M observations ≤ 50 ms.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2024, 1, 1, tzinfo=UTC)
CHUNK = 100_000


def _build(path: Path, total: int) -> None:
    from smartprovince.core.db import Database
    from smartprovince.core.migrate import upgrade
    from smartprovince.core.security import SYSTEM
    from smartprovince.sensing import ingest, service
    from smartprovince.sensing.sta import SETS

    tmp = path.with_suffix(".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    url = f"sqlite:///{tmp}"
    upgrade(url)
    db = Database(url)
    body = {"name": "Bench series", "description": "", "Datastreams": [{
        "name": "Water level", "description": "", "unitOfMeasurement": {"symbol": "m"},
        "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        "ObservedProperty": {"name": "Level", "definition": "x"}, "Sensor": {"name": "S", "encodingType": "text/plain"},
    }]}
    with db.session() as s:
        thing = service.create_entity(s, actor=SYSTEM, es=SETS["Things"], body=body)
        ds_id = thing.datastreams[0].id
    t0 = time.perf_counter()
    base = int(START.timestamp())
    for k in range(0, total, CHUNK):
        n = min(CHUNK, total - k)
        stamps = [ingest.stamp(datetime.fromtimestamp(base + i, tz=UTC)) for i in range(k, k + n)]
        values = [float((i * 7919) % 977) / 100 for i in range(k, k + n)]
        with db.session() as s:
            ds = ingest.check_datastreams(s, SYSTEM, {ds_id})
            ingest.store_blocks(s, actor=SYSTEM, blocks=[ingest.PlainBlock(ds_id, stamps, values)], datastreams=ds)
        done = k + n
        if done % 1_000_000 == 0 or done == total:
            rate = done / (time.perf_counter() - t0)
            print(f"  … {done:,} / {total:,} observations stored ({rate:,.0f} obs/s, rollups included)", flush=True)
    db.dispose()
    tmp.rename(path)


def main() -> None:
    import sqlalchemy as sa

    from smartprovince.core.db import Database
    from smartprovince.sensing import queries
    from smartprovince.sensing.models import Datastream, Observation

    total = int(os.environ.get("SENSING_BENCH_SERIES_OBS", "10000000"))
    folder = Path(os.environ.get("SENSING_BENCH_CACHE_DIR", "var/bench"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"sensing_series_{total}.db"
    if path.exists():
        print(f"  using the cached database {path} ({path.stat().st_size / 1e9:.2f} GB)")
    else:
        print(f"  generating {total:,} observations into {path} (once; later runs reuse it)")
        _build(path, total)
    db = Database(f"sqlite:///{path}")
    with db.session(write=False) as s:
        ds_id = s.scalar(sa.select(Datastream.id))
        count = s.scalar(sa.select(sa.func.count()).select_from(Observation))
    end = START + timedelta(seconds=total)

    def timed(label: str, period: str, start: datetime) -> None:
        timings, cpu, points = [], [], []
        for _ in range(7):
            t0, c0 = time.perf_counter(), time.process_time()
            with db.session(write=False) as s:
                points = queries.series(s, ds_id, period=period, start=start, end=end)
            timings.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        # CPU time is what the query costs; wall time also counts waiting for a core on a busy machine.
        print(f"  {label}: {len(points):,} points, wall best {min(timings) * 1000:.1f} ms, "
              f"median {statistics.median(timings) * 1000:.1f} ms; CPU best {min(cpu) * 1000:.1f} ms (of 7)")

    print(f"  datastream {ds_id} holds {count:,} raw observations; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    timed("hourly series, whole period, from the hour rollups", "hour", START)
    timed("hourly series, last 30 days", "hour", end - timedelta(days=30))
    timed("minute series, last day", "minute", end - timedelta(days=1))
    hour = sa.func.strftime("%Y-%m-%d %H", Observation.phenomenon_time)
    raw_start = START if os.environ.get("SENSING_BENCH_RAW") == "1" else end - timedelta(days=1)
    t0 = time.perf_counter()
    with db.session(write=False) as s:
        raw = s.execute(sa.select(hour, sa.func.avg(Observation.result_number)).where(
            Observation.datastream_id == ds_id, Observation.phenomenon_time >= raw_start).group_by(hour)).all()
    label = "whole period" if raw_start == START else "last day only"
    print(f"  for comparison, hourly from raw rows (GROUP BY, {label}): {len(raw):,} points in "
          f"{(time.perf_counter() - t0) * 1000:,.0f} ms")
    db.dispose()


if __name__ == "__main__":
    main()

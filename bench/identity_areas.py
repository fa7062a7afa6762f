"""Administrative areas benchmark: derive the areas, point-in-commune lookups, the GeoJSON outlines.

Builds a fresh SQLite database (embedded default) in a temporary folder with the Hải Dương tree, then prints:

* the time to derive every area from the commune centres (``rebuild_areas``: Voronoi, clipping, unions);
* ``locate_id()`` / ``identity.locate()`` per call over random points of the province's bounding box (cached
  shapes, STR-tree bounding-box prefilter, exact test on the few candidates), against two baselines of the
  same run: the naive lookup (every commune polygon tested in turn, shapes parsed once, no prefilter) and the
  change-check queries (run at most once a second);
* ``GET /api/v1/areas/locate`` and ``GET /api/v1/areas?level=commune`` (p50 / p95 ms, body size) against the
  bare ``/healthz`` endpoint and ``GET /api/v1/organisations/ID`` (one row by id) of the same app.

Run: ``python -m bench identity_areas``. Figures depend on the machine's load; they are never asserted.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._timing import median_p95_ms

POINTS = int(os.environ.get("AREAS_BENCH_POINTS", "20000"))
RUNS = 50


def _ms(fn: Any, runs: int = RUNS) -> tuple[float, float]:
    return median_p95_ms(fn, runs)


def main() -> None:
    import logging

    from fastapi.testclient import TestClient
    from shapely.geometry import Point, shape
    from sqlalchemy import select

    from smartprovince import identity
    from smartprovince.app import create_app
    from smartprovince.core.db import Database
    from smartprovince.core.migrate import upgrade
    from smartprovince.core.security import SYSTEM
    from smartprovince.identity.areas import OrganisationArea, _stamp, invalidate_cache, locate_id
    from smartprovince.settings import Settings

    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        db = Database(url)
        with db.session() as s:
            identity.load_organisations(s, "hai-duong", actor=SYSTEM)
        builds = []
        for _ in range(5):
            with db.session() as s:
                s.execute(OrganisationArea.__table__.delete())
            t = time.perf_counter()
            with db.session() as s:
                identity.rebuild_areas(s)
            builds.append(time.perf_counter() - t)
        print(
            f"derive areas (207 communes, 12 districts, 1 province): median {statistics.median(builds) * 1000:.0f} ms"
        )

        rnd = random.Random(30)
        with db.session() as s:
            fc = identity.area_geojson(s, level="province")
            west, south, east, north = fc["bbox"]
            points = [(rnd.uniform(west, east), rnd.uniform(south, north)) for _ in range(POINTS)]
            invalidate_cache()
            t = time.perf_counter()
            identity.locate(s, *points[0])
            first = time.perf_counter() - t
            t = time.perf_counter()
            found = sum(1 for p in points if locate_id(s, *p) is not None)
            cached = (time.perf_counter() - t) / POINTS
            t = time.perf_counter()
            for p in points:
                identity.locate(s, *p)
            with_orm = (time.perf_counter() - t) / POINTS
            t = time.perf_counter()
            for _ in points:
                _stamp(s)
            check = (time.perf_counter() - t) / POINTS
            rows = s.execute(
                select(OrganisationArea.org_id, OrganisationArea.geometry).where(OrganisationArea.level == "commune")
            ).all()
            shapes = [(r[0], shape(r[1])) for r in rows]
            sample = points[: max(1, POINTS // 10)]
            t = time.perf_counter()
            for lon, lat in sample:
                pt = Point(lon, lat)
                next((oid for oid, g in shapes if g.contains(pt)), None)
            naive = (time.perf_counter() - t) / len(sample)
        print(f"locate(): first call (loads and indexes the shapes) {first * 1000:.1f} ms")
        print(
            f"locate_id(): {cached * 1e6:.0f} µs per call over {POINTS} random points of the bounding box "
            f"({found / POINTS:.0%} inside a commune); locate() returning the Organisation: {with_orm * 1e6:.0f} µs"
        )
        print(
            f"  baseline, naive lookup (test every commune polygon): {naive * 1e6:.0f} µs per call "
            f"(naive / locate_id = {naive / cached:.1f}×)"
        )
        print(f"  baseline, the change check (2 queries, done at most once a second): {check * 1e6:.0f} µs")

        settings = Settings(environment="test", data_dir=Path(tmp), database_url=url, secret_key="bench")
        app = create_app(settings, db=db)
        with TestClient(app) as client:
            lon, lat = points[0]
            health = _ms(lambda: client.get("/healthz"))
            loc = _ms(lambda: client.get("/api/v1/areas/locate", params={"lon": 106.3146, "lat": 20.9373}))
            org_id = client.get("/api/v1/areas/locate", params={"lon": 106.3146, "lat": 20.9373}).json()["id"]
            one_org = _ms(lambda: client.get(f"/api/v1/organisations/{org_id}"))
            body = client.get("/api/v1/areas", params={"level": "commune"}).content
            communes = _ms(lambda: client.get("/api/v1/areas", params={"level": "commune"}), runs=20)
            districts = _ms(lambda: client.get("/api/v1/areas", params={"level": "district"}))
        print(f"GET /healthz (baseline): p50 {health[0]:.1f} ms, p95 {health[1]:.1f} ms")
        print(
            f"GET /api/v1/organisations/ID (baseline: one organisation by id): p50 {one_org[0]:.1f} ms, "
            f"p95 {one_org[1]:.1f} ms"
        )
        print(
            f"GET /api/v1/areas/locate: p50 {loc[0]:.1f} ms, p95 {loc[1]:.1f} ms "
            f"({loc[0] / health[0]:.1f}× healthz, {loc[0] / one_org[0]:.1f}× one organisation)"
        )
        print(
            f"GET /api/v1/areas?level=commune: p50 {communes[0]:.1f} ms, p95 {communes[1]:.1f} ms, "
            f"{len(body) / 1024:.0f} KiB ({communes[0] / health[0]:.1f}× healthz)"
        )
        print(f"GET /api/v1/areas?level=district: p50 {districts[0]:.1f} ms, p95 {districts[1]:.1f} ms")
        db.dispose()


if __name__ == "__main__":
    main()

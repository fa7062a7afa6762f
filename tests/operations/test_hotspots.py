"""Hotspots on synthetic data: a planted cluster is found where planted, uniform noise gives nothing."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from smartprovince.operations import hotspots

CENTRE = (106.30, 20.94)  # lon, lat of the planted cluster


def _noise(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(106.15, 106.45, n), rng.uniform(20.80, 21.10, n)


def _planted(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lon, lat = _noise(rng, 2000)
    return np.r_[lon, rng.normal(CENTRE[0], 0.003, 200)], np.r_[lat, rng.normal(CENTRE[1], 0.003, 200)]


def _inside(feature: dict, lon: float, lat: float) -> bool:
    ring = feature["geometry"]["coordinates"][0]
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    return min(xs) <= lon <= max(xs) and min(ys) <= lat <= max(ys)


def _near(feature: dict, km: float) -> bool:
    ring = feature["geometry"]["coordinates"][0]
    cx, cy = sum(p[0] for p in ring[:4]) / 4, sum(p[1] for p in ring[:4]) / 4
    return abs(cx - CENTRE[0]) * 104 < km and abs(cy - CENTRE[1]) * 110.6 < km


def test_gi_star_finds_the_planted_cluster_and_only_there() -> None:
    lon, lat = _planted()
    layer = hotspots.gi_star(lon, lat, cell_m=1500)
    hot = [f for f in layer["features"] if f["properties"]["class"].startswith("hot")]
    assert any(_inside(f, *CENTRE) for f in hot)
    assert all(_near(f, 4.0) for f in hot)  # the cell and its neighbours, nothing far away
    best = max(hot, key=lambda f: f["properties"]["z"])
    assert _inside(best, *CENTRE) or _near(best, 1.6)
    assert best["properties"]["class"] == "hot_99"


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_uniform_noise_has_no_significant_cell(seed: int) -> None:
    lon, lat = _noise(np.random.default_rng(seed), 2000)
    assert hotspots.gi_star(lon, lat, cell_m=1500)["features"] == []


def test_constant_counts_give_zero_z() -> None:
    grid = hotspots.Grid(lon0=106, lat0=20, cell_m=1000, nx=4, ny=4, m_per_deg_lon=104_000)
    z, p = hotspots.gi_star_z(grid, np.ones(16))
    assert (z == 0).all() and (p == 1).all()


def test_kernel_density_peaks_at_the_cluster() -> None:
    lon, lat = _planted()
    layer = hotspots.kernel_density(lon, lat, cell_m=1500, bandwidth_m=800)
    peak = max(layer["features"], key=lambda f: f["properties"]["density"])
    assert _near(peak, 2.0)


def test_dbscan_finds_one_cluster_at_the_centre() -> None:
    lon, lat = _planted()
    layer = hotspots.dbscan_clusters(lon, lat, eps_m=300, min_samples=15)
    assert len(layer["features"]) == 1
    c = layer["features"][0]
    assert c["properties"]["size"] >= 180
    x, y = c["geometry"]["coordinates"]
    assert abs(x - CENTRE[0]) < 0.003 and abs(y - CENTRE[1]) < 0.003
    assert layer["meta"]["noise"] > 1500


def test_emerging_classification_rules() -> None:
    sig, no = 0.001, 0.5
    assert hotspots.classify_emerging(np.array([0, 0, 0, 0, 3.0]), np.array([no] * 4 + [sig])) == "new"
    rising = np.array([3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5])
    assert hotspots.classify_emerging(rising, np.full(10, sig)) == "intensifying"
    assert hotspots.classify_emerging(rising[::-1].copy(), np.full(10, sig)) == "diminishing"
    flat = np.array([4.0, 4.2, 3.9, 4.1, 4.0, 3.8, 4.2, 4.0, 4.1, 3.9])
    assert hotspots.classify_emerging(flat, np.full(10, sig)) == "persistent"
    assert hotspots.classify_emerging(np.array([0, 0, 3.0, 3, 3]), np.array([no, no, sig, sig, sig])) == "consecutive"
    assert hotspots.classify_emerging(np.array([3.0, 0, 3, 0, 3]), np.array([sig, no, sig, no, sig])) == "sporadic"
    assert hotspots.classify_emerging(np.array([3.0, 3, 0]), np.array([sig, sig, no])) == "historical"
    assert hotspots.classify_emerging(np.zeros(5), np.ones(5)) == "none"


def test_emerging_hotspot_found_where_it_appears() -> None:
    """A cluster that exists only in the last slices is labelled as emerging there, nothing elsewhere."""
    rng = np.random.default_rng(7)
    lon, lat = _noise(rng, 3000)
    t = rng.uniform(0, 60, 3000)
    lon = np.r_[lon, rng.normal(CENTRE[0], 0.003, 150)]
    lat = np.r_[lat, rng.normal(CENTRE[1], 0.003, 150)]
    t = np.r_[t, rng.uniform(40.5, 60, 150)]
    layer = hotspots.emerging_hotspots(lon, lat, t, slices=6, cell_m=3000)  # ≈ 4 points per cell per slice
    classes = {f["properties"]["class"] for f in layer["features"] if _near(f, 2.0)}
    assert classes & {"new", "consecutive"}
    current = [f for f in layer["features"] if f["properties"]["class"] != "historical"]
    assert current and all(_near(f, 7.0) for f in current)  # every current hotspot is the planted one


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        hotspots.gi_star(np.array([]), np.array([]))
    with pytest.raises(ValueError):
        hotspots.gi_star(np.array([100.0, 110.0]), np.array([10.0, 22.0]), cell_m=100)


def test_hotspot_api_returns_geojson_in_scope(client, env, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import insert

    from smartprovince.core.ids import new_id
    from smartprovince.operations.models import Incident

    lon, lat = _planted(11)
    opened = frozen_clock[0] - timedelta(days=5)
    org = env.orgs["295"]
    rows = [{"id": new_id(), "title": "x", "description": "", "source": "history", "category": "road_damage",
             "severity": "low", "status": "closed", "lat": float(y), "lon": float(x), "address": "", "org_id": org.id,
             "org_path": org.path, "escalations": 0, "opened_at": opened, "updated_at": opened}
            for x, y in zip(lon, lat, strict=True)]
    with env.db.session() as s:
        s.execute(insert(Incident), rows)
    r = client.get("/api/v1/operations/hotspots?cell_m=1500", headers=env.headers["operator"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["meta"]["points"] == len(rows)
    assert any(_inside(f, *CENTRE) for f in body["features"])
    for method in ("kde", "dbscan", "emerging"):
        assert client.get(f"/api/v1/operations/hotspots?method={method}&cell_m=1500",
                          headers=env.headers["operator"]).status_code == 200
    # Another district's leader sees none of district 295's incidents; a citizen is refused.
    other = client.get("/api/v1/operations/hotspots", headers=env.headers["other_district"]).json()
    assert other["features"] == [] and other["meta"]["points"] == 0
    assert client.get("/api/v1/operations/hotspots", headers=env.headers["citizen"]).status_code == 403
    # Too small cells for the area: a clear 422, not a 500.
    r = client.get("/api/v1/operations/hotspots?cell_m=100&days=30", headers=env.headers["operator"])
    assert r.status_code in (200, 422)
    page = client.get("/ioc/hotspots", headers=env.headers["operator"])
    assert page.status_code == 200 and "Bản đồ điểm nóng" in page.text and "FeatureCollection" in page.text


def test_hotspot_layer_is_kept_until_an_incident_changes(client, env, frozen_clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import insert, update

    from smartprovince.core.ids import new_id
    from smartprovince.operations import api_analytics
    from smartprovince.operations.models import Incident

    computed: list[str] = []
    real = api_analytics._hotspot_layer

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        computed.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(api_analytics, "_hotspot_layer", counting)
    lon, lat = _planted(12)
    opened = frozen_clock[0] - timedelta(days=5)
    org = env.orgs["295"]
    rows = [{"id": new_id(), "title": "x", "description": "", "source": "history", "category": "road_damage",
             "severity": "low", "status": "closed", "lat": float(y), "lon": float(x), "address": "", "org_id": org.id,
             "org_path": org.path, "escalations": 0, "opened_at": opened, "updated_at": opened}
            for x, y in zip(lon, lat, strict=True)]
    with env.db.session() as s:
        s.execute(insert(Incident), rows)
    url, h = "/api/v1/operations/hotspots?cell_m=1200", env.headers["operator"]
    first = client.get(url, headers=h)
    again = client.get(url, headers=h)
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert len(computed) == 1  # the same incidents: the stored layer
    assert client.get(url, headers=env.headers["other_district"]).json()["meta"]["points"] == 0  # per scope
    with env.db.session() as s:  # one incident moves: computed again
        s.execute(update(Incident).where(Incident.id == rows[0]["id"]).values(
            lon=106.0, updated_at=frozen_clock[0]))
    assert client.get(url, headers=h).status_code == 200 and len(computed) == 3
    frozen_clock[0] += timedelta(days=100)  # the window moved past every incident
    assert client.get(url, headers=h).json()["meta"]["points"] == 0


def test_hotspots_of_citizen_reports_from_the_warehouse(client, env, frozen_clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``subject=reports``: hotspots of citizen reports read from the warehouse's ``reports`` view — the planted
    cluster is found, merged reports and other categories are left out, the reader's scope (the handling unit)
    applies, and a warehouse that cannot answer gives an empty layer, not a 500."""
    import duckdb

    from smartprovince import datahub

    con = duckdb.connect()
    con.execute("SET TimeZone='Asia/Ho_Chi_Minh'")
    con.execute("CREATE TABLE reports (id VARCHAR, category VARCHAR, unit_path VARCHAR, lon DOUBLE, lat DOUBLE, "
                "created_at TIMESTAMPTZ, merged BOOLEAN)")
    lon, lat = _planted(5)
    created = frozen_clock[0] - timedelta(days=3)
    path = env.orgs["295"].path
    rows = [(f"r{i}", "road", path, float(x), float(y), created, False)
            for i, (x, y) in enumerate(zip(lon, lat, strict=True))]
    rows += [("merged", "road", path, CENTRE[0], CENTRE[1], created, True),
             ("old", "road", path, CENTRE[0], CENTRE[1], created - timedelta(days=200), False),
             ("waste", "waste", path, CENTRE[0], CENTRE[1], created, False)]
    con.executemany("INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def query(settings, sql, params=None):  # type: ignore[no-untyped-def]
        cur = con.execute(sql, params or {})
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    monkeypatch.setattr(datahub, "warehouse_query", query)
    url = "/api/v1/operations/hotspots?subject=reports&category=road&cell_m=1500"
    r = client.get(url, headers=env.headers["operator"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"]["points"] == len(lon) and body["meta"]["subject"] == "reports"
    assert any(_inside(f, *CENTRE) and f["properties"]["class"] == "hot_99" for f in body["features"])
    assert client.get("/api/v1/operations/hotspots?subject=reports&category=waste",
                      headers=env.headers["operator"]).json()["meta"]["points"] == 1
    other = client.get(url, headers=env.headers["other_district"]).json()
    assert other["features"] == [] and other["meta"]["points"] == 0
    page = client.get("/ioc/hotspots?subject=reports&category=road&cell_m=2000", headers=env.headers["operator"])
    assert page.status_code == 200 and "hot_99" in page.text and "Dự báo số phản ánh mỗi ngày" in page.text
    # The reports of the last days counted per day and forecast, with the backtest error.
    fc = client.get("/api/v1/operations/forecasts?subject=reports&category=road&days=28&horizon=7",
                    headers=env.headers["operator"]).json()
    assert fc["subject"] == "reports:road" and len(fc["values"]) == 28 and sum(fc["values"]) == len(lon)
    assert fc["values"][-4] == len(lon) and len(fc["mean"]) == 7 and fc["backtest"] is not None

    def broken(settings, sql, params=None):  # type: ignore[no-untyped-def]
        raise RuntimeError("the warehouse has not been synced")

    monkeypatch.setattr(datahub, "warehouse_query", broken)
    r = client.get(url, headers=env.headers["operator"])
    assert r.status_code == 200 and r.json()["features"] == [] and r.json()["meta"]["points"] == 0
    bad = client.get("/api/v1/operations/hotspots?subject=complaints", headers=env.headers["operator"])
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")

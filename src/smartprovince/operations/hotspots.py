"""Điểm nóng — hotspot analysis of incidents (or any located events) on a regular grid.

Pure functions over coordinate arrays, built on established libraries:

* :func:`gi_star` — Getis-Ord Gi* (PySAL ``esda.G_Local`` with ``star=True``) on grid counts, with the
  z-score and its two-sided p-value under the normal approximation for every cell;
* :func:`kernel_density` — kernel density estimate (scikit-learn ``KernelDensity``) at the cell centres;
* :func:`dbscan_clusters` — density-based clusters of the points themselves (scikit-learn ``DBSCAN``);
* :func:`emerging_hotspots` — Gi* per time slice, then the Mann-Kendall trend test of each cell's z-scores
  (Kendall's tau against time, ``scipy.stats.kendalltau``) to label cells *new*, *intensifying*,
  *persistent*, *diminishing*, *sporadic* or *none* (the categories of "emerging hot spot analysis").

Coordinates are WGS84 longitude / latitude. For a province (≈ 100 km across) an equirectangular
projection around the points' centre is precise enough, so distances are in metres without a GIS
library. Results are GeoJSON ``FeatureCollection`` dictionaries, ready for a Leaflet layer.

The heavy libraries are imported inside the functions: the web process starts fast and only pays the
import when somebody asks for a hotspot map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

EARTH_M_PER_DEG_LAT = 110_574.0
EARTH_M_PER_DEG_LON_EQUATOR = 111_320.0
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Grid:
    """A regular grid of square cells ``cell_m`` metres wide, anchored at (``lon0``, ``lat0``) (south-west).

    ``nx`` columns from west to east, ``ny`` rows from south to north; cell ``(row, col)`` has the flat
    index ``row * nx + col``.
    """

    lon0: float
    lat0: float
    cell_m: float
    nx: int
    ny: int
    m_per_deg_lon: float

    @property
    def dlon(self) -> float:
        """Width of one cell in degrees of longitude."""
        return self.cell_m / self.m_per_deg_lon

    @property
    def dlat(self) -> float:
        """Height of one cell in degrees of latitude."""
        return self.cell_m / EARTH_M_PER_DEG_LAT

    def cell_polygon(self, index: int) -> list[list[float]]:
        """The closed ring (GeoJSON order: lon, lat) of cell ``index``."""
        row, col = divmod(index, self.nx)
        w, s = self.lon0 + col * self.dlon, self.lat0 + row * self.dlat
        e, n = w + self.dlon, s + self.dlat
        return [[w, s], [e, s], [e, n], [w, n], [w, s]]

    def centres(self) -> np.ndarray:
        """Cell centres as an array of shape (nx*ny, 2) in metres from the grid origin (x east, y north)."""
        cols, rows = np.meshgrid(np.arange(self.nx), np.arange(self.ny))
        return np.column_stack([(cols.ravel() + 0.5) * self.cell_m, (rows.ravel() + 0.5) * self.cell_m])


def make_grid(lon: np.ndarray, lat: np.ndarray, cell_m: float, *, max_cells: int = 40_000) -> Grid:
    """The smallest grid of ``cell_m`` cells that covers every point.

    Raises ``ValueError`` when there are no points, the cell size is not positive, or the grid would be
    larger than ``max_cells`` (ask for bigger cells then).
    """
    if len(lon) == 0:
        raise ValueError("no points")
    if not cell_m > 0:
        raise ValueError("cell size must be positive")
    lat_mid = float(np.mean(lat))
    m_lon = EARTH_M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat_mid))
    dlon, dlat = cell_m / m_lon, cell_m / EARTH_M_PER_DEG_LAT
    # No empty margin: cells outside the points' extent would look like artificial cold spots.
    lon0, lat0 = float(np.min(lon)), float(np.min(lat))
    nx = max(int((float(np.max(lon)) - lon0) / dlon) + 1, 1)
    ny = max(int((float(np.max(lat)) - lat0) / dlat) + 1, 1)
    if nx * ny > max_cells:
        raise ValueError(f"grid of {nx}×{ny} cells is too large; use cells larger than {cell_m:.0f} m")
    return Grid(lon0=lon0, lat0=lat0, cell_m=cell_m, nx=nx, ny=ny, m_per_deg_lon=m_lon)


def to_metres(grid: Grid, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Points as (x, y) metres from the grid origin."""
    return np.column_stack([(np.asarray(lon) - grid.lon0) * grid.m_per_deg_lon,
                            (np.asarray(lat) - grid.lat0) * EARTH_M_PER_DEG_LAT])


def grid_counts(grid: Grid, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """How many points fall in each cell: a flat array of length ``nx*ny``."""
    col = np.clip(((np.asarray(lon) - grid.lon0) / grid.dlon).astype(np.int64), 0, grid.nx - 1)
    row = np.clip(((np.asarray(lat) - grid.lat0) / grid.dlat).astype(np.int64), 0, grid.ny - 1)
    return np.bincount(row * grid.nx + col, minlength=grid.nx * grid.ny).astype(float)


def _weights(grid: Grid) -> Any:
    from libpysal.weights import lat2W

    # Queen contiguity (the 8 neighbours) on the grid; lat2W numbers cells row by row like Grid does.
    w = lat2W(grid.ny, grid.nx, rook=False)
    w.transform = "B"
    return w


def gi_star_z(grid: Grid, counts: np.ndarray, *, weights: Any = None,
              adjust: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Getis-Ord Gi* z-scores and p-values of ``counts`` on ``grid``, corrected for many cells.

    Uses ``esda.G_Local(star=True)`` with binary queen weights (each cell and its 8 neighbours). The
    two-sided normal p-values are adjusted with the Benjamini-Hochberg false discovery rate
    (``scipy.stats.false_discovery_control``): a map tests thousands of cells at once, and without the
    correction about 5 % of cells of pure noise would look "significant". When every cell has the same
    count there is no variance and every z is 0 (p = 1). ``adjust=False`` returns the raw p-values (the
    caller then corrects over all its tests at once).
    """
    from esda.getisord import G_Local
    from scipy.stats import false_discovery_control, norm

    counts = np.asarray(counts, dtype=float)
    if counts.size < 2 or float(np.var(counts)) == 0.0:
        return np.zeros_like(counts), np.ones_like(counts)
    w = weights if weights is not None else _weights(grid)
    g = G_Local(counts, w, transform="B", star=True, permutations=0)
    z = np.nan_to_num(np.asarray(g.Zs, dtype=float))
    p = 2 * norm.sf(np.abs(z))
    return z, (false_discovery_control(p) if adjust else p)


def classify_gi(z: float, p: float) -> str:
    """``hot`` / ``cold`` at 99 %, 95 % or 90 % confidence (``hot_99`` …), or ``none``."""
    for level, cut in ((99, 0.01), (95, 0.05), (90, 0.10)):
        if p < cut:
            return f"{'hot' if z > 0 else 'cold'}_{level}"
    return "none"


def gi_star(lon: np.ndarray, lat: np.ndarray, *, cell_m: float = 1000.0,
            only_significant: bool = True) -> dict[str, Any]:
    """Gi* hotspot layer: one GeoJSON polygon per cell with ``count``, ``z``, ``p`` and ``class``.

    With ``only_significant`` the layer holds only cells significant at 90 % or better (smaller maps).
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    grid = make_grid(lon, lat, cell_m)
    counts = grid_counts(grid, lon, lat)
    z, p = gi_star_z(grid, counts)
    features = []
    for i in range(counts.size):
        cls = classify_gi(float(z[i]), float(p[i]))
        if only_significant and cls == "none":
            continue
        features.append(_cell(grid, i, count=int(counts[i]), z=round(float(z[i]), 3), p=round(float(p[i]), 5),
                              **{"class": cls}))
    return _collection(features, method="gi_star", cell_m=cell_m, points=int(lon.size), cells=int(counts.size))


def kernel_density(lon: np.ndarray, lat: np.ndarray, *, cell_m: float = 1000.0, bandwidth_m: float = 1500.0,
                   max_points: int = 20_000, seed: int = 0) -> dict[str, Any]:
    """Kernel density layer: cells with ``density`` (expected points per km² under a Gaussian kernel).

    Above ``max_points`` a seeded random sample is fitted (density shape is kept, evaluation stays fast);
    cells below 1 % of the peak are left out of the layer.
    """
    from sklearn.neighbors import KernelDensity

    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    grid = make_grid(lon, lat, cell_m)
    pts = to_metres(grid, lon, lat)
    if len(pts) > max_points:
        pts = pts[np.random.default_rng(seed).choice(len(pts), max_points, replace=False)]
    # rtol: a 0.1 % relative error is invisible on a map and makes the tree search many times faster.
    kde = KernelDensity(bandwidth=bandwidth_m, kernel="gaussian", rtol=1e-3).fit(pts)
    density = np.exp(kde.score_samples(grid.centres())) * len(lon) * 1e6  # per km²
    peak = float(density.max()) if density.size else 0.0
    features = [
        _cell(grid, i, density=round(float(d), 4), share=round(float(d) / peak, 4))
        for i, d in enumerate(density) if peak > 0 and d >= 0.01 * peak
    ]
    return _collection(features, method="kde", cell_m=cell_m, bandwidth_m=bandwidth_m, points=int(lon.size))


def dbscan_clusters(lon: np.ndarray, lat: np.ndarray, *, eps_m: float = 500.0, min_samples: int = 10) -> dict[str, Any]:
    """DBSCAN clusters: one GeoJSON point per cluster (its centre) with ``size`` and ``radius_m``.

    ``eps_m`` is the neighbourhood radius in metres; a cluster needs ``min_samples`` points within it.
    Noise points belong to no cluster. Clusters come largest first.
    """
    from sklearn.cluster import DBSCAN

    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    grid = make_grid(lon, lat, max(eps_m, 1.0), max_cells=10**9)
    pts = to_metres(grid, lon, lat)
    labels = DBSCAN(eps=eps_m, min_samples=min_samples).fit_predict(pts)
    features: list[dict[str, Any]] = []
    for label in sorted(set(labels.tolist()) - {-1}):
        member = labels == label
        centre = pts[member].mean(axis=0)
        radius = float(np.sqrt(((pts[member] - centre) ** 2).sum(axis=1)).max())
        clon = grid.lon0 + centre[0] / grid.m_per_deg_lon
        clat = grid.lat0 + centre[1] / EARTH_M_PER_DEG_LAT
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(float(clon), 6), round(float(clat), 6)]},
            "properties": {"cluster": int(label), "size": int(member.sum()), "radius_m": round(radius, 1)},
        })
    features.sort(key=lambda f: -f["properties"]["size"])
    noise = int((labels == -1).sum())
    return _collection(features, method="dbscan", eps_m=eps_m, min_samples=min_samples, points=int(lon.size),
                       noise=noise)


def mann_kendall(series: np.ndarray) -> tuple[float, float]:
    """Mann-Kendall trend test: Kendall's tau of ``series`` against time and its p-value.

    A constant series has no trend: (0.0, 1.0).
    """
    from scipy.stats import kendalltau

    series = np.asarray(series, dtype=float)
    if series.size < 3 or np.all(series == series[0]):
        return 0.0, 1.0
    tau, p = kendalltau(np.arange(series.size), series)
    if tau is None or math.isnan(tau):
        return 0.0, 1.0
    return float(tau), float(p)


def classify_emerging(z_slices: np.ndarray, p_slices: np.ndarray, *, alpha: float = SIGNIFICANCE) -> str:
    """Label one cell from its Gi* z / p per time slice (oldest first).

    * ``new`` — a significant hot spot only in the last slice;
    * ``intensifying`` — hot in at least 90 % of slices including the last, z rising (Mann-Kendall);
    * ``diminishing`` — hot in at least 90 % of slices including the last, z falling;
    * ``persistent`` — hot in at least 90 % of slices, no significant trend;
    * ``consecutive`` — hot in an unbroken run of slices ending with the last, never before that run;
    * ``sporadic`` — hot in the last slice and on and off before it;
    * ``historical`` — hot in earlier slices but not in the last;
    * ``none`` — never a significant hot spot.
    """
    hot = (np.asarray(p_slices) < alpha) & (np.asarray(z_slices) > 0)
    n = hot.size
    if not hot.any():
        return "none"
    last = bool(hot[-1])
    if last and hot.sum() == 1:
        return "new"
    if not last:
        return "historical"
    if hot.sum() >= 0.9 * n:
        tau, p = mann_kendall(z_slices)
        if p < alpha and tau > 0:
            return "intensifying"
        if p < alpha and tau < 0:
            return "diminishing"
        return "persistent"
    first = int(np.argmax(hot))
    if hot[first:].all():
        return "consecutive"
    return "sporadic"


def emerging_hotspots(lon: np.ndarray, lat: np.ndarray, t: np.ndarray, *, slices: int = 6,
                      cell_m: float = 1000.0) -> dict[str, Any]:
    """Emerging-hotspot layer: the points cut into ``slices`` equal time slices by ``t`` (numbers, e.g.
    epoch seconds); Gi* per slice on one common grid, then :func:`classify_emerging` for each cell.

    Only cells with a class other than ``none`` are in the layer; each carries its z-score per slice.
    Slices are sparse: choose cells that hold a few points per slice on average, or noise looks like signal.
    """
    lon, lat, t = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), np.asarray(t, dtype=float)
    if slices < 2:
        raise ValueError("at least two time slices")
    grid = make_grid(lon, lat, cell_m)
    edges = np.linspace(float(t.min()), float(t.max()), slices + 1)
    which = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, slices - 1)
    w = _weights(grid)
    zs, ps = [], []
    for k in range(slices):
        mask = which == k
        z, p = gi_star_z(grid, grid_counts(grid, lon[mask], lat[mask]), weights=w, adjust=False)
        zs.append(z)
        ps.append(p)
    from scipy.stats import false_discovery_control

    z_all = np.vstack(zs)  # shape (slices, cells)
    # One false-discovery correction over every slice and cell: they are all tests of the same map.
    p_all = false_discovery_control(np.vstack(ps).ravel()).reshape(z_all.shape)
    features = []
    for i in range(z_all.shape[1]):
        cls = classify_emerging(z_all[:, i], p_all[:, i])
        if cls == "none":
            continue
        features.append(_cell(grid, i, z=[round(float(v), 3) for v in z_all[:, i]], **{"class": cls}))
    return _collection(features, method="emerging", cell_m=cell_m, slices=slices, points=int(lon.size),
                       slice_edges=[float(e) for e in edges])


def _cell(grid: Grid, index: int, **props: Any) -> dict[str, Any]:
    ring = [[round(x, 6), round(y, 6)] for x, y in grid.cell_polygon(index)]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"cell": index, **props}}


def _collection(features: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features, "meta": meta}

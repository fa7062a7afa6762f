"""Benchmark: Getis-Ord Gi* over 100 000 incidents (target ≤ 1 s), with baselines measured in the same run.

Baselines: the grid aggregation alone (numpy ``bincount``) and a plain numpy Gi* written with a 3×3 box
sum, so the figure of the library path (``esda.G_Local``) can be judged on this machine. Library imports
are done once before timing (the web process pays them once, at the first hotspot request).
Also times kernel density, DBSCAN and the emerging-hotspot pass over the same points.
"""

from __future__ import annotations

import time

import numpy as np

from smartprovince.operations import hotspots

N = 100_000
CELL_M = 1000.0


def _points(seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_noise = int(N * 0.9)
    lon = np.r_[rng.uniform(106.10, 106.60, n_noise), rng.normal(106.33, 0.01, N - n_noise)]
    lat = np.r_[rng.uniform(20.70, 21.20, n_noise), rng.normal(20.94, 0.01, N - n_noise)]
    return lon, lat, rng.uniform(0, 365 * 86400, N)


def _numpy_gi(counts: np.ndarray, ny: int, nx: int) -> np.ndarray:
    """Gi* with binary queen weights in plain numpy (the baseline)."""
    g = counts.reshape(ny, nx)
    pad = np.pad(g, 1)
    box = sum(pad[1 + dy:1 + dy + ny, 1 + dx:1 + dx + nx] for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    ones = np.pad(np.ones_like(g), 1)
    w = sum(ones[1 + dy:1 + dy + ny, 1 + dx:1 + dx + nx] for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    n, mean, s = g.size, g.mean(), g.std()
    return ((box - mean * w) / (s * np.sqrt((n * w - w**2) / (n - 1)))).ravel()


def _time(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    """Print the timings (best of 3) in seconds."""
    lon, lat, t = _points()
    hotspots.gi_star(lon[:1000], lat[:1000], cell_m=CELL_M)  # warm the imports
    grid = hotspots.make_grid(lon, lat, CELL_M)
    counts = hotspots.grid_counts(grid, lon, lat)
    print(f"points {N:,}, grid {grid.nx}×{grid.ny} = {grid.nx * grid.ny:,} cells of {CELL_M:.0f} m")
    base_grid = _time(lambda: hotspots.grid_counts(grid, lon, lat))
    base_gi = _time(lambda: _numpy_gi(counts, grid.ny, grid.nx))
    lib = _time(lambda: hotspots.gi_star(lon, lat, cell_m=CELL_M))
    z_lib, _ = hotspots.gi_star_z(grid, counts)
    agree = float(np.max(np.abs(z_lib - _numpy_gi(counts, grid.ny, grid.nx))))
    print(f"baseline grid aggregation      {base_grid:8.4f} s")
    print(f"baseline numpy Gi*             {base_gi:8.4f} s")
    print(f"Gi* (esda) + GeoJSON, 100 k    {lib:8.4f} s   target ≤ 1 s: {'OK' if lib <= 1 else 'SLOW'}"
          f"   (max |z - baseline z| = {agree:.2e})")
    print(f"kernel density (20 k sample)   {_time(lambda: hotspots.kernel_density(lon, lat, cell_m=CELL_M), 1):8.4f} s")
    print(f"DBSCAN (eps 300 m)             {_time(lambda: hotspots.dbscan_clusters(lon, lat, eps_m=300), 1):8.4f} s")
    print(f"emerging, 12 slices            "
          f"{_time(lambda: hotspots.emerging_hotspots(lon, lat, t, slices=12, cell_m=2000), 1):8.4f} s")


if __name__ == "__main__":
    main()

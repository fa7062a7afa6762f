"""Timing helper shared by the benchmarks (the leading underscore keeps ``python -m bench`` from running it)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_p95_ms(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Call ``fn`` ``runs`` times; return the median and the 95th percentile of its wall time in milliseconds."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]

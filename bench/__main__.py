"""Run every benchmark: each ``bench/<name>.py`` module's ``main()``, in name order (``make bench``).

Benchmarks print figures (rows per second, latency); they never assert timings. A failing benchmark
is reported and the others still run; the exit code is non-zero when any failed.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover(only: list[str] | None = None) -> list[str]:
    """Names of the benchmark modules (``bench/*.py`` without ``_`` prefix), optionally filtered."""
    names = sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))
    if only:
        names = [n for n in names if any(n.startswith(o) for o in only)]
    return names


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks named by prefix in ``argv`` (all when empty); return the exit code."""
    names = discover(argv if argv is not None else sys.argv[1:])
    if not names:
        print("No benchmarks found in bench/.")
        return 0
    failed: list[str] = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        entry = getattr(module, "main", None)
        if entry is None:
            print(f"-- bench.{name}: no main(), skipped")
            continue
        print(f"== bench.{name}")
        started = time.perf_counter()
        try:
            entry()
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
        print(f"-- bench.{name}: {time.perf_counter() - started:.1f} s")
    if failed:
        print(f"Failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

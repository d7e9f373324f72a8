"""What isolating each upload costs: `process_image` in this process against the same call in a
budgeted child (`runtime.sandbox.run`: job and result pickled over pipes, rlimits per job).

Both sides render the 12 MP sample to the three default derivatives. Runs alternate so that
machine noise hits both; medians, their difference (the cost per upload) and their ratio are
printed. The target is a difference under 10 ms. Two more rows explain the design: a cold
child (forked for one upload, as after an upload that failed) and an empty round trip.

    .venv/bin/python bench/isolation.py [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mediakit.corpus.samples import large_jpeg
from runtime import ingest, sandbox
from runtime.imaging import process_image
from runtime.settings import Settings

TARGET_MS = 10.0


def _in_process(data: bytes, settings: Settings) -> Callable[[], object]:
    return lambda: process_image(data, "image/jpeg", settings, include_gps=False)


def _isolated(data: bytes, settings: Settings) -> Callable[[], object]:
    # Exactly what the processor runs: ingest.isolated over the real image core.
    process = ingest.isolated(process_image, settings)
    return lambda: process(data, "image/jpeg", settings, include_gps=False)


def _cold(data: bytes, settings: Settings) -> Callable[[], object]:
    budget = ingest.processing_budget(settings)

    def render() -> object:
        # A closure cannot be pickled by reference, so the sandbox forks a child for it alone.
        return process_image(data, "image/jpeg", settings, include_gps=False)

    return lambda: sandbox.run(render, budget=budget)


def _noop_isolated() -> Callable[[], object]:
    budget = sandbox.Budget(cpu_seconds=5, wall_seconds=5, memory_mb=256)
    return lambda: sandbox.run(int, 0, budget=budget)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    settings = Settings()
    data = large_jpeg()
    ours, boxed = _in_process(data, settings), _isolated(data, settings)
    cold, empty = _cold(data, settings), _noop_isolated()
    for fn in (ours, boxed, cold, empty):  # warm-up: imports, thread pool, caches
        fn()
    plain: list[float] = []
    isolated: list[float] = []
    fresh: list[float] = []
    bare: list[float] = []
    for _ in range(args.runs):
        plain.append(_timed(ours))
        isolated.append(_timed(boxed))
        fresh.append(_timed(cold))
        bare.append(_timed(empty))
    p, i, c, b = (statistics.median(x) for x in (plain, isolated, fresh, bare))
    print(f"12 MP JPEG -> {len(settings.derivatives)} derivatives, {args.runs} alternating runs")
    print(f"cpus: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.2f}")
    print(f"in process     median {p:8.1f} ms  (min {min(plain):.1f}, max {max(plain):.1f})")
    print(f"warm child     median {i:8.1f} ms  (min {min(isolated):.1f}, max {max(isolated):.1f})")
    print(f"cold child     median {c:8.1f} ms  (forked for this upload alone)")
    print(f"empty job      median {b:8.1f} ms  (warm child round trip, no work)")
    print(f"cost per upload: {i - p:+.1f} ms ({i / p:.3f}x); target < {TARGET_MS:.0f} ms")


if __name__ == "__main__":
    main()

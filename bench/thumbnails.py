"""Derivative rendering: our `process_image` against pyvips' `thumbnail_buffer`, side by side.

Both sides start from the same JPEG bytes and produce the same three JPEGs (default specs:
320 / 1280 / 2048, quality 82). Runs alternate ours/pyvips so that machine noise hits both
equally; the medians and their ratio are printed. The acceptance target is a ratio <= 1.5.

    .venv/bin/python bench/thumbnails.py [--runs 15] [--image photo.jpg]
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
from runtime.imaging import process_image
from runtime.settings import Settings

TARGET_RATIO = 1.5


def _pyvips_renderer(data: bytes, settings: Settings) -> Callable[[], list[bytes]]:
    try:
        import pyvips
    except ImportError:
        sys.exit("pyvips is a bench-only dependency: pip install -e '.[bench]'")

    specs = settings.derivatives

    def render() -> list[bytes]:
        # thumbnail_buffer shrinks on load (JPEG DCT scaling) per size and auto-rotates, like
        # libvips users do; size="down" because, like ours, it must never enlarge.
        return [
            pyvips.Image.thumbnail_buffer(data, s.max_edge, size="down").jpegsave_buffer(
                Q=s.quality
            )
            for s in specs
        ]

    return render


def _ours(data: bytes, settings: Settings) -> Callable[[], list[bytes]]:
    def render() -> list[bytes]:
        result = process_image(data, "image/jpeg", settings, include_gps=False)
        return [d.body for d in result.derivatives]

    return render


def _timed(fn: Callable[[], list[bytes]]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per side (median)")
    parser.add_argument("--image", type=Path, help="a JPEG to use instead of the 12 MP sample")
    args = parser.parse_args(argv)

    load, cpus = os.getloadavg()[0], len(os.sched_getaffinity(0))
    data = args.image.read_bytes() if args.image else large_jpeg()
    settings = Settings()
    ours, vips = _ours(data, settings), _pyvips_renderer(data, settings)

    # Warm-up: first calls pay for imports, thread pools and libvips' operation cache setup.
    ours_bodies, vips_bodies = ours(), vips()
    ours_ms: list[float] = []
    vips_ms: list[float] = []
    for _ in range(args.runs):
        ours_ms.append(_timed(ours))
        vips_ms.append(_timed(vips))

    ours_med, vips_med = statistics.median(ours_ms), statistics.median(vips_ms)
    ratio = ours_med / vips_med
    import pyvips

    specs = ", ".join(
        f"{s.name} {s.max_edge} {s.format} q{s.quality}" for s in settings.derivatives
    )
    print(f"image       {len(data) / 1e6:.1f} MB JPEG ({'--image' if args.image else 'sample'})")
    print(f"derivatives {specs}")
    print(
        f"cpus        {cpus}; "
        f"pyvips {pyvips.__version__} / libvips {pyvips.version(0)}.{pyvips.version(1)}"
    )
    # A previous run of this script alone leaves up to ~1 in the 1-minute average.
    busy = "  <- machine busy: ratio not comparable" if load > max(1.0, 0.75 * cpus) else ""
    print(f"load avg    {load:.2f} (1 min, before the runs){busy}")
    print(f"runs        {args.runs} each, alternating; median (min..max) ms")
    print(f"ours        {ours_med:7.1f}  ({min(ours_ms):.1f}..{max(ours_ms):.1f})")
    print(f"pyvips      {vips_med:7.1f}  ({min(vips_ms):.1f}..{max(vips_ms):.1f})")
    print(f"bytes       ours   {[len(b) for b in ours_bodies]}")
    print(f"            pyvips {[len(b) for b in vips_bodies]}")
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    print(f"ratio       {ratio:.2f}x  ({verdict} the {TARGET_RATIO}x target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

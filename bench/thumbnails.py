"""Derivative rendering: our `process_image` against pyvips' `thumbnail_buffer`, side by side.

Each case starts both sides from the same original bytes and produces the same three derivatives
(default specs: 320 / 1280 / 2048, quality 82; JPEG, or AVIF at the spec's encoder speed). Runs
alternate ours/pyvips so that machine noise hits both equally; the medians and their ratio are
printed. The acceptance target is a ratio <= 1.5 for the JPEG case.

Cases (`--cases`, comma-separated; default all):
  jpeg       12 MP JPEG  -> JPEG derivatives
  heic       12 MP HEIC  -> JPEG derivatives (pyvips only if its libheif can decode HEVC)
  avif       12 MP AVIF  -> JPEG derivatives
  avif-out   12 MP JPEG  -> AVIF derivatives (ours at speed 8, pyvips heifsave at effort 1,
             libvips' effort being 9 - aom speed)

    .venv/bin/python bench/thumbnails.py [--runs 15] [--image photo.jpg] [--cases jpeg,heic]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from mediakit.corpus.samples import avif_bytes, heic_bytes, large_jpeg
from runtime.imaging import process_image
from runtime.settings import DEFAULT_DERIVATIVES, DerivativeSpec, Settings

TARGET_RATIO = 1.5
CASES = ("jpeg", "heic", "avif", "avif-out")
AVIF_SPECS = tuple(
    DerivativeSpec(s.name, s.max_edge, "avif", s.quality) for s in DEFAULT_DERIVATIVES
)


@dataclass(frozen=True)
class Case:
    name: str
    label: str
    data: bytes
    declared: str
    settings: Settings


def _pyvips() -> Any:
    try:
        import pyvips
    except ImportError:
        sys.exit("pyvips is a bench-only dependency: pip install -e '.[bench]'")
    return pyvips


def _save(image: Any, spec: DerivativeSpec) -> bytes:
    if spec.format == "avif":
        # libvips' heifsave effort is 9 - aom's speed: effort 1 is our default speed 8.
        data: bytes = image.heifsave_buffer(
            Q=spec.quality, compression="av1", effort=max(0, 9 - spec.encoder_speed), strip=True
        )
        return data
    if spec.format == "webp":
        return bytes(image.webpsave_buffer(Q=spec.quality, strip=True))
    if spec.format == "png":
        return bytes(image.pngsave_buffer(strip=True))
    return bytes(image.jpegsave_buffer(Q=spec.quality, strip=True))


def _pyvips_renderer(data: bytes, settings: Settings) -> Callable[[], list[bytes]]:
    pyvips = _pyvips()
    specs = settings.derivatives

    def render() -> list[bytes]:
        # thumbnail_buffer shrinks on load (JPEG DCT scaling) per size and auto-rotates, like
        # libvips users do; size="down" because, like ours, it must never enlarge.
        return [
            _save(pyvips.Image.thumbnail_buffer(data, s.max_edge, size="down"), s) for s in specs
        ]

    return render


def _pyvips_cannot(data: bytes) -> str | None:
    """Why pyvips cannot render `data` (its libheif may lack a decoder), or None if it can."""
    pyvips = _pyvips()
    try:
        pyvips.Image.thumbnail_buffer(data, 64).jpegsave_buffer()
    except pyvips.Error as exc:
        # The first line names the failed call; the last says why (e.g. no HEVC decoder).
        return str(exc).strip().splitlines()[-1].strip()[:160]
    return None


def _ours(data: bytes, declared: str, settings: Settings) -> Callable[[], list[bytes]]:
    def render() -> list[bytes]:
        result = process_image(data, declared, settings, include_gps=False)
        return [d.body for d in result.derivatives]

    return render


def _timed(fn: Callable[[], list[bytes]]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _encoded(source: bytes, fmt: str) -> bytes:
    """`source` (a JPEG) re-encoded as HEIC or AVIF at a camera-like quality."""
    with Image.open(io.BytesIO(source)) as image:
        pixels = image.convert("RGB")
    if fmt == "heic":
        return heic_bytes(pixels, quality=80)
    return avif_bytes(pixels, quality=75)


def _cases(names: list[str], jpeg: bytes) -> list[Case]:
    cases = []
    for name in names:
        if name == "jpeg":
            cases.append(Case(name, "JPEG -> jpeg", jpeg, "image/jpeg", Settings()))
        elif name in ("heic", "avif"):
            data = _encoded(jpeg, name)
            label = f"{name.upper()} -> jpeg"
            cases.append(Case(name, label, data, f"image/{name}", Settings()))
        elif name == "avif-out":
            settings = Settings(derivatives=AVIF_SPECS)
            cases.append(Case(name, "JPEG -> avif", jpeg, "image/jpeg", settings))
        else:
            sys.exit(f"unknown case {name!r} (known: {', '.join(CASES)})")
    return cases


def _run(case: Case, runs: int) -> None:
    specs = ", ".join(
        f"{s.name} {s.max_edge} {s.format} q{s.quality}"
        + (f" speed {s.encoder_speed}" if s.format == "avif" else "")
        for s in case.settings.derivatives
    )
    print(f"\n== {case.label}: {len(case.data) / 1e6:.2f} MB original")
    print(f"derivatives {specs}")
    ours = _ours(case.data, case.declared, case.settings)
    reason = _pyvips_cannot(case.data)
    vips = None if reason else _pyvips_renderer(case.data, case.settings)
    # Warm-up: first calls pay for imports, thread pools and libvips' operation cache setup.
    ours_bodies = ours()
    vips_bodies = vips() if vips else []
    ours_ms: list[float] = []
    vips_ms: list[float] = []
    for _ in range(runs):
        ours_ms.append(_timed(ours))
        if vips:
            vips_ms.append(_timed(vips))
    ours_med = statistics.median(ours_ms)
    print(f"runs        {runs} each, alternating; median (min..max) ms")
    print(f"ours        {ours_med:7.1f}  ({min(ours_ms):.1f}..{max(ours_ms):.1f})")
    print(f"bytes       ours   {[len(b) for b in ours_bodies]}")
    if not vips:
        print(f"pyvips      cannot render this original here: {reason}")
        return
    vips_med = statistics.median(vips_ms)
    print(f"pyvips      {vips_med:7.1f}  ({min(vips_ms):.1f}..{max(vips_ms):.1f})")
    print(f"            pyvips {[len(b) for b in vips_bodies]}")
    ratio = ours_med / vips_med
    if case.name == "jpeg":
        verdict = "within" if ratio <= TARGET_RATIO else "OVER"
        print(f"ratio       {ratio:.2f}x  ({verdict} the {TARGET_RATIO}x target)")
    else:
        print(f"ratio       {ratio:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per side (median)")
    parser.add_argument("--image", type=Path, help="a JPEG to use instead of the 12 MP sample")
    parser.add_argument("--cases", default=",".join(CASES), help="which cases, comma-separated")
    args = parser.parse_args(argv)

    load, cpus = os.getloadavg()[0], len(os.sched_getaffinity(0))
    jpeg = args.image.read_bytes() if args.image else large_jpeg()
    cases = _cases([c.strip() for c in args.cases.split(",") if c.strip()], jpeg)
    pyvips = _pyvips()
    print(f"image       {len(jpeg) / 1e6:.1f} MB JPEG ({'--image' if args.image else 'sample'})")
    print(
        f"cpus        {cpus}; "
        f"pyvips {pyvips.__version__} / libvips {pyvips.version(0)}.{pyvips.version(1)}"
    )
    # A previous run of this script alone leaves up to ~1 in the 1-minute average.
    busy = "  <- machine busy: ratio not comparable" if load > max(1.0, 0.75 * cpus) else ""
    print(f"load avg    {load:.2f} (1 min, before the runs){busy}")
    for case in cases:
        _run(case, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

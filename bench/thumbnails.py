"""Derivative rendering: our `process_image` against pyvips' `thumbnail_buffer`, side by side.

Each case starts both sides from the same original bytes and produces the same three derivatives
(default specs: 320 / 1280 / 2048, quality 82; JPEG, or AVIF at the spec's encoder speed). Runs
alternate ours/pyvips so that machine noise hits both equally; the medians and their ratio are
printed with their spread (interquartile range and min..max). Targets (issue 12): ours/pyvips
<= 1.0 for every JPEG size and the PNG with 2+ CPUs, <= 1.25 for the 12 MP JPEG on one CPU
(`taskset -c 0`, the Lambda-like case).

Quality gate, so speed is not bought with blur: every derivative of both sides is compared (SSIM,
bench/quality.py) with a Lanczos resize of the original's full decode to the same size; ours
passes when its SSIM >= pyvips' - 0.005 for the same derivative.

Cases (`--cases`, comma-separated; default all):
  jpeg       12 MP JPEG  -> JPEG derivatives (4000x3000)
  jpeg24     24 MP JPEG  -> JPEG derivatives (6000x4000)
  jpeg48     48 MP JPEG  -> JPEG derivatives (8000x6000)
  png        12 MP PNG   -> JPEG derivatives (the 12 MP picture, compress level 6)
  heic       12 MP HEIC  -> JPEG derivatives (pyvips only if its libheif can decode HEVC)
  avif       12 MP AVIF  -> JPEG derivatives
  avif-out   12 MP JPEG  -> AVIF derivatives (ours at speed 8, pyvips heifsave at effort 1,
             libvips' effort being 9 - aom speed)

    .venv/bin/python bench/thumbnails.py [--runs 15] [--image photo.jpg] [--cases jpeg,heic]
    taskset -c 0 .venv/bin/python bench/thumbnails.py --cases jpeg     # one CPU
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

from bench.quality import ssim
from mediakit.corpus.samples import avif_bytes, heic_bytes, large_jpeg
from runtime.imaging import process_image
from runtime.settings import DEFAULT_DERIVATIVES, DerivativeSpec, Settings

# ours/pyvips targets: every JPEG size and the PNG with 2+ CPUs, the 12 MP JPEG on one CPU.
TARGET_MULTI_CPU = 1.0
TARGET_ONE_CPU = 1.25
TARGETED = ("jpeg", "jpeg24", "jpeg48", "png")
# Ours may trail pyvips' SSIM (against the Lanczos reference) by at most this much.
SSIM_MARGIN = 0.005
CASES = ("jpeg", "jpeg24", "jpeg48", "png", "heic", "avif", "avif-out")
JPEG_SIZES = {"jpeg": (4000, 3000), "jpeg24": (6000, 4000), "jpeg48": (8000, 6000)}
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
    """`source` (a JPEG) re-encoded as HEIC, AVIF or PNG (camera-like quality, PNG level 6)."""
    with Image.open(io.BytesIO(source)) as image:
        pixels = image.convert("RGB")
    if fmt == "png":
        buf = io.BytesIO()
        pixels.save(buf, "PNG", compress_level=6)
        return buf.getvalue()
    if fmt == "heic":
        return heic_bytes(pixels, quality=80)
    return avif_bytes(pixels, quality=75)


def _cases(names: list[str], jpeg: bytes, custom: bool) -> list[Case]:
    cases = []
    for name in names:
        if name == "jpeg":
            cases.append(Case(name, "12 MP JPEG -> jpeg", jpeg, "image/jpeg", Settings()))
        elif name in ("jpeg24", "jpeg48"):
            # --image replaces the 12 MP picture only; the larger sizes are always generated.
            w, h = JPEG_SIZES[name]
            label = f"{w * h // 1_000_000} MP JPEG -> jpeg"
            cases.append(Case(name, label, large_jpeg((w, h)), "image/jpeg", Settings()))
        elif name == "png":
            label = f"{'--image' if custom else '12 MP'} PNG -> jpeg"
            cases.append(Case(name, label, _encoded(jpeg, "png"), "image/png", Settings()))
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


def _quartiles(values: list[float]) -> tuple[float, float]:
    """(p25, p75); a single run is its own quartiles."""
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4)
    return q1, q3


def _spread(values: list[float]) -> str:
    """median (p25..p75, min..max), in ms."""
    q1, q3 = _quartiles(values)
    med = statistics.median(values)
    return f"{med:7.1f}  (IQR {q1:.1f}..{q3:.1f}, min..max {min(values):.1f}..{max(values):.1f})"


def _reference(data: bytes) -> Image.Image:
    """The original fully decoded (no DCT scaling), upright, RGB: what Lanczos resizes."""
    from PIL import ImageOps

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        upright = ImageOps.exif_transpose(image)
        return upright.convert("RGB")


def _gate(case: Case, ours: list[bytes], vips: list[bytes]) -> bool | None:
    """Print each derivative's SSIM against the Lanczos reference; True if ours passes."""
    reference = _reference(case.data)
    passed: bool | None = True if vips else None
    print(f"ssim        vs Lanczos of the full decode (gate: ours >= pyvips - {SSIM_MARGIN})")
    for i, spec in enumerate(case.settings.derivatives):
        mine = Image.open(io.BytesIO(ours[i]))
        mine_ssim = ssim(mine, reference.resize(mine.size, Image.Resampling.LANCZOS))
        line = f"  {spec.name:<8}  ours {mine_ssim:.4f} {mine.size[0]}x{mine.size[1]}"
        if vips:
            theirs = Image.open(io.BytesIO(vips[i]))
            ref = reference.resize(theirs.size, Image.Resampling.LANCZOS)
            theirs_ssim = ssim(theirs, ref)
            ok = mine_ssim >= theirs_ssim - SSIM_MARGIN
            passed = passed and ok
            line += (
                f"   pyvips {theirs_ssim:.4f} {theirs.size[0]}x{theirs.size[1]}"
                f"   diff {mine_ssim - theirs_ssim:+.4f}  {'pass' if ok else 'FAIL'}"
            )
        print(line)
    return passed


def _target(case: Case, cpus: int) -> float | None:
    if case.name not in TARGETED:
        return None
    if cpus >= 2:
        return TARGET_MULTI_CPU
    return TARGET_ONE_CPU if case.name == "jpeg" else None


def _run(case: Case, runs: int, cpus: int) -> dict[str, Any]:
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
    for i in range(runs):
        # Alternate which side goes first too, so a periodic disturbance cannot favour one.
        first, second = (ours, vips) if i % 2 == 0 else (vips, ours)
        for fn in (first, second):
            if fn is None:
                continue
            (ours_ms if fn is ours else vips_ms).append(_timed(fn))
    result: dict[str, Any] = {"case": case.name, "ours_ms": statistics.median(ours_ms)}
    print(f"runs        {runs} each, interleaved; median (spread) ms")
    print(f"ours        {_spread(ours_ms)}")
    print(f"bytes       ours   {[len(b) for b in ours_bodies]}")
    if not vips:
        print(f"pyvips      cannot render this original here: {reason}")
        _gate(case, ours_bodies, [])
        return result
    print(f"pyvips      {_spread(vips_ms)}")
    print(f"            pyvips {[len(b) for b in vips_bodies]}")
    ratio = statistics.median(ours_ms) / statistics.median(vips_ms)
    result |= {"vips_ms": statistics.median(vips_ms), "ratio": ratio}
    # The ratio of the quartiles the other way round: how far the noise alone could move it.
    (ours_q1, ours_q3), (vips_q1, vips_q3) = _quartiles(ours_ms), _quartiles(vips_ms)
    lo, hi = ours_q1 / vips_q3, ours_q3 / vips_q1
    target = _target(case, cpus)
    verdict = ""
    if target is not None:
        verdict = f"  ({'within' if ratio <= target else 'OVER'} the {target}x target)"
    print(f"ratio       {ratio:.2f}x  (quartile bounds {lo:.2f}..{hi:.2f}){verdict}")
    result["ssim_pass"] = _gate(case, ours_bodies, vips_bodies)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per side (median)")
    parser.add_argument("--image", type=Path, help="a JPEG to use instead of the 12 MP sample")
    parser.add_argument("--cases", default=",".join(CASES), help="which cases, comma-separated")
    args = parser.parse_args(argv)

    load, cpus = os.getloadavg()[0], len(os.sched_getaffinity(0))
    jpeg = args.image.read_bytes() if args.image else large_jpeg()
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    cases = _cases(names, jpeg, bool(args.image))
    pyvips = _pyvips()
    print(f"image       {len(jpeg) / 1e6:.1f} MB JPEG ({'--image' if args.image else 'sample'})")
    print(
        f"cpus        {cpus} (affinity); "
        f"pyvips {pyvips.__version__} / libvips {pyvips.version(0)}.{pyvips.version(1)}"
    )
    # A previous run of this script alone leaves up to ~1 in the 1-minute average.
    busy = "  <- machine busy: ratio not comparable" if load > max(1.0, 0.75 * cpus) else ""
    print(f"load avg    {load:.2f} (1 min, before the runs){busy}")
    results = [_run(case, args.runs, cpus) for case in cases]
    end_load = os.getloadavg()[0]
    print(f"\nload avg    {end_load:.2f} (1 min, after the runs)")
    print("summary     case: ours ms / pyvips ms = ratio, ssim gate")
    for r in results:
        if "ratio" in r:
            gate = {True: "pass", False: "FAIL", None: "-"}[r["ssim_pass"]]
            print(
                f"  {r['case']:<9} {r['ours_ms']:7.1f} / {r['vips_ms']:7.1f} = "
                f"{r['ratio']:.2f}x  ssim {gate}"
            )
        else:
            print(f"  {r['case']:<9} {r['ours_ms']:7.1f} / -")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

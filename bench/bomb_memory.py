"""Peak memory of refusing the 30000x30000 PNG bomb, against references in the same run.

Inputs are generated once and written to a temporary folder; each scenario then runs in a fresh
interpreter that imports the image core, reads its input and reports its peak RSS
(`VmHWM`); the number that matters is the peak over the baseline. (`tracemalloc` is printed
too, but it only sees Python allocations: Pillow's pixel buffers live outside it.)

- `baseline`: import the image core and read the bomb's bytes, nothing else;
- `guarded`:  `process_image` on the bomb (the header guard refuses it, no pixel decoded);
- `normal`:   `process_image` on the 12 MP sample JPEG (what a real upload costs);
- `at-limit`: `process_image` on a flat RGBA PNG just under the default `maxPixels`
  (7071x7071, 50 MP): the most a guarded upload may cost, i.e. what to size the Lambda for;
- `unguarded`: Pillow told to ignore its own limit and decode the bomb (what the guard saves;
  skip it with `--no-unguarded`, it needs ~1 GB).

    .venv/bin/python bench/bomb_memory.py [--edge 30000] [--no-unguarded]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHILD = r"""
import json, resource, sys, tracemalloc
scenario, path = sys.argv[1], sys.argv[2]
from runtime.imaging import process_image
from runtime.errors import PermanentFault
from runtime.settings import Settings
with open(path, "rb") as fh:
    data = fh.read()
tracemalloc.start()
tracemalloc.reset_peak()
outcome = "read"
if scenario in ("guarded", "normal", "at-limit"):
    try:
        result = process_image(data, "image/jpeg" if scenario == "normal" else "image/png",
                               Settings(), include_gps=False)
        outcome = f"completed {result.width}x{result.height}"
    except PermanentFault as fault:
        outcome = f"failed {fault.code}"
elif scenario == "unguarded":
    import io
    from PIL import Image
    Image.MAX_IMAGE_PIXELS = None
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        outcome = f"decoded {image.size[0]}x{image.size[1]} mode {image.mode}"
_, peak = tracemalloc.get_traced_memory()
# VmHWM is this address space's high-water mark; ru_maxrss would inherit the parent's across
# fork + exec on Linux.
try:
    with open("/proc/self/status") as fh:
        rss_kib = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
except OSError:
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "traced_peak": peak, "rss_peak": rss_kib * 1024,
                  "input_bytes": len(data)}))
"""


def _run(scenario: str, path: Path) -> dict[str, object]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, scenario, str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _limit_png(path: Path) -> None:
    """A flat RGBA PNG of 7071x7071 (just under 50 MP), written in a child to keep our RSS low."""
    code = (
        "import sys; from PIL import Image; "
        "Image.new('RGBA', (7071, 7071), (10, 20, 30, 128)).save(sys.argv[1], 'PNG')"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


def _mib(n: object) -> str:
    return f"{int(str(n)) / 2**20:8.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--edge", type=int, default=30_000, help="bomb width = height in px")
    parser.add_argument("--no-unguarded", action="store_true", help="skip the ~1 GB decode")
    args = parser.parse_args()

    from mediakit.corpus.hostile import bomb_png
    from mediakit.corpus.samples import large_jpeg

    scenarios = ["baseline", "guarded", "normal", "at-limit"]
    scenarios += [] if args.no_unguarded else ["unguarded"]
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {"bomb": Path(tmp) / "bomb.png", "normal": Path(tmp) / "photo.jpg"}
        inputs["at-limit"] = Path(tmp) / "limit.png"
        inputs["bomb"].write_bytes(bomb_png(args.edge))
        inputs["normal"].write_bytes(large_jpeg())
        _limit_png(inputs["at-limit"])
        results = {s: _run(s, inputs.get(s, inputs["bomb"])) for s in scenarios}
    base_rss = int(str(results["baseline"]["rss_peak"]))
    print(f"bomb: {args.edge}x{args.edge} 1-bit PNG, {results['guarded']['input_bytes']} bytes")
    print(f"{'scenario':10} {'outcome':36} {'peak RSS':>13} {'over baseline':>13} {'traced':>13}")
    for name, r in results.items():
        extra = int(str(r["rss_peak"])) - base_rss
        print(
            f"{name:10} {r['outcome']!s:36} {_mib(r['rss_peak'])} {_mib(max(0, extra))} "
            f"{_mib(r['traced_peak'])}"
        )

    def over(name: str) -> int:
        return max(1, int(str(results[name]["rss_peak"])) - base_rss)

    print(f"guarded/normal peak over baseline: {over('guarded') / over('normal'):.4f}")
    print(f"guarded/at-limit peak over baseline: {over('guarded') / over('at-limit'):.4f}")
    if "unguarded" in results:
        print(f"guarded/unguarded peak over baseline: {over('guarded') / over('unguarded'):.5f}")


if __name__ == "__main__":
    main()

"""Cold import time of the Lambda entry modules, against their budgets.

Each sample is a fresh interpreter running `import <module>`, minus a fresh interpreter that
imports nothing (median of each), so the number is what the module adds to a Lambda cold start.
`-X importtime` of one extra run names the slowest imports.

    .venv/bin/python bench/cold_import.py [--runs 9] [--top 8]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# module -> budget in ms (None: reported for information only)
MODULES: dict[str, float | None] = {
    "runtime.presign": 300.0,
    "runtime.processor": 400.0,
    # The processor may import the image core lazily; its cost then lands on the first message.
    "runtime.imaging": None,
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    # No stale bytecode decisions from the caller; Lambda ships .pyc-less zips unless built in.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run_ms(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT)
    return (time.perf_counter() - start) * 1000


def _top_imports(module: str, env: dict[str, str], top: int) -> list[tuple[int, str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue
        rows.append((int(parts[0]), parts[2].rstrip()))
    rows.sort(reverse=True)
    return rows[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9, help="fresh interpreters per module")
    parser.add_argument("--top", type=int, default=6, help="slowest imports to list per module")
    args = parser.parse_args(argv)

    env = _env()
    sys.path.insert(0, str(ROOT))
    _run_ms("pass", env)  # warm the OS file cache and write bytecode once
    baseline = statistics.median(_run_ms("pass", env) for _ in range(args.runs))
    print(f"python {sys.version.split()[0]}: bare interpreter start {baseline:.0f} ms (median)")
    over = 0
    for module, budget in MODULES.items():
        if importlib.util.find_spec(module) is None:
            print(f"{module:20} not found: it has not been written yet, nothing to measure")
            continue
        try:
            _run_ms(f"import {module}", env)  # compile bytecode outside the measurement
        except subprocess.CalledProcessError:
            print(f"{module:20} fails to import; run `python -c 'import {module}'` to see why")
            over += 1
            continue
        cost = statistics.median(_run_ms(f"import {module}", env) for _ in range(args.runs))
        added = cost - baseline
        if budget is None:
            verdict = "info"
        else:
            verdict = f"{added / budget:.2f} of the {budget:.0f} ms budget"
            over += added > budget
        print(f"{module:20} +{added:6.0f} ms  ({verdict})")
        for self_us, name in _top_imports(module, env, args.top):
            print(f"    {self_us / 1000:7.1f} ms self  {name}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())

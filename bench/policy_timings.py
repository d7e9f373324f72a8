"""Wall time of `mediakit synth --stack prod` and `mediakit check --stack prod` (the issue budgets:
synth < 10 s, check < 30 s after the first install). A benchmark, not a test: it prints, never
asserts. Run idle: `.venv/bin/python bench/policy_timings.py [--runs 3]`."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIAKIT = Path(sys.executable).with_name("mediakit")


def _time(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(MEDIAKIT), *args], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {runs} runs each")
    with tempfile.TemporaryDirectory() as tmp:
        cases = {
            "synth --stack prod": (["synth", "--stack", "prod", "--out", f"{tmp}/g.json"], 10.0),
            "check --stack prod": (["check", "--stack", "prod"], 30.0),
        }
        for label, (args, budget) in cases.items():
            _time(args)  # warm: the first run may build the Lambda zip
            seconds = [_time(args) for _ in range(runs)]
            median = statistics.median(seconds)
            print(
                f"{label:<20} median {median:6.2f} s  (min {min(seconds):.2f}, "
                f"max {max(seconds):.2f})  budget {budget:.0f} s  ratio {median / budget:.2f}"
            )


if __name__ == "__main__":
    main()

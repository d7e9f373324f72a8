"""Run checkov (from its own virtualenv) on exported plans and read its results.

checkov pins packaging==23.2 and pulumi needs packaging>=26, so checkov is a program here, never
an import: `.venv-checkov/bin/checkov`, built by `make checkov-venv`. One process scans several
plans (each `-f`), which is how the test suite stays fast.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.findings import Finding, Passed, PolicyToolError

POLICIES = Path(__file__).resolve().parent
ROOT = POLICIES.parent
CHECKOV_VENV = ROOT / ".venv-checkov"
CONFIG_FILE = POLICIES / "checkov.yaml"
CHECKS_DIR = POLICIES / "checks"
CENSUS_CHECK = "MKIT_000"
OUTPUT_FILES = {
    "json": "results_json.json",
    "sarif": "results_sarif.sarif",
    "cli": "results_cli.txt",
}
# checkov logs (and then ignores) a custom check that fails to import: the check would silently
# never run, so the runner treats the message as a crash.
_LOAD_FAILURE = "Cannot load external check"


@dataclass
class PlanResult:
    """checkov's verdict on one plan file."""

    failed: list[Finding] = field(default_factory=list)
    passed: list[Passed] = field(default_factory=list)
    scanned: Counter[str] = field(default_factory=Counter)  # census: resources per type


def tool_path(name: str, venv: Path | None = None) -> Path:
    """A program of the checkov virtualenv (`$MEDIAKIT_CHECKOV_VENV`, default `.venv-checkov`
    in the repository); a clear error if it was never built."""
    override = os.environ.get("MEDIAKIT_CHECKOV_VENV")
    path = (venv or (Path(override) if override else CHECKOV_VENV)) / "bin" / name
    if not path.is_file():
        raise PolicyToolError(
            f"{path} not found: checkov and parliament live in their own virtualenv "
            "(they pin packaging==23.2). Build it with `make checkov-venv`."
        )
    return path


def command(plans: Sequence[Path], out_dir: Path, outputs: Sequence[str] = ("json",)) -> list[str]:
    """The checkov command line: explicit config, our checks, no network."""
    cmd = [
        str(tool_path("checkov")),
        "--framework",
        "terraform_plan",
        "--skip-download",
        "--config-file",
        str(CONFIG_FILE),
        "--external-checks-dir",
        str(CHECKS_DIR),
        "--compact",
        "--output-file-path",
        str(out_dir),
    ]
    for fmt in outputs:
        cmd += ["-o", fmt]
    for plan in plans:
        cmd += ["-f", str(plan)]
    return cmd


def run(
    plans: Sequence[Path], out_dir: Path, outputs: Sequence[str] = ("json",)
) -> dict[Path, PlanResult]:
    """Scan `plans` in one checkov process; results per plan (resolved path)."""
    if "json" not in outputs:
        outputs = ("json", *outputs)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LOG_LEVEL": "WARNING", "CHECKOV_NO_OUTPUT_TIMESTAMP": "1"}
    proc = subprocess.run(  # noqa: S603 (fixed program, arguments are paths we wrote)
        command(plans, out_dir, outputs),
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    if proc.returncode not in (0, 1) or _LOAD_FAILURE in proc.stderr:
        raise PolicyToolError(
            f"checkov failed (exit {proc.returncode}):\n{_tail(proc.stderr or proc.stdout)}"
        )
    results_file = out_dir / OUTPUT_FILES["json"]
    if not results_file.is_file():
        raise PolicyToolError(f"checkov wrote no {results_file}:\n{_tail(proc.stderr)}")
    return parse(json.loads(results_file.read_text()), plans)


def parse(report: Any, plans: Sequence[Path]) -> dict[Path, PlanResult]:
    """Split checkov's JSON report by plan file."""
    by_path = {p.resolve(): PlanResult() for p in plans}
    reports = report if isinstance(report, list) else [report]
    for rep in reports:
        if rep.get("check_type") != "terraform_plan":
            continue
        results = rep.get("results", {})
        for record in results.get("failed_checks", []):
            _result_for(by_path, record).failed.append(_finding(record))
        for record in results.get("passed_checks", []):
            result = _result_for(by_path, record)
            if record["check_id"] == CENSUS_CHECK:
                result.scanned[record["resource"].split(".", 1)[0]] += 1
            else:
                result.passed.append(Passed(record["check_id"], record["resource"]))
        if results.get("parsing_errors"):
            raise PolicyToolError(f"checkov could not parse {results['parsing_errors']}")
    return by_path


def _result_for(by_path: Mapping[Path, PlanResult], record: Mapping[str, Any]) -> PlanResult:
    path = Path(record.get("file_abs_path") or "").resolve()
    if path not in by_path:
        raise PolicyToolError(f"checkov reported on an unexpected file {path}")
    return by_path[path]


def _finding(record: Mapping[str, Any]) -> Finding:
    evaluated = (record.get("check_result") or {}).get("evaluated_keys") or []
    return Finding(
        check_id=record["check_id"],
        title=record.get("check_name") or record["check_id"],
        resource=record["resource"],
        tool="checkov",
        detail=f"evaluated: {', '.join(evaluated)}" if evaluated else "",
        guideline=record.get("guideline"),
        severity=record.get("severity"),
    )


def verify_census(exported: Mapping[str, int], scanned: Mapping[str, int]) -> None:
    """Every exported resource reached checkov's checks, per type (none silently dropped)."""
    types = sorted(set(exported) | set(scanned))
    diff = [
        f"{t}: exported {exported.get(t, 0)}, scanned {scanned.get(t, 0)}"
        for t in types
        if exported.get(t, 0) != scanned.get(t, 0)
    ]
    if diff:
        raise PolicyToolError("checkov did not scan what was exported: " + "; ".join(diff))


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])

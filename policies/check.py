"""`mediakit check`: synth (or read a graph) -> export a plan -> checkov -> parliament -> verdict.

Exit status: 0 when every finding is suppressed with a reason and every suppression is used;
1 on any unsuppressed finding, unused suppression or malformed suppression file; 2 when a tool
could not run or did not scan everything that was exported.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies import checkov_runner, iam_lint, suppressions, tfplan
from policies.findings import Finding, Passed
from policies.suppressions import Suppression, Triage

Graph = dict[str, Any]


@dataclass
class StackReport:
    """The verdict on one graph (one stack, or one variant of it)."""

    key: str
    stack: str
    exported: Counter[str]
    scanned: Counter[str]
    passed: list[Passed]
    triage: Triage
    addresses: dict[str, str] = field(default_factory=dict)  # plan address -> Pulumi URN
    suppression_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.triage.failed or self.triage.unused or self.suppression_errors)

    def failed_ids(self) -> set[str]:
        return {f.check_id for f in self.triage.failed}


@dataclass
class CheckRun:
    """Reports for every graph checked in one run, and where the time went."""

    reports: list[StackReport]
    timings: dict[str, float]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)


def _key(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "graph"
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}-{n}"
    taken.add(key)
    return key


def check_graphs(
    graphs: Mapping[str, Graph],
    work_dir: Path,
    *,
    suppression_file: Path = suppressions.DEFAULT_FILE,
    checkov_outputs: Sequence[str] = ("json",),
) -> CheckRun:
    """Check several graphs with one checkov and one parliament process."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    plans: dict[str, dict[str, Any]] = {}
    paths: dict[str, Path] = {}
    work_dir.mkdir(parents=True, exist_ok=True)
    for key, graph in graphs.items():
        plans[key] = tfplan.graph_to_plan(graph)
        paths[key] = work_dir / f"{key}.plan.json"
        paths[key].write_text(json.dumps(plans[key], indent=1) + "\n")
    timings["export"] = time.perf_counter() - started

    started = time.perf_counter()
    scanned = checkov_runner.run(list(paths.values()), work_dir / "checkov", checkov_outputs)
    timings["checkov"] = time.perf_counter() - started

    started = time.perf_counter()
    lint = iam_lint.lint(plans, work_dir / "parliament")
    timings["parliament"] = time.perf_counter() - started

    try:
        waivers: list[Suppression] = suppressions.load(suppression_file)
        errors: list[str] = []
    except suppressions.SuppressionFileError as exc:
        waivers, errors = [], [str(exc)]

    reports = []
    for key, plan in plans.items():
        result = scanned[paths[key].resolve()]
        exported = tfplan.resource_counts(plan)
        checkov_runner.verify_census(exported, result.scanned)
        stack = str(graphs[key].get("stack") or key)
        findings: list[Finding] = [*result.failed, *lint[key]]
        reports.append(
            StackReport(
                key=key,
                stack=stack,
                exported=exported,
                scanned=result.scanned,
                passed=result.passed,
                triage=suppressions.triage(findings, waivers, stack, graphs[key].get("config")),
                addresses=dict(plan.get("mediakit", {}).get("addresses", {})),
                suppression_errors=errors,
            )
        )
        suppressions.write_checkov_baseline(
            waivers,
            stack,
            f"/{paths[key].name}",
            work_dir / f"{key}.checkov-baseline.json",
            graphs[key].get("config"),
        )
    return CheckRun(reports=reports, timings=timings)


def load_graphs(files: Sequence[Path]) -> dict[str, Graph]:
    """Graph files keyed by a unique, file-name-safe stem."""
    taken: set[str] = set()
    return {_key(f.name.removesuffix(".json"), taken): json.loads(f.read_text()) for f in files}


def synth_graph(stack: str) -> Graph:
    """The stack's resource graph, synthesized offline under Pulumi mocks."""
    from policies.synth import synth

    graph: Graph = synth(stack)
    return graph

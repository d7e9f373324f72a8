"""Running checkov: what makes it skip silently is caught, and its waivers match ours."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from policies import checkov_runner, suppressions, tfplan
from policies.findings import PolicyToolError

# checkov and parliament must be installed: fail with the make target, never skip.
pytestmark = pytest.mark.usefixtures("checkov_venv")

Graph = dict[str, Any]


def _write(directory: Path, name: str, plan: dict[str, Any]) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps(plan))
    return path


@pytest.fixture(scope="session")
def hazards(
    dev_graph: Graph, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, checkov_runner.PlanResult]:
    """One checkov run over the shipped plan and two hand-broken plans."""
    directory = tmp_path_factory.mktemp("plans")
    shipped = tfplan.graph_to_plan(dev_graph)
    # A resource without `mode`: checkov drops it without a word.
    modeless = json.loads(json.dumps(shipped))
    modeless["planned_values"]["root_module"]["resources"][0].pop("mode")
    # An `Allow *:*` role policy written as an object instead of a JSON string.
    as_object = json.loads(json.dumps(shipped))
    for r in as_object["planned_values"]["root_module"]["resources"]:
        if r["type"] == "aws_iam_role_policy":
            r["values"]["policy"] = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
    paths = {
        n: _write(directory, n, p)
        for n, p in [("shipped", shipped), ("modeless", modeless), ("object", as_object)]
    }
    results = checkov_runner.run(list(paths.values()), directory / "out")
    return {n: results[p.resolve()] for n, p in paths.items()}


def test_runner_census_matches_export_for_shipped_plan(
    hazards: dict[str, checkov_runner.PlanResult], dev_graph: Graph
) -> None:
    exported = tfplan.resource_counts(tfplan.graph_to_plan(dev_graph))
    checkov_runner.verify_census(exported, hazards["shipped"].scanned)


def test_runner_census_catches_a_silently_dropped_resource(
    hazards: dict[str, checkov_runner.PlanResult], dev_graph: Graph
) -> None:
    # GIVEN a plan resource without `mode` WHEN checkov scans it THEN the census is one short
    plan = tfplan.graph_to_plan(dev_graph)
    dropped = plan["planned_values"]["root_module"]["resources"][0]["type"]
    with pytest.raises(PolicyToolError, match=f"{dropped}: exported"):
        checkov_runner.verify_census(tfplan.resource_counts(plan), hazards["modeless"].scanned)


def test_runner_policy_objects_pass_silently_which_is_why_we_export_strings(
    hazards: dict[str, checkov_runner.PlanResult],
) -> None:
    # The hazard the exporter guards against (see test_tfplan): an object policy granting *:*
    # is not flagged by checkov's wildcard checks, while the same policy as a string is.
    failed = {f.check_id for f in hazards["object"].failed}
    assert "CKV_AWS_63" not in failed


def test_runner_verify_census_reports_each_difference() -> None:
    with pytest.raises(PolicyToolError, match="aws_sqs_queue: exported 2, scanned 1"):
        checkov_runner.verify_census(Counter(aws_sqs_queue=2), Counter(aws_sqs_queue=1))
    checkov_runner.verify_census(Counter(aws_sqs_queue=2), Counter(aws_sqs_queue=2))


def test_runner_missing_venv_names_the_make_target(tmp_path: Path) -> None:
    with pytest.raises(PolicyToolError, match="make checkov-venv"):
        checkov_runner.tool_path("checkov", tmp_path / "no-venv")


def test_runner_broken_custom_check_is_a_crash_not_a_skip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, graph_min: Graph
) -> None:
    # checkov only logs a custom check it cannot import; the check would never run.
    checks = tmp_path / "checks"
    checks.mkdir()
    (checks / "__init__.py").write_text("")
    (checks / "Broken.py").write_text("import does_not_exist\n")
    monkeypatch.setattr(checkov_runner, "CHECKS_DIR", checks)
    plan = _write(tmp_path, "plan", tfplan.graph_to_plan(graph_min))
    with pytest.raises(PolicyToolError, match="Cannot load external check"):
        checkov_runner.run([plan], tmp_path / "out")


def test_runner_checkov_baseline_from_suppressions_gives_the_same_verdict(
    dev_graph: Graph, tmp_path: Path
) -> None:
    # GIVEN the shipped plan and the baseline generated from suppressions.yaml
    plan = _write(tmp_path, "dev", tfplan.graph_to_plan(dev_graph))
    baseline = suppressions.write_checkov_baseline(
        suppressions.load(), "dev", "/dev.json", tmp_path / "baseline.json", dev_graph["config"]
    )
    # WHEN plain checkov runs with --baseline (checkov's own waiver mechanism)
    cmd = [*checkov_runner.command([plan], tmp_path / "out"), "--baseline", str(baseline)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
    # THEN nothing fails, exactly as `mediakit check` decides with the same list
    report = json.loads((tmp_path / "out" / "results_json.json").read_text())
    assert proc.returncode == 0, report["results"]["failed_checks"]

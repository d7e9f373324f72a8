"""`mediakit check` end to end: exit codes, reports, SARIF for code scanning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from policies import checkov_runner

# checkov and parliament must be installed: fail with the make target, never skip.
pytestmark = pytest.mark.usefixtures("checkov_venv")

ROOT = Path(__file__).resolve().parents[2]
Graph = dict[str, Any]


def _check(args: list[str]) -> tuple[int, str]:
    from mediakit.cli import cli

    result = CliRunner().invoke(cli, ["check", *args], catch_exceptions=False)
    return result.exit_code, result.output


def _graph_file(directory: Path, name: str, graph: Graph) -> Path:
    path = directory / f"{name}.json"
    path.write_text(json.dumps(graph))
    return path


def test_check_cli_shipped_stacks_sarif(
    dev_graph: Graph, prod_graph: Graph, tmp_path: Path
) -> None:
    # GIVEN the shipped dev and prod graphs WHEN checked with SARIF output
    files = [_graph_file(tmp_path, "dev", dev_graph), _graph_file(tmp_path, "prod", prod_graph)]
    out = tmp_path / "report.sarif"
    code, output = _check(
        [*(a for f in files for a in ("--graph", str(f))), "--format", "sarif", "--out", str(out)]
    )
    # THEN it passes, and every accepted finding is in the SARIF as suppressed, with its reason
    assert code == 0, output
    sarif = json.loads(out.read_text())
    assert sarif["version"] == "2.1.0"
    assert [r["automationDetails"]["id"] for r in sarif["runs"]] == [
        "mediakit-check/dev/",
        "mediakit-check/prod/",
    ]
    for run in sarif["runs"]:
        rule_ids = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
        assert run["results"]
        for result in run["results"]:
            assert result["ruleId"] in rule_ids
            assert result["suppressions"][0]["justification"]
            uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            assert (ROOT / uri).is_file(), uri


def test_check_cli_weakened_graph_fails_and_stale_suppression_is_reported(
    dev_graph: Graph, tmp_path: Path
) -> None:
    # GIVEN a dev graph whose bucket policy lost its TLS deny, and a suppression list with an
    # extra entry that matches nothing
    graph = json.loads(json.dumps(dev_graph))
    policy_res = next(r for r in graph["resources"] if r["name"] == "media-storage-bucket-policy")
    doc = json.loads(policy_res["inputs"]["policy"])
    doc["Statement"] = [s for s in doc["Statement"] if s["Sid"] != "DenyInsecureTransport"]
    for part in ("inputs", "state"):
        policy_res[part]["policy"] = json.dumps(doc)
    entries = yaml.safe_load((ROOT / "policies" / "suppressions.yaml").read_text())
    entries["suppressions"].append(
        {
            "check": "CKV_AWS_21",
            "resource": "aws_s3_bucket.nowhere",
            "reason": "An entry that no longer matches anything.",
        }
    )
    sup = tmp_path / "suppressions.yaml"
    sup.write_text(yaml.safe_dump(entries))
    # WHEN checked
    code, output = _check(
        ["--graph", str(_graph_file(tmp_path, "weak", graph)), "--suppressions", str(sup)]
    )
    # THEN it fails naming the check and resource, and the stale suppression
    assert code == 1
    assert "FAILED      MKIT_AWS_001 aws_s3_bucket_policy.media-storage-bucket-policy" in output
    assert "UNUSED      suppression CKV_AWS_21 on aws_s3_bucket.nowhere" in output


def test_check_cli_prod_synth_passes() -> None:
    code, output = _check(["--stack", "prod", "--format", "json"])
    assert code == 0, output
    report = json.loads(output[: output.rindex("}") + 1])
    [stack] = report["stacks"]
    assert stack["stack"] == "prod"
    assert stack["summary"]["failed"] == 0
    assert stack["summary"]["passed"] > 100


def test_check_cli_prod_summary_shows_each_finding_once() -> None:
    # GIVEN the prod stack, whose CloudWatch Logs key statement parliament flags once per
    # kms:Describe* action WHEN checked with the cli summary
    code, output = _check(["--stack", "prod"])
    assert code == 0, output
    lines = [line for line in output.splitlines() if line.startswith("  suppressed  ")]
    # THEN no line repeats, and those findings are told apart by the action they are about
    assert lines
    assert len(lines) == len(set(lines)), output
    logs = [line for line in lines if "UNKNOWN_CONDITION_FOR_ACTION" in line]
    assert len(logs) == 2
    assert any("for action kms:DescribeKey)" in line for line in logs)
    assert any("for action kms:DescribeCustomKeyStores)" in line for line in logs)


def test_check_cli_needs_a_stack_or_graph() -> None:
    code, output = _check([])
    assert code == 2
    assert "--stack" in output


def test_check_cli_stack_and_graph_exclude_each_other(graph_min: Graph, tmp_path: Path) -> None:
    # GIVEN both a stack and a graph WHEN checked THEN it is a usage error, not a silent choice
    code, output = _check(
        ["--stack", "prod", "--graph", str(_graph_file(tmp_path, "g", graph_min))]
    )
    assert code == 2
    assert "exclude each other" in output


def test_check_cli_unknown_stack_is_a_one_line_error_exit_2() -> None:
    # GIVEN a stack with no Pulumi.<stack>.yaml WHEN checked THEN exit 2 with the file named
    code, output = _check(["--stack", "staging"])
    assert code == 2
    assert "Pulumi.staging.yaml" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("name", ["../etc/passwd", "/etc/passwd", "dev/../prod", ".x", "a b"])
def test_check_cli_invalid_stack_name_is_a_usage_error_exit_2(name: str) -> None:
    # GIVEN a stack name that is not one path segment WHEN checked
    code, output = _check(["--stack", name])
    # THEN it is refused as a usage error naming the option, before anything is synthesized
    assert code == 2
    assert "Invalid value for '--stack'" in output
    assert "invalid stack name" in output
    assert "Traceback" not in output


def test_check_cli_missing_checkov_venv_exits_2(
    graph_min: Graph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkov_runner, "CHECKOV_VENV", tmp_path / "missing")
    code, output = _check(["--graph", str(_graph_file(tmp_path, "g", graph_min))])
    assert code == 2
    assert "make checkov-venv" in output

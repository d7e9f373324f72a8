"""Rendering a check run: every finding shown once, and told apart from its neighbours."""

from __future__ import annotations

from collections import Counter
from typing import Any

from policies import report
from policies.check import CheckRun, StackReport
from policies.findings import Finding
from policies.suppressions import Suppression, Triage

KEY_POLICY = "aws_kms_key_policy.media-storage-key-policy"
SID = "CloudWatchLogsEncryptLogGroups"
REASON = "kms:Describe* requests carry no encryption context"


def _parliament(action: str) -> Finding:
    return Finding(
        check_id="parliament/UNKNOWN_CONDITION_FOR_ACTION",
        title="Unknown condition for action",
        resource=KEY_POLICY,
        tool="parliament",
        detail=f"Unknown condition kms:EncryptionContext:aws:logs:arn for action {action}",
        statement=SID,
    )


def _run(failed: list[Finding], suppressed: list[Finding]) -> CheckRun:
    waiver = Suppression(suppressed[0].check_id, KEY_POLICY, REASON, SID) if suppressed else None
    triage = Triage(failed=failed, suppressed=[(f, waiver) for f in suppressed if waiver])
    stack = StackReport("prod", "prod", Counter(), Counter(), [], triage)
    return CheckRun([stack], {"total": 1.0})


def _sarif_results(run: CheckRun) -> list[dict[str, Any]]:
    (sarif_run,) = report.to_sarif(run)["runs"]
    results: list[dict[str, Any]] = sarif_run["results"]
    return results


def test_report_text_tells_apart_findings_on_one_statement() -> None:
    # GIVEN parliament reporting one issue on one statement twice, once per action of
    # kms:Describe* (as it does for the stack key's CloudWatch Logs statement)
    findings = [_parliament("kms:DescribeKey"), _parliament("kms:DescribeCustomKeyStores")]
    for failed, suppressed in ((findings, []), ([], findings)):
        # WHEN the run is rendered as the cli summary, failed or suppressed
        text = report.to_text(_run(failed, suppressed))
        lines = [line for line in text.splitlines() if "UNKNOWN_CONDITION_FOR_ACTION" in line]
        # THEN there is one line per finding, each naming its action, none repeated
        assert len(lines) == 2
        assert len(set(lines)) == 2
        assert "for action kms:DescribeCustomKeyStores)" in lines[0]
        assert "for action kms:DescribeKey)" in lines[1]
        assert all(f"[{SID}] (Unknown condition" in line for line in lines)


def test_report_sarif_gives_findings_on_one_statement_their_own_fingerprints() -> None:
    # GIVEN the same two findings, one failed and one suppressed
    run = _run([_parliament("kms:DescribeKey")], [_parliament("kms:DescribeCustomKeyStores")])
    # WHEN rendered as SARIF
    results = _sarif_results(run)
    # THEN code scanning sees two alerts, not one merged by a shared fingerprint
    fingerprints = [r["partialFingerprints"] for r in results]
    assert len(results) == 2
    assert fingerprints[0] != fingerprints[1]


def test_report_sarif_checkov_fingerprint_ignores_the_evaluated_keys() -> None:
    # GIVEN one checkov finding whose detail (the evaluated keys) differs between two runs
    def checkov(detail: str) -> Finding:
        return Finding("CKV_AWS_1", "title", "aws_s3_bucket.media", "checkov", detail=detail)

    first = _sarif_results(_run([checkov("evaluated: a")], []))
    second = _sarif_results(_run([checkov("evaluated: a, b")], []))
    # WHEN / THEN it keeps its identity: checkov reports a check once per resource
    assert first[0]["partialFingerprints"] == second[0]["partialFingerprints"]

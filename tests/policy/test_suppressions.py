"""The suppression list: every entry has a reason, matches precisely, and is used."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies import suppressions
from policies.findings import Finding
from policies.suppressions import Suppression

REASON = "S3 server access logging only delivers to SSE-S3 buckets."


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "suppressions.yaml"
    path.write_text(body)
    return path


def _finding(
    check: str = "CKV_AWS_145", resource: str = "aws_s3_bucket.logs", sid: str | None = None
) -> Finding:
    return Finding(check_id=check, title="t", resource=resource, tool="checkov", statement=sid)


def test_suppressions_shipped_file_loads_with_reasons() -> None:
    loaded = suppressions.load()
    assert loaded
    assert all(len(s.reason.split()) >= 5 for s in loaded)


def test_suppressions_entry_without_reason_is_an_error(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "suppressions:\n  - check: CKV_AWS_145\n    resource: aws_s3_bucket.logs\n"
    )
    with pytest.raises(suppressions.SuppressionFileError, match="needs a reason"):
        suppressions.load(path)


def test_suppressions_one_word_reason_is_not_a_reason(tmp_path: Path) -> None:
    body = (
        "suppressions:\n  - {check: CKV_AWS_145, resource: aws_s3_bucket.logs, reason: accepted}\n"
    )
    with pytest.raises(suppressions.SuppressionFileError, match="needs a reason"):
        suppressions.load(_write(tmp_path, body))


def test_suppressions_entry_without_resource_is_an_error(tmp_path: Path) -> None:
    body = f"suppressions:\n  - {{check: CKV_AWS_145, reason: '{REASON}'}}\n"
    with pytest.raises(suppressions.SuppressionFileError, match="needs `check` and `resource`"):
        suppressions.load(_write(tmp_path, body))


def test_suppressions_duplicates_are_an_error(tmp_path: Path) -> None:
    entry = f"  - {{check: CKV_AWS_145, resource: aws_s3_bucket.logs, reason: '{REASON}'}}\n"
    with pytest.raises(suppressions.SuppressionFileError, match="duplicate"):
        suppressions.load(_write(tmp_path, "suppressions:\n" + entry + entry))


def test_suppressions_triage_splits_failed_suppressed_and_unused() -> None:
    used = Suppression("CKV_AWS_145", "aws_s3_bucket.logs", REASON)
    stale = Suppression("CKV_AWS_18", "aws_s3_bucket.gone", REASON)
    other = _finding("CKV_AWS_21")
    result = suppressions.triage([_finding(), other], [used, stale], "dev")
    assert result.failed == [other]
    assert result.suppressed == [(_finding(), used)]
    assert result.unused == [stale]


def test_suppressions_stack_scope() -> None:
    dev_only = Suppression("CKV_AWS_338", "aws_cloudwatch_log_group.l", REASON, stacks=("dev",))
    assert suppressions.triage(
        [_finding("CKV_AWS_338", "aws_cloudwatch_log_group.l")], [dev_only], "prod"
    ).failed
    # out of scope for prod, so not reported as unused there either
    assert suppressions.triage([], [dev_only], "prod").unused == []
    assert suppressions.triage([], [dev_only], "dev").unused == [dev_only]


def test_suppressions_statement_narrows_to_one_sid() -> None:
    sup = Suppression("parliament/RESOURCE_STAR", "aws_kms_key_policy.k", REASON, statement="A")
    result = suppressions.triage(
        [_finding("parliament/RESOURCE_STAR", "aws_kms_key_policy.k", sid) for sid in ("A", "B")],
        [sup],
        "dev",
    )
    assert [f.statement for f in result.failed] == ["B"]


def test_suppressions_checkov_baseline_leaves_out_parliament() -> None:
    entries = [
        Suppression("CKV_AWS_145", "aws_s3_bucket.logs", REASON),
        Suppression("CKV_AWS_144", "aws_s3_bucket.logs", REASON),
        Suppression("parliament/RESOURCE_STAR", "aws_kms_key_policy.k", REASON),
    ]
    baseline = suppressions.checkov_baseline(entries, "dev", "/dev.plan.json")
    assert baseline == {
        "failed_checks": [
            {
                "file": "/dev.plan.json",
                "findings": [
                    {"resource": "aws_s3_bucket.logs", "check_ids": ["CKV_AWS_144", "CKV_AWS_145"]}
                ],
            }
        ]
    }


def test_suppressions_when_holds_only_under_the_given_config() -> None:
    # GIVEN a waiver for a finding a custom domain fixes
    sup = Suppression(
        "CKV_AWS_174", "aws_cloudfront_distribution.d", REASON, when=(("cdnDomainName", ""),)
    )
    finding = _finding("CKV_AWS_174", "aws_cloudfront_distribution.d")
    # THEN it waives the finding without a domain ...
    default = suppressions.triage([finding], [sup], "prod", {"cdnDomainName": ""})
    assert default.suppressed == [(finding, sup)]
    # ... and is out of scope with one: neither waiving a finding nor reported unused
    custom = {"cdnDomainName": "media.example.org"}
    assert suppressions.triage([finding], [sup], "x", custom).failed == [finding]
    assert suppressions.triage([], [sup], "x", custom).unused == []
    # a graph without that config key never gets the waiver
    assert suppressions.triage([finding], [sup], "x", {}).failed == [finding]


def test_suppressions_unless_holds_except_under_the_given_config() -> None:
    sup = Suppression("MKIT_AWS_002", "aws_s3_bucket_policy.p", REASON, unless=(("kmsKeyArn", ""),))
    finding = _finding("MKIT_AWS_002", "aws_s3_bucket_policy.p")
    assert suppressions.triage([], [sup], "prod", {"kmsKeyArn": ""}).unused == []
    existing = {"kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k"}
    assert suppressions.triage([finding], [sup], "prod", existing).suppressed == [(finding, sup)]


def test_suppressions_file_reads_when_and_unless(tmp_path: Path) -> None:
    body = (
        "suppressions:\n"
        f"  - {{check: CKV_AWS_68, resource: aws_cloudfront_distribution.d, reason: '{REASON}',"
        " when: {cdnWebAclArn: ''}}\n"
        f"  - {{check: CKV_AWS_68, resource: aws_cloudfront_distribution.d, reason: '{REASON}',"
        " unless: {cdnWebAclArn: ''}}\n"
    )
    first, second = suppressions.load(_write(tmp_path, body))
    assert (first.when, first.unless) == ((("cdnWebAclArn", ""),), ())
    assert (second.when, second.unless) == ((), (("cdnWebAclArn", ""),))
    bad = f"suppressions:\n  - {{check: C, resource: r, reason: '{REASON}', when: [x]}}\n"
    with pytest.raises(suppressions.SuppressionFileError, match="map config keys to values"):
        suppressions.load(_write(tmp_path, bad))

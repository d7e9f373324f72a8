"""Each check we rely on fails when the stack is weakened in the way it guards against, and the
shipped stacks pass with only reviewed suppressions. All graphs go through one `mediakit check`
(one checkov process); see `check_all` and `VARIANTS` in conftest.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policies import suppressions, tfplan

# checkov and parliament must be installed: fail with the make target, never skip.
pytestmark = pytest.mark.usefixtures("checkov_venv")

Variants = dict[str, tuple[Callable[[dict[str, Any]], None], list[tuple[str, str]]]]
CHECKS_DIR = Path(__file__).resolve().parents[2] / "policies" / "checks"
# The checkov checks the kit relies on: each must pass on the shipped stack and fail on a
# weakened copy below (a check that cannot fail here proves nothing).
RELIED_ON_CHECKOV = {
    "CKV2_AWS_6",
    "CKV_AWS_53",
    "CKV_AWS_54",
    "CKV_AWS_55",
    "CKV_AWS_56",  # public access block
    "CKV_AWS_27",  # SQS encryption
    "CKV_AWS_63",
    "CKV_AWS_62",
    "CKV_AWS_355",  # IAM wildcards
    "CKV_AWS_34",  # HTTPS viewers
    "CKV_AWS_21",
    "CKV_AWS_145",
    "CKV_AWS_18",
    "CKV2_AWS_65",
    "CKV_AWS_300",  # bucket
    "CKV_AWS_7",
    "CKV_AWS_28",
    "CKV_AWS_50",
    "CKV_AWS_158",
    "CKV_AWS_309",
    "CKV_AWS_26",
}


def _mkit_ids() -> set[str]:
    ids = set()
    for path in CHECKS_DIR.glob("*.py"):
        ids.update(re.findall(r'id="(MKIT_[A-Z0-9_]+)"', path.read_text()))
    return ids - {"MKIT_000"}


def _failed(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["check_id"], f["resource"]) for f in report["failed"]}


def test_check_weakened_stack_fails_with_the_guarding_check(
    check_all: tuple[int, dict[str, Any], float], variant: str, variants: Variants
) -> None:
    # GIVEN the dev stack weakened in one way
    code, reports, _ = check_all
    _, expected = variants[variant]
    # WHEN mediakit check runs on it
    report = reports[variant]
    # THEN it fails, naming the guarding check on the weakened resource
    assert code == 1
    assert not report["ok"]
    assert set(expected) <= _failed(report), report["failed"]


def test_check_shipped_stacks_pass_with_only_reasoned_suppressions(
    check_all: tuple[int, dict[str, Any], float], shipped: tuple[str, ...]
) -> None:
    _, reports, _ = check_all
    for key in shipped:
        report = reports[key]
        assert report["ok"], (key, report["failed"], report["unused_suppressions"])
        assert report["failed"] == []
        assert all(len(s["reason"].split()) >= 5 for s in report["suppressed"])


def test_check_every_suppression_is_used_by_a_shipped_stack(
    check_all: tuple[int, dict[str, Any], float], shipped: tuple[str, ...]
) -> None:
    _, reports, _ = check_all
    used = {
        (s["check_id"], s["resource"], s.get("statement"))
        for key in shipped
        for s in reports[key]["suppressed"]
    }
    for s in suppressions.load():
        # a trailing * covers the resources a setting multiplies (one delivery key a generation)
        prefix = s.resource[:-1] if s.resource.endswith("*") else None
        assert any(
            s.check == c
            and (r == s.resource or (prefix is not None and r.startswith(prefix)))
            and s.statement in (None, sid)
            for c, r, sid in used
        ), s.label()


def test_check_scans_every_exported_resource_per_type(
    check_all: tuple[int, dict[str, Any], float], dev_graph: dict[str, Any]
) -> None:
    _, reports, _ = check_all
    exported = tfplan.resource_counts(tfplan.graph_to_plan(dev_graph))
    report = reports["shipped-dev"]
    assert report["scanned_per_type"] == dict(sorted(exported.items()))
    assert report["summary"]["resources_scanned"] == report["summary"]["resources_exported"]


def test_check_relied_on_checks_pass_on_shipped_and_fail_on_a_variant(
    check_all: tuple[int, dict[str, Any], float], variants: Variants
) -> None:
    _, reports, _ = check_all
    relied = RELIED_ON_CHECKOV | _mkit_ids()
    passed = set(reports["shipped-dev"]["passed_per_check"])
    assert relied <= passed, sorted(relied - passed)
    failing = {c for key in variants for c, _ in _failed(reports[key])}
    assert relied <= failing, sorted(relied - failing)


def test_check_variants_fail_only_where_weakened(
    check_all: tuple[int, dict[str, Any], float], variants: Variants
) -> None:
    # A weakened copy must not trip unrelated checks: that would mean the export, not the
    # mutation, changed what checkov sees.
    _, reports, _ = check_all
    for key, (_, expected) in variants.items():
        resources = {r for _, r in expected}
        stray = {(c, r) for c, r in _failed(reports[key]) if r not in resources}
        assert not stray, (key, stray)


def test_check_one_run_scans_all_graphs(
    check_all: tuple[int, dict[str, Any], float],
    variants: Variants,
    malware_variants: Variants,
    media_variants: Variants,
    shipped: tuple[str, ...],
) -> None:
    # (how long it takes is bench/policy_timings.py's business, not a test's)
    _, reports, _ = check_all
    weakened = len(variants) + len(malware_variants) + len(media_variants)
    assert len(reports) == weakened + len(shipped)


def test_check_custom_domain_and_waf_fix_what_the_default_stacks_waive(
    check_all: tuple[int, dict[str, Any], float],
) -> None:
    # GIVEN the example with a custom domain (ACM certificate, TLSv1.2_2021) and a web ACL
    _, reports, _ = check_all
    dist = "aws_cloudfront_distribution.media-cdn-distribution"
    fixed = {("CKV_AWS_174", dist), ("CKV2_AWS_42", dist), ("CKV_AWS_68", dist)}

    def waived(key: str) -> set[tuple[str, str]]:
        return {(s["check_id"], s["resource"]) for s in reports[key]["suppressed"]}

    # THEN those checks pass there with no waiver, while dev and prod still need one
    assert fixed <= waived("shipped-dev")
    assert fixed <= waived("shipped-prod")
    assert not fixed & waived("shipped-example-domains")
    passed = set(reports["shipped-example-domains"]["passed_per_check"])
    assert {"CKV_AWS_174", "CKV2_AWS_42", "CKV_AWS_68"} <= passed


def test_check_private_delivery_requires_the_key_group_public_mode_is_explicit(
    check_all: tuple[int, dict[str, Any], float],
) -> None:
    # GIVEN the default (private) stacks, the public-mode stack, and private without key group
    _, reports, _ = check_all
    dist = "aws_cloudfront_distribution.media-cdn-distribution"

    def failed(key: str) -> set[tuple[str, str]]:
        return {(f["check_id"], f["resource"]) for f in reports[key]["failed"]}

    # THEN MKIT_AWS_010 passes where the key group is trusted or the functions say public,
    # and fails the weakened copy, whose functions still sign URLs
    for key in ("shipped-dev", "shipped-prod", "shipped-public-delivery"):
        assert reports[key]["ok"], key
        assert ("MKIT_AWS_010", dist) not in failed(key)
    assert ("MKIT_AWS_010", dist) in failed("unsigned-derivatives")

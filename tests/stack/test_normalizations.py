"""No input the stack sets is one AWS rewrites, ignores or rejects (a perpetual diff or a failed
`pulumi up` that synthesizing twice cannot show), and docs/deploy.md lists every known rule."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from policies.synth import load_stack_config, synth
from stacks.normalizations import RULES, violations
from tests.stack.conftest import StackGraph

ROOT = Path(__file__).resolve().parents[2]
EXISTING_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def option_graphs() -> list[StackGraph]:
    """The shipped paths besides dev/prod: custom domains + WAF + tags, and an existing key."""
    existing = load_stack_config("prod") | {"kmsKeyArn": EXISTING_KEY}
    return [StackGraph(synth("example-domains")), StackGraph(synth("prod", existing))]


def test_no_input_the_stack_sets_is_one_aws_rewrites(
    stack: StackGraph, option_graphs: list[StackGraph]
) -> None:
    # GIVEN every shipped path WHEN each rule is run over each resource THEN none fires
    for graph in (stack, *option_graphs):
        assert violations(graph.resources) == [], graph.raw["stack"]


def _one(graph: StackGraph, name: str) -> dict[str, Any]:
    return copy.deepcopy(graph.get(name))


def test_each_rule_fires_on_the_input_it_describes(dev: StackGraph) -> None:
    # GIVEN the shipped resources, each changed in the way one rule describes
    dist = _one(dev, "media-cdn-distribution")
    dist["inputs"]["viewerCertificate"]["minimumProtocolVersion"] = "TLSv1.2_2021"
    sni = _one(dev, "media-cdn-distribution")
    sni["inputs"]["viewerCertificate"]["sslSupportMethod"] = "sni-only"
    table = _one(dev, "media-storage-uploads")
    table["inputs"]["serverSideEncryption"]["kmsKeyArn"] = "alias/mediakit"
    function = _one(dev, "media-compute-presign")
    function["inputs"]["sourceCodeHash"] = "c2FtZQ=="
    logs = _one(dev, "media-compute-presign-logs")
    logs["inputs"]["retentionInDays"] = 10.0
    # THEN exactly that rule fires on exactly that resource
    assert violations([dist, sni, table, function, logs]) == [
        ("cloudfront-default-certificate-tls", "media-cdn-distribution"),
        ("cloudfront-default-certificate-sni", "media-cdn-distribution"),
        ("dynamodb-sse-key-arn", "media-storage-uploads"),
        ("lambda-code-sha256", "media-compute-presign"),
        ("log-group-retention", "media-compute-presign-logs"),
    ]


def test_rule_ids_are_unique_and_documented() -> None:
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    docs = (ROOT / "docs" / "deploy.md").read_text()
    for rule in RULES:
        assert f"| `{rule.id}` |" in docs, rule.id

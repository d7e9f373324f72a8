"""Least privilege in public delivery mode: every flow of tests/policy/test_least_privilege.py
against the public-mode dev graph, where record views carry plain CloudFront URLs (no kms:Sign)
and DELETE and purge invalidate the derivative paths (cloudfront:CreateInvalidation on this
distribution), recorded on moto and compared with the roles' grants."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from policies import least_privilege as lp
from policies.synth import ACCOUNT_ID, load_stack_config, synth
from tests.policy.test_least_privilege import (
    PRESIGN,
    PROCESSOR,
    Flows,
    Graph,
    Run,
    by_type,
    mutated,
    recorded_run,
    run_flows,
)

DISTRIBUTION = "aws:cloudfront/distribution:Distribution"


def provision_distribution(graph: Graph) -> str:
    """A moto distribution under the graph's id (CreateDistribution takes no id, so it is
    re-registered, as the signing keys are); made by the test, never attributed to a role."""
    from moto.cloudfront.models import cloudfront_backends

    (dist,) = by_type(graph, DISTRIBUTION)
    client = boto3.client("cloudfront")
    created = client.create_distribution(
        DistributionConfig={
            "CallerReference": "lp-public",
            "Comment": "least privilege, public delivery",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "media-bucket",
                        "DomainName": "media.s3.amazonaws.com",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "media-bucket",
                "ViewerProtocolPolicy": "https-only",
                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            },
        }
    )["Distribution"]
    backend = cloudfront_backends[ACCOUNT_ID]["aws"]
    moto_dist = backend.distributions.pop(created["Id"])
    moto_dist.distribution_id = dist["id"]
    backend.distributions[dist["id"]] = moto_dist
    return str(dist["id"])


@pytest.fixture(scope="module")
def public_run() -> Iterator[Run]:
    graph: Graph = synth("dev", {**load_stack_config("dev"), "deliveryMode": "public"})

    def flows_runner(
        flows: Flows, processor_events: list[dict[str, Any]], queue_url: str
    ) -> dict[str, str]:
        provision_distribution(graph)
        return run_flows(flows, processor_events, queue_url)

    with recorded_run(graph, flows_runner) as run:
        yield run


def test_least_privilege_public_delivery_grants_exactly_what_its_calls_need(
    public_run: Run,
) -> None:
    # GIVEN the public-mode graph's grants and the needs recorded by every flow
    diffs = lp.compare(lp.role_grants(public_run.graph), public_run.needs())
    # THEN nothing is missing, unused or broader than needed, for both roles
    assert {d.role for d in diffs} == {public_run.role(PRESIGN), public_run.role(PROCESSOR)}
    assert lp.format_diffs(diffs) == ""


def test_least_privilege_public_delivery_invalidates_and_never_signs(public_run: Run) -> None:
    needs = public_run.needs()[public_run.role(PRESIGN)]
    (dist,) = by_type(public_run.graph, DISTRIBUTION)
    invalidations = {n.resource for n in needs if n.action == "cloudfront:CreateInvalidation"}
    assert invalidations == {dist["state"]["arn"]}
    assert not any(n.action == "kms:Sign" for n in needs)


def test_least_privilege_public_delivery_fails_without_the_invalidation_grant(
    public_run: Run,
) -> None:
    # GIVEN the public-mode graph without the presign role's CreateInvalidation statement
    def drop(statements: list[dict[str, Any]]) -> None:
        statements[:] = [s for s in statements if s["Sid"] != "InvalidateDeletedDerivatives"]

    graph = mutated(public_run.graph, public_run.role(PRESIGN), drop)
    # WHEN compared with the same recorded calls THEN the missing grant is reported
    report = lp.format_diffs(lp.compare(lp.role_grants(graph), public_run.needs()))
    assert "MISSING   cloudfront:CreateInvalidation on arn:aws:cloudfront::" in report

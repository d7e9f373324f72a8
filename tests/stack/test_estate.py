"""Fitting an existing estate: tags on everything taggable, custom domains, a WAF web ACL on the
CDN, and an existing KMS key whose policy the stack leaves alone."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from policies import documents
from policies.synth import load_stack_config, synth
from stacks.tagging import PROJECT_TAG, STACK_TAG, TAGGABLE_TYPES, UNTAGGABLE_TYPES
from tests.stack.conftest import StackGraph

DIST = "media-cdn-distribution"
EXISTING_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def domains() -> StackGraph:
    return StackGraph(synth("example-domains"))


@pytest.fixture(scope="module")
def existing_key() -> StackGraph:
    return StackGraph(synth("prod", load_stack_config("prod") | {"kmsKeyArn": EXISTING_KEY}))


def _takes_tags(token: str) -> bool:
    """Whether pulumi-aws's resource class for `token` has a `tags` input."""
    module, name = token.split(":")[1].split("/")[0], token.rsplit(":", 1)[1]
    try:
        package = importlib.import_module(f"pulumi_aws.{module}")
    except ImportError:
        package = importlib.import_module(f"pulumi_aws.{module}_")  # lambda_
    return "tags" in inspect.signature(getattr(package, name)._internal_init).parameters


def _all_graphs(stack: StackGraph, domains: StackGraph, existing_key: StackGraph) -> list[Any]:
    return [stack, domains, existing_key]


def test_taggable_types_list_matches_pulumi_aws(
    stack: StackGraph, domains: StackGraph, existing_key: StackGraph
) -> None:
    # GIVEN every pulumi-aws type any shipped path creates
    used = {r["type"] for g in _all_graphs(stack, domains, existing_key) for r in g if r["custom"]}
    # THEN each is classified, and the classification is pulumi-aws's own
    assert used <= TAGGABLE_TYPES | UNTAGGABLE_TYPES, used - TAGGABLE_TYPES - UNTAGGABLE_TYPES
    assert not TAGGABLE_TYPES & UNTAGGABLE_TYPES
    for token in TAGGABLE_TYPES:
        assert _takes_tags(token), token
    for token in UNTAGGABLE_TYPES:
        assert not _takes_tags(token), token


def test_every_taggable_resource_carries_the_kits_tags(stack: StackGraph) -> None:
    # GIVEN no `tags` config WHEN the graph is walked THEN nothing taggable is untagged
    expected = {PROJECT_TAG: "mediakit", STACK_TAG: stack.raw["stack"]}
    taggable = [r for r in stack if r["type"] in TAGGABLE_TYPES]
    assert len(taggable) >= 20
    for r in taggable:
        assert r["inputs"].get("tags") == expected, r["name"]


def test_configured_tags_reach_every_taggable_resource(domains: StackGraph) -> None:
    # GIVEN the example's estate tags
    estate = json.loads(load_stack_config("example-domains")["tags"])
    assert domains.config["tags"] == estate
    expected = {**estate, PROJECT_TAG: "mediakit", STACK_TAG: "example-domains"}
    # THEN every taggable resource, the custom domain's included, carries them and the kit's
    for r in domains:
        if r["type"] in TAGGABLE_TYPES:
            assert r["inputs"].get("tags") == expected, r["name"]
    assert domains.inputs("media-api-domain")["tags"] == expected


def test_cdn_custom_domain_uses_its_certificate_with_tls_1_2_2021(domains: StackGraph) -> None:
    config = load_stack_config("example-domains")
    dist = domains.inputs(DIST)
    assert dist["aliases"] == [config["cdnDomainName"]]
    assert dist["viewerCertificate"] == {
        "acmCertificateArn": config["cdnCertificateArn"],
        "sslSupportMethod": "sni-only",
        "minimumProtocolVersion": "TLSv1.2_2021",
    }
    # Derivative URLs use the custom domain; DNS points it at the distribution (the user's job).
    assert domains.outputs["cdn_domain"] == config["cdnDomainName"]
    assert domains.outputs["cdn_dns_target"] == domains.state(DIST)["domainName"]
    for fn in ("media-compute-presign", "media-compute-processor"):
        variables = domains.inputs(fn)["environment"]["variables"]
        assert config["cdnDomainName"] in variables.values()
        assert domains.state(DIST)["domainName"] not in variables.values()


def test_api_custom_domain_is_mapped_to_the_default_stage(domains: StackGraph) -> None:
    config = load_stack_config("example-domains")
    domain = domains.inputs("media-api-domain")
    assert domain["domainName"] == config["apiDomainName"]
    assert domain["domainNameConfiguration"] == {
        "certificateArn": config["apiCertificateArn"],
        "endpointType": "REGIONAL",
        "securityPolicy": "TLS_1_2",
    }
    mapping = domains.inputs("media-api-domain-mapping")
    assert mapping["apiId"] == domains.state("media-api-http")["id"]
    assert mapping["domainName"] == domains.state("media-api-domain")["id"]
    assert mapping["stage"] == domains.state("media-api-stage")["id"]
    assert domains.created_after("media-api-domain-mapping", "media-api-stage")
    assert domains.outputs["api_url"] == f"https://{config['apiDomainName']}"
    target = domains.state("media-api-domain")["domainNameConfiguration"]["targetDomainName"]
    assert domains.outputs["api_dns_target"] == target


def test_waf_web_acl_attaches_to_the_distribution_only(domains: StackGraph) -> None:
    config = load_stack_config("example-domains")
    assert domains.inputs(DIST)["webAclId"] == config["cdnWebAclArn"]
    # WAF cannot attach to an HTTP API: nothing in the graph tries to.
    assert not [r for r in domains if r["type"].startswith("aws:wafv2/")]


def test_default_stacks_have_no_domains_waf_or_extra_outputs(stack: StackGraph) -> None:
    assert "webAclId" not in stack.inputs(DIST)
    assert not stack.of_type("aws:apigatewayv2/domainName:DomainName")
    assert not {"cdn_dns_target", "api_dns_target", "kms_key_policy"} & set(stack.outputs)


def test_existing_key_is_used_everywhere_and_its_policy_left_alone(
    existing_key: StackGraph,
) -> None:
    # GIVEN kmsKeyArn THEN the stack creates no key, alias or key policy (beside the private
    # delivery mode's URL-signing key, which signs and never encrypts, and the listing
    # cursors' HMAC key, which only makes MACs) ...
    created = [r for r in existing_key if r["type"].startswith("aws:kms/")]
    assert sorted((r["name"], r["inputs"]["keyUsage"]) for r in created) == [
        ("media-cursor-key-1", "GENERATE_VERIFY_MAC"),
        ("media-delivery-key-1", "SIGN_VERIFY"),
    ]
    # ... and encrypts everything with the given key
    assert existing_key.outputs["kms_key_arn"] == EXISTING_KEY
    sse = existing_key.inputs("media-storage-bucket-sse")["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == EXISTING_KEY
    assert existing_key.inputs("media-storage-uploads")["serverSideEncryption"]["kmsKeyArn"] == (
        EXISTING_KEY
    )
    for name in ("media-compute-presign-logs", "media-api-access-logs"):
        assert existing_key.inputs(name)["kmsKeyId"] == EXISTING_KEY
    assert existing_key.inputs("media-alarms-topic")["kmsMasterKeyId"] == EXISTING_KEY
    assert existing_key.inputs("media-compute-processor")["kmsKeyArn"] == EXISTING_KEY
    deny = existing_key.statements("media-storage-bucket-policy")["DenyOtherKmsKey"]
    assert deny["Condition"]["StringNotEqualsIfExists"] == {
        "s3:x-amz-server-side-encryption-aws-kms-key-id": EXISTING_KEY
    }


def test_existing_key_policy_output_lists_what_the_key_must_allow(
    existing_key: StackGraph,
) -> None:
    # GIVEN an existing key, whose policy is its owner's to set
    printed = json.loads(existing_key.outputs["kms_key_policy"])
    # THEN the output is the kit's own key policy for this stack's roles and distribution
    expected = documents.key_policy(
        account_id="123456789012",
        region="us-east-1",
        partition="aws",
        presign_role_arn=existing_key.state("media-compute-presign-role")["arn"],
        processor_role_arn=existing_key.state("media-compute-processor-role")["arn"],
        distribution_arn=existing_key.state(DIST)["arn"],
    )
    assert printed == expected
    assert {s["Sid"] for s in printed["Statement"]} == {
        "AccountRootFullAccess",
        "PresignRoleUseKey",
        "ProcessorRoleUseKey",
        "CloudFrontDecryptForDistribution",
        "CloudWatchLogsEncryptLogGroups",
        "CloudWatchAlarmsPublishEncrypted",
    }


def test_deploy_docs_list_every_statement_an_existing_key_needs(existing_key: StackGraph) -> None:
    # The table in docs/deploy.md is what a key owner applies before and after the first deploy.
    docs = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    for statement in json.loads(existing_key.outputs["kms_key_policy"])["Statement"]:
        assert f"`{statement['Sid']}`" in docs, statement["Sid"]

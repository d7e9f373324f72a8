"""The graph -> Terraform plan export: type table, attribute names, value shapes, references."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from policies import tfplan

PULUMI_AWS = Path(__import__("pulumi_aws").__file__).parent
Graph = dict[str, Any]


def _resource(graph: Graph, token: str, inputs: dict[str, Any], name: str = "r") -> Graph:
    # Pulumi names repeat under different parents; URNs never do.
    parent = f"mediakit:stack:C{len(graph['resources'])}"
    graph["resources"].append(
        {
            "urn": f"urn:pulumi:dev::mediakit::{parent}${token}::{name}",
            "type": token,
            "name": name,
            "parent": None,
            "custom": True,
            "id": f"{name}-id",
            "inputs": inputs,
            "state": {**inputs, "id": f"{name}-id"},
            "property_dependencies": {},
            "depends_on": [],
        }
    )
    return graph


def _values(token: str, **inputs: Any) -> dict[str, Any]:
    plan = tfplan.graph_to_plan(_resource({"resources": []}, token, inputs))
    values: dict[str, Any] = plan["planned_values"]["root_module"]["resources"][0]["values"]
    return values


def _module_names(token: str) -> set[str]:
    """Every Pulumi property name (camelCase) of a token's module and its package's types."""
    package, module = token.split(":")[1].split("/")
    package = {"lambda": "lambda_"}.get(package, package)
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", module).lower()
    names: set[str] = set()
    for path in (PULUMI_AWS / package / f"{snake}.py", PULUMI_AWS / package / "outputs.py"):
        if not path.is_file():
            continue  # a package without nested types has no outputs module
        text = path.read_text()
        names |= set(re.findall(r'pulumi\.getter\(name="(\w+)"\)', text))
        names |= set(re.findall(r"@pulumi\.getter\n\s+def (\w+)\(self\)", text))
    return names


def test_terraform_type_tokens_exist_in_pulumi_aws() -> None:
    # GIVEN every token in the table WHEN looked up in the installed SDK THEN it is defined there
    sources = "".join(p.read_text() for p in PULUMI_AWS.glob("*/*.py") if "outputs" not in p.name)
    missing = [t for t in tfplan.TERRAFORM_TYPES if f"'{t}'" not in sources]
    assert not missing


def test_terraform_type_v2_aliases_map_to_the_same_resource() -> None:
    for token, tf_type in tfplan.TERRAFORM_TYPES.items():
        if token.split(":")[-1].endswith("V2"):
            plain = token.replace("V2:", ":").replace("V2", "", 1)
            assert tfplan.TERRAFORM_TYPES[plain] == tf_type, token


def test_terraform_type_known_renames() -> None:
    # Naive snake-casing gets these wrong; the table follows bridge-metadata.json.
    assert tfplan.terraform_type("aws:s3/bucket:Bucket") == "aws_s3_bucket"
    assert tfplan.terraform_type("aws:cloudwatch/eventBus:EventBus") == "aws_cloudwatch_event_bus"
    assert tfplan.terraform_type("aws:sqs/redrivePolicy:RedrivePolicy") == (
        "aws_sqs_queue_redrive_policy"
    )


def test_terraform_type_unknown_token_is_an_error() -> None:
    with pytest.raises(tfplan.ExportError, match="TERRAFORM_TYPES"):
        tfplan.terraform_type("aws:s3/bucketObjectv3:BucketObjectv3")


def test_rename_tables_name_real_pulumi_properties() -> None:
    # Every path segment in the explicit tables is a property pulumi-aws actually has, so a typo
    # in the table cannot silently leave an attribute under the wrong name.
    tokens_by_type: dict[str, list[str]] = {}
    for token, tf_type in tfplan.TERRAFORM_TYPES.items():
        tokens_by_type.setdefault(tf_type, []).append(token)
    tables = [tfplan.RENAMES, tfplan.MAP_ATTRIBUTES, tfplan.JSON_STRING_ATTRIBUTES]
    for table in tables:
        for tf_type, paths in table.items():
            names = set().union(*(_module_names(t) for t in tokens_by_type[tf_type]))
            for path in paths:
                unknown = [seg for seg in path.split(".") if seg not in names]
                assert not unknown, (tf_type, path, unknown)


def test_graph_types_all_have_a_terraform_type(dev_graph: Graph, prod_graph: Graph) -> None:
    for graph in (dev_graph, prod_graph):
        custom = {r["type"] for r in graph["resources"] if r["custom"]}
        assert {t for t in custom if t not in tfplan.TERRAFORM_TYPES} == set()


def test_plan_has_what_the_checkov_runner_reads(graph_min: Graph) -> None:
    plan = tfplan.graph_to_plan(graph_min)
    assert plan["terraform_version"]
    resources = plan["planned_values"]["root_module"]["resources"]
    assert len(resources) == sum(1 for r in graph_min["resources"] if r["custom"])
    for r in resources:
        assert r["mode"] == "managed"
        assert r["address"] == f"{r['type']}.{r['name']}"
    configured = {r["address"] for r in plan["configuration"]["root_module"]["resources"]}
    assert configured == {r["address"] for r in resources}


def test_plan_skips_components_and_providers(graph_min: Graph) -> None:
    graph = json.loads(json.dumps(graph_min))
    graph["resources"].append({**graph["resources"][0], "type": "pulumi:providers:aws"})
    plan = tfplan.graph_to_plan(graph)
    types = {r["type"] for r in plan["planned_values"]["root_module"]["resources"]}
    assert not any(t.startswith(("pulumi", "mediakit")) for t in types)


def test_values_numbers_that_are_whole_become_ints() -> None:
    values = _values("aws:sqs/queue:Queue", messageRetentionSeconds=1209600.0, delaySeconds=0.5)
    assert values["message_retention_seconds"] == 1209600
    assert isinstance(values["message_retention_seconds"], int)
    assert values["delay_seconds"] == 0.5


def test_values_single_nested_block_becomes_one_element_list() -> None:
    values = _values("aws:dynamodb/table:Table", pointInTimeRecovery={"enabled": True})
    assert values["point_in_time_recovery"] == [{"enabled": True}]


def test_values_maps_keep_their_keys() -> None:
    values = _values(
        "aws:lambda/function:Function",
        name="fn",
        tags={"mediakit:stack": "dev"},
        environment={"variables": {"MEDIAKIT_BUCKET": "b", "camelKey": "x"}},
    )
    assert values["tags"] == {"mediakit:stack": "dev"}
    assert values["environment"] == [{"variables": {"MEDIAKIT_BUCKET": "b", "camelKey": "x"}}]
    assert values["function_name"] == "fn"


def test_values_policies_stay_json_strings() -> None:
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]}
    as_string = _values("aws:iam/rolePolicy:RolePolicy", policy=json.dumps(doc), role="r")
    as_object = _values("aws:iam/rolePolicy:RolePolicy", policy=doc, role="r")
    assert json.loads(as_string["policy"]) == doc
    assert isinstance(as_object["policy"], str)
    assert json.loads(as_object["policy"]) == doc


@pytest.mark.parametrize(
    ("token", "inputs", "path", "expected"),
    [
        ("aws:lambda/permission:Permission", {"function": "fn"}, ("function_name",), "fn"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", {"name": "a"}, ("alarm_name",), "a"),
        (
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            {"rules": [{"id": "x", "transitions": [{"days": 30.0}]}]},
            ("rule", 0, "transition", 0, "days"),
            30,
        ),
        (
            "aws:cloudfront/distribution:Distribution",
            {"origins": [{"originId": "o", "s3OriginConfig": {"originAccessIdentity": ""}}]},
            ("origin", 0, "s3_origin_config", 0, "origin_access_identity"),
            "",
        ),
        (
            "aws:s3/bucketNotification:BucketNotification",
            {"queues": [{"queueArn": "q", "events": ["s3:ObjectCreated:*"]}]},
            ("queue", 0, "events", 0),
            "s3:ObjectCreated:*",
        ),
        (
            "aws:apigatewayv2/authorizer:Authorizer",
            {"jwtConfiguration": {"audiences": ["a"]}},
            ("jwt_configuration", 0, "audience", 0),
            "a",
        ),
        (
            "aws:lambda/eventSourceMapping:EventSourceMapping",
            {"queues": ["mq"], "functionResponseTypes": ["ReportBatchItemFailures"]},
            ("queues", 0),
            "mq",
        ),
    ],
)
def test_values_terraform_names(
    token: str, inputs: dict[str, Any], path: tuple[Any, ...], expected: Any
) -> None:
    value: Any = _values(token, **inputs)
    for step in path:
        value = value[step]
    assert value == expected


def test_values_secrets_are_unwrapped() -> None:
    secret = {
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        "value": "s3cr3t",
    }
    assert _values("aws:sqs/queue:Queue", name=secret)["name"] == "s3cr3t"


def test_address_names_are_sanitised_and_unique() -> None:
    graph: Graph = {"resources": []}
    _resource(graph, "aws:sqs/queue:Queue", {}, "jobs/queue")
    _resource(graph, "aws:sqs/queue:Queue", {}, "jobs/queue")
    _resource(graph, "aws:sqs/queue:Queue", {}, "1st")
    addresses = [
        r["address"]
        for r in tfplan.graph_to_plan(graph)["planned_values"]["root_module"]["resources"]
    ]
    assert addresses == [
        "aws_sqs_queue.jobs_queue",
        "aws_sqs_queue.jobs_queue_2",
        "aws_sqs_queue._1st",
    ]


def test_references_from_property_dependencies(graph_min: Graph) -> None:
    plan = tfplan.graph_to_plan(graph_min)
    conf = {
        r["address"]: r["expressions"] for r in plan["configuration"]["root_module"]["resources"]
    }
    pab = conf["aws_s3_bucket_public_access_block.media-bucket-public-access"]
    assert pab["bucket"]["references"] == [
        "aws_s3_bucket.media-bucket.id",
        "aws_s3_bucket.media-bucket",
    ]
    # the bucket policy's JSON names the key, the bucket and the distribution by ARN
    policy_refs = conf["aws_s3_bucket_policy.media-bucket-policy"]["policy"]["references"]
    assert "aws_kms_key.media-key.arn" in policy_refs
    assert "aws_cloudfront_distribution.media-cdn.arn" in policy_refs


def test_references_found_by_unique_arn_without_dependencies(graph_min: Graph) -> None:
    graph = json.loads(json.dumps(graph_min))
    for r in graph["resources"]:
        r["property_dependencies"] = {}
    conf = {
        r["address"]: r["expressions"]
        for r in tfplan.graph_to_plan(graph)["configuration"]["root_module"]["resources"]
    }
    esm = conf["aws_lambda_event_source_mapping.media-processor-ingest"]
    assert esm["event_source_arn"]["references"] == [
        "aws_sqs_queue.media-ingest.arn",
        "aws_sqs_queue.media-ingest",
    ]


def test_references_skip_dependencies_of_unset_inputs(graph_min: Graph) -> None:
    # checkov fills a missing attribute from its reference, which would fake a setting.
    graph = json.loads(json.dumps(graph_min))
    log_group = next(r for r in graph["resources"] if r["name"] == "media-presign-logs")
    del log_group["inputs"]["kmsKeyId"], log_group["state"]["kmsKeyId"]
    conf = {
        r["address"]: r["expressions"]
        for r in tfplan.graph_to_plan(graph)["configuration"]["root_module"]["resources"]
    }
    assert "kms_key_id" not in conf["aws_cloudwatch_log_group.media-presign-logs"]


def test_resource_counts(graph_min: Graph) -> None:
    counts = tfplan.resource_counts(tfplan.graph_to_plan(graph_min))
    assert counts["aws_s3_bucket"] == 2
    assert counts["aws_apigatewayv2_route"] == 5

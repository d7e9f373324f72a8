"""Export the synthesized Pulumi resource graph as a `terraform show -json` plan for checkov.

checkov has no Pulumi support; its `terraform_plan` runner scans any file shaped like Terraform's
JSON plan. The translation is explicit on purpose: a wrong type name or attribute name does not
fail, it makes checkov silently skip a resource or a property, so every name that differs from a
mechanical camelCase -> snake_case conversion is listed in a table below and tested.

Sources of truth: the token -> type table is pulumi-aws `bridge-metadata.json`
(`renames.resources`); attribute names are the Terraform AWS provider schema as surfaced by
pulumi-aws (plural list names for repeated blocks, single nested blocks as objects).
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

TERRAFORM_VERSION: Final = "1.9.8"
FORMAT_VERSION: Final = "1.2"
PROVIDER_NAME: Final = "registry.terraform.io/hashicorp/aws"


class ExportError(ValueError):
    """The graph holds something the exporter cannot translate faithfully."""


# pulumi-aws token -> Terraform resource type (bridge-metadata.json, renames.resources). The V2
# names are pulumi-aws v7's deprecated aliases of the same Terraform resources.
TERRAFORM_TYPES: Final[Mapping[str, str]] = {
    "aws:apigatewayv2/api:Api": "aws_apigatewayv2_api",
    "aws:apigatewayv2/apiMapping:ApiMapping": "aws_apigatewayv2_api_mapping",
    "aws:apigatewayv2/authorizer:Authorizer": "aws_apigatewayv2_authorizer",
    "aws:apigatewayv2/domainName:DomainName": "aws_apigatewayv2_domain_name",
    "aws:apigatewayv2/integration:Integration": "aws_apigatewayv2_integration",
    "aws:apigatewayv2/route:Route": "aws_apigatewayv2_route",
    "aws:apigatewayv2/stage:Stage": "aws_apigatewayv2_stage",
    "aws:cloudfront/cachePolicy:CachePolicy": "aws_cloudfront_cache_policy",
    "aws:cloudfront/distribution:Distribution": "aws_cloudfront_distribution",
    "aws:cloudfront/function:Function": "aws_cloudfront_function",
    "aws:cloudfront/keyGroup:KeyGroup": "aws_cloudfront_key_group",
    "aws:cloudfront/originAccessControl:OriginAccessControl": (
        "aws_cloudfront_origin_access_control"
    ),
    "aws:cloudfront/originAccessIdentity:OriginAccessIdentity": (
        "aws_cloudfront_origin_access_identity"
    ),
    "aws:cloudfront/publicKey:PublicKey": "aws_cloudfront_public_key",
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": (
        "aws_cloudfront_response_headers_policy"
    ),
    "aws:cloudwatch/eventArchive:EventArchive": "aws_cloudwatch_event_archive",
    "aws:cloudwatch/eventBus:EventBus": "aws_cloudwatch_event_bus",
    "aws:cloudwatch/eventRule:EventRule": "aws_cloudwatch_event_rule",
    "aws:cloudwatch/eventTarget:EventTarget": "aws_cloudwatch_event_target",
    "aws:cloudwatch/logGroup:LogGroup": "aws_cloudwatch_log_group",
    "aws:cloudwatch/dashboard:Dashboard": "aws_cloudwatch_dashboard",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "aws_cloudwatch_metric_alarm",
    "aws:dynamodb/table:Table": "aws_dynamodb_table",
    "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan": (
        "aws_guardduty_malware_protection_plan"
    ),
    "aws:iam/policy:Policy": "aws_iam_policy",
    "aws:iam/role:Role": "aws_iam_role",
    "aws:iam/rolePolicy:RolePolicy": "aws_iam_role_policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "aws_iam_role_policy_attachment",
    "aws:kms/alias:Alias": "aws_kms_alias",
    "aws:kms/key:Key": "aws_kms_key",
    "aws:kms/keyPolicy:KeyPolicy": "aws_kms_key_policy",
    "aws:lambda/eventSourceMapping:EventSourceMapping": "aws_lambda_event_source_mapping",
    "aws:lambda/function:Function": "aws_lambda_function",
    "aws:lambda/permission:Permission": "aws_lambda_permission",
    "aws:s3/bucket:Bucket": "aws_s3_bucket",
    "aws:s3/bucketV2:BucketV2": "aws_s3_bucket",
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": "aws_s3_bucket_cors_configuration",
    "aws:s3/bucketCorsConfigurationV2:BucketCorsConfigurationV2": (
        "aws_s3_bucket_cors_configuration"
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        "aws_s3_bucket_lifecycle_configuration"
    ),
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2": (
        "aws_s3_bucket_lifecycle_configuration"
    ),
    "aws:s3/bucketLogging:BucketLogging": "aws_s3_bucket_logging",
    "aws:s3/bucketLoggingV2:BucketLoggingV2": "aws_s3_bucket_logging",
    "aws:s3/bucketNotification:BucketNotification": "aws_s3_bucket_notification",
    "aws:s3/bucketObjectv2:BucketObjectv2": "aws_s3_object",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "aws_s3_bucket_ownership_controls",
    "aws:s3/bucketPolicy:BucketPolicy": "aws_s3_bucket_policy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("aws_s3_bucket_public_access_block"),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "aws_s3_bucket_server_side_encryption_configuration"
    ),
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": (
        "aws_s3_bucket_server_side_encryption_configuration"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": "aws_s3_bucket_versioning",
    "aws:s3/bucketVersioningV2:BucketVersioningV2": "aws_s3_bucket_versioning",
    "aws:sns/topic:Topic": "aws_sns_topic",
    "aws:sns/topicPolicy:TopicPolicy": "aws_sns_topic_policy",
    "aws:sns/topicSubscription:TopicSubscription": "aws_sns_topic_subscription",
    "aws:sqs/queue:Queue": "aws_sqs_queue",
    "aws:sqs/queuePolicy:QueuePolicy": "aws_sqs_queue_policy",
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": "aws_sqs_queue_redrive_allow_policy",
    "aws:sqs/redrivePolicy:RedrivePolicy": "aws_sqs_queue_redrive_policy",
}

# Attribute names that are not the snake_case of the Pulumi name, keyed by Terraform type and the
# dotted Pulumi path (list indices left out). Two kinds: Pulumi renames (`name` for Lambda's
# `function_name`), and repeated blocks, which Pulumi pluralises (`rules`) and Terraform names in
# the singular (`rule`).
RENAMES: Final[Mapping[str, Mapping[str, str]]] = {
    "aws_apigatewayv2_authorizer": {"jwtConfiguration.audiences": "audience"},
    "aws_apigatewayv2_integration": {"responseParameters": "response_parameter"},
    "aws_apigatewayv2_route": {"requestParameters": "request_parameter"},
    "aws_cloudfront_distribution": {
        "customErrorResponses": "custom_error_response",
        "defaultCacheBehavior.functionAssociations": "function_association",
        "defaultCacheBehavior.lambdaFunctionAssociations": "lambda_function_association",
        "orderedCacheBehaviors": "ordered_cache_behavior",
        "orderedCacheBehaviors.functionAssociations": "function_association",
        "orderedCacheBehaviors.lambdaFunctionAssociations": "lambda_function_association",
        "originGroups": "origin_group",
        "originGroups.members": "member",
        "origins": "origin",
        "origins.customHeaders": "custom_header",
    },
    "aws_cloudwatch_metric_alarm": {"metricQueries": "metric_query", "name": "alarm_name"},
    "aws_dynamodb_table": {
        "attributes": "attribute",
        "globalSecondaryIndexes": "global_secondary_index",
        "localSecondaryIndexes": "local_secondary_index",
        "replicas": "replica",
    },
    "aws_guardduty_malware_protection_plan": {"actions": "action", "actions.taggings": "tagging"},
    "aws_iam_role": {"inlinePolicies": "inline_policy"},
    "aws_lambda_event_source_mapping": {"filterCriteria.filters": "filter"},
    "aws_lambda_function": {"code": "filename", "name": "function_name"},
    "aws_lambda_permission": {"function": "function_name"},
    "aws_s3_bucket_cors_configuration": {"corsRules": "cors_rule"},
    "aws_s3_bucket_lifecycle_configuration": {
        "rules": "rule",
        "rules.noncurrentVersionTransitions": "noncurrent_version_transition",
        "rules.transitions": "transition",
    },
    "aws_s3_bucket_logging": {"targetGrants": "target_grant"},
    "aws_s3_bucket_notification": {
        "lambdaFunctions": "lambda_function",
        "queues": "queue",
        "topics": "topic",
    },
    "aws_s3_bucket_server_side_encryption_configuration": {"rules": "rule"},
}

# Object-valued attributes that are Terraform maps, not blocks: kept as maps, keys untouched.
_COMMON_MAPS: Final = frozenset({"tags", "tagsAll"})
MAP_ATTRIBUTES: Final[Mapping[str, frozenset[str]]] = {
    "aws_apigatewayv2_integration": frozenset(
        {"requestParameters", "requestTemplates", "responseParameters.mappings"}
    ),
    "aws_apigatewayv2_stage": frozenset({"stageVariables"}),
    "aws_cloudwatch_metric_alarm": frozenset({"dimensions", "metricQueries.metric.dimensions"}),
    "aws_lambda_function": frozenset({"environment.variables"}),
    "aws_s3_bucket_lifecycle_configuration": frozenset({"rules.filter.and.tags"}),
}

# Attributes holding a policy document: Terraform keeps them as JSON strings, and checkov's IAM
# checks only parse strings (an object there makes an `Allow *:*` pass silently).
JSON_STRING_ATTRIBUTES: Final[Mapping[str, frozenset[str]]] = {
    "aws_iam_policy": frozenset({"policy"}),
    "aws_iam_role": frozenset({"assumeRolePolicy", "inlinePolicies.policy"}),
    "aws_iam_role_policy": frozenset({"policy"}),
    "aws_kms_key": frozenset({"policy"}),
    "aws_kms_key_policy": frozenset({"policy"}),
    "aws_s3_bucket_policy": frozenset({"policy"}),
    "aws_sns_topic": frozenset({"policy"}),
    "aws_sns_topic_policy": frozenset({"policy"}),
    "aws_sqs_queue": frozenset({"policy", "redriveAllowPolicy", "redrivePolicy"}),
    "aws_sqs_queue_policy": frozenset({"policy"}),
    "aws_sqs_queue_redrive_allow_policy": frozenset({"redriveAllowPolicy"}),
    "aws_sqs_queue_redrive_policy": frozenset({"redrivePolicy"}),
}

# Attributes of a referenced resource tried, in order, when naming what a reference points at.
_REFERENCE_ATTRIBUTES: Final = ("arn", "id", "url", "name", "bucket", "function_name")
_CAMEL_BOUNDARY: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_INVALID_NAME_CHARS: Final = re.compile(r"[^A-Za-z0-9_-]")
# Pulumi's serialised asset/archive and secret markers (the "special signature" key).
_SIG_KEY: Final = "4dabf18193072939515e22adb298388d"
_SECRET_SIG: Final = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (a type marker)


def snake_case(name: str) -> str:
    """`kmsMasterKeyId` -> `kms_master_key_id`."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def terraform_type(token: str) -> str:
    """Terraform type of a pulumi-aws token; unknown tokens are an error, never a guess."""
    try:
        return TERRAFORM_TYPES[token]
    except KeyError:
        raise ExportError(
            f"no Terraform type known for {token!r}: add it to policies/tfplan.py "
            "TERRAFORM_TYPES (from pulumi-aws bridge-metadata.json)"
        ) from None


def sanitise_name(name: str) -> str:
    """A Terraform resource name: letters, digits, `_` and `-`, not starting with a digit."""
    cleaned = _INVALID_NAME_CHARS.sub("_", name) or "_"
    return f"_{cleaned}" if cleaned[0].isdigit() or cleaned[0] == "-" else cleaned


def _unwrap(value: Any) -> Any:
    """Strip Pulumi secret wrappers; reduce assets/archives to the path or text they stand for."""
    if isinstance(value, dict) and _SIG_KEY in value:
        if value[_SIG_KEY] == _SECRET_SIG:
            return _unwrap(value.get("value"))
        for key in ("path", "uri", "text", "hash"):
            if isinstance(value.get(key), str):
                return value[key]
        return "pulumi-archive"
    return value


def _number(value: float) -> int | float:
    # Mocks deliver every number as a float; Terraform writes whole numbers as integers and
    # some checks compare against ints (`retention_in_days == 0`).
    return int(value) if value.is_integer() else value


def _convert(tf_type: str, path: str, value: Any) -> Any:
    """Translate one Pulumi value at `path` (dotted Pulumi names) to its Terraform shape."""
    value = _unwrap(value)
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return _number(value)
    if path in JSON_STRING_ATTRIBUTES.get(tf_type, ()):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, dict):
        if path.rsplit(".", 1)[-1] in _COMMON_MAPS or path in MAP_ATTRIBUTES.get(tf_type, ()):
            return {k: _convert(tf_type, f"{path}.*", v) for k, v in value.items()}
        # A single nested block: Terraform writes it as a one-element list of objects.
        return [_convert_block(tf_type, path, value)]
    if isinstance(value, list):
        return [
            _convert_block(tf_type, path, item)
            if isinstance(_unwrap(item), dict)
            else _convert(tf_type, path, item)
            for item in value
        ]
    raise ExportError(f"{tf_type}.{path}: unsupported value type {type(value).__name__}")


def _convert_block(tf_type: str, path: str, block: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in _unwrap(block).items():
        if key.startswith("__"):
            continue  # Pulumi bookkeeping (`__defaults`, ...), not provider properties
        child = f"{path}.{key}" if path else key
        out[attribute_name(tf_type, child)] = _convert(tf_type, child, value)
    return out


def attribute_name(tf_type: str, path: str) -> str:
    """Terraform name of the Pulumi property at dotted `path` within `tf_type`."""
    renamed = RENAMES.get(tf_type, {}).get(path)
    return renamed if renamed is not None else snake_case(path.rsplit(".", 1)[-1])


def to_terraform_values(tf_type: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """Pulumi properties (camelCase, as mocks see them) -> Terraform plan `values`."""
    return _convert_block(tf_type, "", properties)


@dataclass
class _Exported:
    urn: str
    tf_type: str
    name: str
    address: str
    values: dict[str, Any]
    inputs: dict[str, Any]
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)


def _unique_names(resources: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """urn -> (Terraform type, unique sanitised name); Pulumi names repeat across parents."""
    taken: Counter[tuple[str, str]] = Counter()
    out: dict[str, tuple[str, str]] = {}
    for res in resources:
        tf_type = terraform_type(res["type"])
        base = sanitise_name(res["name"])
        taken[(tf_type, base)] += 1
        n = taken[(tf_type, base)]
        out[res["urn"]] = (tf_type, base if n == 1 else f"{base}_{n}")
    return out


def _custom_aws_resources(graph: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    # Components are Pulumi-only groupings and providers are configuration: neither is a
    # Terraform resource. Any other custom resource must translate or the export fails.
    return [
        r
        for r in graph.get("resources", [])
        if r.get("custom", True) and not str(r.get("type", "")).startswith("pulumi:")
    ]


def _export_resources(graph: Mapping[str, Any]) -> list[_Exported]:
    resources = _custom_aws_resources(graph)
    names = _unique_names(resources)
    out: list[_Exported] = []
    for res in resources:
        tf_type, name = names[res["urn"]]
        inputs = dict(res.get("inputs") or {})
        # Planned values: configuration plus what is already known (id, arn from the mocks).
        merged = {**(res.get("state") or {}), **inputs}
        if res.get("id") is not None:
            merged.setdefault("id", res["id"])
        out.append(
            _Exported(
                urn=res["urn"],
                tf_type=tf_type,
                name=name,
                address=f"{tf_type}.{name}",
                values=to_terraform_values(tf_type, merged),
                inputs=inputs,
                property_dependencies={
                    k: list(v) for k, v in (res.get("property_dependencies") or {}).items()
                },
            )
        )
    return out


def _identity_index(exported: list[_Exported]) -> dict[str, list[tuple[str, str]]]:
    """Concrete identifier value -> [(address, attribute)] for every referenceable attribute."""
    index: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for res in exported:
        for attr in ("arn", "id", "url"):
            value = res.values.get(attr)
            if isinstance(value, str) and len(value) > 3:
                index[value].append((res.address, attr))
    return index


def _reference_attribute(target: _Exported, value: Any) -> str:
    """The attribute of `target` whose value `value` is (or contains); `id` if none matches."""
    texts = _strings(value)
    for attr in _REFERENCE_ATTRIBUTES:
        candidate = target.values.get(attr)
        if isinstance(candidate, str) and candidate and any(candidate in t for t in texts):
            return attr
    return "id"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _references(res: _Exported, by_urn: Mapping[str, _Exported], index: Any) -> dict[str, Any]:
    """Configuration expressions for `res`: a `references` list per top-level attribute that
    takes its value from another resource (from property dependencies, else by matching the
    mocks' unique ids and ARNs)."""
    refs: dict[str, list[str]] = defaultdict(list)
    for key, urns in res.property_dependencies.items():
        if res.inputs.get(key) is None:
            # checkov fills a missing attribute from its reference: a dependency recorded for
            # an input that is not set would make an absent setting look configured.
            continue
        for urn in urns:
            target = by_urn.get(urn)
            if target is None or target.urn == res.urn:
                continue  # a component or provider: no Terraform resource to point at
            attr = _reference_attribute(target, res.inputs.get(key))
            refs[attribute_name(res.tf_type, key)] += [f"{target.address}.{attr}", target.address]
    for key, value in res.inputs.items():
        tf_key = attribute_name(res.tf_type, key)
        if tf_key in refs:
            continue
        for text in _strings(_unwrap(value)):
            for ident, owners in index.items():
                if len(owners) != 1 or owners[0][0] == res.address:
                    continue  # ambiguous or self: an edge we cannot justify
                if text == ident or (len(ident) > 20 and ident in text):
                    address, attr = owners[0]
                    for ref in (f"{address}.{attr}", address):
                        if ref not in refs[tf_key]:
                            refs[tf_key].append(ref)
    return {k: {"references": v} for k, v in sorted(refs.items())}


def graph_to_plan(graph: Mapping[str, Any]) -> dict[str, Any]:
    """The resource graph (`mediakit synth` output) as a `terraform show -json` document."""
    exported = _export_resources(graph)
    by_urn = {r.urn: r for r in exported}
    index = _identity_index(exported)
    planned = []
    configured = []
    for res in exported:
        planned.append(
            {
                "address": res.address,
                "mode": "managed",
                "type": res.tf_type,
                "name": res.name,
                "provider_name": PROVIDER_NAME,
                "schema_version": 0,
                "values": res.values,
                "sensitive_values": {},
            }
        )
        configured.append(
            {
                "address": res.address,
                "mode": "managed",
                "type": res.tf_type,
                "name": res.name,
                "provider_config_key": "aws",
                "expressions": _references(res, by_urn, index),
                "schema_version": 0,
            }
        )
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": {"root_module": {"resources": planned}},
        "configuration": {
            "provider_config": {"aws": {"name": "aws", "full_name": PROVIDER_NAME}},
            "root_module": {"resources": configured},
        },
        # Which Pulumi resource each address came from, for reports; checkov ignores it.
        "mediakit": {
            "project": graph.get("project"),
            "stack": graph.get("stack"),
            "addresses": {r.address: r.urn for r in exported},
        },
    }


def resource_counts(plan: Mapping[str, Any]) -> Counter[str]:
    """Exported resources per Terraform type (what checkov must report having scanned)."""
    return Counter(r["type"] for r in plan["planned_values"]["root_module"]["resources"])

"""The emulator provisioned from the stack itself: the stack's program is synthesized under mocks
(`policies.synth`) and every resource the pipeline touches at runtime is created in moto from the
graph's inputs, so the emulator cannot drift from what `pulumi up` deploys.

Physical names are made unique per run (`{prefix}-{logical name}-{suffix}`); every mock name,
URL, id and ARN the graph holds is rewritten to its moto twin wherever it appears (policies,
redrive policies, notifications, the functions' environment). What moto cannot run is listed once,
in `SKIPPED`; a resource type in neither list fails provisioning, so a new kind of resource in the
stack is a decision, never a silent gap.
"""

from __future__ import annotations

import copy
import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runtime.settings import Settings, config_key, env_name

Graph = dict[str, Any]
Resource = dict[str, Any]

# Pulumi types the emulator does not create, and why. This is the README's list.
SKIPPED: dict[str, str] = {
    "aws:cloudfront/distribution:Distribution": (
        "no CDN locally: derivative URLs are presigned GETs on the emulator's S3, and the "
        "functions' MEDIAKIT_CDN_DOMAIN is empty"
    ),
    "aws:cloudfront/originAccessControl:OriginAccessControl": "part of the CDN",
    "aws:cloudfront/function:Function": "part of the CDN",
    "aws:cloudfront/cachePolicy:CachePolicy": "part of the CDN",
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": "part of the CDN",
    "aws:cloudfront/publicKey:PublicKey": (
        "part of the CDN: without CloudFront nothing verifies signed URLs (the delivery signing "
        "key itself is created, RSA 2048, and unused)"
    ),
    "aws:cloudfront/keyGroup:KeyGroup": "part of the CDN",
    "aws:apigatewayv2/api:Api": (
        "served by the API Gateway stand-in (mediakit/local/gateway.py), with the graph's "
        "CORS origins"
    ),
    "aws:apigatewayv2/authorizer:Authorizer": "the stand-in's JWT authorizer",
    "aws:apigatewayv2/integration:Integration": "the stand-in invokes the presign function",
    "aws:apigatewayv2/route:Route": (
        "the stand-in serves the graph's routes with their authorization scopes"
    ),
    "aws:apigatewayv2/stage:Stage": "the stand-in's stage (throttling is not emulated)",
    "aws:apigatewayv2/domainName:DomainName": "no custom domains locally",
    "aws:apigatewayv2/apiMapping:ApiMapping": "no custom domains locally",
    "aws:lambda/permission:Permission": "IAM is not enforced locally",
    "aws:lambda/eventSourceMapping:EventSourceMapping": (
        "run by the SQS poller stand-in (mediakit/local/event_source.py) with the graph's "
        "batch size and "
        "maximum concurrency"
    ),
    "aws:lambda/function:Function": (
        "run as worker processes (mediakit/local/lambda_pool.py) with the graph's handler, "
        "environment, timeout and memory"
    ),
    "aws:iam/role:Role": "IAM is not enforced locally",
    "aws:iam/rolePolicy:RolePolicy": "IAM is not enforced locally",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "IAM is not enforced locally",
    "aws:cloudwatch/logGroup:LogGroup": "function logs go to the dev console",
    "aws:s3/bucketPolicy:BucketPolicy": (
        "not put in moto, which evaluates a bucket policy without its conditions (the stack's "
        "Deny on aws:SecureTransport=false would refuse every request); the rewritten documents "
        "are kept in Provisioned.bucket_policies"
    ),
    "aws:s3/bucketLogging:BucketLogging": (
        "no server access logs locally (the log bucket itself is created; moto's "
        'PutBucketLogging fails on a log bucket policy with a Principal of "*")'
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (
        "no alarms locally: the functions' EMF metrics are collected (Emulator.metrics)"
    ),
    "aws:cloudwatch/dashboard:Dashboard": "no dashboards locally",
    "aws:cloudwatch/eventArchive:EventArchive": "no replay locally; nothing reads the archive",
    "aws:sns/topic:Topic": "the alarms' topic; there are no alarms locally",
    "aws:sns/topicPolicy:TopicPolicy": "the alarms' topic; there are no alarms locally",
    "aws:sns/topicSubscription:TopicSubscription": "the alarms' topic; there are no alarms locally",
    "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan": (
        "simulated (mediakit/local/malware.py): each new original is tagged "
        "GuardDutyMalwareScanStatus (THREATS_FOUND if it contains the EICAR test string, else "
        "NO_THREATS_FOUND) and GuardDuty's scan-result event is put on the default bus, where "
        "the stack's own rule routes it"
    ),
}

_KEY = "aws:kms/key:Key"
_KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"
_ALIAS = "aws:kms/alias:Alias"
_QUEUE = "aws:sqs/queue:Queue"
_QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
_REDRIVE_ALLOW = "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"
_BUCKET = "aws:s3/bucket:Bucket"
_TABLE = "aws:dynamodb/table:Table"
_BUS = "aws:cloudwatch/eventBus:EventBus"
_RULE = "aws:cloudwatch/eventRule:EventRule"
_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
_FUNCTION = "aws:lambda/function:Function"
_MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
_NOTIFICATION = "aws:s3/bucketNotification:BucketNotification"
_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
_OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
_BUCKET_SETTINGS = (
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
)
PROVISIONED: tuple[str, ...] = (
    _KEY,
    _KEY_POLICY,
    _ALIAS,
    _QUEUE,
    _QUEUE_POLICY,
    _REDRIVE_ALLOW,
    _BUCKET,
    *_BUCKET_SETTINGS,
    _OBJECT,
    _NOTIFICATION,
    _TABLE,
    _BUS,
    _RULE,
    _TARGET,
)
# Graph attribute -> SQS attribute name.
_QUEUE_ATTRIBUTES = {
    "visibilityTimeoutSeconds": "VisibilityTimeout",
    "messageRetentionSeconds": "MessageRetentionPeriod",
    "receiveWaitTimeSeconds": "ReceiveMessageWaitTimeSeconds",
    "delaySeconds": "DelaySeconds",
    "maxMessageSize": "MaximumMessageSize",
    "redrivePolicy": "RedrivePolicy",
    "redriveAllowPolicy": "RedriveAllowPolicy",
    "sqsManagedSseEnabled": "SqsManagedSseEnabled",
    "kmsMasterKeyId": "KmsMasterKeyId",
    "kmsDataKeyReusePeriodSeconds": "KmsDataKeyReusePeriodSeconds",
    "policy": "Policy",
}
_QUEUE_IGNORED = frozenset({"name", "namePrefix", "tags", "fifoQueue"})
# Computed attributes of skipped resources the functions may be handed: unreachable locally.
_UNREACHABLE_ATTRIBUTES = ("domainName", "apiEndpoint", "invokeUrl")
STACK_ORIGINS_KEY = "corsOrigins"


class ProvisionError(ValueError):
    """The graph holds something the emulator cannot provision faithfully."""


@dataclass(frozen=True)
class Provisioned:
    bucket: str
    table: str
    event_bus: str
    kms_key_arn: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    events_queue_url: str
    account_id: str
    # bucket -> the stack's bucket policy for it, rewritten to this run's names (see SKIPPED).
    bucket_policies: Mapping[str, str]
    # Audio/video on: the media function's queue and DLQ ("" otherwise).
    media_queue_url: str = ""
    media_queue_arn: str = ""
    media_dlq_url: str = ""


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function as the graph declares it, its environment pointed at moto."""

    name: str
    handler: str
    environment: dict[str, str]
    timeout_seconds: int
    memory_mb: int


@dataclass(frozen=True)
class MappingSpec:
    batch_size: int
    maximum_concurrency: int


@dataclass(frozen=True)
class StackPlan:
    """What the emulator reads from a synthesized graph before anything is created."""

    graph: Graph
    settings: Settings  # as the functions read them from their environment
    presign: Resource
    processor: Resource
    mapping: MappingSpec
    ingest_queue: Resource
    api_cors_origins: tuple[str, ...]
    # The HTTP API's CORS headers as the graph declares them (empty: the graph has no CORS).
    api_cors_headers: tuple[str, ...] = ()
    api_cors_expose_headers: tuple[str, ...] = ()
    # The HTTP API's routes as the graph declares them: route key -> authorization scopes.
    api_routes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Route keys without an authorizer (authorizationType NONE: `GET /v1/health`).
    public_routes: tuple[str, ...] = ()
    # Audio/video on (mediaKinds): the media function, its mapping and its queue.
    media: Resource | None = None
    media_mapping: MappingSpec | None = None
    media_queue: Resource | None = None

    @classmethod
    def from_graph(cls, graph: Graph) -> StackPlan:
        unknown = sorted(
            {
                r["type"]
                for r in graph["resources"]
                if r["custom"] and r["type"] not in PROVISIONED and r["type"] not in SKIPPED
            }
        )
        if unknown:
            raise ProvisionError(
                "the emulator neither provisions nor lists as skipped: " + ", ".join(unknown)
            )
        functions = _of_type(graph, _FUNCTION)
        mappings = _of_type(graph, _MAPPING)
        # The media function's mapping (audio/video on) is told apart by its handler.
        media_mappings = [
            m
            for m in mappings
            if _by_attribute(functions, "arn", m["inputs"]["functionName"], "function")["inputs"][
                "handler"
            ]
            == MEDIA_HANDLER
        ]
        image_mappings = [m for m in mappings if m not in media_mappings]
        if len(image_mappings) != 1 or len(media_mappings) > 1:
            raise ProvisionError(
                f"expected one processor event source mapping (and at most one media "
                f"mapping), found {len(mappings)}"
            )
        mapping = image_mappings[0]["inputs"]
        processor = _by_attribute(functions, "arn", mapping["functionName"], "processor")
        ingest = _by_attribute(_of_type(graph, _QUEUE), "arn", mapping["eventSourceArn"], "queue")
        integrations = _of_type(graph, "aws:apigatewayv2/integration:Integration")
        targets = {str(i["inputs"].get("integrationUri")) for i in integrations}
        presigns = [
            f for f in functions if {f["state"]["arn"], f["state"].get("invokeArn")} & targets
        ]
        if len(presigns) != 1:
            raise ProvisionError(f"expected one function behind the API, found {len(presigns)}")
        apis = _of_type(graph, "aws:apigatewayv2/api:Api")
        origins: tuple[str, ...] = ()
        cors_headers: tuple[str, ...] = ()
        cors_expose: tuple[str, ...] = ()
        if apis:
            cors = apis[0]["inputs"].get("corsConfiguration") or {}
            origins = tuple(cors.get("allowOrigins") or ())
            cors_headers = tuple(cors.get("allowHeaders") or ())
            cors_expose = tuple(cors.get("exposeHeaders") or ())
        settings = Settings.from_env(_variables(processor))
        routes = tuple(
            sorted(
                (
                    str(r["inputs"]["routeKey"]),
                    tuple(r["inputs"].get("authorizationScopes") or ()),
                )
                for r in _of_type(graph, "aws:apigatewayv2/route:Route")
            )
        )
        public = tuple(
            sorted(
                str(r["inputs"]["routeKey"])
                for r in _of_type(graph, "aws:apigatewayv2/route:Route")
                if r["inputs"].get("authorizationType") == "NONE"
            )
        )
        routes = tuple(r for r in routes if r[0] not in public)
        return cls(
            graph=graph,
            settings=settings,
            presign=presigns[0],
            processor=processor,
            mapping=MappingSpec(
                batch_size=int(mapping.get("batchSize") or 10),
                maximum_concurrency=int(
                    (mapping.get("scalingConfig") or {}).get("maximumConcurrency") or 1000
                ),
            ),
            ingest_queue=ingest,
            api_cors_origins=origins,
            api_cors_headers=cors_headers,
            api_cors_expose_headers=cors_expose,
            api_routes=routes,
            public_routes=public,
            **_media_plan(graph, functions, media_mappings),
        )

    def function_timeout(self, function: Resource) -> int:
        return int(function["inputs"].get("timeout") or 3)

    def function_memory(self, function: Resource) -> int:
        return int(function["inputs"].get("memorySize") or 128)

    @property
    def visibility_timeout(self) -> int:
        return int(self.ingest_queue["inputs"].get("visibilityTimeoutSeconds") or 30)


MEDIA_HANDLER = "runtime.media_processor.handler"


def _mapping_spec(mapping: Mapping[str, Any]) -> MappingSpec:
    return MappingSpec(
        batch_size=int(mapping.get("batchSize") or 10),
        maximum_concurrency=int(
            (mapping.get("scalingConfig") or {}).get("maximumConcurrency") or 1000
        ),
    )


def _media_plan(
    graph: Graph, functions: list[Resource], mappings: list[Resource]
) -> dict[str, Any]:
    """The media function, its mapping and queue, when the graph has them."""
    if not mappings:
        return {}
    inputs = mappings[0]["inputs"]
    return {
        "media": _by_attribute(functions, "arn", inputs["functionName"], "media function"),
        "media_mapping": _mapping_spec(inputs),
        "media_queue": _by_attribute(
            _of_type(graph, _QUEUE), "arn", inputs["eventSourceArn"], "media queue"
        ),
    }


# -- synthesis ------------------------------------------------------------------------------

_graphs: dict[str, Graph] = {}
_graphs_lock = threading.Lock()


def settings_config(settings: Settings) -> dict[str, str]:
    """`settings` as stack config overrides (config key -> the value's environment spelling,
    which the stack's config reader parses exactly as the runtime parses its environment)."""
    env = settings.to_env()
    return {config_key(name): env[env_name(name)] for name in _setting_fields()}


def env_config(environ: Mapping[str, str]) -> dict[str, str]:
    """The MEDIAKIT_* settings variables set in `environ`, as stack config overrides."""
    out: dict[str, str] = {}
    for name in _setting_fields():
        value = environ.get(env_name(name))
        if value:
            out[config_key(name)] = value
    return out


def _setting_fields() -> list[str]:
    import dataclasses

    return [f.name for f in dataclasses.fields(Settings)]


def stack_graph(stack: str, overrides: Mapping[str, Any] | None = None) -> Graph:
    """The stack's graph, synthesized offline (stand-in artifact) with `overrides` on top of
    Pulumi.<stack>.yaml; cached per (stack, overrides), as synth is deterministic."""
    from policies.synth import load_stack_config, synth

    config = {**load_stack_config(stack), **(overrides or {})}
    cache_key = json.dumps([stack, config], sort_keys=True, default=str)
    with _graphs_lock:
        graph = _graphs.get(cache_key)
        if graph is None:
            graph = synth(stack, config)
            _graphs[cache_key] = graph
        return copy.deepcopy(graph)


# -- provisioning ---------------------------------------------------------------------------


def provision(
    plan: StackPlan,
    clients: Callable[[str], Any],
    *,
    region: str,
    prefix: str,
    suffix: str,
    visibility_timeout: int | None = None,
    extra_cors_origins: tuple[str, ...] = (),
) -> tuple[Provisioned, Callable[[Any], Any]]:
    """Create the graph's provisionable resources in moto; return what the emulator wires and
    the rewrite from the graph's mock identifiers to moto's (for the functions' environment).

    `visibility_timeout` overrides the ingest queue's (`--visibility-timeout`); the
    `extra_cors_origins` (the emulator's page) join each bucket CORS rule's origins."""
    graph = plan.graph
    kms, s3, sqs, ddb, events, sts = (
        clients(n) for n in ("kms", "s3", "sqs", "dynamodb", "events", "sts")
    )
    account_id = str(sts.get_caller_identity()["Account"])
    from policies.synth import ACCOUNT_ID

    names: dict[str, str] = {ACCOUNT_ID: account_id}

    def physical(resource: Resource) -> str:
        logical = str(resource["name"]).removeprefix("media-")
        return f"{prefix}-{logical}-{suffix}"

    # Phase 1: the resources whose identifiers others name, created bare.
    for res in _of_type(graph, _KEY):
        inputs = res["inputs"]
        meta = kms.create_key(
            Description=str(inputs.get("description") or prefix),
            KeyUsage=str(inputs.get("keyUsage") or "ENCRYPT_DECRYPT"),
            # The delivery signing key is asymmetric (RSA_2048, SIGN_VERIFY).
            KeySpec=str(inputs.get("customerMasterKeySpec") or "SYMMETRIC_DEFAULT"),
            Tags=_kms_tags(inputs.get("tags")),
        )["KeyMetadata"]
        names[res["state"]["arn"]] = meta["Arn"]
        names[res["state"]["keyId"]] = meta["KeyId"]
    queues: dict[str, tuple[str, str]] = {}  # urn -> (url, arn)
    for res in _of_type(graph, _QUEUE):
        name = physical(res)
        url, arn = create_queue(sqs, name)
        queues[res["urn"]] = (url, arn)
        names |= {res["state"]["url"]: url, res["state"]["arn"]: arn, res["state"]["name"]: name}
    for res in _of_type(graph, _BUCKET):
        name = physical(res)
        s3.create_bucket(
            Bucket=name,
            **(
                {}
                if region == "us-east-1"
                else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            ),
        )
        names |= {res["state"]["bucket"]: name}
    for res in _of_type(graph, _BUS):
        name = physical(res)
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        names |= {res["state"]["arn"]: arn, res["state"]["name"]: name}
    for res in _of_type(graph, _RULE):
        # Named now (targets and queue policies name the rule), created in phase 2.
        name = physical(res)
        bus = str(res["inputs"].get("eventBusName") or "default")
        path = f"rule/{name}" if bus == "default" else f"rule/{names.get(bus, bus)}/{name}"
        names |= {
            res["state"]["name"]: name,
            res["state"]["arn"]: f"arn:aws:events:{region}:{account_id}:{path}",
        }
    for res in _of_type(graph, _TABLE):
        name = physical(res)
        names |= {res["state"]["name"]: name}
        names[res["state"]["arn"]] = f"arn:aws:dynamodb:{region}:{account_id}:table/{name}"
    unreachable = {
        str(res["state"][attr])
        for res in graph["resources"]
        if res["type"] in SKIPPED
        for attr in _UNREACHABLE_ATTRIBUTES
        if res["state"].get(attr)
    }
    rewrite = _rewriter(names, unreachable)

    # Phase 2: every setting, with references rewritten.
    for res in _of_type(graph, _KEY):
        inputs = rewrite(res["inputs"])
        key_id = names[res["state"]["keyId"]]
        if inputs.get("enableKeyRotation"):
            kms.enable_key_rotation(KeyId=key_id)
        if inputs.get("policy"):
            kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=inputs["policy"])
    for res in _of_type(graph, _KEY_POLICY):
        inputs = rewrite(res["inputs"])
        kms.put_key_policy(KeyId=inputs["keyId"], PolicyName="default", Policy=inputs["policy"])
    for res in _of_type(graph, _ALIAS):
        inputs = rewrite(res["inputs"])
        alias = str(inputs.get("name") or f"{inputs.get('namePrefix') or 'alias/'}{suffix}")
        kms.create_alias(AliasName=alias, TargetKeyId=inputs["targetKeyId"])
    for res in _of_type(graph, _QUEUE):
        url, _ = queues[res["urn"]]
        attributes = _queue_attributes(rewrite(res["inputs"]), res["name"])
        if visibility_timeout is not None and res["urn"] == plan.ingest_queue["urn"]:
            attributes["VisibilityTimeout"] = str(visibility_timeout)
        if attributes:
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
    for res in _of_type(graph, _QUEUE_POLICY):
        inputs = rewrite(res["inputs"])
        sqs.set_queue_attributes(
            QueueUrl=inputs["queueUrl"], Attributes={"Policy": inputs["policy"]}
        )
    for res in _of_type(graph, _REDRIVE_ALLOW):
        inputs = rewrite(res["inputs"])
        sqs.set_queue_attributes(
            QueueUrl=inputs["queueUrl"],
            Attributes={"RedriveAllowPolicy": inputs["redriveAllowPolicy"]},
        )
    for typ in _BUCKET_SETTINGS:
        for res in _of_type(graph, typ):
            _BUCKET_APPLY[typ](s3, rewrite(res["inputs"]), extra_cors_origins)
    for res in _of_type(graph, _OBJECT):
        if "source" in res["inputs"]:
            # A function's code (the media zip in the artifacts bucket): the emulator runs the
            # handler from this checkout, so the zip is never built or uploaded.
            continue
        _put_object(s3, rewrite(res["inputs"]))
    bucket_policies = {
        str(inputs["bucket"]): str(inputs["policy"])
        for inputs in (rewrite(r["inputs"]) for r in _of_type(graph, _BUCKET_POLICY))
    }
    for res in _of_type(graph, _NOTIFICATION):
        _put_notification(s3, rewrite(res["inputs"]))
    for res in _of_type(graph, _TABLE):
        _create_table(ddb, names[res["state"]["name"]], rewrite(res["inputs"]))
    for res in _of_type(graph, _RULE):
        inputs = rewrite(res["inputs"])
        events.put_rule(
            Name=names[res["state"]["name"]],
            EventBusName=str(inputs.get("eventBusName") or "default"),
            EventPattern=str(inputs["eventPattern"]),
            State="DISABLED" if inputs.get("state") == "DISABLED" else "ENABLED",
        )
    for res in _of_type(graph, _TARGET):
        inputs = rewrite(res["inputs"])
        events.put_targets(
            Rule=str(inputs["rule"]),
            EventBusName=str(inputs.get("eventBusName") or "default"),
            Targets=[{"Id": str(inputs.get("targetId") or res["name"])[:64], "Arn": inputs["arn"]}],
        )

    # Emulator-only: a tap queue that sees every event put on the bus, for tests and the CLI.
    buses = _of_type(graph, _BUS)
    tables = _of_type(graph, _TABLE)
    if len(buses) != 1 or len(tables) != 1:
        raise ProvisionError("expected one event bus and one table in the graph")
    bus = names[buses[0]["state"]["name"]]
    events_queue_url, events_queue_arn = create_queue(sqs, f"{prefix}-events-tap-{suffix}")
    events.put_rule(
        Name=f"{prefix}-tap-{suffix}",
        EventBusName=bus,
        EventPattern=json.dumps({"account": [account_id]}),
        State="ENABLED",
    )
    events.put_targets(
        Rule=f"{prefix}-tap-{suffix}",
        EventBusName=bus,
        Targets=[{"Id": "events-tap", "Arn": events_queue_arn}],
    )

    env = rewrite(_variables(plan.processor))
    queue_url, queue_arn = queues[plan.ingest_queue["urn"]]
    redrive = json.loads(str(rewrite(plan.ingest_queue["inputs"]).get("redrivePolicy") or "{}"))
    dlq_arn = str(redrive.get("deadLetterTargetArn") or "")
    dlq_url = next((url for url, arn in queues.values() if arn == dlq_arn), "")
    media_queue_url = media_queue_arn = media_dlq_url = ""
    if plan.media_queue is not None:
        media_queue_url, media_queue_arn = queues[plan.media_queue["urn"]]
        media_redrive = json.loads(
            str(rewrite(plan.media_queue["inputs"]).get("redrivePolicy") or "{}")
        )
        media_dlq_arn = str(media_redrive.get("deadLetterTargetArn") or "")
        media_dlq_url = next((u for u, a in queues.values() if a == media_dlq_arn), "")
    return (
        Provisioned(
            bucket=env["MEDIAKIT_BUCKET"],
            table=names[tables[0]["state"]["name"]],
            event_bus=bus,
            kms_key_arn=env["MEDIAKIT_KMS_KEY_ARN"],
            queue_url=queue_url,
            queue_arn=queue_arn,
            dlq_url=dlq_url,
            events_queue_url=events_queue_url,
            account_id=account_id,
            bucket_policies=bucket_policies,
            media_queue_url=media_queue_url,
            media_queue_arn=media_queue_arn,
            media_dlq_url=media_dlq_url,
        ),
        rewrite,
    )


def function_spec(
    plan: StackPlan, function: Resource, rewrite: Callable[[Any], Any], extra: Mapping[str, str]
) -> FunctionSpec:
    """The function as the graph declares it: handler, timeout, memory, and exactly its
    environment variables (rewritten to moto's names) plus the emulator's `extra` ones."""
    return FunctionSpec(
        name=str(function["state"].get("name") or function["name"]),
        handler=str(function["inputs"]["handler"]),
        environment={**rewrite(_variables(function)), **extra},
        timeout_seconds=plan.function_timeout(function),
        memory_mb=plan.function_memory(function),
    )


def create_queue(
    sqs: Any, name: str, attributes: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """Create an SQS queue; its URL (to call it) and ARN (what redrive policies, notifications
    and rule targets name)."""
    url: str = sqs.create_queue(
        QueueName=name, **({"Attributes": dict(attributes)} if attributes else {})
    )["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, str(attrs["QueueArn"])


# -- helpers --------------------------------------------------------------------------------


def _of_type(graph: Graph, typ: str) -> list[Resource]:
    return [r for r in graph["resources"] if r["custom"] and r["type"] == typ]


def _by_attribute(resources: list[Resource], attr: str, value: Any, what: str) -> Resource:
    found = [r for r in resources if r["state"].get(attr) == value]
    if len(found) != 1:
        raise ProvisionError(f"expected one {what} with {attr} {value!r}, found {len(found)}")
    return found[0]


def _variables(function: Resource) -> dict[str, str]:
    env = function["inputs"].get("environment") or {}
    return {str(k): str(v) for k, v in (env.get("variables") or {}).items()}


def _rewriter(names: Mapping[str, str], unreachable: set[str]) -> Callable[[Any], Any]:
    """Replace every mock identifier (longest first, one pass) with its moto twin in every
    string of a value; a string that is exactly an unreachable resource's address becomes ""."""
    keys = sorted((k for k in names if k), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(k) for k in keys))

    def one(text: str) -> str:
        if text in unreachable:
            return ""
        return pattern.sub(lambda m: names[m.group(0)], text)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return one(value)
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk


def _number(value: Any) -> int:
    return int(float(value))


def _kms_tags(tags: Any) -> list[dict[str, str]]:
    return [{"TagKey": str(k), "TagValue": str(v)} for k, v in (tags or {}).items()]


def _queue_attributes(inputs: Mapping[str, Any], name: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in inputs.items():
        if key in _QUEUE_IGNORED or value is None:
            continue
        if key not in _QUEUE_ATTRIBUTES:
            raise ProvisionError(f"queue {name}: the emulator does not apply {key}")
        if isinstance(value, bool):
            out[_QUEUE_ATTRIBUTES[key]] = "true" if value else "false"
        elif isinstance(value, float | int):
            out[_QUEUE_ATTRIBUTES[key]] = str(_number(value))
        else:
            out[_QUEUE_ATTRIBUTES[key]] = str(value)
    return out


def _pascal(value: Any) -> Any:
    """A Pulumi input block in the S3 API's spelling (camelCase -> PascalCase, id -> ID)."""
    if isinstance(value, Mapping):
        return {
            ("ID" if k == "id" else k[:1].upper() + k[1:]): _pascal(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_pascal(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _put_ownership(s3: Any, inputs: Mapping[str, Any], _: tuple[str, ...]) -> None:
    rule = inputs["rule"]
    s3.put_bucket_ownership_controls(
        Bucket=inputs["bucket"],
        OwnershipControls={"Rules": [{"ObjectOwnership": rule["objectOwnership"]}]},
    )


def _put_versioning(s3: Any, inputs: Mapping[str, Any], _: tuple[str, ...]) -> None:
    status = inputs["versioningConfiguration"]["status"]
    s3.put_bucket_versioning(Bucket=inputs["bucket"], VersioningConfiguration={"Status": status})


def _put_encryption(s3: Any, inputs: Mapping[str, Any], _: tuple[str, ...]) -> None:
    rules = []
    for rule in inputs["rules"]:
        default = rule.get("applyServerSideEncryptionByDefault") or {}
        by_default = {"SSEAlgorithm": default["sseAlgorithm"]}
        if default.get("kmsMasterKeyId"):
            by_default["KMSMasterKeyID"] = default["kmsMasterKeyId"]
        out: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": by_default}
        if "bucketKeyEnabled" in rule:
            out["BucketKeyEnabled"] = bool(rule["bucketKeyEnabled"])
        rules.append(out)
    s3.put_bucket_encryption(
        Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules}
    )


def _put_cors(s3: Any, inputs: Mapping[str, Any], extra_origins: tuple[str, ...]) -> None:
    rules = []
    for rule in _pascal(inputs["corsRules"]):
        origins = rule.get("AllowedOrigins") or []
        rule["AllowedOrigins"] = list(dict.fromkeys([*origins, *extra_origins]))
        rules.append(rule)
    s3.put_bucket_cors(Bucket=inputs["bucket"], CORSConfiguration={"CORSRules": rules})


def _put_lifecycle(s3: Any, inputs: Mapping[str, Any], _: tuple[str, ...]) -> None:
    rules = []
    for rule in _pascal(inputs["rules"]):
        # An empty filter is "every object": S3's own spelling of it is an empty prefix.
        rule["Filter"] = rule.get("Filter") or {"Prefix": ""}
        rules.append(rule)
    s3.put_bucket_lifecycle_configuration(
        Bucket=inputs["bucket"], LifecycleConfiguration={"Rules": rules}
    )


def _put_public_access_block(s3: Any, inputs: Mapping[str, Any], _: tuple[str, ...]) -> None:
    flags = ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
    s3.put_public_access_block(
        Bucket=inputs["bucket"],
        PublicAccessBlockConfiguration={_pascal_key(f): bool(inputs.get(f)) for f in flags},
    )


def _pascal_key(key: str) -> str:
    return key[:1].upper() + key[1:]


_BUCKET_APPLY: dict[str, Callable[[Any, Mapping[str, Any], tuple[str, ...]], None]] = {
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _put_ownership,
    "aws:s3/bucketVersioning:BucketVersioning": _put_versioning,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        _put_encryption
    ),
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": _put_cors,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _put_lifecycle,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _put_public_access_block,
}


def _put_object(s3: Any, inputs: Mapping[str, Any]) -> None:
    """An object the stack writes itself (the health probe), with its encryption."""
    args: dict[str, Any] = {
        "Bucket": inputs["bucket"],
        "Key": inputs["key"],
        "Body": str(inputs.get("content") or "").encode(),
    }
    for name, api in (
        ("contentType", "ContentType"),
        ("serverSideEncryption", "ServerSideEncryption"),
        ("kmsKeyId", "SSEKMSKeyId"),
    ):
        if inputs.get(name):
            args[api] = str(inputs[name])
    if "bucketKeyEnabled" in inputs:
        args["BucketKeyEnabled"] = bool(inputs["bucketKeyEnabled"])
    unknown = set(inputs) - {
        "bucket", "key", "content", "contentType", "serverSideEncryption", "kmsKeyId",
        "bucketKeyEnabled", "tags",
    }  # fmt: skip
    if unknown:
        raise ProvisionError(f"bucket object: the emulator does not apply {sorted(unknown)}")
    s3.put_object(**args)


def _put_notification(s3: Any, inputs: Mapping[str, Any]) -> None:
    for unsupported in ("lambdaFunctions", "topics"):
        if inputs.get(unsupported):
            raise ProvisionError(f"bucket notification: the emulator does not route {unsupported}")
    # `eventbridge` (malware scanning) is for GuardDuty alone, whose simulation takes its own
    # notification (mediakit/local/malware.py): moto would put every S3 event on every bus.
    configurations = []
    for i, queue in enumerate(inputs.get("queues") or []):
        rules = [
            {"Name": name, "Value": queue[key]}
            for name, key in (("prefix", "filterPrefix"), ("suffix", "filterSuffix"))
            if queue.get(key)
        ]
        configuration: dict[str, Any] = {
            "Id": str(queue.get("id") or f"queue-{i}"),
            "QueueArn": queue["queueArn"],
            "Events": list(queue["events"]),
        }
        if rules:
            configuration["Filter"] = {"Key": {"FilterRules": rules}}
        configurations.append(configuration)
    s3.put_bucket_notification_configuration(
        Bucket=inputs["bucket"],
        NotificationConfiguration={"QueueConfigurations": configurations},
    )


def _create_table(ddb: Any, name: str, inputs: Mapping[str, Any]) -> None:
    def schema(hash_key: Any, range_key: Any) -> list[dict[str, str]]:
        keys = [{"AttributeName": str(hash_key), "KeyType": "HASH"}]
        if range_key:
            keys.append({"AttributeName": str(range_key), "KeyType": "RANGE"})
        return keys

    indexes = []
    for gsi in inputs.get("globalSecondaryIndexes") or []:
        key_schema = [
            {"AttributeName": k["attributeName"], "KeyType": k["keyType"]}
            for k in gsi.get("keySchemas") or []
        ] or schema(gsi["hashKey"], gsi.get("rangeKey"))
        projection: dict[str, Any] = {"ProjectionType": gsi.get("projectionType") or "ALL"}
        if gsi.get("nonKeyAttributes"):
            projection["NonKeyAttributes"] = list(gsi["nonKeyAttributes"])
        indexes.append(
            {"IndexName": gsi["name"], "KeySchema": key_schema, "Projection": projection}
        )
    args: dict[str, Any] = {
        "TableName": name,
        "BillingMode": inputs.get("billingMode") or "PROVISIONED",
        "AttributeDefinitions": [
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in inputs["attributes"]
        ],
        "KeySchema": schema(inputs["hashKey"], inputs.get("rangeKey")),
    }
    if indexes:
        args["GlobalSecondaryIndexes"] = indexes
    sse = inputs.get("serverSideEncryption") or {}
    if sse.get("enabled"):
        args["SSESpecification"] = {"Enabled": True, "SSEType": "KMS"} | (
            {"KMSMasterKeyId": sse["kmsKeyArn"]} if sse.get("kmsKeyArn") else {}
        )
    if inputs.get("streamEnabled"):
        args["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": inputs.get("streamViewType") or "NEW_AND_OLD_IMAGES",
        }
    if "deletionProtectionEnabled" in inputs:
        args["DeletionProtectionEnabled"] = bool(inputs["deletionProtectionEnabled"])
    ddb.create_table(**args)
    ttl = inputs.get("ttl") or {}
    if ttl.get("enabled"):
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["attributeName"]},
        )
    if (inputs.get("pointInTimeRecovery") or {}).get("enabled"):
        ddb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )


def environ_overrides() -> dict[str, str]:
    """`mediakit dev`'s MEDIAKIT_* overrides of the stack's settings, from this process."""
    return env_config(os.environ)

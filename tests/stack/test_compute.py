"""Lambdas, roles (exact actions and resources), SQS mapping, API and alarms."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from policies import documents as d
from runtime.settings import Resources, Settings
from tests.stack.conftest import StackGraph

BUCKET = "media-storage-bucket"
TABLE = "media-storage-uploads"
KEY = "media-storage-key"
PRESIGN = "media-compute-presign"
PROCESSOR = "media-compute-processor"


def _grants(stack: StackGraph, policy: str) -> set[tuple[str, str]]:
    """(action, resource) pairs an inline role policy allows, one per combination."""
    pairs = set()
    for s in stack.policy(policy)["Statement"]:
        assert s["Effect"] == "Allow"
        resources = [s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]
        pairs |= {(a, r) for a in s["Action"] for r in resources}
    return pairs


def test_presign_role_grants_exactly_its_actions_on_exactly_its_resources(
    stack: StackGraph,
) -> None:
    bucket, table = stack.state(BUCKET)["arn"], stack.state(TABLE)["arn"]
    key, logs = stack.state(KEY)["arn"], stack.state("media-compute-presign-logs")["arn"]
    originals, derivatives = f"{bucket}/originals/*", f"{bucket}/derivatives/*"
    assert (
        stack.inputs("media-compute-presign-policy")["role"]
        == stack.state("media-compute-presign-role")["id"]
    )
    assert _grants(stack, "media-compute-presign-policy") == {
        ("s3:PutObject", originals),
        ("s3:AbortMultipartUpload", originals),
        # GET /v1/uploads/{id}/parts lists the parts S3 holds (resume)
        ("s3:ListMultipartUploadParts", originals),
        ("s3:DeleteObject", originals),
        ("s3:DeleteObject", derivatives),
        # delete lists the derivative prefix, purge lists and removes versions (the list
        # grants' s3:prefix conditions: test_presign_role_lists_only_media_prefixes)
        ("s3:ListBucket", bucket),
        ("s3:ListBucketVersions", bucket),
        ("s3:DeleteObjectVersion", originals),
        ("s3:DeleteObjectVersion", derivatives),
        ("s3:GetObjectVersion", originals),
        ("events:PutEvents", stack.state("media-events-bus")["arn"]),
        ("dynamodb:GetItem", table),
        ("dynamodb:PutItem", table),
        ("dynamodb:UpdateItem", table),
        ("dynamodb:Query", f"{table}/index/by_tenant"),
        # GET /v1/uploads?status= reads the status index; cursors carry a KMS HMAC
        ("dynamodb:Query", f"{table}/index/by_tenant_status"),
        # per-tenant limits count pending uploads on the sparse tenant_items index
        ("dynamodb:Query", f"{table}/index/tenant_items"),
        # GET /v1/health reads the stack's small object under health/ (runtime/health.py)
        ("s3:GetObject", f"{bucket}/health/*"),
        ("kms:GenerateMac", stack.state("media-cursor-key-1")["arn"]),
        ("kms:Decrypt", key),
        ("kms:GenerateDataKey", key),
        # private delivery (the default): sign URLs with the signing generation's key only
        ("kms:Sign", stack.state("media-delivery-key-1")["arn"]),
        ("logs:CreateLogStream", f"{logs}:*"),
        ("logs:PutLogEvents", f"{logs}:*"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    }


def test_presign_role_lists_only_media_prefixes(stack: StackGraph) -> None:
    # GIVEN the presign role's list statements (their Resource is the whole bucket)
    statements = {s["Sid"]: s for s in stack.policy("media-compute-presign-policy")["Statement"]}
    # WHEN / THEN each is held to the media prefixes by an s3:prefix condition
    assert statements["ListUploadDerivatives"]["Condition"] == {
        "StringLike": {"s3:prefix": ["derivatives/*"]}
    }
    assert statements["ListUploadVersions"]["Condition"] == {
        "StringLike": {"s3:prefix": ["originals/*", "derivatives/*"]}
    }


def test_processor_role_grants_exactly_its_actions_on_exactly_its_resources(
    stack: StackGraph,
) -> None:
    bucket, table = stack.state(BUCKET)["arn"], stack.state(TABLE)["arn"]
    key, logs = stack.state(KEY)["arn"], stack.state("media-compute-processor-logs")["arn"]
    queue = stack.state("media-queues-ingest")["arn"]
    bus = stack.state("media-events-bus")["arn"]
    originals, derivatives = f"{bucket}/originals/*", f"{bucket}/derivatives/*"
    assert _grants(stack, "media-compute-processor-policy") == {
        ("s3:GetObject", originals),
        ("s3:GetObjectVersion", originals),
        ("s3:DeleteObject", originals),
        ("s3:DeleteObjectVersion", originals),
        ("s3:PutObject", derivatives),
        ("s3:DeleteObject", derivatives),
        ("kms:Decrypt", key),
        ("kms:GenerateDataKey", key),
        ("sqs:ReceiveMessage", queue),
        ("sqs:DeleteMessage", queue),
        ("sqs:GetQueueAttributes", queue),
        ("dynamodb:GetItem", table),
        ("dynamodb:UpdateItem", table),
        ("events:PutEvents", bus),
        ("logs:CreateLogStream", f"{logs}:*"),
        ("logs:PutLogEvents", f"{logs}:*"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
    }


@pytest.mark.parametrize(
    ("policy", "constants"),
    [
        (
            "media-compute-presign-policy",
            d.PRESIGN_UPLOAD_ACTIONS
            + d.PRESIGN_DELETE_ACTIONS
            + d.PRESIGN_LIST_DERIVATIVES_ACTIONS
            + d.PRESIGN_LIST_VERSIONS_ACTIONS
            + d.PRESIGN_PURGE_ACTIONS
            + d.PRESIGN_READ_VERSIONS_ACTIONS
            + d.PRESIGN_EVENTS_ACTIONS
            + d.PRESIGN_TABLE_ACTIONS
            + d.PRESIGN_INDEX_ACTIONS
            + d.PRESIGN_KEY_ACTIONS
            + d.PRESIGN_SIGN_URLS_ACTIONS  # private delivery, the default
            + d.PRESIGN_CURSOR_MAC_ACTIONS
            + d.PRESIGN_HEALTH_ACTIONS
            + d.LOG_ACTIONS
            + d.TRACING_ACTIONS,
        ),
        (
            "media-compute-processor-policy",
            d.PROCESSOR_READ_ORIGINALS_ACTIONS
            + d.PROCESSOR_REMOVE_LATE_ORIGINALS_ACTIONS
            + d.PROCESSOR_REMOVE_REPLAYS_ACTIONS
            + d.PROCESSOR_WRITE_DERIVATIVES_ACTIONS
            + d.PROCESSOR_CLEANUP_DERIVATIVES_ACTIONS
            + d.PROCESSOR_KEY_ACTIONS
            + d.PROCESSOR_QUEUE_ACTIONS
            + d.PROCESSOR_TABLE_ACTIONS
            + d.PROCESSOR_EVENTS_ACTIONS
            + d.LOG_ACTIONS
            + d.TRACING_ACTIONS,
        ),
    ],
)
def test_role_actions_come_from_the_documents_constants(
    stack: StackGraph, policy: str, constants: tuple[str, ...]
) -> None:
    # The constants are the one list a runtime-call recorder can compare against.
    assert d.actions_of(stack.policy(policy)) == set(constants)


def test_roles_trust_only_lambda(stack: StackGraph) -> None:
    for role in ("media-compute-presign-role", "media-compute-processor-role"):
        (trust,) = stack.policy(role, "assumeRolePolicy")["Statement"]
        assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert trust["Action"] == ["sts:AssumeRole"]


def test_functions_handlers_runtime_architecture_env_logs_tracing(stack: StackGraph) -> None:
    settings = Settings.from_config(stack.config.get)
    env = (
        settings.to_env()
        | Resources(
            bucket=stack.state(BUCKET)["bucket"],
            table=stack.state(TABLE)["name"],
            event_bus=stack.state("media-events-bus")["name"],
            kms_key_arn=stack.state(KEY)["arn"],
            cdn_domain=stack.state("media-cdn-distribution")["domainName"],
            pipeline=f"mediakit-{stack.raw['stack']}",
            cdn_distribution_id=stack.state("media-cdn-distribution")["id"],
            delivery_key_arn=stack.state("media-delivery-key-1")["arn"],
            delivery_key_pair_id=stack.state("media-delivery-key-1-public")["id"],
            cursor_keys=f"1={stack.state('media-cursor-key-1')['arn']}",
        ).to_env()
    )
    for name, handler in (
        (PRESIGN, "runtime.presign.handler"),
        (PROCESSOR, "runtime.processor.handler"),
    ):
        fn = stack.inputs(name)
        assert fn["handler"] == handler
        assert fn["runtime"] == f"python{stack.config['lambdaPython']}"
        assert fn["architectures"] == [stack.config["lambdaArchitecture"]]
        assert fn["environment"] == {"variables": env}
        assert fn["tracingConfig"] == {"mode": "Active"}
        assert fn["kmsKeyArn"] == stack.state(KEY)["arn"]
        assert fn["role"] == stack.state(f"{name}-role")["arn"]
        assert fn["loggingConfig"] == {
            "logFormat": "JSON",
            "logGroup": stack.state(f"{name}-logs")["name"],
        }
        logs = stack.inputs(f"{name}-logs")
        assert logs["kmsKeyId"] == stack.state(KEY)["arn"]
        assert logs["retentionInDays"] >= stack.config["logRetentionDays"]


def test_function_code_is_the_reproducible_artifact(stack: StackGraph) -> None:
    # Each function gets its own artifact (the presign one carries no media library).
    target = f"py{stack.config['lambdaPython']}-{stack.config['lambdaArchitecture']}-"
    for function, urn in (("presign", PRESIGN), ("processor", PROCESSOR)):
        fn = stack.inputs(urn)
        path = Path(fn["code"]["path"])
        assert path.name.startswith(f"mediakit-{function}-{target}")
        digest = hashlib.sha256(path.read_bytes()).digest()
        assert fn["sourceCodeHash"] == base64.b64encode(digest).decode()
    assert stack.inputs(PROCESSOR)["code"] != stack.inputs(PRESIGN)["code"]


def test_shipped_stacks_reserve_no_concurrency(stack: StackGraph) -> None:
    # Lambda keeps 100 of the account's concurrency unreserved: any reservation fails on the
    # accounts (quota 10 or 50) a first deploy often lands in, so none is shipped by default.
    assert stack.inputs(PRESIGN)["reservedConcurrentExecutions"] == -1
    assert stack.inputs(PROCESSOR)["reservedConcurrentExecutions"] == -1
    assert stack.config["presignReservedConcurrency"] == -1


def test_reserved_concurrency_only_where_configured() -> None:
    from policies.synth import load_stack_config, synth

    config = load_stack_config("prod") | {"presignReservedConcurrency": 20}
    graph = StackGraph(synth("prod", config))
    assert graph.inputs(PRESIGN)["reservedConcurrentExecutions"] == 20
    assert graph.inputs(PROCESSOR)["reservedConcurrentExecutions"] == -1


def test_event_source_mapping_partial_batch_failures_and_concurrency(stack: StackGraph) -> None:
    mapping = stack.inputs("media-compute-ingest-mapping")
    assert mapping["eventSourceArn"] == stack.state("media-queues-ingest")["arn"]
    assert mapping["functionName"] == stack.state(PROCESSOR)["arn"]
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["batchSize"] == stack.config["processorBatchSize"]
    assert mapping["scalingConfig"] == {
        "maximumConcurrency": stack.config["processorMaxConcurrency"]
    }


def test_api_jwt_authorizer_from_config(stack: StackGraph) -> None:
    jwt = stack.inputs("media-api-jwt")
    assert jwt["authorizerType"] == "JWT"
    assert jwt["identitySources"] == ["$request.header.Authorization"]
    assert jwt["jwtConfiguration"] == {
        "issuer": stack.config["jwtIssuer"],
        "audiences": stack.config["jwtAudience"],
    }


def test_api_routes_all_jwt_authorised_to_presign_proxy_v2(stack: StackGraph) -> None:
    integration = stack.get("media-api-presign-integration")
    assert integration["inputs"]["integrationType"] == "AWS_PROXY"
    assert integration["inputs"]["payloadFormatVersion"] == "2.0"
    assert integration["inputs"]["integrationUri"] == stack.state(PRESIGN)["arn"]
    routes = stack.of_type("aws:apigatewayv2/route:Route")
    assert {r["inputs"]["routeKey"] for r in routes} == {
        "POST /v1/uploads",
        "GET /v1/uploads",
        "GET /v1/uploads/{id}",
        "DELETE /v1/uploads/{id}",
        "POST /v1/uploads/{id}/complete",
        "GET /v1/uploads/{id}/parts",
        "GET /v1/uploads/{id}/download",
        "POST /v1/uploads/{id}/restore",
        "GET /v1/usage",
        "GET /v1/health",
    }
    # Every route but the public ones needs a token; the public set is exactly the health
    # check (issue 13.1: open, throttled on its own, component names only in its body).
    public = {r["inputs"]["routeKey"] for r in routes if r["inputs"]["authorizationType"] != "JWT"}
    assert public == {"GET /v1/health"}
    for route in routes:
        assert route["inputs"]["target"] == f"integrations/{integration['id']}"
        if route["inputs"]["routeKey"] in public:
            assert route["inputs"]["authorizationType"] == "NONE"
            assert "authorizerId" not in route["inputs"]
        else:
            assert route["inputs"]["authorizationType"] == "JWT"
            assert route["inputs"]["authorizerId"] == stack.state("media-api-jwt")["id"]


def test_api_cors_matches_bucket_cors(stack: StackGraph) -> None:
    cors = stack.inputs("media-api-http")["corsConfiguration"]
    assert cors["allowOrigins"] == stack.config["corsOrigins"]
    assert "*" not in cors["allowOrigins"]


def test_api_stage_access_logs_throttling_and_scoped_permission(stack: StackGraph) -> None:
    stage = stack.inputs("media-api-stage")
    assert stage["name"] == "$default"
    # Under /aws/vendedlogs/: no entry per log group in the account's CloudWatch Logs resource
    # policy (5,120 characters, never cleaned), which otherwise fails stage creation one day.
    access_logs = stack.state("media-api-access-logs")
    assert access_logs["name"].startswith(
        f"/aws/vendedlogs/apigateway/mediakit-{stack.raw['stack']}-access-"
    )
    assert "name" not in stack.inputs("media-api-access-logs")  # unique suffix per deployment
    assert (
        stage["accessLogSettings"]["destinationArn"] == stack.state("media-api-access-logs")["arn"]
    )
    assert (
        stage["defaultRouteSettings"]["throttlingRateLimit"] == stack.config["apiThrottleRateLimit"]
    )
    assert (
        stage["defaultRouteSettings"]["throttlingBurstLimit"]
        == stack.config["apiThrottleBurstLimit"]
    )
    permission = stack.inputs("media-api-invoke-presign")
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["function"] == stack.state(PRESIGN)["name"]
    assert permission["sourceArn"] == f"{stack.state('media-api-http')['executionArn']}/*/*"


def test_alarms_dlq_age_errors_to_encrypted_topic(stack: StackGraph) -> None:
    topic = stack.get("media-alarms-topic")
    assert topic["inputs"]["kmsMasterKeyId"] == stack.state(KEY)["arn"]
    dlq = stack.inputs("media-alarms-dlq-not-empty")
    assert (dlq["metricName"], dlq["namespace"]) == (
        "ApproximateNumberOfMessagesVisible",
        "AWS/SQS",
    )
    assert dlq["dimensions"] == {"QueueName": stack.state("media-queues-dlq")["name"]}
    assert (dlq["comparisonOperator"], dlq["threshold"]) == ("GreaterThanThreshold", 0)
    age = stack.inputs("media-alarms-ingest-oldest-message")
    assert age["metricName"] == "ApproximateAgeOfOldestMessage"
    assert age["dimensions"] == {"QueueName": stack.state("media-queues-ingest")["name"]}
    assert age["threshold"] == stack.config["alarmQueueAgeSeconds"]
    errors = stack.inputs("media-alarms-processor-errors")
    assert (errors["metricName"], errors["namespace"]) == ("FailedInvokeEventCount", "AWS/Lambda")
    assert errors["dimensions"] == {
        "EventSourceMappingUUID": stack.state("media-compute-ingest-mapping")["uuid"]
    }
    assert errors["threshold"] == stack.config["alarmProcessorErrors"]
    for alarm in (dlq, age, errors):
        assert alarm["alarmActions"] == [topic["state"]["arn"]]


def test_processor_alarm_counts_retried_messages_not_invocation_errors(stack: StackGraph) -> None:
    # GIVEN the handler reports per-message failures in batchItemFailures and returns normally,
    # so Lambda's Errors never counts a retry
    mapping = stack.inputs("media-compute-ingest-mapping")
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    alarm = stack.inputs("media-alarms-processor-errors")
    # THEN the alarm watches no function-level error metric ...
    assert alarm["metricName"] not in {"Errors", "Throttles"}
    assert "FunctionName" not in alarm["dimensions"]
    # ... but the mapping's event counts, which the mapping must be told to emit
    assert mapping["metricsConfig"] == {"metrics": ["EventCount"]}
    assert set(alarm["dimensions"]) == {"EventSourceMappingUUID"}


def test_alarm_email_subscription_only_when_configured(dev: StackGraph, prod: StackGraph) -> None:
    assert not dev.of_type("aws:sns/topicSubscription:TopicSubscription")
    (sub,) = prod.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sub["inputs"]["endpoint"] == "oncall@example.com"

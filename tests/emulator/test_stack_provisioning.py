"""One definition: `mediakit dev` is provisioned from the stack's synthesized graph, so a change
to a stack input reaches the emulator, and nothing is a hand-written copy."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from mediakit.local import provision
from mediakit.local.emulator import DevEnv, Emulator
from mediakit.local.provision import SKIPPED, ProvisionError, StackPlan, stack_graph
from runtime import cursors
from stacks import artifact as build

pytest.importorskip("pulumi")


def _ok(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "{}"}


def _empty_batch(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"batchItemFailures": []}


Start = Callable[..., DevEnv]


@pytest.fixture
def started() -> Iterator[Start]:
    holder: list[Emulator] = []

    def start(config: Mapping[str, Any] | None = None) -> DevEnv:
        emulator = Emulator(config=config, presign_handler=_ok, processor_handler=_empty_batch)
        holder.append(emulator)
        return emulator.start()

    yield start
    for emulator in holder:
        emulator.stop()


def _inputs(graph: dict[str, Any], name: str) -> dict[str, Any]:
    [res] = [r for r in graph["resources"] if r["name"] == name]
    inputs: dict[str, Any] = res["inputs"]
    return inputs


def _rules(notification: dict[str, Any]) -> list[tuple[str, str]]:
    # S3 answers "Prefix", moto "prefix": both name the same rule.
    rules = notification["Filter"]["Key"]["FilterRules"]
    return [(r["Name"].lower(), r["Value"]) for r in rules]


def _arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attrs["QueueArn"])


def test_dev_emulator_has_the_stacks_bucket_queues_table_bus_and_key(started: Start) -> None:
    # GIVEN the emulator of the dev stack, and the dev stack's graph
    env = started()
    graph = stack_graph("dev")
    s3, sqs, ddb, kms = (env.client(n) for n in ("s3", "sqs", "dynamodb", "kms"))
    # THEN the bucket carries the stack's settings, with this run's key
    assert s3.get_bucket_versioning(Bucket=env.bucket)["Status"] == "Enabled"
    [rule] = s3.get_bucket_encryption(Bucket=env.bucket)["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": env.kms_key_arn,
    }
    assert rule["BucketKeyEnabled"] is True
    ownership = s3.get_bucket_ownership_controls(Bucket=env.bucket)["OwnershipControls"]
    assert ownership["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    block = s3.get_public_access_block(Bucket=env.bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert len(block) == 4
    [cors] = s3.get_bucket_cors(Bucket=env.bucket)["CORSRules"]
    stack_cors = _inputs(graph, "media-storage-bucket-cors")["corsRules"][0]
    assert set(stack_cors["allowedOrigins"]) <= set(cors["AllowedOrigins"])
    assert cors["AllowedMethods"] == stack_cors["allowedMethods"]
    assert cors["ExposeHeaders"] == ["ETag", "Retry-After"]
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=env.bucket)["Rules"]
    assert {r["ID"] for r in lifecycle} == {"tier-originals", "housekeeping"}
    [tier] = [r for r in lifecycle if r["ID"] == "tier-originals"]
    assert [(t["Days"], t["StorageClass"]) for t in tier["Transitions"]] == [
        (30, "STANDARD_IA"),
        (365, "GLACIER_IR"),
    ]
    # AND the notification sends originals/ to the ingest queue
    [notify] = s3.get_bucket_notification_configuration(Bucket=env.bucket)["QueueConfigurations"]
    assert notify["QueueArn"] == _arn(sqs, env.queue_url)
    assert notify["Events"] == ["s3:ObjectCreated:*", "s3:LifecycleExpiration:DeleteMarkerCreated"]
    assert _rules(notify) == [("prefix", "originals/")]
    # AND the queues have the stack's attributes, redrive and policy, rewritten to moto's ARNs
    attrs = sqs.get_queue_attributes(QueueUrl=env.queue_url, AttributeNames=["All"])["Attributes"]
    ingest = _inputs(graph, "media-queues-ingest")
    assert int(attrs["VisibilityTimeout"]) == ingest["visibilityTimeoutSeconds"]
    assert int(attrs["MessageRetentionPeriod"]) == ingest["messageRetentionSeconds"]
    assert attrs["SqsManagedSseEnabled"] == "true"
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": _arn(sqs, env.dlq_url), "maxReceiveCount": 5}
    policy = json.loads(attrs["Policy"])
    [allow] = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow["Resource"] == [_arn(sqs, env.queue_url)]
    assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == f"arn:aws:s3:::{env.bucket}"
    dlq = sqs.get_queue_attributes(QueueUrl=env.dlq_url, AttributeNames=["All"])["Attributes"]
    assert int(dlq["MessageRetentionPeriod"]) == 14 * 86400
    # AND the table has the key schema, the index and the TTL attribute
    table = ddb.describe_table(TableName=env.table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "upload_id", "KeyType": "HASH"}]
    indexes = {
        gsi["IndexName"]: [k["AttributeName"] for k in gsi["KeySchema"]]
        for gsi in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "by_tenant": ["tenant", "created_at"],
        "by_tenant_status": ["tenant_status", "created_at"],
        "tenant_items": ["item_tenant", "item_sort"],
    }
    ttl = ddb.describe_time_to_live(TableName=env.table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")
    # AND the key rotates, with the stack's key policy statements
    assert kms.get_key_rotation_status(KeyId=env.kms_key_arn)["KeyRotationEnabled"] is True
    key_policy = json.loads(
        kms.get_key_policy(KeyId=env.kms_key_arn, PolicyName="default")["Policy"]
    )
    assert "PresignRoleUseKey" in {s["Sid"] for s in key_policy["Statement"]}
    # AND the bus exists; the stack's bucket policy is kept, naming this run's bucket and key
    assert env.client("events").describe_event_bus(Name=env.event_bus)["Name"] == env.event_bus


def test_functions_get_exactly_the_graphs_environment_and_handler() -> None:
    # GIVEN the dev stack's emulator with the real handlers
    emulator = Emulator()
    graph = stack_graph("dev")
    with emulator as env:
        assert emulator.resources is not None
        # THEN each function's variables are the graph's, names rewritten, plus the endpoint
        for key, name in (
            ("presign", "media-compute-presign"),
            ("processor", "media-compute-processor"),
        ):
            spec = emulator.functions[key]
            stack_env = _inputs(graph, name)["environment"]["variables"]
            assert set(spec.environment) == set(stack_env) | {
                "AWS_ENDPOINT_URL",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION",
                "AWS_REGION",
            }
            assert spec.handler == _inputs(graph, name)["handler"]
            assert spec.timeout_seconds == _inputs(graph, name)["timeout"]
            assert spec.memory_mb == _inputs(graph, name)["memorySize"]
            assert spec.environment["MEDIAKIT_BUCKET"] == env.bucket
            assert spec.environment["MEDIAKIT_TABLE"] == env.table
            assert spec.environment["MEDIAKIT_EVENT_BUS"] == env.event_bus
            assert spec.environment["MEDIAKIT_KMS_KEY_ARN"] == env.kms_key_arn
            assert spec.environment["MEDIAKIT_CDN_DOMAIN"] == ""  # no CDN locally
            # private delivery's signing key exists in moto (RSA 2048), unused without a CDN
            signing_key = env.client("kms").describe_key(
                KeyId=spec.environment["MEDIAKIT_DELIVERY_KEY_ARN"]
            )["KeyMetadata"]
            assert (signing_key["KeyUsage"], signing_key["KeySpec"]) == ("SIGN_VERIFY", "RSA_2048")
            # the listing cursors' MAC key too (HMAC_256), under the graph's generation name
            [(generation, mac_arn)] = cursors.parse_keys(
                spec.environment["MEDIAKIT_CURSOR_KEYS"]
            ).items()
            mac_key = env.client("kms").describe_key(KeyId=mac_arn)["KeyMetadata"]
            assert (generation, mac_key["KeyUsage"], mac_key["KeySpec"]) == (
                "1", "GENERATE_VERIFY_MAC", "HMAC_256",
            )  # fmt: skip
            unchanged = {k: v for k, v in stack_env.items() if not k.startswith(
                ("MEDIAKIT_BUCKET", "MEDIAKIT_TABLE", "MEDIAKIT_EVENT_BUS", "MEDIAKIT_KMS_KEY_ARN",
                 "MEDIAKIT_CDN_DOMAIN", "MEDIAKIT_DELIVERY_KEY_ARN", "MEDIAKIT_CURSOR_KEYS")
            )}  # fmt: skip
            assert {k: spec.environment[k] for k in unchanged} == unchanged
        assert emulator.presign_handler == "runtime.presign.handler"
        assert emulator.processor_handler == "runtime.processor.handler"
        # AND the bucket policy is the stack's, for this run's bucket and key
        policy = emulator.resources.bucket_policies[env.bucket]
        assert f"arn:aws:s3:::{env.bucket}/*" in policy
        assert env.kms_key_arn in policy


def test_emulator_follows_a_changed_stack_input(started: Start) -> None:
    # GIVEN stack inputs changed from the dev stack's: the notification prefix, the DLQ's
    # maxReceiveCount, a presign variable and the mapping's batch size
    config = {
        "originalsPrefix": "incoming/",
        "dlqMaxReceiveCount": 2,
        "presignTtlSeconds": 300,
        "processorBatchSize": 3,
    }
    # WHEN the emulator starts from that stack
    env = started(config)
    s3, sqs = env.client("s3"), env.client("sqs")
    # THEN each resource and function follows
    [notify] = s3.get_bucket_notification_configuration(Bucket=env.bucket)["QueueConfigurations"]
    assert _rules(notify) == [("prefix", "incoming/")]
    attrs = sqs.get_queue_attributes(QueueUrl=env.queue_url, AttributeNames=["RedrivePolicy"])
    assert json.loads(attrs["Attributes"]["RedrivePolicy"])["maxReceiveCount"] == 2
    from mediakit.local.emulator import _running

    [emulator] = _running
    presign_env = emulator.functions["presign"].environment
    assert presign_env["MEDIAKIT_PRESIGN_TTL_SECONDS"] == "300"
    assert presign_env["MEDIAKIT_ORIGINALS_PREFIX"] == "incoming/"
    assert emulator.plan.mapping.batch_size == 3
    assert emulator.mapping is not None


def test_settings_given_to_the_emulator_are_stack_config() -> None:
    # GIVEN Settings as the tests and the load runs build them
    from runtime.settings import Settings

    emulator = Emulator(Settings(processor_timeout_seconds=90, dlq_max_receive_count=3))
    # THEN the synthesized stack used them: function timeout, visibility (6x), settings
    assert emulator.processor_timeout_seconds == 90
    assert emulator.visibility_timeout == 540
    assert emulator.settings.dlq_max_receive_count == 3


def test_every_resource_type_of_every_shipped_stack_is_provisioned_or_skipped() -> None:
    # GIVEN / WHEN each shipped stack is planned / THEN no type is unaccounted for
    for stack in ("dev", "prod", "example-domains", "example-malware", "example-media"):
        plan = StackPlan.from_graph(stack_graph(stack))
        assert plan.processor["inputs"]["handler"] == "runtime.processor.handler"
    assert not set(SKIPPED) & set(provision.PROVISIONED)


def test_an_unlisted_resource_type_fails_provisioning() -> None:
    # GIVEN a graph with a resource type the emulator has never heard of
    graph = stack_graph("dev")
    graph["resources"].append(
        {"type": "aws:ec2/instance:Instance", "name": "x", "custom": True, "inputs": {}}
    )
    # WHEN / THEN planning refuses it, naming the type
    with pytest.raises(ProvisionError, match="aws:ec2/instance:Instance"):
        StackPlan.from_graph(graph)


def test_synth_for_the_emulator_downloads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no wheel can be fetched and no zip built
    def offline(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("synth tried to fetch wheels or build the zip")

    monkeypatch.setattr(build, "fetch_wheels", offline)
    monkeypatch.setattr(build, "deterministic_zip", offline)
    from policies.synth import load_stack_config, synth

    # WHEN the stack is synthesized / THEN its code is the source-hash stand-in
    graph = synth("dev", load_stack_config("dev") | {"presignTtlSeconds": 301})
    code = _inputs(graph, "media-compute-presign")["code"]["path"]
    assert "/.mediakit/synth/" in code
    assert code.endswith(".json")

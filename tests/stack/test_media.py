"""Audio/video on (mediaKinds, Pulumi.example-media.yaml): the media function, its queue and
alarms, the per-extension notification routing, the artifacts bucket its zip goes through, and
what the image-only stacks keep exactly as they were."""

from __future__ import annotations

import pytest

from policies import documents
from policies.synth import synth
from runtime.settings import KNOWN_TYPES, Settings, kind_of
from stacks import artifact
from stacks.queues import VISIBILITY_FACTOR, routing_suffixes
from tests.stack.conftest import StackGraph

FUNCTION = "media-media-function"
MAPPING = "media-media-mapping"
ROLE_POLICY = "media-media-policy"
PROCESSOR_POLICY = "media-compute-processor-policy"
QUEUE = "media-queues-media"
DLQ = "media-queues-media-dlq"
INGEST = "media-queues-ingest"
NOTIFICATION = "media-queues-bucket-notification"
ARTIFACTS = "media-media-artifacts"
CODE = "media-media-code"
LOG_POLICY = "media-storage-log-bucket-policy"
ON = ("image", "audio", "video")


@pytest.fixture(scope="module")
def media() -> StackGraph:
    return StackGraph(synth("example-media"))


def _arn(graph: StackGraph, name: str) -> str:
    return str(graph.state(name)["arn"])


def test_image_only_stacks_have_no_media_resources(stack: StackGraph) -> None:
    # GIVEN dev and prod (mediaKinds image) THEN no media function, queue or artifacts bucket,
    # and the notification is the single prefix-only configuration it always was
    names = {r["name"] for r in stack}
    assert not {FUNCTION, QUEUE, DLQ, ARTIFACTS, CODE} & names
    (only,) = stack.inputs(NOTIFICATION)["queues"]
    assert "filterSuffix" not in only
    assert "S3ServerAccessLogsDeliveryArtifacts" not in stack.statements(LOG_POLICY)


def test_media_function_has_its_own_budget_handler_and_code_from_the_artifacts_bucket(
    media: StackGraph,
) -> None:
    s = Settings(media_kinds=ON)
    fn = media.inputs(FUNCTION)
    assert fn["handler"] == "runtime.media_processor.handler"
    assert fn["timeout"] == s.media_processor_timeout_seconds == 900  # Lambda's maximum
    assert fn["memorySize"] == s.media_processor_memory_mb
    # the zip is past the 50 MB direct upload: the code comes from S3, never inline
    assert "code" not in fn
    assert fn["s3Bucket"] == media.state(ARTIFACTS)["bucket"]
    assert fn["s3Key"] == media.inputs(CODE)["key"]
    assert media.inputs(CODE)["key"].startswith("functions/mediakit-media-")
    assert media.inputs(CODE)["serverSideEncryption"] == "aws:kms"
    # the same settings and resources as the processor's environment, which turns media on
    processor = next(r for r in media if r["name"] == "media-compute-processor")
    assert fn["environment"] == processor["inputs"]["environment"]
    assert fn["environment"]["variables"]["MEDIAKIT_MEDIA_KINDS"] == "image,audio,video"


def test_media_mapping_feeds_one_message_at_a_time_from_the_media_queue(
    media: StackGraph,
) -> None:
    mapping = media.inputs(MAPPING)
    assert mapping["eventSourceArn"] == _arn(media, QUEUE)
    assert mapping["batchSize"] == 1
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = media.inputs(QUEUE)
    assert queue["visibilityTimeoutSeconds"] == VISIBILITY_FACTOR * 900
    assert queue["sqsManagedSseEnabled"] is True
    assert _arn(media, DLQ) in queue["redrivePolicy"]
    # the queue policy admits only this bucket, as the ingest queue's
    statements = media.statements("media-queues-media-policy")
    assert set(statements) == set(media.statements("media-queues-ingest-policy"))


def test_notifications_route_each_kind_by_extension_without_overlap(media: StackGraph) -> None:
    configs = media.inputs(NOTIFICATION)["queues"]
    by_suffix = {c["filterSuffix"]: c["queueArn"] for c in configs}
    assert len(by_suffix) == len(configs)
    for content_type, ext in KNOWN_TYPES.items():
        expected = QUEUE if kind_of(content_type) in ("audio", "video") else INGEST
        assert by_suffix[f".{ext}"] == _arn(media, expected), content_type
    assert {c["filterPrefix"] for c in configs} == {"originals/"}
    # S3 refuses overlapping configurations: no suffix ends another
    suffixes = list(by_suffix)
    assert not [(a, b) for a in suffixes for b in suffixes if a != b and b.endswith(a)]


def test_routing_follows_the_enabled_kinds() -> None:
    image, media = routing_suffixes(Settings(media_kinds=("image", "audio")))
    assert ".mp3" in media
    assert ".weba" in media
    assert ".mp4" not in media
    assert ".jpg" in image
    assert routing_suffixes(Settings()) == ((), ())


def test_media_role_is_the_processors_on_its_own_queue_without_scan_status(
    media: StackGraph,
) -> None:
    media_doc = media.policy(ROLE_POLICY)
    processor_doc = media.policy(PROCESSOR_POLICY)
    assert documents.actions_of(media_doc) == documents.actions_of(processor_doc)
    consume = media.statements(ROLE_POLICY)["ConsumeIngestQueue"]
    assert consume["Resource"] == [_arn(media, QUEUE)] or consume["Resource"] == _arn(media, QUEUE)
    assert "ReadScannedOriginalStatus" not in media.statements(ROLE_POLICY)


def test_artifacts_bucket_is_private_encrypted_versioned_logged_and_expiring(
    media: StackGraph,
) -> None:
    bucket_id = media.state(ARTIFACTS)["id"]
    sse = media.inputs("media-media-artifacts-sse")["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert sse["bucketKeyEnabled"] is True
    assert media.inputs("media-media-artifacts-versioning")["versioningConfiguration"] == {
        "status": "Enabled"
    }
    block = media.inputs("media-media-artifacts-public-access-block")
    assert all(
        block[k]
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    assert media.inputs("media-media-artifacts-ownership")["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }
    logging = media.inputs("media-media-artifacts-logging")
    assert logging["bucket"] == bucket_id
    assert logging["targetPrefix"] == "artifacts/"
    (rule,) = media.inputs("media-media-artifacts-lifecycle")["rules"]
    assert rule["filter"] == {}
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] > 0
    statements = media.statements("media-media-artifacts-policy")
    assert {"DenyInsecureTransport", "DenyOtherKmsKey"} <= set(statements)
    # the log bucket admits the artifacts bucket's log delivery, under its own prefix
    delivery = media.statements(LOG_POLICY)["S3ServerAccessLogsDeliveryArtifacts"]
    assert delivery["Condition"]["ArnLike"]["aws:SourceArn"] == _arn(media, ARTIFACTS)
    assert delivery["Resource"][0].endswith("/artifacts/*")
    assert media.created_after("media-media-artifacts-logging", LOG_POLICY)


def test_media_alarms_watch_the_media_queue_and_function(media: StackGraph) -> None:
    dlq_alarm = media.inputs("media-media-alarms-dlq-not-empty")
    assert dlq_alarm["dimensions"] == {"QueueName": media.state(DLQ)["name"]}
    failed = media.inputs("media-media-alarms-uploads-failed")
    assert failed["dimensions"]["service"] == "media"
    image_failed = media.inputs("media-alarms-uploads-failed")
    assert image_failed["dimensions"]["service"] == "processor"


def test_the_media_artifact_carries_pyav_from_the_media_extra_and_the_others_do_not() -> None:
    pins = artifact.extra_pins("media")
    assert pins == ("av==18.1.0",)
    assert "av==18.1.0" in artifact.requirements("media")
    assert not [r for r in artifact.requirements("processor") if r.startswith("av")]
    assert not [r for r in artifact.requirements("presign") if r.startswith(("av", "pillow"))]


def test_the_stack_key_admits_the_media_role_like_the_processor(
    media: StackGraph, stack: StackGraph
) -> None:
    statements = media.statements("media-storage-key-policy")
    use = statements["MediaRoleUseKey"]
    assert use["Principal"] == {"AWS": media.state("media-media-role")["arn"]}
    assert sorted(use["Action"]) == sorted(statements["ProcessorRoleUseKey"]["Action"])
    assert media.created_after("media-storage-key-policy", "media-media-role")
    assert "MediaRoleUseKey" not in stack.statements("media-storage-key-policy")

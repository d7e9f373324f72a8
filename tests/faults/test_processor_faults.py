"""Fault injection on the processor path (moto stack, real handler, event source mapping with
DLQ after three receives): transient faults retry then succeed or dead-letter with the alarm
condition visible; permanent faults end `failed`; nothing is lost."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hostile"))
from fault_injection import Fault, Injector
from moto_stack import MAX_RECEIVES, MotoStack

from mediakit.corpus.hostile import valid_jpeg
from mediakit.ops import dlq
from runtime import config


def _failures(stack: MotoStack) -> int:
    return sum(len(r["batchItemFailures"]) for r in stack.responses)


def _path(request: dict[str, Any]) -> str:
    """The object path of a serialised S3 request (what a before-call hook sees)."""
    return urllib.parse.unquote(str(request.get("url_path", "")))


def _is_derivative(request: dict[str, Any]) -> bool:
    return "/derivatives/" in _path(request)


def test_fault_s3_get_slowdown_retries_then_completes(stack: MotoStack, inject: Injector) -> None:
    # GIVEN S3 answering SlowDown (503) to the first two GetObject calls
    inject.add("s3", "GetObject", Fault("SlowDown", 503, times=2))
    created = stack.upload(valid_jpeg(1), "image/jpeg")

    # WHEN the queue is drained
    stack.drain()

    # THEN the message was retried twice, then completed; nothing was dead-lettered and the
    # transient note is gone from the finished record
    record = stack.record(created["upload_id"])
    assert record["status"] == "completed"
    assert "last_error" not in record
    assert _failures(stack) == 2
    assert stack.dlq_depth() == 0


def test_fault_s3_get_500_always_dead_letters_then_redrive_completes(
    stack: MotoStack, inject: Injector
) -> None:
    # GIVEN S3 failing every GetObject with 500 InternalError
    outage = inject.add("s3", "GetObject", Fault("InternalError", 500))
    created = stack.upload(valid_jpeg(2), "image/jpeg")

    # WHEN the queue is drained
    stack.drain()

    # THEN after maxReceiveCount receives the message is on the DLQ (the alarm's condition), the
    # record is not failed (the image may be fine) and carries the last failure
    assert _failures(stack) == MAX_RECEIVES
    assert stack.dlq_depth() == 1
    record = stack.record(created["upload_id"])
    assert record["status"] == "processing"
    assert record["last_error"]["code"] == "InternalError"
    target = dlq.DlqTarget(stack.sqs, stack.dlq_url, stack.queue_url, stack.store)
    [dead] = dlq.list_dead(target)
    assert (dead.upload_id, dead.key) == (created["upload_id"], created["key"])
    assert dead.receive_count == MAX_RECEIVES
    assert dead.last_error is not None
    assert dead.last_error["code"] == "InternalError"

    # AND once S3 recovers, a redrive completes the upload and empties the DLQ
    outage.times = outage.hits
    assert dlq.redrive(target, None) == [dead.message_id]
    stack.drain()
    assert stack.record(created["upload_id"])["status"] == "completed"
    assert stack.dlq_depth() == 0


def test_fault_s3_put_derivative_slowdown_retries_then_completes(
    stack: MotoStack, inject: Injector
) -> None:
    # GIVEN S3 answering SlowDown to the first derivative PutObject
    inject.add("s3", "PutObject", Fault("SlowDown", 503, times=1, when=_is_derivative))
    created = stack.upload(valid_jpeg(3), "image/jpeg")

    # WHEN drained
    stack.drain()

    # THEN one retry, then completed with every derivative stored
    record = stack.record(created["upload_id"])
    assert record["status"] == "completed"
    assert _failures(stack) == 1
    assert {d["key"] for d in record["derivatives"]} <= set(stack.derivative_keys())


def test_fault_dynamodb_throttling_retries_then_completes(
    stack: MotoStack, inject: Injector
) -> None:
    # GIVEN DynamoDB throttling the processor's first two UpdateItem calls (injected once the
    # upload is created: the presign's per-tenant rate counter is an UpdateItem too)
    created = stack.upload(valid_jpeg(4), "image/jpeg")
    inject.add(
        "dynamodb", "UpdateItem", Fault("ProvisionedThroughputExceededException", 400, times=2)
    )

    # WHEN drained
    stack.drain()

    # THEN it completed after a retry, nothing dead-lettered
    assert stack.record(created["upload_id"])["status"] == "completed"
    assert _failures(stack) >= 1
    assert stack.dlq_depth() == 0


def test_fault_dynamodb_conditional_check_once_is_a_race_not_a_retry(
    stack: MotoStack, inject: Injector
) -> None:
    # GIVEN one conditional update of the processor losing a race (ConditionalCheckFailedException;
    # injected after the create, whose rate counter is a conditional UpdateItem too)
    created = stack.upload(valid_jpeg(5), "image/jpeg")
    inject.add("dynamodb", "UpdateItem", Fault("ConditionalCheckFailedException", 400, times=1))

    # WHEN drained
    stack.drain()

    # THEN the processor re-read the record and went on: completed on the first delivery
    assert stack.record(created["upload_id"])["status"] == "completed"
    assert _failures(stack) == 0


def test_fault_dynamodb_conditional_check_forever_dead_letters(
    stack: MotoStack, inject: Injector
) -> None:
    # GIVEN every conditional update of the processor failing (a record that keeps changing
    # under us; injected after the create, whose rate counter is a conditional UpdateItem too)
    created = stack.upload(valid_jpeg(6), "image/jpeg")
    inject.add("dynamodb", "UpdateItem", Fault("ConditionalCheckFailedException", 400))

    # WHEN drained
    stack.drain()

    # THEN each delivery gave up after a bounded number of races and asked for a retry, and the
    # message ended on the DLQ with the record untouched
    assert _failures(stack) == MAX_RECEIVES
    assert stack.dlq_depth() == 1
    assert stack.record(created["upload_id"])["status"] == "pending_upload"


def test_fault_eventbridge_rejected_entry_is_renotified(stack: MotoStack, inject: Injector) -> None:
    # GIVEN PutEvents rejecting the first entry (HTTP 200 with FailedEntryCount 1)
    rejected = {
        "FailedEntryCount": 1,
        "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}],
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }
    inject.add("events", "PutEvents", Fault("", 200, times=1, body=rejected))
    created = stack.upload(valid_jpeg(7), "image/jpeg")

    # WHEN drained
    stack.drain()

    # THEN the record completed once, the retry only re-announced it, and it is marked notified
    record = stack.record(created["upload_id"])
    assert record["status"] == "completed"
    assert record.get("notified_at")
    assert "last_error" not in record
    assert _failures(stack) == 1
    assert inject.calls["before-call.eventbridge.PutEvents"] == 2


def test_fault_eventbridge_down_dead_letters_completed_upload(
    stack: MotoStack, inject: Injector
) -> None:
    # GIVEN EventBridge failing every PutEvents with 500
    inject.add("events", "PutEvents", Fault("InternalException", 500))
    created = stack.upload(valid_jpeg(8), "image/jpeg")

    # WHEN drained
    stack.drain()

    # THEN the upload is completed (its derivatives exist) but not announced, and the message
    # sits on the DLQ so the alarm fires and a redrive can announce it later
    record = stack.record(created["upload_id"])
    assert record["status"] == "completed"
    assert not record.get("notified_at")
    assert stack.dlq_depth() == 1
    # AND the DLQ listing says why: the failure is noted on the finished, unannounced record
    target = dlq.DlqTarget(stack.sqs, stack.dlq_url, stack.queue_url, stack.store)
    [dead] = dlq.list_dead(target)
    assert dead.status == "completed"
    assert dead.last_error is not None
    assert dead.last_error["code"] == "InternalException"


def test_fault_object_deleted_before_processing_fails_object_missing(stack: MotoStack) -> None:
    # GIVEN an upload whose object is deleted (delete marker) before the processor runs
    created = stack.upload(valid_jpeg(9), "image/jpeg")
    stack.s3.delete_object(Bucket=stack.resources.bucket, Key=created["key"])

    # WHEN drained
    stack.drain()

    # THEN the record fails permanently as object_missing, acknowledged, not dead-lettered
    record = stack.record(created["upload_id"])
    assert record["status"] == "failed"
    assert record["error"]["code"] == "object_missing"
    assert _failures(stack) == 0
    assert stack.dlq_depth() == 0


def test_fault_lambda_timeout_mid_batch_redelivers_without_double_writes(
    stack: MotoStack, inject: Injector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN three uploads in one batch, a 1 s processing budget per upload (so a 3.5 s function
    # starts each message with its budget left), and the second one's GetObject, outside any
    # processing budget, stalling past the function timeout on its first call (the invocation
    # times out; its thread runs on)
    monkeypatch.setenv("MEDIAKIT_PROCESSING_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("MEDIAKIT_PROCESSING_CPU_SECONDS", "1")
    config.reset()
    uploads = [stack.upload(valid_jpeg(10 + i), "image/jpeg") for i in range(3)]
    stalled_key = uploads[1]["key"]
    released = threading.Event()
    inject.add(
        "s3",
        "GetObject",
        Fault(
            "", 0, times=1,
            when=lambda request: _path(request).endswith(stalled_key),
            effect=lambda params: released.wait(10),
        ),
    )  # fmt: skip

    # WHEN the mapping (timeout 3.5 s) polls: the batch times out and is redelivered whole
    mapping = stack.mapping(timeout_seconds=3.5)
    assert stack.poll(mapping) == 3
    assert mapping.stats.timeouts == 1
    for _ in range(20):
        if stack.poll(mapping) == 0 and stack.visible(stack.queue_url) == 0:
            break
    released.set()
    deadline = time.monotonic() + 20
    while stack.record(uploads[1]["upload_id"])["status"] != "completed":
        assert time.monotonic() < deadline, "the stalled invocation never finished"
        time.sleep(0.05)

    # THEN every upload completed exactly once: one version of each derivative, nothing lost
    per_upload = len(stack.settings.derivatives)
    versions = stack.derivative_keys()
    assert len(versions) == 3 * per_upload
    assert len(set(versions)) == 3 * per_upload
    for created in uploads:
        assert stack.record(created["upload_id"])["status"] == "completed"
    assert stack.dlq_depth() == 0


def test_fault_poison_messages_are_acknowledged(stack: MotoStack) -> None:
    # GIVEN a non-JSON body, a JSON non-notification, a foreign bucket's event, an S3 test event
    foreign = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "someone-else"}, "object": {"key": "x.jpg"}},
            }
        ]
    }
    for body in ("not json", "[1, 2]", json.dumps(foreign), json.dumps({"Event": "s3:TestEvent"})):
        stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody=body)

    # WHEN drained
    mapping = stack.drain()

    # THEN every one was acknowledged on its first delivery, without a crash or a retry
    assert mapping.stats.deleted == 4
    assert mapping.stats.batch_failures == 0
    assert _failures(stack) == 0
    assert stack.dlq_depth() == 0

"""The SQS event source mapping stand-in: partial batch failures, crashes, timeouts, DLQ."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from mediakit.local.emulator import create_queue
from mediakit.local.event_source import SqsEventSourceMapping, failed_ids, queue_depth, sqs_event
from tests.emulator.conftest import FakeEmulator

MAX_RECEIVES = 2


def _queues(aws: Any, fake: FakeEmulator) -> tuple[Any, str, str, str]:
    """A fresh ingest queue (1 s visibility) with a DLQ after MAX_RECEIVES receives."""
    sqs = aws.client("sqs", endpoint_url=fake.env.aws_endpoint_url)
    name = f"w-{uuid.uuid4().hex[:8]}"
    dlq, dlq_arn = create_queue(sqs, f"{name}-dlq")
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES}
    queue, arn = create_queue(
        sqs, name, {"VisibilityTimeout": "1", "RedrivePolicy": json.dumps(redrive)}
    )
    return sqs, queue, arn, dlq


class Recorder:
    """A processor handler whose behaviour per message body is chosen by the test."""

    def __init__(self, decide: Callable[[dict[str, Any], int], str]) -> None:
        self.decide = decide
        self.seen: list[tuple[str, str]] = []  # (body, ApproximateReceiveCount)
        self.lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            with self.lock:
                self.seen.append((record["body"], record["attributes"]["ApproximateReceiveCount"]))
                calls = sum(1 for body, _ in self.seen if body == record["body"])
            action = self.decide(record, calls)
            if action == "crash":
                raise RuntimeError("handler crashed")
            if action == "hang":
                time.sleep(1.5)
            if action == "fail":
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}


def _run(mapping: SqsEventSourceMapping, until: Callable[[], bool], timeout: float = 15) -> None:
    mapping.start()
    try:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "condition not reached in time"
            time.sleep(0.1)
    finally:
        mapping.stop()


def _mapping(sqs: Any, queue: str, arn: str, handler: Any, **kw: Any) -> SqsEventSourceMapping:
    options: dict[str, Any] = {"batch_size": 10, "timeout_seconds": 5, "pollers": 1}
    options.update(kw)
    return SqsEventSourceMapping(
        sqs=sqs, queue_url=queue, queue_arn=arn, handler=handler, region="us-east-1", **options
    )


def test_worker_deletes_succeeded_and_dead_letters_batch_item_failures(
    aws: Any, fake_emulator: FakeEmulator
) -> None:
    # GIVEN one message the handler accepts and one it always reports as failed
    sqs, queue, arn, dlq = _queues(aws, fake_emulator)
    sqs.send_message(QueueUrl=queue, MessageBody="ok")
    sqs.send_message(QueueUrl=queue, MessageBody="bad")
    handler = Recorder(lambda record, calls: "fail" if record["body"] == "bad" else "ok")
    mapping = _mapping(sqs, queue, arn, handler)
    # WHEN the mapping polls until the queue is empty
    _run(mapping, lambda: queue_depth(sqs, queue) == 0 and queue_depth(sqs, dlq) == 1)
    # THEN "ok" was processed once and deleted; "bad" came back after the visibility timeout,
    # was seen MAX_RECEIVES times with a growing receive count, then moved to the DLQ
    assert [c for b, c in handler.seen if b == "ok"] == ["1"]
    assert [c for b, c in handler.seen if b == "bad"] == [str(i + 1) for i in range(MAX_RECEIVES)]
    dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in dead] == ["bad"]
    assert mapping.stats.deleted == 1
    assert mapping.stats.item_failures == MAX_RECEIVES


def test_worker_handler_crash_leaves_whole_batch(aws: Any, fake_emulator: FakeEmulator) -> None:
    # GIVEN a handler that crashes on its first invocation only
    sqs, queue, arn, _ = _queues(aws, fake_emulator)
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    crashed = threading.Event()

    def decide(record: dict[str, Any], calls: int) -> str:
        if not crashed.is_set():
            crashed.set()
            return "crash"
        return "ok"

    handler = Recorder(decide)
    mapping = _mapping(sqs, queue, arn, handler)
    # WHEN the mapping runs until the queue drains
    _run(mapping, lambda: queue_depth(sqs, queue) == 0)
    # THEN nothing was deleted by the crashed invocation: both messages were delivered again
    assert {b for b, c in handler.seen if c == "2"} >= {"a"}
    assert mapping.stats.batch_failures == 1
    assert mapping.stats.deleted == 2


def test_worker_timeout_leaves_batch_for_retry(aws: Any, fake_emulator: FakeEmulator) -> None:
    # GIVEN a handler that overruns the function timeout on the first delivery
    sqs, queue, arn, _ = _queues(aws, fake_emulator)
    sqs.send_message(QueueUrl=queue, MessageBody="slow")
    handler = Recorder(lambda record, calls: "hang" if calls == 1 else "ok")
    mapping = _mapping(sqs, queue, arn, handler, timeout_seconds=0.5)
    # WHEN the mapping runs until the queue drains
    _run(mapping, lambda: queue_depth(sqs, queue) == 0)
    # THEN the timed-out delivery was not deleted; the retry was
    assert [c for _, c in handler.seen][:2] == ["1", "2"]
    assert mapping.stats.timeouts == 1


def test_worker_event_has_lambda_sqs_shape(aws: Any, fake_emulator: FakeEmulator) -> None:
    # GIVEN a message with an attribute
    sqs, queue, arn, _ = _queues(aws, fake_emulator)
    sqs.send_message(
        QueueUrl=queue,
        MessageBody="hello",
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "x"}},
    )
    messages = sqs.receive_message(
        QueueUrl=queue, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"]
    )["Messages"]
    # WHEN it is turned into a Lambda event
    event = sqs_event(messages, arn, "us-east-1")
    # THEN the record has the fields the processor (and Powertools) read
    record = event["Records"][0]
    assert record["body"] == "hello"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == arn
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "x"
    assert record["receiptHandle"] == messages[0]["ReceiptHandle"]


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"batchItemFailures": []}, set()),
        ({"batchItemFailures": [{"itemIdentifier": "m1"}]}, {"m1"}),
        # Lambda fails the whole batch when the response names no or an unknown message
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, {"m1", "m2"}),
        ({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, {"m1", "m2"}),
        ({"batchItemFailures": [{}]}, {"m1", "m2"}),
    ],
)
def test_failed_ids_follows_lambda_rules(response: Any, expected: set[str]) -> None:
    # GIVEN a batch of two / WHEN the handler responds / THEN these stay on the queue
    assert failed_ids(response, {"m1", "m2"}) == expected

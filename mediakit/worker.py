"""Stand-in for the Lambda SQS event source mapping: long-poll the ingest queue, invoke the
processor handler with a faithful SQS event, delete what succeeded and leave the rest.

Like the real mapping (with ReportBatchItemFailures): messages named in `batchItemFailures`, and
the whole batch when the handler raises, times out or returns a malformed response, are simply
not deleted; they reappear after the queue's visibility timeout, and SQS itself (moto does this
on receive) moves a message to the DLQ once it has been received `maxReceiveCount` times.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger("mediakit.worker")

Handler = Callable[[dict[str, Any], Any], Any]

# SQS caps a single ReceiveMessage at ten messages; larger mapping batches need several receives.
_SQS_MAX_RECEIVE = 10


class LambdaContext:
    """The parts of the Lambda context object handlers use."""

    def __init__(self, function_name: str, timeout_seconds: float, region: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class MappingStats:
    """Counters a test or the dev console can read; updated under the mapping's lock."""

    invocations: int = 0
    deleted: int = 0
    item_failures: int = 0
    batch_failures: int = 0
    timeouts: int = 0
    errors: list[str] = field(default_factory=list)


def sqs_event(
    messages: list[MessageTypeDef], queue_arn: str, region: str
) -> dict[str, list[dict[str, Any]]]:
    """The event Lambda builds from received SQS messages."""
    records = []
    for m in messages:
        body = m.get("Body", "")
        attrs: Mapping[str, str] = {str(k): v for k, v in m.get("Attributes", {}).items()}
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": attrs.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attrs.get("SentTimestamp", ""),
                    "SenderId": attrs.get("SenderId", ""),
                    "ApproximateFirstReceiveTimestamp": attrs.get(
                        "ApproximateFirstReceiveTimestamp", ""
                    ),
                },
                "messageAttributes": {
                    name: {
                        "stringValue": v.get("StringValue"),
                        "binaryValue": v.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": v.get("DataType", "String"),
                    }
                    for name, v in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


def failed_ids(response: Any, batch_ids: set[str]) -> set[str]:
    """Message ids the mapping must leave on the queue, given the handler's response.

    As Lambda does: no response or an empty list means all succeeded; an item without an id, or
    with an id not in the batch, fails the whole batch.
    """
    if response is None:
        return set()
    if not isinstance(response, Mapping):
        return set()
    items = response.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return set(batch_ids)
    failed: set[str] = set()
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(ident, str) or ident not in batch_ids:
            return set(batch_ids)
        failed.add(ident)
    return failed


def queue_depth(sqs: SQSClient, queue_url: str) -> int:
    """Messages on the queue not yet deleted: visible, plus received and in flight."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


class SqsEventSourceMapping:
    """Poll `queue_url` with `pollers` threads and feed batches to `handler`."""

    def __init__(
        self,
        *,
        sqs: SQSClient,
        queue_url: str,
        queue_arn: str,
        handler: Handler,
        region: str,
        batch_size: int = 10,
        timeout_seconds: float = 60,
        pollers: int = 2,
        wait_seconds: int = 1,
        function_name: str = "mediakit-processor",
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.handler = handler
        self.region = region
        self.batch_size = batch_size
        self.timeout_seconds = timeout_seconds
        self.pollers = pollers
        # Lambda long-polls for 20 s; a short wait keeps Ctrl-C responsive at no real cost.
        self.wait_seconds = wait_seconds
        self.function_name = function_name
        self.report = report
        self.stats = MappingStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.pollers):
            t = threading.Thread(target=self._run, name=f"esm-poller-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.wait_seconds + 5)
        self._threads.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:
                # The mapping keeps polling through transient SQS errors, as Lambda does.
                if self._stop.is_set():
                    return
                log.warning("poll failed: %s", exc)
                self._stop.wait(0.5)

    def poll_once(self) -> int:
        """Receive one batch and process it; returns how many messages were received."""
        messages: list[MessageTypeDef] = []
        while len(messages) < self.batch_size:
            resp = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(_SQS_MAX_RECEIVE, self.batch_size - len(messages)),
                WaitTimeSeconds=0 if messages else self.wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            got = resp.get("Messages", [])
            if not got:
                break
            messages.extend(got)
        if messages:
            self.invoke(messages)
        return len(messages)

    def invoke(self, messages: list[MessageTypeDef]) -> None:
        """Invoke the handler on one batch and delete what it did not report as failed."""
        event = sqs_event(messages, self.queue_arn, self.region)
        context = LambdaContext(self.function_name, self.timeout_seconds, self.region)
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["response"] = self.handler(event, context)
            except BaseException as exc:
                outcome["error"] = exc

        # The handler runs in its own thread so a run past the function timeout can be treated
        # as Lambda treats it (the batch is not deleted); the thread itself cannot be killed.
        runner = threading.Thread(target=call, name=f"{self.function_name}-invoke", daemon=True)
        runner.start()
        runner.join(self.timeout_seconds)
        batch_ids = {m["MessageId"] for m in messages}
        with self._lock:
            self.stats.invocations += 1
        if runner.is_alive():
            log.error("%s timed out after %ss", self.function_name, self.timeout_seconds)
            self._report(f"{len(messages)} message(s): timed out, all left for retry")
            with self._lock:
                self.stats.timeouts += 1
            return
        if "error" in outcome:
            log.error("%s failed: %r", self.function_name, outcome["error"])
            self._report(f"{len(messages)} message(s): crashed, all left for retry")
            with self._lock:
                self.stats.batch_failures += 1
                self.stats.errors.append(repr(outcome["error"]))
            return
        failed = failed_ids(outcome.get("response"), batch_ids)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        with self._lock:
            self.stats.deleted += len(done)
            self.stats.item_failures += len(failed)
        retry = f", {len(failed)} left for retry" if failed else ""
        self._report(f"{len(messages)} message(s): {len(done)} done{retry}")

    def _report(self, outcome: str) -> None:
        if self.report is not None:
            self.report(f"{self.function_name}: {outcome}")

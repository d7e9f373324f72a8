"""Stand-in for the Lambda SQS event source mapping: long-poll the ingest queue, invoke the
processor handler with a faithful SQS event, delete what succeeded and leave the rest.

Like the real mapping (with ReportBatchItemFailures): messages named in `batchItemFailures`, and
the whole batch when the handler raises, times out, is killed (memory, crash) or returns a
malformed response, are simply not deleted; they reappear after the queue's visibility timeout,
and SQS itself (moto does this on receive) moves a message to the DLQ once it has been received
`maxReceiveCount` times. The function runs as `mediakit.local.lambda_pool` says: in warm worker
processes the OS kills at the timeout or over the memory (`LambdaPool`), or, for a stand-in
callable a test passes in, on a thread of this process that nothing can kill.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mediakit.local.faults import FailRate
from mediakit.local.lambda_host import LambdaContext
from mediakit.local.lambda_pool import (
    ERROR,
    OK,
    TIMEOUT,
    Function,
    FunctionClosed,
    InProcessFunction,
    Invocation,
    Status,
)

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

log = logging.getLogger("mediakit.local.event_source")

__all__ = [
    "Kill",
    "LambdaContext",
    "MappingStats",
    "SqsEventSourceMapping",
    "failed_ids",
    "queue_depth",
    "sqs_event",
]

Handler = Callable[[dict[str, Any], Any], Any]

# SQS caps a single ReceiveMessage at ten messages; larger mapping batches need several receives.
_SQS_MAX_RECEIVE = 10


@dataclass(frozen=True)
class Kill:
    """An invocation whose worker process the OS ended, and the evidence it left."""

    reason: Status  # "timeout", "memory", "crash"; "error" when the handler failed its init
    pid: int | None
    returncode: int | None
    request_id: str
    detail: str


@dataclass
class MappingStats:
    """Counters a test or the dev console can read; updated under the mapping's lock.

    `timeouts` counts invocations past the function's timeout (killed in process mode, left
    running in thread mode); `batch_failures` the others that failed their whole batch (the
    handler raised, or its process was killed over its memory or crashed); `killed` every
    invocation whose process ended with it, with its reason; `errors` describes each failure;
    `injected_faults` the invocations `--fail-rate` failed before their handler ran.
    """

    invocations: int = 0
    deleted: int = 0
    item_failures: int = 0
    batch_failures: int = 0
    timeouts: int = 0
    injected_faults: int = 0
    errors: list[str] = field(default_factory=list)
    killed: list[Kill] = field(default_factory=list)


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
    """Poll `queue_url` with `pollers` threads and feed batches to `handler`: a `Function`
    (the caller's to close), or a callable run in-process."""

    def __init__(
        self,
        *,
        sqs: SQSClient,
        queue_url: str,
        queue_arn: str,
        handler: Handler | Function,
        region: str,
        batch_size: int = 10,
        timeout_seconds: float = 60,
        pollers: int = 2,
        wait_seconds: int = 1,
        function_name: str = "mediakit-processor",
        report: Callable[[str], None] | None = None,
        faults: FailRate | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.function: Function = (
            handler
            if isinstance(handler, Function)
            else InProcessFunction(
                handler, name=function_name, timeout_seconds=timeout_seconds, region=region
            )
        )
        self.region = region
        self.batch_size = batch_size
        self.timeout_seconds = self.function.timeout_seconds
        self.pollers = pollers
        # Lambda long-polls for 20 s; a short wait keeps Ctrl-C responsive at no real cost.
        self.wait_seconds = wait_seconds
        self.function_name = self.function.name
        self.report = report
        # `mediakit dev --fail-rate`: invocations that fail before the handler runs.
        self.faults = faults
        self.stats = MappingStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the pollers (again, after stop())."""
        self._stop.clear()
        for i in range(self.pollers):
            t = threading.Thread(target=self._run, name=f"esm-poller-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Stop polling once the invocations under way end (close the function first to end
        them now: their batches stay queued)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=self.wait_seconds + 5)
        self._threads.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except FunctionClosed:
                return
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
        """Invoke the function on one batch and delete what it did not report as failed."""
        fault = self.faults.next_fault() if self.faults is not None else None
        if fault is not None:
            self._inject_fault(messages, fault)
            return
        event = sqs_event(messages, self.queue_arn, self.region)
        result = self.function.invoke(event)
        with self._lock:
            self.stats.invocations += 1
            if result.killed:
                self.stats.killed.append(
                    Kill(
                        result.status,
                        result.pid,
                        result.returncode,
                        result.request_id,
                        result.describe(),
                    )
                )
        if result.status != OK:
            self._fail_batch(messages, result)
            return
        batch_ids = {m["MessageId"] for m in messages}
        failed = failed_ids(result.response, batch_ids)
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

    def _inject_fault(self, messages: list[MessageTypeDef], what: str) -> None:
        """An invocation that fails before its handler does any work (`--fail-rate`): the
        batch is left on the queue like any failed invocation's, and says so in the log."""
        receives = ", ".join(
            f"message {m['MessageId'][:8]} receive "
            + m.get("Attributes", {}).get("ApproximateReceiveCount", "?")
            for m in messages
        )
        line = f"{len(messages)} message(s): {what} ({receives}), all left for retry"
        if self.report is None:
            log.warning("%s: %s", self.function_name, line)  # visible with --quiet too
        self._report(line)
        with self._lock:
            self.stats.invocations += 1
            self.stats.injected_faults += 1

    def _fail_batch(self, messages: list[MessageTypeDef], result: Invocation) -> None:
        """Nothing is deleted: Lambda returns the whole batch of a failed invocation."""
        what = result.describe()
        how = {TIMEOUT: "timed out", ERROR: "the handler failed"}.get(result.status, "killed")
        log.error("%s: %s: %s", self.function_name, how, what)
        self._report(f"{len(messages)} message(s): {how} ({what}), all left for retry")
        with self._lock:
            if result.status == TIMEOUT:
                self.stats.timeouts += 1
            else:
                self.stats.batch_failures += 1
                self.stats.errors.append(what)

    def _report(self, outcome: str) -> None:
        if self.report is not None:
            self.report(f"{self.function_name}: {outcome}")

"""Lambda entry point of the ingest queue consumer (`runtime.processor.handler`)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

from runtime import config, ingest, telemetry
from runtime.events import BatchItemFailure, BatchResponse, sqs_messages

log = logging.getLogger(__name__)

# What one message needs beyond its processing budget: reading the original, writing
# derivatives, the record's writes and the event (seconds).
PER_MESSAGE_MARGIN_SECONDS = 2


def process_batch(
    event: Mapping[str, Any],
    deps: ingest.Deps,
    remaining_ms: Callable[[], int] | None = None,
    *,
    seconds_per_message: int | None = None,
) -> BatchResponse:
    """Handle each message on its own; only the ones worth retrying are reported back.

    Permanent faults end inside `ingest` (record failed, message acknowledged); anything that
    escapes is transient or unexpected, and a retry then the DLQ alarm is the safe outcome.
    A message is started only while the function has its whole budget left: the rest go back
    unstarted, so one slow upload can never make Lambda time out a batch of other uploads.
    """
    failures: list[BatchItemFailure] = []
    settings = deps.settings
    # The media function passes its own (mediaProcessingTimeoutSeconds + the streamed hash).
    budget = seconds_per_message or settings.processing_timeout_seconds
    needed_ms = (budget + PER_MESSAGE_MARGIN_SECONDS) * 1000
    for message in sqs_messages(event):
        if remaining_ms is not None and remaining_ms() < needed_ms:
            log.warning("message %s returned unstarted: too little time left", message.message_id)
            failures.append({"itemIdentifier": message.message_id})
            continue
        try:
            ingest.handle_message(
                message.body,
                deps,
                last_attempt=message.receive_count >= settings.dlq_max_receive_count,
            )
        except Exception:
            log.warning("message %s will be retried", message.message_id, exc_info=True)
            failures.append({"itemIdentifier": message.message_id})
    return {"batchItemFailures": failures}


def handler(event: Mapping[str, Any], context: Any) -> BatchResponse:
    """SQS batch of S3 notifications -> partial batch response (ReportBatchItemFailures)."""
    telemetry.configure_logging(telemetry.PROCESSOR)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    metrics = telemetry.Recorder(telemetry.PROCESSOR, config.resources().pipeline)
    deps = dataclasses.replace(ingest.default_deps(), metrics=metrics)
    try:
        return process_batch(event, deps, remaining if callable(remaining) else None)
    finally:
        metrics.flush()

"""Lambda entry point of the ingest queue consumer (`runtime.processor.handler`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from runtime import ingest
from runtime.events import BatchItemFailure, BatchResponse, sqs_messages

log = logging.getLogger(__name__)


def process_batch(event: Mapping[str, Any], deps: ingest.Deps) -> BatchResponse:
    """Handle each message on its own; only the ones worth retrying are reported back.
    Permanent faults end inside `ingest` (record failed, message acknowledged); anything that
    escapes is transient or unexpected, and a retry then the DLQ alarm is the safe outcome."""
    failures: list[BatchItemFailure] = []
    for message in sqs_messages(event):
        try:
            ingest.handle_message(message.body, deps)
        except Exception:
            log.warning("message %s will be retried", message.message_id, exc_info=True)
            failures.append({"itemIdentifier": message.message_id})
    return {"batchItemFailures": failures}


def handler(event: Mapping[str, Any], context: object) -> BatchResponse:
    """SQS batch of S3 notifications -> partial batch response (ReportBatchItemFailures)."""
    return process_batch(event, ingest.default_deps())

"""Metrics and structured logs of both functions, in the ecosystem's conventions (Powertools for
AWS Lambda): CloudWatch Embedded Metric Format lines on stdout, JSON log lines with the upload id
and the correlation id of the API request that created the upload.

The metric names, namespace and dimension sets below are the contract with the stack's alarms
(`stacks/alarms.py` imports them): CloudWatch matches an alarm to an EMF metric only on exactly
the same namespace, name and dimension set, and Powertools adds a `service` dimension.

Each invocation gets its own `Recorder` (no process-wide metric state, so tests and the emulator
see exactly one invocation's metrics); it is flushed when the handler returns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

NAMESPACE = "mediakit"
PROCESSOR = "processor"
PRESIGN = "presign"
MEDIA = "media"  # the audio/video function: the processor's metrics, plus its reads

# processor
UPLOADS_COMPLETED = "UploadsCompleted"
UPLOADS_FAILED = "UploadsFailed"  # total, and again per `code`
PROCESSING_RETRIES = "ProcessingRetries"  # messages returned for another delivery
PROCESSING_TIME = "ProcessingTime"  # milliseconds per upload that reached a terminal status
PROCESSED_BYTES = "ProcessedBytes"
ORIGINALS_REMOVED = "OriginalsRemoved"  # per `reason`: no_record (orphans), replay (write once)
# media: what the ranged reader fetched per upload (bounded by mediaReadMaxBytes/-Requests)
MEDIA_BYTES_READ = "MediaBytesRead"
MEDIA_READ_REQUESTS = "MediaReadRequests"
# presign
PRESIGNS = "Presigns"  # per `method`
CLIENT_ERRORS = "ClientErrors"  # 4xx answers, total and per `code`


# The `pipeline` dimension when the function was given no name (tests of the core).
UNNAMED_PIPELINE = "local"


@dataclass(frozen=True)
class MetricRef:
    """What an alarm names: namespace, metric and the exact dimension set."""

    name: str
    service: str
    namespace: str = NAMESPACE

    def dimensions(self, pipeline: str) -> dict[str, str]:
        """Powertools' `service`, and the deployment, so two stacks never share a metric."""
        return {"service": self.service, "pipeline": pipeline or UNNAMED_PIPELINE}


FAILURES = MetricRef(UPLOADS_FAILED, PROCESSOR)
RETRIES = MetricRef(PROCESSING_RETRIES, PROCESSOR)


@dataclass
class Recorder:
    """One invocation's metrics: totals under {service}, breakdowns under {service, <dim>}."""

    service: str
    pipeline: str = ""
    out: TextIO | None = None
    _totals: dict[tuple[str, str], float] = field(default_factory=dict)
    _by: dict[tuple[str, str, str, str], float] = field(default_factory=dict)

    def add(self, name: str, value: float = 1, unit: str = "Count") -> None:
        self._totals[(name, unit)] = self._totals.get((name, unit), 0) + value

    def add_by(self, name: str, dimension: str, label: str, value: float = 1) -> None:
        key = (name, dimension, label, "Count")
        self._by[key] = self._by.get(key, 0) + value

    def lines(self) -> list[dict[str, Any]]:
        """The EMF documents this invocation produces (one per dimension set)."""
        documents: list[dict[str, Any]] = []
        if self._totals:
            provider = _provider(self.service, self.pipeline)
            for (name, unit), value in self._totals.items():
                provider.add_metric(name=name, unit=unit, value=value)
            documents.append(dict(provider.serialize_metric_set()))
        for (name, dimension, label, unit), value in self._by.items():
            provider = _provider(self.service, self.pipeline)
            provider.add_dimension(name=dimension, value=label)
            provider.add_metric(name=name, unit=unit, value=value)
            documents.append(dict(provider.serialize_metric_set()))
        return documents

    def flush(self) -> None:
        """Print the EMF lines (CloudWatch Logs extracts them) and start over."""
        out = self.out or sys.stdout
        for document in self.lines():
            out.write(json.dumps(document, separators=(",", ":")) + "\n")
        out.flush()
        self._totals.clear()
        self._by.clear()


def _provider(service: str, pipeline: str) -> AmazonCloudWatchEMFProvider:
    # Imported here: the metrics provider costs import time the cold start need not pay twice.
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    provider = AmazonCloudWatchEMFProvider(namespace=NAMESPACE, service=service)
    provider.add_dimension(name="pipeline", value=pipeline or UNNAMED_PIPELINE)
    return provider


# --- structured logs ---------------------------------------------------------------------------

_formatter: list[LambdaPowertoolsFormatter] = []


def configure_logging(service: str) -> None:
    """In Lambda, turn the runtime's log handler into Powertools' JSON formatter (once).
    Elsewhere (tests, tools importing the handlers) the process's logging is left alone."""
    if _formatter or "AWS_LAMBDA_FUNCTION_NAME" not in os.environ:
        return
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    formatter = LambdaPowertoolsFormatter(service=service)
    root = logging.getLogger()
    if not root.handlers:
        # Outside Lambda's bootstrap (the emulator's worker): JSON lines on stderr.
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(formatter)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    _formatter.append(formatter)


@contextlib.contextmanager
def bound(**keys: str | None) -> Iterator[None]:
    """Add keys (upload id, correlation id, ...) to every log line inside the block."""
    present = {k: v for k, v in keys.items() if v}
    if not _formatter or not present:
        yield
        return
    formatter = _formatter[0]
    formatter.append_keys(**present)
    try:
        yield
    finally:
        formatter.remove_keys(present)


def emf_metrics(line: str) -> list[tuple[str, str, dict[str, str], float]]:
    """(namespace, name, dimensions, value) of every metric in one EMF log line; [] otherwise.
    What CloudWatch extracts from a function's log: the emulator and tests read it the same way."""
    try:
        document = json.loads(line)
    except ValueError:
        return []
    if not isinstance(document, Mapping) or "_aws" not in document:
        return []
    found = []
    for directive in document["_aws"].get("CloudWatchMetrics", []):
        for dimension_set in directive.get("Dimensions", []):
            dimensions = {d: str(document.get(d)) for d in dimension_set}
            for metric in directive.get("Metrics", []):
                value = document.get(metric["Name"])
                values = value if isinstance(value, list) else [value]
                found.append(
                    (
                        str(directive.get("Namespace")),
                        str(metric["Name"]),
                        dimensions,
                        float(sum(v for v in values if isinstance(v, int | float))),
                    )
                )
    return found

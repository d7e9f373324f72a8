"""Metrics (CloudWatch EMF via Powertools) and structured logs: what each outcome emits, read back
the way CloudWatch extracts it, and the correlation id from the API request to the event."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from typing import Any

import pytest
from rt_support import Pipeline, http_event, image_bytes

from runtime import api, ingest, presign, telemetry
from runtime.errors import TransientFault
from runtime.http import handle
from runtime.processor import process_batch
from tests.runtime.rt_support import sqs_event

Metric = tuple[str, str, dict[str, str], float]


def _emitted(recorder: telemetry.Recorder) -> list[Metric]:
    out = io.StringIO()
    recorder.out = out
    recorder.flush()
    return [m for line in out.getvalue().splitlines() for m in telemetry.emf_metrics(line)]


def _value(metrics: list[Metric], name: str, **dimensions: str) -> float:
    wanted = {"service": telemetry.PROCESSOR, "pipeline": "local", **dimensions}
    return sum(v for ns, n, d, v in metrics if ns == "mediakit" and n == name and d == wanted)


def test_processor_metrics_count_each_outcome(pipeline: Pipeline) -> None:
    # GIVEN one valid upload, one that is not an image, and one whose processing hits a
    # transient fault, processed in one batch with a recorder
    good, bad, flaky = image_bytes(64, 48), b"not an image at all", image_bytes(65, 48)
    uploads = []
    for data in (good, bad, flaky):
        created = pipeline.create(data)
        pipeline.put(created, data)
        uploads.append(created)
    real = pipeline.ingest.process

    def process(data: bytes, *args: Any, **kwargs: Any) -> Any:
        if data == flaky:
            raise TransientFault("SlowDown")
        return real(data, *args, **kwargs)

    recorder = telemetry.Recorder(telemetry.PROCESSOR)
    deps = dataclasses.replace(pipeline.ingest, process=process, metrics=recorder)
    event = sqs_event(*(pipeline.event_for(c["key"]) for c in uploads))
    # WHEN the batch runs
    assert len(process_batch(event, deps)["batchItemFailures"]) == 1
    # THEN the EMF lines say: one completed, one failed (in total and under its code), one retry
    metrics = _emitted(recorder)
    assert _value(metrics, telemetry.UPLOADS_COMPLETED) == 1
    assert _value(metrics, telemetry.UPLOADS_FAILED) == 1
    assert _value(metrics, telemetry.UPLOADS_FAILED, code="not_an_image") == 1
    assert _value(metrics, telemetry.PROCESSING_RETRIES) == 1
    assert _value(metrics, telemetry.PROCESSED_BYTES) == len(good) + len(bad)
    assert _value(metrics, telemetry.PROCESSING_TIME) > 0


def test_alarm_metric_refs_match_what_is_emitted(pipeline: Pipeline) -> None:
    # GIVEN the metrics the stack's alarms name WHEN a failure and a retry are recorded
    recorder = telemetry.Recorder(telemetry.PROCESSOR, "mediakit-prod")
    recorder.add(telemetry.UPLOADS_FAILED)
    recorder.add(telemetry.PROCESSING_RETRIES)
    emitted = {(ns, n, tuple(sorted(d.items()))) for ns, n, d, _ in _emitted(recorder)}
    # THEN each alarm's namespace, name and exact dimension set is among them
    for ref in (telemetry.FAILURES, telemetry.RETRIES):
        dimensions = tuple(sorted(ref.dimensions("mediakit-prod").items()))
        assert (ref.namespace, ref.name, dimensions) in emitted


def test_presign_metrics_count_methods_and_client_errors(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = telemetry.Recorder(telemetry.PRESIGN)
    for body in (
        {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10},
        {"filename": "a.jpg", "content_type": "text/html", "size": 10},
    ):
        event = http_event("POST", "/v1/uploads", body, claims={"sub": "t", "aud": "mediakit"})
        route = presign.measured(recorder, lambda r: api.route(r, pipeline.api))
        presign.measure_error(recorder, handle(event, route))
    metrics = _emitted(recorder)
    presigns = [m for m in metrics if m[1] == telemetry.PRESIGNS]
    dims = {"service": "presign", "pipeline": "local"}
    assert [(m[2], m[3]) for m in presigns] == [({**dims, "method": "PUT"}, 1.0)]
    errors = [(m[2], m[3]) for m in metrics if m[1] == "ClientErrors"]
    assert sorted(errors, key=len) == [
        (dims, 1.0),
        ({**dims, "code": "unsupported_media_type"}, 1.0),
    ]


def test_correlation_id_flows_from_the_request_to_the_event(pipeline: Pipeline) -> None:
    # GIVEN a create request carrying a client correlation id
    data = image_bytes(40, 30)
    body = {"filename": "a.jpg", "content_type": "image/jpeg", "size": len(data)}
    event = http_event("POST", "/v1/uploads", body, claims={"sub": "tenant-a", "aud": "m"})
    event["headers"]["x-correlation-id"] = "order-1234"
    created = json.loads(handle(event, lambda r: api.route(r, pipeline.api))["body"])
    # WHEN it is uploaded and processed
    pipeline.put(created, data)
    pipeline.process(pipeline.event_for(created["key"]))
    # THEN the record and the completed event carry it
    assert pipeline.record(created["upload_id"])["correlation_id"] == "order-1234"
    (published,) = pipeline.published()
    assert published["detail"]["correlation_id"] == "order-1234"


@pytest.mark.parametrize("given", ["", "a b", "x" * 200, "<script>"])
def test_unusable_correlation_id_falls_back_to_the_request_id(
    pipeline: Pipeline, given: str
) -> None:
    body = {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10}
    event = http_event("POST", "/v1/uploads", body, claims={"sub": "tenant-a", "aud": "m"})
    event["headers"]["x-correlation-id"] = given
    created = json.loads(handle(event, lambda r: api.route(r, pipeline.api))["body"])
    record = pipeline.record(created["upload_id"])
    assert record["correlation_id"] == event["requestContext"]["requestId"]


def test_lambda_logs_are_json_with_the_bound_keys() -> None:
    # GIVEN a fresh interpreter that looks like Lambda (a function name, a root handler)
    script = """
import logging, sys
logging.basicConfig(stream=sys.stdout)
from runtime import telemetry
telemetry.configure_logging("processor")
with telemetry.bound(upload_id="u1", correlation_id="c1"):
    logging.getLogger("runtime.ingest").info("upload u1: completed")
logging.getLogger("runtime.ingest").info("after")
"""
    env = {"AWS_LAMBDA_FUNCTION_NAME": "mediakit-processor", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    # THEN each line is JSON with the service, and the keys only inside the block
    assert first["service"] == "processor"
    assert (first["upload_id"], first["correlation_id"]) == ("u1", "c1")
    assert first["message"] == "upload u1: completed"
    assert "upload_id" not in second


def test_ingest_core_records_nothing_without_a_recorder(pipeline: Pipeline) -> None:
    created = pipeline.create(image_bytes(30, 30))
    pipeline.put(created, image_bytes(30, 30))
    assert pipeline.ingest.metrics is None
    assert ingest.handle_message(json.dumps(pipeline.event_for(created["key"])), pipeline.ingest)


def test_orphan_removals_are_counted_by_reason(pipeline: Pipeline) -> None:
    # GIVEN an original whose record is gone, processed with a recorder
    created = pipeline.create(image_bytes(20, 20))
    pipeline.put(created, image_bytes(20, 20))
    pipeline.ddb.delete_item(
        TableName=pipeline.resources.table, Key={"upload_id": {"S": created["upload_id"]}}
    )
    recorder = telemetry.Recorder(telemetry.PROCESSOR)
    deps = dataclasses.replace(pipeline.ingest, metrics=recorder)
    process_batch(sqs_event(pipeline.event_for(created["key"])), deps)
    # THEN the removal is visible as a metric (a misconfigured table would make it climb)
    metrics = _emitted(recorder)
    assert _value(metrics, telemetry.ORIGINALS_REMOVED, reason="no_record") == 1

"""Bounded processing on moto: isolation of each upload, batch budgets, orphans, write-once, and
records that never expire once their object arrived."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
import requests
from rt_support import Pipeline, image_bytes, sqs_event

from runtime import ingest, processor, sandbox
from runtime.errors import PermanentFault
from runtime.imaging import ProcessedImage, process_image
from runtime.records import TTL_ATTRIBUTE
from runtime.settings import Settings

JPEG = image_bytes(640, 480)


def _slow(data: bytes, declared_type: str, settings: Settings, *, include_gps: bool) -> Any:
    time.sleep(30)


def _burn(data: bytes, declared_type: str, settings: Settings, *, include_gps: bool) -> Any:
    while True:
        sum(range(10_000))


def _isolated(pipeline: Pipeline, process: Any, **settings: int) -> None:
    """Run `process` in the sandbox, with tighter budgets."""
    tight = dataclasses.replace(pipeline.settings, **settings)
    pipeline.ingest = dataclasses.replace(
        pipeline.ingest, settings=tight, process=ingest.isolated(process, tight)
    )


def _uploaded(pipeline: Pipeline, data: bytes = JPEG, tenant: str = "tenant-a") -> dict[str, Any]:
    created = pipeline.create(data, tenant=tenant)
    assert pipeline.put(created, data).status_code == 200
    return created


def _post(pipeline: Pipeline, created: dict[str, Any], data: bytes) -> requests.Response:
    files = {"file": ("x.jpg", data, "image/jpeg")}
    return requests.post(created["url"], data=created["fields"], files=files, timeout=10)


def test_isolated_processing_completes_like_in_process(pipeline: Pipeline) -> None:
    # GIVEN the real image core in the sandbox
    _isolated(pipeline, process_image)
    created = _uploaded(pipeline)
    # WHEN processed THEN the record completes from the child's result, pinned to its version
    assert pipeline.process(pipeline.event_for(created["key"])) == {"batchItemFailures": []}
    record = pipeline.record(created["upload_id"])
    assert record["status"] == "completed"
    assert len(record["derivatives"]) == len(pipeline.settings.derivatives)
    head = pipeline.s3.head_object(Bucket=pipeline.resources.bucket, Key=created["key"])
    assert record["version_id"] == head["VersionId"]
    assert sandbox.last_report is not None
    assert sandbox.last_report.warm
    assert sandbox.last_report.signal is None


def test_cpu_bomb_fails_its_upload_and_spares_the_rest_of_the_batch(pipeline: Pipeline) -> None:
    # GIVEN a batch of a CPU bomb (tenant-evil) and three ordinary uploads of another tenant
    real = process_image

    def bomb_first(
        data: bytes, declared_type: str, settings: Settings, *, include_gps: bool
    ) -> ProcessedImage:
        if data == bomb_bytes:
            _burn(data, declared_type, settings, include_gps=include_gps)
        return real(data, declared_type, settings, include_gps=include_gps)

    bomb_bytes = image_bytes(64, 64)
    _isolated(pipeline, bomb_first, processing_cpu_seconds=1, processing_timeout_seconds=5)
    bomb = _uploaded(pipeline, bomb_bytes, tenant="tenant-evil")
    others = [_uploaded(pipeline, image_bytes(100 + i, 80), tenant="tenant-b") for i in range(3)]
    # WHEN one batch carries all four
    events = [pipeline.event_for(c["key"]) for c in (bomb, *others)]
    response = pipeline.process(*events)
    # THEN nothing is retried: the bomb failed with processing_limit, the others completed
    assert response == {"batchItemFailures": []}
    failed = pipeline.record(bomb["upload_id"])
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "processing_limit"
    assert "SIGXCPU" in failed["error"]["message"] or "SIGKILL" in failed["error"]["message"]
    assert [pipeline.record(c["upload_id"])["status"] for c in others] == ["completed"] * 3


def test_wall_time_overrun_is_retried_then_ends_on_the_last_delivery(pipeline: Pipeline) -> None:
    # GIVEN a child that is slow without using CPU (a starved function)
    _isolated(pipeline, _slow, processing_cpu_seconds=1, processing_timeout_seconds=1)
    created = _uploaded(pipeline)
    event = sqs_event(pipeline.event_for(created["key"]))
    # WHEN delivered for the first time THEN it is returned for retry, the record not failed
    assert processor.process_batch(event, pipeline.ingest) == {
        "batchItemFailures": [{"itemIdentifier": "m0"}]
    }
    assert pipeline.record(created["upload_id"])["last_error"]["code"] == "processing_timeout"
    assert pipeline.record(created["upload_id"])["status"] == "processing"
    # WHEN delivered for the last time before the DLQ
    last = pipeline.settings.dlq_max_receive_count
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = str(last)
    response = processor.process_batch(event, pipeline.ingest)
    # THEN the record ends failed with the code, and the message is acknowledged
    assert response == {"batchItemFailures": []}
    record = pipeline.record(created["upload_id"])
    assert (record["status"], record["error"]["code"]) == ("failed", "processing_timeout")
    assert "retrying" not in record["error"]["message"]
    assert "last delivery" in record["error"]["message"]


def test_batch_returns_unstarted_messages_when_time_runs_short(pipeline: Pipeline) -> None:
    # GIVEN three uploads and a function with time left for exactly one upload's budget
    created = [_uploaded(pipeline, image_bytes(50 + i, 40)) for i in range(3)]
    event = sqs_event(*(pipeline.event_for(c["key"]) for c in created))
    budget_ms = (pipeline.settings.processing_timeout_seconds + 2) * 1000
    clock = iter([budget_ms, budget_ms - 1, budget_ms - 1])
    # WHEN the batch runs
    response = processor.process_batch(event, pipeline.ingest, lambda: next(clock))
    # THEN the first upload completed and the other two went back without being started
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    statuses = [pipeline.record(c["upload_id"])["status"] for c in created]
    assert statuses == ["completed", "pending_upload", "pending_upload"]


def test_original_without_a_record_is_deleted_by_key(pipeline: Pipeline) -> None:
    # GIVEN an original whose pending record expired (TTL) before its event was processed
    created = _uploaded(pipeline)
    pipeline.ddb.delete_item(
        TableName=pipeline.resources.table, Key={"upload_id": {"S": created["upload_id"]}}
    )
    # WHEN the event is processed (say, a DLQ redrive days later)
    assert pipeline.process(pipeline.event_for(created["key"])) == {"batchItemFailures": []}
    # THEN the object is gone from view behind a delete marker; its version is still there
    bucket = pipeline.resources.bucket
    versions = pipeline.s3.list_object_versions(Bucket=bucket, Prefix=created["key"])
    assert [m["IsLatest"] for m in versions.get("DeleteMarkers", [])] == [True]
    assert len(versions["Versions"]) == 1


def test_replayed_post_form_leaves_the_validated_bytes_current(pipeline: Pipeline) -> None:
    # GIVEN a POST upload that was validated and completed
    body = {"filename": "x.jpg", "content_type": "image/jpeg", "size": len(JPEG), "method": "POST"}
    status, created = pipeline.call("POST", "/v1/uploads", body)
    assert status == 201
    assert created["method"] == "POST"
    assert _post(pipeline, created, JPEG).status_code in (200, 204)
    pipeline.process(pipeline.event_for(created["key"]))
    record = pipeline.record(created["upload_id"])
    assert record["status"] == "completed"
    # WHEN the form is replayed within its TTL with other bytes of the same length
    other = bytearray(JPEG)
    other[-3] ^= 0xFF
    assert _post(pipeline, created, bytes(other)).status_code in (200, 204)
    replay = pipeline.event_for(created["key"])
    assert pipeline.process(replay) == {"batchItemFailures": []}
    # THEN the replayed version is gone and the current original is the validated one
    bucket = pipeline.resources.bucket
    current = pipeline.s3.get_object(Bucket=bucket, Key=created["key"])
    assert current["VersionId"] == record["version_id"]
    assert current["Body"].read() == JPEG
    after = pipeline.record(created["upload_id"])
    assert after["status"] == "completed"
    assert after["sha256"] == record["sha256"]
    # AND a redelivery of the replay's event changes nothing (the version is already gone)
    assert pipeline.process(replay) == {"batchItemFailures": []}


def test_record_whose_object_arrived_loses_its_ttl_on_a_transient_fault(
    pipeline: Pipeline,
) -> None:
    # GIVEN an arrived original and a processor that cannot read it (a transient fault)
    created = _uploaded(pipeline)
    assert TTL_ATTRIBUTE in pipeline.record(created["upload_id"])

    def unavailable(*args: Any, **kwargs: Any) -> Any:
        raise ingest.TransientFault("throttled")

    pipeline.ingest = dataclasses.replace(pipeline.ingest, process=unavailable)
    # WHEN its event fails
    assert pipeline.process(pipeline.event_for(created["key"]))["batchItemFailures"]
    # THEN the record no longer expires: its object exists
    assert TTL_ATTRIBUTE not in pipeline.record(created["upload_id"])


def test_permanent_fault_from_the_child_records_its_code(pipeline: Pipeline) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermanentFault("nope", code="not_an_image")

    _isolated(pipeline, refuse)
    created = _uploaded(pipeline)
    assert pipeline.process(pipeline.event_for(created["key"])) == {"batchItemFailures": []}
    assert pipeline.record(created["upload_id"])["error"]["code"] == "not_an_image"


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"processing_cpu_seconds": 11}, "processing_cpu_seconds"),
        ({"processing_memory_mb": 1400}, "processing_memory_mb"),
        ({"max_pixels": 200_000_000}, "max_pixels"),
        ({"processor_batch_size": 6}, "processor_timeout_seconds"),
    ],
)
def test_budgets_must_fit_the_function(changes: dict[str, int], key: str) -> None:
    from runtime.errors import SettingsError
    from runtime.settings import config_key

    with pytest.raises(SettingsError) as caught:
        Settings(**changes)  # type: ignore[arg-type]
    # Built in code (no source to spell it after), the refusal names the documented config key.
    assert caught.value.key == config_key(key)

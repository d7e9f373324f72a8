"""The ingest processor on moto: real uploads, real images, duplicate and reordered events,
transient versus permanent faults."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from rt_support import ADMIN, Pipeline, image_bytes, load_event, s3_body, sqs_event

from runtime import aws, processor
from runtime.records import SourceRef

JPEG = image_bytes(800, 600)


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


def test_processor_completes_upload_and_publishes_event(pipeline: Pipeline) -> None:
    # GIVEN an upload PUT through its presigned URL
    created = pipeline.create(JPEG)
    assert pipeline.put(created, JPEG).status_code == 200
    # WHEN S3's notification reaches the processor
    response = pipeline.process(pipeline.event_for(created["key"]))
    # THEN the record completes, derivatives are encrypted with the stack key, one event goes out
    assert response == {"batchItemFailures": []}
    record = pipeline.record(created["upload_id"])
    assert record["status"] == "completed"
    assert (record["width"], record["height"], record["bytes"]) == (800, 600, len(JPEG))
    assert "ttl" not in record
    for derivative in record["derivatives"]:
        assert derivative["key"].startswith(f"derivatives/tenant-a/{created['upload_id']}/")
        head = pipeline.s3.head_object(Bucket=pipeline.resources.bucket, Key=derivative["key"])
        assert head["SSEKMSKeyId"] == pipeline.resources.kms_key_arn
        assert head["ContentType"] == "image/jpeg"
    events = pipeline.published()
    assert [e["detail-type"] for e in events] == ["media.upload.completed"]
    assert events[0]["source"] == "mediakit"
    assert events[0]["detail"]["upload_id"] == created["upload_id"]
    # Thin: keys, never URLs (signed or not), file names, metadata or EXIF
    detail = events[0]["detail"]
    assert [d["key"] for d in detail["derivatives"]] == [d["key"] for d in record["derivatives"]]
    assert not {"filename", "metadata", "exif", "url"} & {*detail, *detail["derivatives"][0]}


def test_processor_duplicate_event_does_no_work_twice(pipeline: Pipeline) -> None:
    # GIVEN a completed upload and the S3 event that completed it
    created = pipeline.create(JPEG)
    pipeline.put(created, JPEG)
    event = pipeline.event_for(created["key"])
    pipeline.process(event)
    before = pipeline.record(created["upload_id"])
    pipeline.published()
    # WHEN the same event is delivered again, twice in one batch
    response = pipeline.process(event, event)
    # THEN nothing changes and nothing is republished
    assert response == {"batchItemFailures": []}
    assert pipeline.record(created["upload_id"]) == before
    assert pipeline.published() == []


def test_processor_stale_event_never_regresses_status(pipeline: Pipeline) -> None:
    # GIVEN an upload completed from a later-sequenced event
    created = pipeline.create(JPEG)
    pipeline.put(created, JPEG)
    version = pipeline.s3.head_object(Bucket=pipeline.resources.bucket, Key=created["key"])[
        "VersionId"
    ]
    newer = s3_body(pipeline.resources.bucket, created["key"], version_id=version, sequencer="00B0")
    older = s3_body(pipeline.resources.bucket, created["key"], version_id="v0", sequencer="00A0")
    pipeline.process(newer)
    # WHEN an earlier event for the same key arrives late
    response = pipeline.process(older)
    # THEN it is acknowledged and the record stays completed from the newer version
    assert response == {"batchItemFailures": []}
    record = pipeline.record(created["upload_id"])
    assert record["status"] == "completed"
    assert record["source"]["sequencer"] == "00B0"


def test_processor_reordered_events_process_newest_version(pipeline: Pipeline) -> None:
    # GIVEN two versions of an original (a form POST can overwrite) whose events arrive reversed
    created = pipeline.create(JPEG)
    bucket, key = pipeline.resources.bucket, created["key"]
    first = pipeline.s3.put_object(Bucket=bucket, Key=key, Body=b"not an image at all")
    second = pipeline.s3.put_object(Bucket=bucket, Key=key, Body=JPEG)
    old = s3_body(bucket, key, version_id=first["VersionId"], sequencer="0001")
    new = s3_body(bucket, key, version_id=second["VersionId"], sequencer="0002")
    # WHEN the newer event is processed before the older
    assert pipeline.process(new, old) == {"batchItemFailures": []}
    # THEN the newest version wins and the stale one did not fail the record
    record = pipeline.record(created["upload_id"])
    assert record["status"] == "completed"
    assert record["source"]["version_id"] == second["VersionId"]


def test_processor_not_an_image_fails_permanently(pipeline: Pipeline) -> None:
    # GIVEN an upload whose bytes are not an image
    data = b"%PDF-1.7 definitely not a jpeg" * 10
    created = pipeline.create(data)
    pipeline.put(created, data)
    # WHEN it is processed
    response = pipeline.process(pipeline.event_for(created["key"]))
    # THEN the message is acknowledged, the record failed with a code, a failed event goes out
    assert response == {"batchItemFailures": []}
    record = pipeline.record(created["upload_id"])
    assert record["status"] == "failed"
    assert record["error"]["code"] == "not_an_image"
    assert [e["detail-type"] for e in pipeline.published()] == ["media.upload.failed"]


def test_processor_type_mismatch_fails_permanently(pipeline: Pipeline) -> None:
    # GIVEN a PNG declared as JPEG
    png = image_bytes(fmt="PNG")
    created = pipeline.create(png)
    pipeline.put(created, png)
    # WHEN it is processed THEN it fails as a type mismatch
    pipeline.process(pipeline.event_for(created["key"]))
    assert pipeline.record(created["upload_id"])["error"]["code"] == "type_mismatch"


def test_processor_checksum_mismatch_fails_permanently(pipeline: Pipeline) -> None:
    # GIVEN a multipart upload (S3 did not check the checksum) with a wrong declared sha256
    created = pipeline.create(JPEG, sha256="00" * 32, method="MULTIPART")
    pipeline.s3.put_object(Bucket=pipeline.resources.bucket, Key=created["key"], Body=JPEG)
    # WHEN it is processed THEN the digest mismatch fails it
    pipeline.process(pipeline.event_for(created["key"]))
    assert pipeline.record(created["upload_id"])["error"]["code"] == "checksum_mismatch"


def test_processor_object_over_size_limit_fails_too_large(pipeline: Pipeline) -> None:
    # GIVEN an object bigger than max_upload_bytes behind a record (a multipart upload can lie)
    created = pipeline.create(JPEG, method="MULTIPART")
    big = b"\xff" * (pipeline.settings.max_upload_bytes + 1)
    pipeline.s3.put_object(Bucket=pipeline.resources.bucket, Key=created["key"], Body=big)
    # WHEN it is processed THEN it fails too_large without being decoded
    pipeline.process(pipeline.event_for(created["key"]))
    assert pipeline.record(created["upload_id"])["error"]["code"] == "too_large"


def test_processor_object_deleted_before_processing_fails_object_missing(
    pipeline: Pipeline,
) -> None:
    # GIVEN an uploaded object deleted (a delete marker) before its event was processed
    created = pipeline.create(JPEG)
    pipeline.put(created, JPEG)
    event = pipeline.event_for(created["key"])
    pipeline.s3.delete_object(Bucket=pipeline.resources.bucket, Key=created["key"])
    # WHEN the event is processed THEN the record fails object_missing, message acknowledged
    assert pipeline.process(event) == {"batchItemFailures": []}
    assert pipeline.record(created["upload_id"])["error"]["code"] == "object_missing"


def test_processor_delete_during_processing_leaves_no_derivatives(pipeline: Pipeline) -> None:
    # GIVEN an upload whose owner deletes it while the processor is rendering
    created = pipeline.create(JPEG)
    pipeline.put(created, JPEG)
    real_process = pipeline.ingest.process

    def process_then_delete(*args: Any, **kwargs: Any) -> Any:
        rendered = real_process(*args, **kwargs)
        deleted = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}", scopes=ADMIN)
        assert deleted[0] == 200
        return rendered

    pipeline.ingest.process = process_then_delete
    # WHEN processing finishes after the delete
    response = pipeline.process(pipeline.event_for(created["key"]))
    # THEN the record stays deleted and the derivatives written meanwhile are removed again
    assert response == {"batchItemFailures": []}
    assert pipeline.record(created["upload_id"])["status"] == "deleted"
    prefix = f"derivatives/tenant-a/{created['upload_id']}/"
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.resources.bucket, Prefix=prefix)
    assert listed.get("Contents", []) == []
    # the DELETE's own event only: the processor announces nothing
    assert [e["detail-type"] for e in pipeline.published()] == ["media.upload.deleted"]


def test_processor_cleanup_that_s3_refuses_is_retried_until_done(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an upload deleted while the processor renders, and S3 refusing one key of the
    # processor's first cleanup (DeleteObjects reports per-key errors in a 200 response)
    created = pipeline.create(JPEG)
    pipeline.put(created, JPEG)
    real_process, real_delete = pipeline.ingest.process, pipeline.s3.delete_objects
    calls = itertools.count()

    def process_then_delete(*args: Any, **kwargs: Any) -> Any:
        rendered = real_process(*args, **kwargs)
        deleted = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}", scopes=ADMIN)
        assert deleted[0] == 200
        return rendered

    def second_call_refuses_a_key(**kwargs: Any) -> Any:
        response = real_delete(**kwargs)
        if next(calls) == 1:
            first = kwargs["Delete"]["Objects"][0]["Key"]
            return {**response, "Errors": [{"Key": first, "Code": "InternalError"}]}
        return response

    monkeypatch.setattr(pipeline.ingest, "process", process_then_delete)
    monkeypatch.setattr(pipeline.s3, "delete_objects", second_call_refuses_a_key)
    event = pipeline.event_for(created["key"])
    # WHEN the event is processed, and redelivered if it asks to be
    first = pipeline.process(event)
    monkeypatch.setattr(pipeline.s3, "delete_objects", real_delete)
    # THEN the failed cleanup is not acknowledged, and its retry removes what was left
    assert first == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    pipeline.s3.put_object(
        Bucket=pipeline.resources.bucket,
        Key=f"derivatives/tenant-a/{created['upload_id']}/thumb.jpeg",
        Body=b"left behind",
    )
    assert pipeline.process(event) == {"batchItemFailures": []}
    prefix = f"derivatives/tenant-a/{created['upload_id']}/"
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.resources.bucket, Prefix=prefix)
    assert listed.get("Contents", []) == []


def test_processor_event_for_deleted_upload_is_acknowledged(pipeline: Pipeline) -> None:
    # GIVEN an upload deleted through the API before its event was processed
    created = pipeline.create(JPEG)
    pipeline.put(created, JPEG)
    event = pipeline.event_for(created["key"])
    pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}")
    # WHEN the event arrives THEN it is acknowledged and the record stays deleted
    assert pipeline.process(event) == {"batchItemFailures": []}
    assert pipeline.record(created["upload_id"])["status"] == "deleted"


def test_processor_late_original_for_deleted_upload_is_removed(pipeline: Pipeline) -> None:
    # GIVEN a pending upload deleted through the API, then PUT with its still-valid URL
    created = pipeline.create(JPEG)
    bucket, key = pipeline.resources.bucket, created["key"]
    assert pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}")[0] == 200
    assert pipeline.put(created, JPEG).status_code == 200
    event = pipeline.event_for(key)
    # WHEN its S3 event reaches the processor
    response = pipeline.process(event)
    # THEN the message is acknowledged, nothing is rendered or announced, and the original is
    # gone from originals/ (its version left noncurrent, for the lifecycle to expire)
    assert response == {"batchItemFailures": []}
    assert pipeline.record(created["upload_id"])["status"] == "deleted"
    with pytest.raises(ClientError) as missing:
        pipeline.s3.head_object(Bucket=bucket, Key=key)
    assert missing.value.response["Error"]["Code"] == "404"
    versions = pipeline.s3.list_object_versions(Bucket=bucket, Prefix=key)
    (late,) = versions["Versions"]
    assert late["VersionId"] == event["Records"][0]["s3"]["object"]["versionId"]
    assert not late["IsLatest"]
    assert [m["IsLatest"] for m in versions["DeleteMarkers"]].count(True) == 1
    prefix = f"derivatives/tenant-a/{created['upload_id']}/"
    assert pipeline.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []) == []
    # the DELETE's own event only: the processor announces nothing
    assert [e["detail-type"] for e in pipeline.published()] == ["media.upload.deleted"]


@pytest.mark.parametrize(
    "fault",
    [
        _client_error("SlowDown", 503),
        _client_error("InternalError", 500),
        _client_error("ThrottlingException", 400),
        EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"),
    ],
    ids=["slowdown", "500", "throttling", "connection"],
)
def test_processor_transient_fault_retries_only_that_message(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, fault: Exception
) -> None:
    # GIVEN two uploads, and S3 failing transiently for the second one only
    good, bad = pipeline.create(JPEG), pipeline.create(JPEG)
    for created in (good, bad):
        pipeline.put(created, JPEG)
    events = [pipeline.event_for(good["key"]), pipeline.event_for(bad["key"])]
    real_get = pipeline.s3.get_object

    def flaky_get(**kwargs: Any) -> Any:
        if kwargs["Key"] == bad["key"]:
            raise fault
        return real_get(**kwargs)

    monkeypatch.setattr(pipeline.s3, "get_object", flaky_get)
    # WHEN the batch is processed
    response = pipeline.process(*events)
    # THEN only the second message is returned for retry, and its record explains why
    assert response == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert pipeline.record(good["upload_id"])["status"] == "completed"
    record = pipeline.record(bad["upload_id"])
    assert record["status"] == "processing"
    assert record["last_error"]["code"] in {
        "SlowDown",
        "InternalError",
        "ThrottlingException",
        "EndpointConnectionError",
    }
    assert "lease_until" not in record
    # AND once S3 recovers, the redelivered message completes it
    monkeypatch.setattr(pipeline.s3, "get_object", real_get)
    assert pipeline.process(events[1]) == {"batchItemFailures": []}
    completed = pipeline.record(bad["upload_id"])
    assert completed["status"] == "completed"
    assert "last_error" not in completed


def test_processor_event_publish_failure_is_retried_then_sent_once(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN EventBridge throttling the first PutEvents
    created = pipeline.create(JPEG)
    pipeline.put(created, JPEG)
    event = pipeline.event_for(created["key"])
    real_put = pipeline.ingest.events.put_events
    calls: list[int] = []

    def throttled(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise _client_error("ThrottlingException", 400)
        return real_put(**kwargs)

    monkeypatch.setattr(pipeline.ingest.events, "put_events", throttled)
    # WHEN the message is processed, fails, and is redelivered twice
    first = pipeline.process(event)
    second = pipeline.process(event)
    third = pipeline.process(event)
    # THEN the record completed once, and exactly one event reached the bus
    assert first == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert second == third == {"batchItemFailures": []}
    assert pipeline.record(created["upload_id"])["status"] == "completed"
    assert len(pipeline.published()) == 1


def test_processor_live_lease_blocks_concurrent_duplicate(pipeline: Pipeline) -> None:
    # GIVEN an upload another invocation is processing right now
    created = pipeline.create(JPEG)
    pipeline.put(created, JPEG)
    body = pipeline.event_for(created["key"])
    obj = body["Records"][0]["s3"]["object"]
    ref = SourceRef(pipeline.resources.bucket, created["key"], obj["versionId"], obj["sequencer"])
    now = pipeline.ingest.clock()
    pipeline.store.mark_uploaded(created["upload_id"], ref, now)
    assert pipeline.store.claim(created["upload_id"], ref, now, 600) is not None
    # WHEN a duplicate delivery of the same event arrives
    response = pipeline.process(body)
    # THEN it is acknowledged without touching the record
    assert response == {"batchItemFailures": []}
    assert pipeline.record(created["upload_id"])["status"] == "processing"


def test_processor_ignores_s3_test_event(pipeline: Pipeline) -> None:
    # GIVEN the test event S3 sends when a notification is configured
    body = json.dumps(load_event("s3_test_event.json"))
    # WHEN it is processed THEN it is acknowledged and nothing happens
    assert pipeline.process(body) == {"batchItemFailures": []}
    assert pipeline.published() == []


@pytest.mark.parametrize(
    "key",
    [
        "derivatives/tenant-a/01jd0000000000000000000000/thumb.jpeg",
        "originals/tenant-a/holiday photo.jpg",
        "originals/tenant-a/2026/11/21/01jd0000000000000000000000.exe",
        "originals/tenant-a/2026/11/21/01jd0000000000000000000000.jpg",
    ],
    ids=["derivative", "foreign-shape", "foreign-ext", "no-record"],
)
def test_processor_ignores_unknown_keys(pipeline: Pipeline, key: str) -> None:
    # GIVEN a notification for a key we never issued WHEN processed THEN acknowledged, no record
    body = s3_body(pipeline.resources.bucket, key, version_id="v1", sequencer="01")
    assert pipeline.process(body) == {"batchItemFailures": []}
    assert pipeline.published() == []


def test_processor_ignores_other_bucket_and_malformed_bodies(pipeline: Pipeline) -> None:
    # GIVEN a notification from another bucket and a body that is not JSON
    created = pipeline.create(JPEG)
    other = s3_body("someone-elses-bucket", created["key"], version_id="v1", sequencer="01")
    # WHEN they are processed THEN both are acknowledged and the record stays pending
    assert pipeline.process(other, "{garbage") == {"batchItemFailures": []}
    assert pipeline.record(created["upload_id"])["status"] == "pending_upload"


def test_processor_decodes_url_encoded_keys(pipeline: Pipeline, settings: Any) -> None:
    # GIVEN a tenant whose sanitised name carries characters S3 form-encodes (`~`, `@`, `+`)
    created = pipeline.create(JPEG, tenant="auth0|user+1@example.com")
    assert "~7C" in created["key"]
    assert "~2B" in created["key"]
    pipeline.put(created, JPEG)
    body = pipeline.event_for(created["key"])
    raw_key = body["Records"][0]["s3"]["object"]["key"]
    assert raw_key != created["key"]
    # WHEN its notification (key form-encoded) is processed THEN the upload completes
    assert pipeline.process(body) == {"batchItemFailures": []}
    assert pipeline.record(created["upload_id"])["status"] == "completed"


def test_processor_gps_only_for_allowed_tenants(pipeline: Pipeline) -> None:
    # GIVEN a JPEG with GPS EXIF uploaded by an allowed and a not-allowed tenant
    from PIL import Image

    buffer = __import__("io").BytesIO()
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    Image.new("RGB", (40, 30)).save(buffer, "JPEG", exif=exif)
    data = buffer.getvalue()
    allowed = pipeline.upload(data, tenant="tenant-gps")
    denied = pipeline.upload(data, tenant="tenant-a")
    # WHEN their records are read THEN only the allowed tenant's carries GPS
    assert "gps" in pipeline.record(allowed["upload_id"])["exif"]
    assert "gps" not in pipeline.record(denied["upload_id"]).get("exif", {})


def test_handler_reads_env_and_processes_sqs_batch(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the Lambda environment and an uploaded object
    for name, value in {**pipeline.settings.to_env(), **pipeline.resources.to_env()}.items():
        monkeypatch.setenv(name, value)
    aws.reset()
    created = pipeline.create(JPEG)
    pipeline.put(created, JPEG)
    # WHEN the real handler gets the SQS batch
    response = processor.handler(sqs_event(pipeline.event_for(created["key"])), None)
    # THEN it reports no failures and the upload completed
    assert response == {"batchItemFailures": []}
    assert pipeline.record(created["upload_id"])["status"] == "completed"


_RANK = {"pending_upload": 0, "uploaded": 1, "processing": 2, "completed": 3, "failed": 3}


def test_processor_any_event_order_never_regresses_and_announces_once(
    pipeline: Pipeline,
) -> None:
    # GIVEN, for every ordering, an upload with two versions and a duplicated first event
    small = image_bytes(32, 24)
    for order in itertools.permutations(range(3)):
        created = pipeline.create(small)
        bucket, key = pipeline.resources.bucket, created["key"]
        v1 = pipeline.s3.put_object(Bucket=bucket, Key=key, Body=small)["VersionId"]
        v2 = pipeline.s3.put_object(Bucket=bucket, Key=key, Body=small)["VersionId"]
        bodies = [
            s3_body(bucket, key, version_id=v1, sequencer="0001", size=len(small)),
            s3_body(bucket, key, version_id=v1, sequencer="0001", size=len(small)),
            s3_body(bucket, key, version_id=v2, sequencer="0002", size=len(small)),
        ]
        # WHEN the events arrive in this order, one batch each
        ranks = []
        for i in order:
            assert pipeline.process(bodies[i]) == {"batchItemFailures": []}
            ranks.append(_RANK[pipeline.record(created["upload_id"])["status"]])
        # THEN the status only moves forward, ends completed, and one event went out
        assert ranks == sorted(ranks), order
        assert pipeline.record(created["upload_id"])["status"] == "completed"
        assert len(pipeline.published()) == 1

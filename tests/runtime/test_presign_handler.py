"""The HTTP API end to end on moto: every route, every error code, tenant isolation."""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import urllib.parse
from typing import Any

import pytest
import requests
from rt_support import ADMIN, Pipeline, http_event, image_bytes

from runtime import aws, presign
from runtime.keys import parse_original_key

JPEG = image_bytes()


def test_create_upload_returns_put_url_headers_and_pending_record(pipeline: Pipeline) -> None:
    # GIVEN a tenant with a small JPEG to upload
    body = {"filename": "../../etc/passwd.png", "content_type": "image/jpeg", "size": len(JPEG)}
    # WHEN it asks for an upload
    status, created = pipeline.call("POST", "/v1/uploads", body)
    # THEN it gets a single PUT with the headers it must send and a pending record exists
    assert status == 201
    assert created["method"] == "PUT"
    assert created["headers"]["content-type"] == "image/jpeg"
    assert created["headers"]["content-length"] == str(len(JPEG))
    assert created["headers"]["x-amz-server-side-encryption"] == "aws:kms"
    assert created["headers"]["x-amz-server-side-encryption-aws-kms-key-id"] == (
        pipeline.resources.kms_key_arn
    )
    assert created["status_url"] == (
        f"https://abc123.execute-api.eu-west-1.amazonaws.com/v1/uploads/{created['upload_id']}"
    )
    parsed = parse_original_key(pipeline.settings, created["key"])
    assert parsed is not None
    assert (parsed.tenant, parsed.upload_id, parsed.extension) == (
        "tenant-a",
        created["upload_id"],
        "jpg",
    )
    record = pipeline.record(created["upload_id"])
    assert record["status"] == "pending_upload"
    assert record["ttl"] > 0
    assert "passwd" not in created["key"]


def test_create_upload_put_url_signs_what_the_bucket_policy_checks(pipeline: Pipeline) -> None:
    # GIVEN a client that declares the sha256 of its file
    digest = "ab" * 32
    # WHEN it asks for an upload
    created = pipeline.create(JPEG, sha256=digest)
    # THEN the URL's signature covers type, length, checksum, SSE-KMS and if-none-match
    query = urllib.parse.parse_qs(urllib.parse.urlparse(created["url"]).query)
    signed = set(query["X-Amz-SignedHeaders"][0].split(";"))
    assert {
        "content-type",
        "content-length",
        "x-amz-checksum-sha256",
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "if-none-match",
        "host",
    } <= signed
    assert query["X-Amz-Expires"] == [str(pipeline.settings.presign_ttl_seconds)]
    assert (
        created["headers"]["x-amz-checksum-sha256"]
        == base64.b64encode(bytes.fromhex(digest)).decode()
    )
    assert "x-amz-checksum-crc32" not in created["url"].lower()
    assert "x-amz-sdk-checksum-algorithm" not in created["url"].lower()


def test_create_upload_put_url_cannot_overwrite(pipeline: Pipeline) -> None:
    # GIVEN an upload already PUT with its URL
    created = pipeline.create(JPEG)
    assert pipeline.put(created, JPEG).status_code == 200
    # WHEN the same URL is replayed
    replay = pipeline.put(created, JPEG)
    # THEN S3 refuses to overwrite the object
    assert replay.status_code == 412


def test_create_upload_post_method_returns_policy_fields(pipeline: Pipeline) -> None:
    # GIVEN a browser client that prefers a form POST
    body = {"filename": "a.png", "content_type": "image/png", "size": 2048, "method": "POST"}
    # WHEN it asks for an upload
    status, created = pipeline.call("POST", "/v1/uploads", body)
    # THEN the policy pins type, exact length and the stack key
    assert status == 201
    assert created["method"] == "POST"
    policy = json.loads(base64.b64decode(created["fields"]["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 2048, 2048] in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert {"x-amz-server-side-encryption-aws-kms-key-id": pipeline.resources.kms_key_arn} in (
        conditions
    )
    assert created["fields"]["key"] == created["key"]
    # AND the form upload lands on the key
    form = requests.post(
        created["url"],
        data=created["fields"],
        files={"file": ("a.png", image_bytes(fmt="PNG"))},
        timeout=10,
    )
    assert form.status_code == 204


def test_create_upload_above_threshold_is_multipart(pipeline: Pipeline) -> None:
    # GIVEN a file bigger than the multipart threshold
    size = pipeline.settings.multipart_threshold_bytes + 1
    # WHEN the client asks for an upload
    created = pipeline.create(b"", size=size)
    # THEN it gets part URLs covering the size and a complete URL
    assert created["method"] == "MULTIPART"
    assert sum(p["size"] for p in created["parts"]) == size
    assert [p["part_number"] for p in created["parts"]] == list(range(1, len(created["parts"]) + 1))
    assert created["url"] == created["status_url"] + "/complete"
    query = urllib.parse.parse_qs(urllib.parse.urlparse(created["parts"][0]["url"]).query)
    assert "content-length" in query["X-Amz-SignedHeaders"][0].split(";")


def test_complete_upload_finishes_multipart_then_processing_completes(
    pipeline: Pipeline,
) -> None:
    # GIVEN a multipart upload whose single part was PUT
    created = pipeline.create(JPEG, method="MULTIPART")
    part = created["parts"][0]
    put = requests.put(part["url"], data=JPEG, headers=part["headers"], timeout=10)
    assert put.status_code == 200
    path = f"/v1/uploads/{created['upload_id']}/complete"
    body = {"parts": [{"part_number": 1, "etag": put.headers["ETag"]}]}
    # WHEN the client completes it, and S3's event reaches the processor
    status, record = pipeline.call("POST", path, body)
    failures = pipeline.process(pipeline.event_for(created["key"]))
    # THEN the object exists, encrypted with the stack key, and the upload completes
    assert status == 200
    assert record["status"] == "pending_upload"
    head = pipeline.s3.head_object(Bucket=pipeline.resources.bucket, Key=created["key"])
    assert head["SSEKMSKeyId"] == pipeline.resources.kms_key_arn
    assert failures == {"batchItemFailures": []}
    assert pipeline.record(created["upload_id"])["status"] == "completed"
    # AND completing again is a conflict
    assert pipeline.call("POST", path, body)[0] == 409


def test_complete_upload_overtaken_by_its_own_s3_event_succeeds(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a multipart upload whose part was PUT, and a processor fast enough to handle the
    # completed object's S3 event before the API records the completion
    created = pipeline.create(JPEG, method="MULTIPART")
    part = created["parts"][0]
    put = requests.put(part["url"], data=JPEG, headers=part["headers"], timeout=10)
    complete = pipeline.s3.complete_multipart_upload

    def complete_then_event(**kwargs: Any) -> Any:
        response = complete(**kwargs)
        assert pipeline.process(pipeline.event_for(created["key"])) == {"batchItemFailures": []}
        return response

    monkeypatch.setattr(pipeline.s3, "complete_multipart_upload", complete_then_event)
    # WHEN the client completes it
    status, record = pipeline.call(
        "POST",
        f"/v1/uploads/{created['upload_id']}/complete",
        {"parts": [{"part_number": 1, "etag": put.headers["ETag"]}]},
    )
    # THEN its completion succeeded, and it says so with the record as it now stands
    assert (status, record["status"]) == (200, "completed")


def test_complete_upload_of_single_put_is_conflict(pipeline: Pipeline) -> None:
    # GIVEN a single-PUT upload
    created = pipeline.create(JPEG)
    # WHEN the client tries to complete it
    status, body = pipeline.call(
        "POST",
        f"/v1/uploads/{created['upload_id']}/complete",
        {"parts": [{"part_number": 1, "etag": "x"}]},
    )
    # THEN it is a conflict with a stable code
    assert (status, body["error"]["code"]) == (409, "not_multipart")


def test_complete_upload_with_bad_parts_is_400(pipeline: Pipeline) -> None:
    # GIVEN a multipart upload
    created = pipeline.create(JPEG, method="MULTIPART")
    # WHEN the part list is malformed
    status, body = pipeline.call(
        "POST", f"/v1/uploads/{created['upload_id']}/complete", {"parts": [{"part_number": 0}]}
    )
    # THEN it is rejected before S3 is called
    assert (status, body["error"]["code"]) == (400, "invalid_field")


def test_get_upload_returns_completed_record_with_derivative_urls(pipeline: Pipeline) -> None:
    # GIVEN a processed upload
    created = pipeline.upload(image_bytes(640, 480))
    # WHEN its owner asks for it
    status, record = pipeline.call("GET", f"/v1/uploads/{created['upload_id']}")
    # THEN the record is complete, derivatives carry fetchable URLs, bookkeeping stays hidden
    assert status == 200
    assert record["status"] == "completed"
    assert (record["width"], record["height"], record["format"]) == (640, 480, "jpeg")
    names = {d["name"] for d in record["derivatives"]}
    assert names == {"thumb", "medium", "large"}
    thumb = next(d for d in record["derivatives"] if d["name"] == "thumb")
    assert thumb["width"] == 320
    fetched = requests.get(thumb["url"], timeout=10)
    assert fetched.status_code == 200
    assert len(fetched.content) == thumb["bytes"]
    for hidden in ("source_id", "lease_until", "ttl", "source", "last_error"):
        assert hidden not in record


def test_get_upload_uses_cdn_domain_when_configured(pipeline: Pipeline) -> None:
    # GIVEN a stack in public delivery mode with a CDN in front of derivatives
    created = pipeline.upload(JPEG)
    pipeline.api.resources = pipeline.resources.__class__(
        **{**pipeline.resources.__dict__, "cdn_domain": "d111.cloudfront.net"}
    )
    pipeline.api.settings = dataclasses.replace(pipeline.api.settings, delivery_mode="public")
    # WHEN the record is read
    _, record = pipeline.call("GET", f"/v1/uploads/{created['upload_id']}")
    # THEN derivative URLs are plain CDN URLs, not the bucket's, and never expire
    thumb = next(d for d in record["derivatives"] if d["name"] == "thumb")
    assert thumb["url"] == f"https://d111.cloudfront.net/{thumb['key']}"
    assert "urls_expire_at" not in record


def test_get_upload_of_other_tenant_is_404(pipeline: Pipeline) -> None:
    # GIVEN tenant A's upload
    created = pipeline.create(JPEG, tenant="tenant-a")
    # WHEN tenant B asks for it, or deletes it
    got = pipeline.call("GET", f"/v1/uploads/{created['upload_id']}", tenant="tenant-b")
    deleted = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}", tenant="tenant-b")
    # THEN it looks exactly like a missing upload
    assert got == (404, {"error": {"code": "not_found", "message": got[1]["error"]["message"]}})
    assert deleted[0] == 404
    assert pipeline.record(created["upload_id"])["status"] == "pending_upload"


def test_get_upload_unknown_or_malformed_id_is_404(pipeline: Pipeline) -> None:
    # GIVEN no such uploads WHEN they are asked for THEN both are 404
    assert pipeline.call("GET", "/v1/uploads/01jd0000000000000000000000")[0] == 404
    assert pipeline.call("GET", "/v1/uploads/..%2Fetc")[0] == 404


def test_list_uploads_pages_through_own_tenant_only(pipeline: Pipeline) -> None:
    # GIVEN three uploads for A and one for B, page size 2
    mine = [pipeline.create(JPEG)["upload_id"] for _ in range(3)]
    pipeline.create(JPEG, tenant="tenant-b")
    # WHEN A lists page by page
    status, first = pipeline.call("GET", "/v1/uploads")
    _, second = pipeline.call("GET", "/v1/uploads", query={"cursor": first["next_cursor"]})
    # THEN A sees exactly its three, newest first, and nothing of B's
    assert status == 200
    assert len(first["items"]) == 2
    seen = [r["upload_id"] for r in first["items"] + second["items"]]
    assert seen == list(reversed(mine))
    assert {r["tenant"] for r in first["items"] + second["items"]} == {"tenant-a"}


def test_list_uploads_bad_cursor_is_400(pipeline: Pipeline) -> None:
    # GIVEN a tampered cursor WHEN listing THEN 400 invalid_cursor
    status, body = pipeline.call("GET", "/v1/uploads", query={"cursor": "not-a-cursor!"})
    assert (status, body["error"]["code"]) == (400, "invalid_cursor")


def test_list_uploads_hides_deleted(pipeline: Pipeline) -> None:
    # GIVEN one live and one deleted upload
    keep = pipeline.create(JPEG)["upload_id"]
    gone = pipeline.create(JPEG)["upload_id"]
    assert pipeline.call("DELETE", f"/v1/uploads/{gone}")[0] == 200
    # WHEN listing THEN only the live one shows
    _, page = pipeline.call("GET", "/v1/uploads")
    assert [r["upload_id"] for r in page["items"]] == [keep]


def test_delete_upload_removes_objects_and_marks_deleted(pipeline: Pipeline) -> None:
    # GIVEN a processed upload with derivatives
    created = pipeline.upload(JPEG)
    derivative_keys = [d["key"] for d in pipeline.record(created["upload_id"])["derivatives"]]
    # WHEN its owner deletes it
    status, record = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}", scopes=ADMIN)
    # THEN the original and derivatives are gone and the record says deleted
    assert (status, record["status"]) == (200, "deleted")
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.resources.bucket).get("Contents", [])
    assert listed == []
    assert derivative_keys
    # AND deleting again is a conflict
    again = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}", scopes=ADMIN)
    assert (again[0], again[1]["error"]["code"]) == (409, "already_deleted")


def test_get_deleted_upload_lists_no_derivatives(pipeline: Pipeline) -> None:
    # GIVEN a processed upload with derivatives, then deleted by its owner
    created = pipeline.upload(JPEG)
    path = f"/v1/uploads/{created['upload_id']}"
    status, before = pipeline.call("GET", path)
    assert (status, len(before["derivatives"])) == (200, len(pipeline.settings.derivatives))
    status, deleted = pipeline.call("DELETE", path, scopes=ADMIN)
    # WHEN its status is read
    status, record = pipeline.call("GET", path)
    # THEN it says deleted and hands out no derivative (their objects are gone, a URL would
    # 404), in the GET as in the DELETE response, like the listing that hides it altogether
    assert (status, record["status"]) == (200, "deleted")
    assert "derivatives" not in record
    assert "derivatives" not in deleted
    # AND the rest of what processing found is still reported
    kept = ("upload_id", "key", "width", "height", "format", "bytes", "sha256", "exif")
    assert {k: record[k] for k in kept} == {k: before[k] for k in kept}


def test_delete_upload_pending_multipart_aborts_it(pipeline: Pipeline) -> None:
    # GIVEN a multipart upload never completed
    created = pipeline.create(JPEG, method="MULTIPART")
    # WHEN it is deleted
    status, _ = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}")
    # THEN the multipart upload is aborted
    assert status == 200
    open_uploads = pipeline.s3.list_multipart_uploads(Bucket=pipeline.resources.bucket)
    assert open_uploads.get("Uploads", []) == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_json"),
        ([1, 2], 400, "invalid_body"),
        ({"filename": "a", "content_type": "image/jpeg"}, 400, "invalid_field"),
        ({"filename": "a", "content_type": "image/jpeg", "size": 1, "x": 1}, 400, "unknown_field"),
        ({"filename": "a", "content_type": "image/gif", "size": 1}, 415, "unsupported_media_type"),
        ({"filename": "a", "content_type": "image/jpeg", "size": 10**12}, 413, "too_large"),
        (
            {"filename": "a", "content_type": "image/jpeg", "size": 1, "metadata": {"A": "b"}},
            400,
            "invalid_field",
        ),
    ],
)
def test_create_upload_rejects_bad_bodies(
    pipeline: Pipeline, body: object, status: int, code: str
) -> None:
    # GIVEN a bad body WHEN posted THEN the documented status and code come back
    raw = body if isinstance(body, str) else json.dumps(body)
    got_status, got = pipeline.call("POST", "/v1/uploads", raw)
    assert (got_status, got["error"]["code"]) == (status, code)


def test_routes_without_token_are_401(pipeline: Pipeline) -> None:
    # GIVEN a request without verified claims WHEN it reaches the API THEN 401
    status, body = pipeline.call("GET", "/v1/uploads", tenant=None)
    assert (status, body["error"]["code"]) == (401, "unauthorized")


@pytest.mark.parametrize(
    ("tenant", "status", "code"),
    [("   ", 401, "missing_tenant"), ("evil\x00tenant", 403, "invalid_tenant")],
)
def test_routes_with_unusable_tenant_claim_are_rejected(
    pipeline: Pipeline, tenant: str, status: int, code: str
) -> None:
    # GIVEN a token whose tenant claim is blank or hostile WHEN used THEN it is refused
    got_status, body = pipeline.call("GET", "/v1/uploads", tenant=tenant)
    assert (got_status, body["error"]["code"]) == (status, code)


def test_routes_wrong_method_is_405_and_unknown_path_404(pipeline: Pipeline) -> None:
    # GIVEN the API WHEN a route is called with the wrong method or a path that does not exist
    put = pipeline.call("PUT", "/v1/uploads")
    missing = pipeline.call("GET", "/v2/things")
    # THEN 405 and 404 with codes
    assert (put[0], put[1]["error"]["code"]) == (405, "method_not_allowed")
    assert (missing[0], missing[1]["error"]["code"]) == (404, "route_not_found")


def test_handler_reads_env_and_serves_stage_prefixed_path(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the Lambda environment the stack sets, and a non-default stage
    for name, value in {**pipeline.settings.to_env(), **pipeline.resources.to_env()}.items():
        monkeypatch.setenv(name, value)
    aws.reset()
    event = http_event(
        "POST",
        "/prod/v1/uploads",
        {"filename": "a.jpg", "content_type": "image/jpeg", "size": 10},
        claims={"sub": "tenant-a"},
    )
    event["requestContext"]["stage"] = "prod"
    # WHEN the real handler runs
    response = presign.handler(event, None)
    # THEN it answers with JSON, no caching, and a stage-qualified status URL
    assert response["statusCode"] == 201
    assert response["headers"]["cache-control"] == "no-store"
    body = json.loads(response["body"])
    assert body["status_url"].endswith(f"/prod/v1/uploads/{body['upload_id']}")


def test_handler_missing_env_is_500_with_settings_code(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a Lambda without its resource variables
    monkeypatch.delenv("MEDIAKIT_BUCKET", raising=False)
    # WHEN a request arrives
    response = presign.handler(http_event("GET", "/v1/uploads", claims={"sub": "a"}), None)
    # THEN the error names the problem without leaking a traceback
    assert response["statusCode"] == 500
    assert json.loads(response["body"])["error"]["code"] == "invalid_settings"


def test_delete_upload_racing_the_processor_leaves_no_derivatives(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a processor that has read the original and is rendering it while a DELETE runs,
    # writing its derivatives and completing after the DELETE removed the objects but before
    # the DELETE marks the record
    created = pipeline.create(JPEG)
    assert pipeline.put(created, JPEG).status_code == 200
    event = pipeline.event_for(created["key"])
    rendered, resume = threading.Event(), threading.Event()
    render = pipeline.ingest.process

    def slow_render(*args: Any, **kwargs: Any) -> Any:
        image = render(*args, **kwargs)
        rendered.set()
        assert resume.wait(10)
        return image

    monkeypatch.setattr(pipeline.ingest, "process", slow_render)
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(pipeline.process(event)))
    worker.start()
    assert rendered.wait(10)
    mark_deleted = pipeline.store.mark_deleted

    def processor_finishes_first(*args: Any, **kwargs: Any) -> Any:
        resume.set()
        worker.join(10)
        return mark_deleted(*args, **kwargs)

    monkeypatch.setattr(pipeline.store, "mark_deleted", processor_finishes_first)
    # WHEN the owner deletes it
    status, record = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}", scopes=ADMIN)
    resume.set()
    worker.join(10)
    # THEN the record is deleted and no servable derivative is left behind
    assert outcome == [{"batchItemFailures": []}]
    assert (status, record["status"]) == (200, "deleted")
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.resources.bucket).get("Contents", [])
    assert [o["Key"] for o in listed] == []


def test_delete_upload_retried_after_a_storage_failure_removes_the_objects(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a processed upload whose first DELETE fails to remove the objects
    created = pipeline.upload(JPEG)
    delete_objects = pipeline.s3.delete_objects
    monkeypatch.setattr(
        pipeline.s3,
        "delete_objects",
        lambda **kw: {"Errors": [{"Key": kw["Delete"]["Objects"][0]["Key"], "Code": "SlowDown"}]},
    )
    assert pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}", scopes=ADMIN)[0] == 503
    monkeypatch.setattr(pipeline.s3, "delete_objects", delete_objects)
    # WHEN the client retries
    status, _ = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}", scopes=ADMIN)
    # THEN the objects are gone, whatever the answer says about the record
    assert status in (200, 409)
    assert pipeline.record(created["upload_id"])["status"] == "deleted"
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.resources.bucket).get("Contents", [])
    assert [o["Key"] for o in listed] == []

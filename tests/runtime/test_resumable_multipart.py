"""Resumable multipart on moto: GET /v1/uploads/{id}/parts, paged part URLs, declared part
hashes (ChecksumAlgorithm=SHA256), and what the owner, other tenants and forgers get."""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from typing import Any

import pytest
import requests
from rt_support import Pipeline

from mediakit.local import moto_fidelity
from runtime import signing
from runtime.errors import BadRequest
from runtime.settings import Settings
from runtime.validation import validate_create

MIB = 1024 * 1024
PART = 5 * MIB


def _data(parts: float) -> bytes:
    return os.urandom(int(PART * parts))


def _create(pipeline: Pipeline, data: bytes, **extra: Any) -> dict[str, Any]:
    return pipeline.create(b"", size=len(data), method="MULTIPART", **extra)


def _put(part: dict[str, Any], data: bytes) -> requests.Response:
    start = (part["part_number"] - 1) * PART
    chunk = data[start : start + part["size"]]
    return requests.put(part["url"], data=chunk, headers=part["headers"], timeout=30)


def _parts(pipeline: Pipeline, upload_id: str, **query: str) -> tuple[int, dict[str, Any]]:
    return pipeline.call("GET", f"/v1/uploads/{upload_id}/parts", query=query or None)


def test_parts_lists_what_s3_holds_and_fresh_urls_for_the_rest(pipeline: Pipeline) -> None:
    # GIVEN a three-part upload whose second part was sent
    data = _data(2.5)
    created = _create(pipeline, data)
    assert created["part_count"] == 3
    assert created["next_cursor"] is None
    sent = _put(created["parts"][1], data)
    assert sent.status_code == 200
    # WHEN the owner asks which parts are missing
    status, answer = _parts(pipeline, created["upload_id"])
    # THEN S3's part is listed with its ETag and parts 1 and 3 get URLs
    assert status == 200, answer
    assert answer["uploaded"] == [{"part_number": 2, "etag": sent.headers["ETag"], "size": PART}]
    assert [p["part_number"] for p in answer["parts"]] == [1, 3]
    assert answer["next_cursor"] is None
    assert answer["url"].endswith(f"/v1/uploads/{created['upload_id']}/complete")
    # AND sending those and completing assembles exactly the file
    etags = {2: sent.headers["ETag"]}
    for part in answer["parts"]:
        put = _put(part, data)
        assert put.status_code == 200
        etags[part["part_number"]] = put.headers["ETag"]
    body = {"parts": [{"part_number": n, "etag": etags[n]} for n in sorted(etags)]}
    status, _ = pipeline.call("POST", f"/v1/uploads/{created['upload_id']}/complete", body)
    assert status == 200
    got = pipeline.s3.get_object(Bucket=pipeline.resources.bucket, Key=created["key"])
    assert got["Body"].read() == data


def test_parts_pages_with_a_cursor_and_a_limit(pipeline: Pipeline) -> None:
    # GIVEN a three-part upload whose first part was sent
    data = _data(2.2)
    created = _create(pipeline, data)
    assert _put(created["parts"][0], data).status_code == 200
    upload_id = created["upload_id"]
    # WHEN the parts are read two part numbers at a time
    status, first = _parts(pipeline, upload_id, limit="2")
    status2, second = _parts(pipeline, upload_id, limit="2", cursor=first["next_cursor"])
    # THEN the pages cover 1..2 and 3 once each
    assert (status, status2) == (200, 200)
    assert [p["part_number"] for p in first["uploaded"]] == [1]
    assert [p["part_number"] for p in first["parts"]] == [2]
    assert first["next_cursor"] == "2"
    assert second["uploaded"] == []
    assert [p["part_number"] for p in second["parts"]] == [3]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    [{"cursor": "abc"}, {"cursor": "-1"}, {"cursor": "4"}, {"limit": "0"}, {"limit": "1001"}],
)
def test_parts_refuses_a_malformed_cursor_or_limit(
    pipeline: Pipeline, query: dict[str, str]
) -> None:
    created = _create(pipeline, _data(2.2))
    status, body = _parts(pipeline, created["upload_id"], **query)
    assert status == 400
    assert body["error"]["code"] in ("invalid_cursor", "invalid_field")


def test_create_pages_part_urls_beyond_the_first_page(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN pages of two part URLs
    monkeypatch.setattr(signing, "PARTS_PAGE_SIZE", 2)
    data = _data(2.2)
    # WHEN a three-part upload is created
    created = _create(pipeline, data)
    # THEN the answer holds the first page and says where the rest is
    assert [p["part_number"] for p in created["parts"]] == [1, 2]
    assert created["next_cursor"] == "2"
    assert created["parts_url"] == created["status_url"] + "/parts"
    status, rest = _parts(pipeline, created["upload_id"], cursor=created["next_cursor"])
    assert status == 200
    assert [p["part_number"] for p in rest["parts"]] == [3]


def test_parts_is_the_owners_only_and_only_while_pending(pipeline: Pipeline) -> None:
    data = _data(1.2)
    created = _create(pipeline, data)
    upload_id = created["upload_id"]
    # another tenant's id looks like a missing one
    status, body = pipeline.call("GET", f"/v1/uploads/{upload_id}/parts", tenant="tenant-b")
    assert (status, body["error"]["code"]) == (404, "not_found")
    # a single-PUT upload has no parts
    put = pipeline.create(b"", size=1000)
    status, body = _parts(pipeline, put["upload_id"])
    assert (status, body["error"]["code"]) == (409, "not_multipart")
    # once completed, there is nothing to resume
    etags = [
        {"part_number": p["part_number"], "etag": _put(p, data).headers["ETag"]}
        for p in created["parts"]
    ]
    assert pipeline.call("POST", f"{created['url'].split('.com')[1]}", {"parts": etags})[0] == 200
    status, body = _parts(pipeline, upload_id)
    assert (status, body["error"]["code"]) == (409, "not_pending")


def test_abort_closes_the_part_urls(pipeline: Pipeline) -> None:
    moto_fidelity.install()  # moto's UploadPart to an aborted upload answers as S3 does
    # GIVEN a pending multipart upload and its part URLs
    data = _data(1.2)
    created = _create(pipeline, data)
    # WHEN its owner DELETEs it (abort: no scope needed)
    status, record = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}")
    assert (status, record["status"]) == (200, "deleted")
    # THEN S3's multipart upload is gone (its part URLs have nothing to write to: see the
    # emulator test for S3's answer) and the parts route is a conflict
    listed = pipeline.s3.list_multipart_uploads(Bucket=pipeline.resources.bucket)
    assert all(u["Key"] != created["key"] for u in listed.get("Uploads", []))
    with pytest.raises(pipeline.s3.exceptions.NoSuchUpload):
        pipeline.s3.upload_part(
            Bucket=pipeline.resources.bucket,
            Key=created["key"],
            UploadId=pipeline.record(created["upload_id"])["multipart_upload_id"],
            PartNumber=1,
            Body=b"late",
        )
    status, body = _parts(pipeline, created["upload_id"])
    assert (status, body["error"]["code"]) == (409, "not_pending")


@pytest.mark.parametrize(
    "numbers",
    [[1], [1, 3], [2, 3], [1, 2, 3, 4]],
    ids=["missing-last", "missing-middle", "missing-first", "forged-extra"],
)
def test_complete_needs_exactly_the_planned_parts(pipeline: Pipeline, numbers: list[int]) -> None:
    # GIVEN a three-part upload (every part sent)
    data = _data(2.2)
    created = _create(pipeline, data)
    etags = {p["part_number"]: _put(p, data).headers["ETag"] for p in created["parts"]}
    etags[4] = etags[3]
    # WHEN the client completes it with parts left out or a part number the plan lacks
    body = {"parts": [{"part_number": n, "etag": etags[n]} for n in numbers]}
    status, answer = pipeline.call("POST", f"/v1/uploads/{created['upload_id']}/complete", body)
    # THEN it is refused before S3 could assemble a shorter object
    assert (status, answer["error"]["code"]) == (400, "invalid_parts")
    assert pipeline.record(created["upload_id"])["status"] == "pending_upload"


def test_declared_part_hashes_sign_each_part_and_complete_passes_them(
    pipeline: Pipeline,
) -> None:
    moto_fidelity.install()  # S3's check of the part checksums at CompleteMultipartUpload
    # GIVEN a client that hashes its 5 MiB parts
    data = _data(2.2)
    hashes = [hashlib.sha256(data[i : i + PART]).hexdigest() for i in range(0, len(data), PART)]
    full = hashlib.sha256(data).hexdigest()
    # WHEN it declares them on create
    created = _create(pipeline, data, part_size=PART, part_sha256=hashes, sha256=full)
    # THEN every part URL signs its x-amz-checksum-sha256, whose value the client must send
    assert created["checksum_algorithm"] == "SHA256"
    for part, digest in zip(created["parts"], hashes, strict=True):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(part["url"]).query)
        assert "x-amz-checksum-sha256" in query["X-Amz-SignedHeaders"][0].split(";")
        assert part["sha256"] == digest
        assert part["headers"]["x-amz-checksum-sha256"] == signing.sha256_base64(digest)
    record = pipeline.record(created["upload_id"])
    assert record["part_sha256"] == [signing.sha256_base64(h) for h in hashes]
    assert record["sha256"] == full  # the record's hash stays the whole file's
    # AND the parts route reports the declared hash of a part S3 holds
    assert _put(created["parts"][0], data).status_code == 200
    status, answer = _parts(pipeline, created["upload_id"])
    assert status == 200
    assert answer["uploaded"][0]["sha256"] == hashes[0]
    assert all("x-amz-checksum-sha256" in p["headers"] for p in answer["parts"])
    # AND complete names each part's checksum (what S3 requires of a SHA256 upload)
    calls: list[dict[str, Any]] = []
    real = pipeline.s3.complete_multipart_upload

    def spy(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    pipeline.s3.complete_multipart_upload = spy
    etags = {1: answer["uploaded"][0]["etag"]}
    etags.update({p["part_number"]: _put(p, data).headers["ETag"] for p in answer["parts"]})
    body = {"parts": [{"part_number": n, "etag": etags[n]} for n in sorted(etags)]}
    assert pipeline.call("POST", f"/v1/uploads/{created['upload_id']}/complete", body)[0] == 200
    sent = calls[0]["MultipartUpload"]["Parts"]
    assert [p["ChecksumSHA256"] for p in sent] == record["part_sha256"]
    head = pipeline.s3.head_object(
        Bucket=pipeline.resources.bucket, Key=created["key"], ChecksumMode="ENABLED"
    )
    # S3's own checksum of the object is composite (a hash of the part hashes), not the file's
    # (moto reports no ChecksumType on HEAD; S3 says COMPOSITE)
    assert head.get("ChecksumType", "COMPOSITE") == "COMPOSITE"
    assert head["ChecksumSHA256"].split("-")[0] != signing.sha256_base64(full)


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"part_sha256": ["0" * 64] * 3}, "part_size"),
        ({"part_size": PART, "part_sha256": ["0" * 64] * 2}, "part_sha256"),
        ({"part_size": PART, "part_sha256": ["xyz"] * 3}, "part_sha256[0]"),
        ({"part_size": PART - 1}, "part_size"),
        ({"part_size": True}, "part_size"),
        ({"part_size": PART, "method": "PUT"}, "part_size"),
    ],
)
def test_create_refuses_a_bad_part_plan(
    pipeline: Pipeline, extra: dict[str, Any], field: str
) -> None:
    body = {"filename": "x.jpg", "content_type": "image/jpeg", "size": int(PART * 2.2)}
    body.setdefault("method", "MULTIPART")
    body.update(extra)
    if body["method"] == "PUT":
        body["size"] = 1000
    status, answer = pipeline.call("POST", "/v1/uploads", body)
    assert status == 400, answer
    assert answer["error"]["message"].startswith(f"{field}:")


def test_create_refuses_more_part_hashes_than_the_body_can_carry() -> None:
    # GIVEN a stack taking 10 GiB uploads and a body declaring 801 part hashes
    settings = Settings(max_upload_bytes=10 * 1024**3)
    body = {
        "filename": "x.jpg",
        "content_type": "image/jpeg",
        "size": PART * 801,
        "method": "MULTIPART",
        "part_size": PART,
        "part_sha256": ["a" * 64] * 801,
    }
    # WHEN it is validated THEN it is refused, with the way out (a larger part size)
    with pytest.raises(BadRequest, match="choose a larger part_size"):
        validate_create(body, settings)
    # AND 800 of them are fine
    body.update(size=PART * 800, part_sha256=["a" * 64] * 800)
    assert len(validate_create(body, settings).part_sha256) == 800


def test_s3_refuses_to_complete_a_sha256_upload_without_its_part_checksums(
    pipeline: Pipeline,
) -> None:
    moto_fidelity.install()
    # GIVEN a SHA256 multipart upload whose two parts were sent with their checksums
    data = _data(1.2)
    hashes = [hashlib.sha256(data[i : i + PART]).hexdigest() for i in range(0, len(data), PART)]
    created = _create(pipeline, data, part_size=PART, part_sha256=hashes)
    etags = [_put(p, data).headers["ETag"] for p in created["parts"]]
    multipart_id = pipeline.record(created["upload_id"])["multipart_upload_id"]
    bucket, key = pipeline.resources.bucket, created["key"]

    def complete(parts: list[dict[str, Any]]) -> Any:
        return pipeline.s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=multipart_id, MultipartUpload={"Parts": parts}
        )

    plain = [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)]
    # WHEN a caller completes it without the checksums, or with another part's
    # THEN S3 refuses (InvalidRequest, InvalidPart) and the upload stays open
    with pytest.raises(pipeline.s3.exceptions.ClientError, match="InvalidRequest"):
        complete(plain)
    swapped = [
        {**plain[0], "ChecksumSHA256": signing.sha256_base64(hashes[1])},
        {**plain[1], "ChecksumSHA256": signing.sha256_base64(hashes[0])},
    ]
    with pytest.raises(pipeline.s3.exceptions.ClientError, match="InvalidPart"):
        complete(swapped)
    # AND the API's complete, which passes each part's declared checksum, succeeds
    body = {"parts": [{"part_number": n, "etag": e} for n, e in enumerate(etags, start=1)]}
    status, _ = pipeline.call("POST", f"/v1/uploads/{created['upload_id']}/complete", body)
    assert status == 200

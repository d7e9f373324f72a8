"""Issue 11.2/4/5 on moto: downloads of originals, soft delete, restore inside and outside the
window, purge of every version, retention expiry, and thin events with the acting subject."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import urllib.parse
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import pytest
import requests
from PIL import Image
from rt_support import ADMIN, Pipeline, s3_body

from runtime import downloads
from runtime.records import PERSONAL_FIELDS, parse_iso
from runtime.settings import DerivativeSpec

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SECRET_MAKE = "SecretCam-4242"
SECRET_FILENAME = "Ärztin Befund.jpg"
SECRET_META = {"patient": "Erika Mustermann"}


def exif_jpeg() -> bytes:
    """A real JPEG whose EXIF names a camera (so `exif` is a personal field on the record)."""
    image = Image.new("RGB", (96, 64), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = SECRET_MAKE
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


JPEG = exif_jpeg()


class Clock:
    """One clock for the API and the processor; tests move it."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(pipeline: Pipeline) -> Clock:
    c = Clock()
    pipeline.api.clock = c
    pipeline.ingest.clock = c
    return c


def completed(pipeline: Pipeline, data: bytes = JPEG, **extra: Any) -> dict[str, Any]:
    created = pipeline.create(
        data, filename=extra.pop("filename", SECRET_FILENAME), metadata=SECRET_META, **extra
    )
    assert pipeline.put(created, data).status_code == 200
    assert pipeline.process(pipeline.event_for(created["key"])) == {"batchItemFailures": []}
    record = pipeline.record(created["upload_id"])
    assert record["status"] == "completed", record
    assert record["exif"]
    return created


def versions(pipeline: Pipeline, prefix: str) -> list[tuple[str, str]]:
    listing = pipeline.s3.list_object_versions(Bucket=pipeline.resources.bucket, Prefix=prefix)
    return sorted(
        (v["Key"], v["VersionId"])
        for v in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
    )


def current(pipeline: Pipeline, prefix: str) -> list[str]:
    listing = pipeline.s3.list_objects_v2(Bucket=pipeline.resources.bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def no_personal_data(event: dict[str, Any]) -> None:
    text = json.dumps(event, ensure_ascii=False)
    for secret in (SECRET_MAKE, "Befund", "Mustermann", "patient", "http", "X-Amz-"):
        assert secret not in text, (secret, event)
    assert not {"filename", "metadata", "exif", "media", "url"} & set(event["detail"])


# --- downloads -----------------------------------------------------------------------------------


def test_download_owner_gets_a_presigned_get_of_the_validated_version(
    pipeline: Pipeline, clock: Clock
) -> None:
    # GIVEN a completed upload
    created = completed(pipeline)
    record = pipeline.record(created["upload_id"])
    # WHEN its owner asks for the original
    status, answer = pipeline.call("GET", f"/v1/uploads/{created['upload_id']}/download")
    # THEN a short-lived GET of exactly the validated version, as an attachment of the sniffed type
    assert status == 200
    assert answer["expires_at"] == "2026-12-01T09:05:00.000Z"  # downloadTtlSeconds, 300 s
    url = urllib.parse.urlsplit(answer["url"])
    query = dict(urllib.parse.parse_qsl(url.query))
    assert urllib.parse.unquote(url.path).endswith(created["key"])
    assert query["versionId"] == record["version_id"]
    assert query["X-Amz-Expires"] == "300"
    assert query["response-content-type"] == "image/jpeg"
    disposition = query["response-content-disposition"]
    assert disposition == (
        "attachment; filename=\"Arztin_Befund.jpg\"; filename*=UTF-8''%C3%84rztin%20Befund.jpg"
    )
    # the signature covers the response-* parameters (they are in the signed query)
    assert "X-Amz-Signature" in query
    # and S3 (moto) serves the bytes with those headers
    fetched = requests.get(answer["url"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == JPEG
    assert fetched.headers["Content-Disposition"] == disposition
    assert fetched.headers["Content-Type"] == "image/jpeg"
    # the caller is recorded as the last downloader
    after = pipeline.record(created["upload_id"])
    assert (after["last_download_by"], after["last_download_at"]) == (
        "tenant-a",
        "2026-12-01T09:00:00.000Z",
    )


def test_download_other_tenant_is_404_and_not_completed_is_409(pipeline: Pipeline) -> None:
    # GIVEN a completed upload of tenant A, a pending one, and a failed one
    done = completed(pipeline)
    pending = pipeline.create(JPEG)
    failed = pipeline.create(b"not an image at all", filename="x.jpg")
    assert pipeline.put(failed, b"not an image at all").status_code == 200
    pipeline.process(pipeline.event_for(failed["key"]))
    # WHEN tenant B asks for A's original, and A asks for the unfinished ones
    other = pipeline.call("GET", f"/v1/uploads/{done['upload_id']}/download", tenant="tenant-b")
    early = pipeline.call("GET", f"/v1/uploads/{pending['upload_id']}/download")
    broken = pipeline.call("GET", f"/v1/uploads/{failed['upload_id']}/download")
    # THEN B cannot tell it exists, and only completed uploads are downloadable
    assert (other[0], other[1]["error"]["code"]) == (404, "not_found")
    assert (early[0], early[1]["error"]["code"]) == (409, "not_completed")
    assert (broken[0], broken[1]["error"]["code"]) == (409, "not_completed")
    # a deleted upload is not downloadable either
    assert pipeline.call("DELETE", f"/v1/uploads/{done['upload_id']}", scopes=ADMIN)[0] == 200
    gone = pipeline.call("GET", f"/v1/uploads/{done['upload_id']}/download")
    assert (gone[0], gone[1]["error"]["code"]) == (409, "not_completed")


HOSTILE_NAMES = [
    ('evil".jpg\r\nSet-Cookie: a=b', "evil.jpg", "evil%22.jpg"),
    ("a;filename=x.exe", "a_filename_x.jpg", "a%3Bfilename%3Dx.jpg"),
    ("../../etc/passwd", "passwd.jpg", "passwd.jpg"),
    ("..\\..\\boot.ini", "boot.jpg", "boot.jpg"),
    ("...", "{id}.jpg", "{id}.jpg"),
    ("", "{id}.jpg", "{id}.jpg"),
    ("\u202egnp.exe", "gnp.jpg", "gnp.jpg"),
    ("photo.exe", "photo.jpg", "photo.jpg"),
    ("日本語.jpeg", "{id}.jpg", "%E6%97%A5%E6%9C%AC%E8%AA%9E.jpg"),
    ("x" * 300 + ".jpg", "x" * 96 + ".jpg", "x" * 100 + ".jpg"),
]


@pytest.mark.parametrize(("given", "ascii_name", "encoded"), HOSTILE_NAMES)
def test_download_file_name_never_injects_header_syntax(
    given: str, ascii_name: str, encoded: str
) -> None:
    # GIVEN a record whose client file name is hostile
    upload_id = "01jf0000000000000000000000"
    record: Any = {
        "upload_id": upload_id,
        "filename": given,
        "content_type": "image/jpeg",
        "format": "jpeg",
    }
    # WHEN the Content-Disposition is built
    header = downloads.content_disposition(record)
    # THEN it is one printable-ASCII header value with exactly the two parameters we wrote: the
    # safe name (extension from the sniffed type) and the RFC 5987 encoding of the client's name
    grammar = re.fullmatch(
        r"attachment; filename=\"([A-Za-z0-9._-]+)\"; "
        r"filename\*=UTF-8''([A-Za-z0-9!#$&+.^_`|~%-]+)",
        header,
    )
    assert grammar is not None, header
    assert grammar[1] == ascii_name.format(id=upload_id)
    assert grammar[2] == encoded.format(id=upload_id)
    # and a standard parser reads one attachment with the safe name; the UTF-8 name decodes
    # to one path segment without line breaks
    message = Message()
    message["Content-Disposition"] = header
    assert message.get_content_disposition() == "attachment"
    decoded = urllib.parse.unquote(encoded.format(id=upload_id))
    assert message.get_filename() == ascii_name.format(id=upload_id)
    assert "\r" not in decoded
    assert "\n" not in decoded
    assert "/" not in decoded


def test_download_type_is_the_sniffed_one() -> None:
    record: Any = {"upload_id": "u", "filename": "a.png", "content_type": "image/png"}
    assert downloads.served_type({**record, "format": "png"}) == "image/png"
    assert downloads.ascii_filename({**record, "format": "png"}) == "a.png"


# --- soft delete ---------------------------------------------------------------------------------


def test_delete_finds_derivatives_written_under_old_specs(pipeline: Pipeline, clock: Clock) -> None:
    # GIVEN an upload processed under specs that no longer exist (renamed, re-formatted)
    old = (DerivativeSpec("tiny", 64, "png"), DerivativeSpec("poster", 128, "webp"))
    pipeline.ingest.settings = dataclasses.replace(pipeline.settings, derivatives=old)
    created = completed(pipeline)
    prefix = f"derivatives/tenant-a/{created['upload_id']}/"
    assert current(pipeline, prefix) == [f"{prefix}poster.webp", f"{prefix}tiny.png"]
    # and a stray object under its prefix that no spec ever named (a waveform, say)
    pipeline.s3.put_object(Bucket=pipeline.resources.bucket, Key=f"{prefix}wave.png", Body=b"x")
    # WHEN it is deleted under today's specs
    status, deleted = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}", scopes=ADMIN)
    # THEN nothing current is left under the prefix, the versions stay noncurrent (restorable),
    # and the record is deleted, by whom and when, until the window closes (TTL on top)
    assert (status, deleted["status"]) == (200, "deleted")
    assert current(pipeline, prefix) == []
    assert current(pipeline, created["key"]) == []
    assert len(versions(pipeline, prefix)) == 6  # 3 versions + 3 delete markers
    record = pipeline.record(created["upload_id"])
    assert (record["deleted_by"], record["deleted_at"]) == ("tenant-a", "2026-12-01T09:00:00.000Z")
    assert record["ttl"] == int((T0 + timedelta(days=30)).timestamp())
    assert record["filename"] == SECRET_FILENAME  # kept for a restore, never shown as a link
    assert "derivatives" not in deleted


def test_owner_aborts_pending_upload_without_admin_but_delete_needs_it(
    pipeline: Pipeline,
) -> None:
    # GIVEN a pending upload and a completed one, and a caller without the admin scope
    pending = pipeline.create(JPEG)
    done = completed(pipeline)
    # WHEN it deletes both
    aborted = pipeline.call("DELETE", f"/v1/uploads/{pending['upload_id']}")
    refused = pipeline.call("DELETE", f"/v1/uploads/{done['upload_id']}")
    purge = pipeline.call("DELETE", f"/v1/uploads/{pending['upload_id']}", query={"purge": "true"})
    # THEN its own pending upload is aborted (an interrupted client cleans up), the processed
    # one needs media:admin, and so does a purge
    assert (aborted[0], aborted[1]["status"], aborted[1]["deleted_by"]) == (
        200,
        "deleted",
        "tenant-a",
    )
    assert (refused[0], refused[1]["error"]["code"]) == (403, "insufficient_scope")
    assert (purge[0], purge[1]["error"]["code"]) == (403, "insufficient_scope")
    assert pipeline.record(done["upload_id"])["status"] == "completed"


@pytest.mark.parametrize("value", ["1", "yes", "TRUE", ""])
def test_delete_purge_flag_must_be_true_or_false(pipeline: Pipeline, value: str) -> None:
    created = pipeline.create(JPEG)
    status, body = pipeline.call(
        "DELETE", f"/v1/uploads/{created['upload_id']}", query={"purge": value}, scopes=ADMIN
    )
    assert (status, body["error"]["code"]) == (400, "invalid_field")
    assert pipeline.record(created["upload_id"])["status"] == "pending_upload"


# --- restore -------------------------------------------------------------------------------------


def restore_event(pipeline: Pipeline, key: str) -> dict[str, Any]:
    """The ObjectCreated:Copy notification S3 sends for the restore's copy."""
    body = pipeline.event_for(key)
    body["Records"][0]["eventName"] = "ObjectCreated:Copy"
    return body


def test_restore_inside_the_window_rerenders_the_upload(pipeline: Pipeline, clock: Clock) -> None:
    # GIVEN a completed upload deleted by an admin
    created = completed(pipeline)
    upload_id, key = created["upload_id"], created["key"]
    before = pipeline.record(upload_id)
    assert pipeline.call("DELETE", f"/v1/uploads/{upload_id}", scopes=ADMIN)[0] == 200
    # WHEN it is restored a second before its window (noncurrentExpirationDays) closes
    clock.now = T0 + timedelta(days=30) - timedelta(seconds=1)
    status, restoring = pipeline.call("POST", f"/v1/uploads/{upload_id}/restore", scopes=ADMIN)
    # THEN the validated version is current again (as a new version: the copy), the record is
    # restoring, by whom, and the TTL is gone
    assert (status, restoring["status"], restoring["restored_by"]) == (202, "restoring", "tenant-a")
    assert "derivatives" not in restoring  # their objects come back with the re-render
    head = pipeline.s3.head_object(Bucket=pipeline.resources.bucket, Key=key)
    assert head["VersionId"] != before["version_id"]
    record = pipeline.record(upload_id)
    assert record["restore_version_id"] == head["VersionId"]
    assert "ttl" not in record
    # WHEN the copy's event reaches the processor (an older event first: ignored)
    stale = s3_body(
        pipeline.resources.bucket, key, version_id=before["version_id"], sequencer="0F", size=1
    )
    assert pipeline.process(stale) == {"batchItemFailures": []}
    assert pipeline.record(upload_id)["status"] == "restoring"
    assert pipeline.process(restore_event(pipeline, key)) == {"batchItemFailures": []}
    # THEN restoring -> processing -> completed, the derivatives rendered again, same bytes
    done = pipeline.record(upload_id)
    assert done["status"] == "completed"
    assert done["version_id"] == head["VersionId"]
    assert done["sha256"] == before["sha256"]
    prefix = f"derivatives/tenant-a/{upload_id}/"
    assert current(pipeline, prefix) == sorted(d["key"] for d in done["derivatives"])
    # and every step was announced, thinly
    published = pipeline.published()
    assert [e["detail-type"] for e in published] == [
        "media.upload.completed",
        "media.upload.deleted",
        "media.upload.restored",
        "media.upload.completed",
    ]
    assert [e["detail"].get("by") for e in published] == [None, "tenant-a", "tenant-a", None]
    for event in published:
        no_personal_data(event)
    # a second restore of a live upload is a conflict, not a copy
    again = pipeline.call("POST", f"/v1/uploads/{upload_id}/restore", scopes=ADMIN)
    assert (again[0], again[1]["error"]["code"]) == (409, "not_deleted")


def test_restore_after_the_window_is_gone_whatever_the_ttl_did(
    pipeline: Pipeline, clock: Clock
) -> None:
    # GIVEN a deleted upload whose record still exists (DynamoDB's TTL deletes late)
    created = completed(pipeline)
    upload_id = created["upload_id"]
    assert pipeline.call("DELETE", f"/v1/uploads/{upload_id}", scopes=ADMIN)[0] == 200
    # WHEN it is restored exactly when deleted_at + window is reached
    clock.now = T0 + timedelta(days=30)
    status, body = pipeline.call("POST", f"/v1/uploads/{upload_id}/restore", scopes=ADMIN)
    # THEN 410 gone, nothing was copied, and the record's personal fields are erased (on read)
    assert (status, body["error"]["code"]) == (410, "gone")
    assert current(pipeline, created["key"]) == []
    record = pipeline.record(upload_id)
    assert record["status"] == "deleted"
    assert not set(PERSONAL_FIELDS) & set(record)
    assert record["erased_at"] == "2026-12-31T09:00:00.000Z"
    shown = pipeline.call("GET", f"/v1/uploads/{upload_id}")[1]
    assert not set(PERSONAL_FIELDS) & set(shown)
    assert shown["deleted_by"] == "tenant-a"


def test_listing_settles_deleted_records_as_get_does(pipeline: Pipeline, clock: Clock) -> None:
    # GIVEN a deleted upload with personal data (filename, metadata, EXIF) and a live one
    gone = completed(pipeline)["upload_id"]
    live = completed(pipeline, filename="kept.jpg")["upload_id"]
    assert pipeline.call("DELETE", f"/v1/uploads/{gone}", scopes=ADMIN)[0] == 200

    def listed(query: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
        status, body = pipeline.call("GET", "/v1/uploads", query=query)
        assert status == 200, body
        return {item["upload_id"]: item for item in body["items"]}

    # WHEN listing a second before the restore window closes
    clock.now = T0 + timedelta(days=30) - timedelta(seconds=1)
    inside = listed({"status": "deleted"})[gone]
    # THEN the deleted upload is listed as GET shows it, personal fields and all (restorable)
    assert inside == pipeline.call("GET", f"/v1/uploads/{gone}")[1]
    assert (inside["filename"], inside["metadata"]) == (SECRET_FILENAME, SECRET_META)
    assert inside["exif"]
    assert "erased_at" not in pipeline.record(gone)
    # WHEN listing once deleted_at + noncurrentExpirationDays is reached (TTL not yet run)
    clock.now = T0 + timedelta(days=30, seconds=1)
    deleted_items = listed({"status": "deleted"})
    default_items = listed()
    # THEN status=deleted lists it without any personal field, and the record is erased too
    shown = deleted_items[gone]
    assert not {*PERSONAL_FIELDS, "gps"} & set(shown), shown
    text = json.dumps(deleted_items, ensure_ascii=False)
    for secret in (SECRET_MAKE, "Befund", "Mustermann", "patient", "gps"):
        assert secret not in text, secret
    record = pipeline.record(gone)
    assert not set(PERSONAL_FIELDS) & set(record)
    assert record["erased_at"] == "2026-12-31T09:00:01.000Z"
    assert shown == pipeline.call("GET", f"/v1/uploads/{gone}")[1]
    # AND the default listing leaves deleted uploads out and live ones untouched
    assert gone not in default_items
    assert default_items[live]["filename"] == "kept.jpg"
    assert default_items[live]["exif"]


def test_restore_needs_admin_and_a_validated_original(pipeline: Pipeline, clock: Clock) -> None:
    # GIVEN an aborted pending upload (never validated) and a deleted completed one
    pending = pipeline.create(JPEG)
    assert pipeline.call("DELETE", f"/v1/uploads/{pending['upload_id']}")[0] == 200
    done = completed(pipeline)
    assert pipeline.call("DELETE", f"/v1/uploads/{done['upload_id']}", scopes=ADMIN)[0] == 200
    # WHEN they are restored, without and with the admin scope, and by another tenant
    bare = pipeline.call("POST", f"/v1/uploads/{done['upload_id']}/restore")
    never = pipeline.call("POST", f"/v1/uploads/{pending['upload_id']}/restore", scopes=ADMIN)
    foreign = pipeline.call(
        "POST", f"/v1/uploads/{done['upload_id']}/restore", tenant="tenant-b", scopes=ADMIN
    )
    # THEN
    assert (bare[0], bare[1]["error"]["code"]) == (403, "insufficient_scope")
    assert (never[0], never[1]["error"]["code"]) == (409, "not_restorable")
    assert (foreign[0], foreign[1]["error"]["code"]) == (404, "not_found")
    assert pipeline.record(done["upload_id"])["status"] == "deleted"


# --- purge ---------------------------------------------------------------------------------------


def test_purge_removes_every_version_and_erases_the_record(
    pipeline: Pipeline, clock: Clock
) -> None:
    # GIVEN a completed upload deleted once and restored, so its original has three versions
    # and a delete marker, and its derivatives have versions and delete markers too
    created = completed(pipeline)
    upload_id, key = created["upload_id"], created["key"]
    prefix = f"derivatives/tenant-a/{upload_id}/"
    assert pipeline.call("DELETE", f"/v1/uploads/{upload_id}", scopes=ADMIN)[0] == 200
    assert pipeline.call("POST", f"/v1/uploads/{upload_id}/restore", scopes=ADMIN)[0] == 202
    assert pipeline.process(restore_event(pipeline, key)) == {"batchItemFailures": []}
    assert len(versions(pipeline, key)) >= 3
    assert len(versions(pipeline, prefix)) > 3
    # WHEN it is purged
    clock.now = T0 + timedelta(hours=1)
    path = f"/v1/uploads/{upload_id}"
    status, tombstone = pipeline.call("DELETE", path, query={"purge": "true"}, scopes=ADMIN)
    # THEN no version or delete marker of the original or any derivative is left
    assert status == 200
    assert versions(pipeline, key) == []
    assert versions(pipeline, prefix) == []
    # and the record is a tombstone: ids, status, timestamps, acting subjects, nothing personal
    record = pipeline.record(upload_id)
    assert record["status"] == "deleted"
    assert (record["purged_by"], record["purged_at"]) == ("tenant-a", "2026-12-01T10:00:00.000Z")
    assert not {*PERSONAL_FIELDS, "sha256", "correlation_id", "source", "error"} & set(record)
    assert set(record) <= {
        "upload_id", "tenant", "status", "key", "version_id", "created_at", "updated_at",
        "uploaded_at", "processing_at", "completed_at", "deleted_at", "deleted_by",
        "restoring_at", "restored_by", "purged_at", "purged_by", "ttl", "notified_at",
        "tenant_status",  # the status index's key (tenant#deleted), not a personal field
    }  # fmt: skip
    assert not set(PERSONAL_FIELDS) & set(tombstone)
    # a purged upload cannot be restored, and a repeated purge is harmless
    restore = pipeline.call("POST", f"/v1/uploads/{upload_id}/restore", scopes=ADMIN)
    assert (restore[0], restore[1]["error"]["code"]) == (410, "gone")
    assert pipeline.call("DELETE", path, query={"purge": "true"}, scopes=ADMIN)[0] == 200
    purged = [e for e in pipeline.published() if e["detail-type"] == "media.upload.purged"]
    assert len(purged) == 2
    assert purged[0]["detail"]["by"] == "tenant-a"
    for event in purged:
        no_personal_data(event)


def test_purge_of_a_pending_multipart_upload_aborts_it(pipeline: Pipeline) -> None:
    created = pipeline.create(b"\xff" * (6 * 1024 * 1024), filename="big.jpg")
    assert created["method"] == "MULTIPART"
    path = f"/v1/uploads/{created['upload_id']}"
    assert pipeline.call("DELETE", path, query={"purge": "true"}, scopes=ADMIN)[0] == 200
    uploads = pipeline.s3.list_multipart_uploads(Bucket=pipeline.resources.bucket)
    assert uploads.get("Uploads", []) == []
    assert "filename" not in pipeline.record(created["upload_id"])


# --- retention expiry ----------------------------------------------------------------------------


def expiry_event(pipeline: Pipeline, key: str) -> dict[str, Any]:
    """S3's notification for a retention rule expiring the current original (a delete marker)."""
    marker = pipeline.s3.delete_object(Bucket=pipeline.resources.bucket, Key=key)
    body = s3_body(
        pipeline.resources.bucket, key, version_id=marker["VersionId"], sequencer="FF", size=0
    )
    body["Records"][0]["eventName"] = "LifecycleExpiration:DeleteMarkerCreated"
    return body


def test_lifecycle_expiration_makes_the_record_expired(pipeline: Pipeline, clock: Clock) -> None:
    # GIVEN a completed upload whose original a retention rule expires
    created = completed(pipeline)
    upload_id = created["upload_id"]
    event = expiry_event(pipeline, created["key"])
    clock.now = T0 + timedelta(days=30)
    # WHEN the notification reaches the processor, twice (at-least-once)
    assert pipeline.process(event) == {"batchItemFailures": []}
    assert pipeline.process(event) == {"batchItemFailures": []}
    # THEN the record is expired, its derivatives are gone, its personal fields erased, and one
    # thin media.upload.expired went out
    record = pipeline.record(upload_id)
    assert (record["status"], record["expired_at"]) == ("expired", "2026-12-31T09:00:00.000Z")
    assert not set(PERSONAL_FIELDS) & set(record)
    assert current(pipeline, f"derivatives/tenant-a/{upload_id}/") == []
    expired = [e for e in pipeline.published() if e["detail-type"] == "media.upload.expired"]
    assert len(expired) == 1
    no_personal_data(expired[0])
    assert expired[0]["detail"]["status"] == "expired"
    # an expired upload is neither downloadable nor restorable after a delete
    download = pipeline.call("GET", f"/v1/uploads/{upload_id}/download")
    assert (download[0], download[1]["error"]["code"]) == (409, "not_completed")
    assert pipeline.call("DELETE", f"/v1/uploads/{upload_id}", scopes=ADMIN)[0] == 200
    restore = pipeline.call("POST", f"/v1/uploads/{upload_id}/restore", scopes=ADMIN)
    assert (restore[0], restore[1]["error"]["code"]) == (409, "not_restorable")


def test_lifecycle_expiration_leaves_unfinished_and_deleted_records_alone(
    pipeline: Pipeline,
) -> None:
    # GIVEN an upload still pending and one deleted, whose originals expire
    pending = pipeline.create(JPEG)
    assert pipeline.put(pending, JPEG).status_code == 200
    deleted = completed(pipeline)
    assert pipeline.call("DELETE", f"/v1/uploads/{deleted['upload_id']}", scopes=ADMIN)[0] == 200
    # WHEN / THEN the expiry is acknowledged and changes neither
    for created, status in ((pending, "pending_upload"), (deleted, "deleted")):
        assert pipeline.process(expiry_event(pipeline, created["key"])) == {"batchItemFailures": []}
        assert pipeline.record(created["upload_id"])["status"] == status


# --- events --------------------------------------------------------------------------------------


def test_every_event_is_thin(pipeline: Pipeline, clock: Clock) -> None:
    # GIVEN a failed upload and a completed one that is deleted then purged
    bad = pipeline.create(b"definitely not a jpeg", filename=SECRET_FILENAME, metadata=SECRET_META)
    assert pipeline.put(bad, b"definitely not a jpeg").status_code == 200
    pipeline.process(pipeline.event_for(bad["key"]))
    created = completed(pipeline)
    path = f"/v1/uploads/{created['upload_id']}"
    assert pipeline.call("DELETE", path, scopes=ADMIN)[0] == 200
    assert pipeline.call("DELETE", path, query={"purge": "true"}, scopes=ADMIN)[0] == 200
    # WHEN the events are read
    published = pipeline.published()
    # THEN each carries ids, status, keys, codes and the version of its shape, never a file name,
    # metadata, EXIF or URL
    assert [e["detail-type"] for e in published] == [
        "media.upload.failed",
        "media.upload.completed",
        "media.upload.deleted",
        "media.upload.purged",
    ]
    for event in published:
        no_personal_data(event)
        detail = event["detail"]
        assert detail["version"] == 1
        assert {"upload_id", "tenant", "status", "key", "occurred_at"} <= set(detail)
    assert set(published[0]["detail"]["error"]) == {"code"}
    derivative = published[1]["detail"]["derivatives"][0]
    assert set(derivative) == {"name", "key", "format", "width", "height", "bytes"}
    assert parse_iso(published[2]["detail"]["occurred_at"]) == T0


def test_restore_event_before_its_version_is_recorded_is_retried(
    pipeline: Pipeline, clock: Clock
) -> None:
    # GIVEN a restore that has copied the original but not yet recorded the copy's version
    created = completed(pipeline)
    upload_id, key = created["upload_id"], created["key"]
    assert pipeline.call("DELETE", f"/v1/uploads/{upload_id}", scopes=ADMIN)[0] == 200
    record_version = pipeline.store.set_restore_version
    seen: dict[str, Any] = {}

    def copy_event_arrives_first(*args: Any, **kwargs: Any) -> Any:
        # the copy's notification reaches the processor before the API records the version
        seen["response"] = pipeline.process(restore_event(pipeline, key))
        seen["status"] = pipeline.record(upload_id)["status"]
        return record_version(*args, **kwargs)

    pipeline.store.set_restore_version = copy_event_arrives_first  # type: ignore[method-assign]
    assert pipeline.call("POST", f"/v1/uploads/{upload_id}/restore", scopes=ADMIN)[0] == 202
    # THEN that delivery is returned for a retry (the record stays restoring, nothing is lost)
    assert seen["response"] == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert seen["status"] == "restoring"
    # and its redelivery completes the restore
    assert pipeline.process(restore_event(pipeline, key)) == {"batchItemFailures": []}
    assert pipeline.record(upload_id)["status"] == "completed"


def test_delete_whose_event_failed_sends_it_on_the_retry(
    pipeline: Pipeline, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a DELETE whose PutEvents is refused after the record was marked
    created = completed(pipeline)
    pipeline.published()
    path = f"/v1/uploads/{created['upload_id']}"
    bus = pipeline.api.events()
    real_put = bus.put_events

    def refused(**kwargs: Any) -> Any:
        return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException"}]}

    monkeypatch.setattr(bus, "put_events", refused)
    first = pipeline.call("DELETE", path, scopes=ADMIN)
    assert first[0] == 503
    assert pipeline.record(created["upload_id"])["status"] == "deleted"
    # WHEN the client retries once PutEvents works again
    monkeypatch.setattr(bus, "put_events", real_put)
    retry = pipeline.call("DELETE", path, scopes=ADMIN)
    # THEN the retry answers 409 but the deleted event went out, once, naming the first caller
    assert (retry[0], retry[1]["error"]["code"]) == (409, "already_deleted")
    events = [e for e in pipeline.published() if e["detail-type"] == "media.upload.deleted"]
    assert [e["detail"]["by"] for e in events] == ["tenant-a"]
    assert pipeline.call("DELETE", path, scopes=ADMIN)[0] == 409
    assert pipeline.published() == []


@pytest.mark.parametrize("failure", ["version_gone", "access_denied"])
def test_restore_whose_copy_fails_puts_the_record_back_to_deleted(
    pipeline: Pipeline, clock: Clock, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    # GIVEN a deleted upload whose restore copy fails (its version removed, or S3 refuses)
    created = completed(pipeline)
    upload_id, key = created["upload_id"], created["key"]
    assert pipeline.call("DELETE", f"/v1/uploads/{upload_id}", scopes=ADMIN)[0] == 200
    deleted = pipeline.record(upload_id)
    assert deleted["ttl"] == int(parse_iso(deleted["deleted_at"]).timestamp()) + 30 * 86400
    if failure == "version_gone":
        pipeline.s3.delete_object(
            Bucket=pipeline.resources.bucket, Key=key, VersionId=deleted["version_id"]
        )
    else:
        from botocore.exceptions import ClientError

        def refused(**kwargs: Any) -> Any:
            error = {"Error": {"Code": "AccessDenied", "Message": "denied"}}
            raise ClientError(error, "CopyObject")  # type: ignore[arg-type]

        monkeypatch.setattr(pipeline.api.s3, "copy_object", refused)
    clock.now = T0 + timedelta(days=1)
    # WHEN it is restored
    status, body = pipeline.call("POST", f"/v1/uploads/{upload_id}/restore", scopes=ADMIN)
    # THEN the answer is 410 (version gone) or a 5xx, and the record is deleted again, as before:
    # TTL at deleted_at + window, its derivatives and event bookkeeping, no restoring marks
    assert status == 410 if failure == "version_gone" else status >= 500, (status, body)
    record = pipeline.record(upload_id)
    assert record["status"] == "deleted"
    assert record["ttl"] == deleted["ttl"]
    assert record["derivatives"] == deleted["derivatives"]
    assert record.get("notified_at") == deleted.get("notified_at")
    assert not {"restoring_at", "restored_by", "restore_version_id"} & set(record)
    shown = pipeline.call("GET", f"/v1/uploads/{upload_id}")
    assert (shown[0], shown[1]["status"]) == (200, "deleted")
    assert current(pipeline, key) == []
    if failure == "access_denied":
        # and once S3 lets the copy through, a retry restores it
        monkeypatch.undo()
        again = pipeline.call("POST", f"/v1/uploads/{upload_id}/restore", scopes=ADMIN)
        assert (again[0], again[1]["status"]) == (202, "restoring")


def test_restore_retried_after_the_window_is_gone_and_the_record_deleted_again(
    pipeline: Pipeline, clock: Clock
) -> None:
    # GIVEN a restore that stopped after marking the record restoring, before its copy
    created = completed(pipeline)
    upload_id = created["upload_id"]
    assert pipeline.call("DELETE", f"/v1/uploads/{upload_id}", scopes=ADMIN)[0] == 200
    deleted = pipeline.record(upload_id)
    marked = pipeline.store.mark_restoring(
        upload_id, "tenant-a", T0 + timedelta(days=1), by="tenant-a", window_days=30
    )
    assert marked is not None
    assert "ttl" not in pipeline.record(upload_id)
    # WHEN it is retried once the window (deleted_at + 30 days) has closed
    clock.now = T0 + timedelta(days=30)
    status, body = pipeline.call("POST", f"/v1/uploads/{upload_id}/restore", scopes=ADMIN)
    # THEN 410 gone, nothing copied, and the record is deleted again with its TTL
    assert (status, body["error"]["code"]) == (410, "gone")
    assert current(pipeline, created["key"]) == []
    record = pipeline.record(upload_id)
    assert (record["status"], record["ttl"]) == ("deleted", deleted["ttl"])
    shown = pipeline.call("GET", f"/v1/uploads/{upload_id}")[1]
    assert shown["status"] == "deleted"
    assert not set(PERSONAL_FIELDS) & set(shown)


def test_abort_racing_the_processor_never_deletes_the_completed_upload(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a pending upload whose processing completes between the DELETE's read and its write
    created = pipeline.create(JPEG)
    assert pipeline.put(created, JPEG).status_code == 200
    mark_deleted = pipeline.store.mark_deleted
    finished: list[object] = []

    def processor_finishes_first(*args: Any, **kwargs: Any) -> Any:
        if not finished:
            finished.append(pipeline.process(pipeline.event_for(created["key"])))
        return mark_deleted(*args, **kwargs)

    monkeypatch.setattr(pipeline.store, "mark_deleted", processor_finishes_first)
    path = f"/v1/uploads/{created['upload_id']}"
    # WHEN a caller without the admin scope aborts it
    status, body = pipeline.call("DELETE", path)
    # THEN it is refused as a delete (it is no longer an abort) and the upload stays completed
    assert finished == [{"batchItemFailures": []}]
    assert (status, body["error"]["code"]) == (403, "insufficient_scope")
    assert pipeline.record(created["upload_id"])["status"] == "completed"
    assert current(pipeline, created["key"]) == [created["key"]]
    # while an admin's DELETE of the same race deletes it
    finished.clear()
    other = pipeline.create(JPEG)
    assert pipeline.put(other, JPEG).status_code == 200
    status, body = pipeline.call("DELETE", f"/v1/uploads/{other['upload_id']}", scopes=ADMIN)
    assert (status, body["status"]) == (200, "deleted")
    assert pipeline.record(other["upload_id"])["status"] == "deleted"

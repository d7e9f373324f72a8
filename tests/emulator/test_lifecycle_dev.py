"""Issue 11 on `mediakit dev` with the real handlers: a download through the emulator's S3 front
(which verifies SigV4 signatures, so the response-* parameters are proven signed), and a
delete -> restore -> re-render round trip driven by the real S3 notification of the copy."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from mediakit.client import ApiClient, ApiError, request
from mediakit.local.emulator import DevEnv, mint_token

TENANT = "h2-lifecycle"


def admin(env: DevEnv) -> ApiClient:
    return ApiClient(env.api_url, mint_token(env, TENANT, scopes=("media:admin",)))


def events_for(env: DevEnv, upload_id: str, wanted: int, timeout: float = 20) -> list[Any]:
    """The bus events of `upload_id`, read from the emulator's tap queue."""
    sqs = boto3.client(
        "sqs",
        endpoint_url=env.aws_endpoint_url,
        region_name=env.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(found) < wanted and time.monotonic() < deadline:
        batch = sqs.receive_message(
            QueueUrl=env.events_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for message in batch.get("Messages", []):
            event = json.loads(message["Body"])
            if event.get("detail", {}).get("upload_id") == upload_id:
                found.append(event)
                sqs.delete_message(
                    QueueUrl=env.events_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
    return found


def wait_for(client: ApiClient, upload_id: str, status: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    record = client.get_upload(upload_id)
    while record["status"] != status and time.monotonic() < deadline:
        time.sleep(0.2)
        record = client.get_upload(upload_id)
    return record


def test_download_through_the_s3_front_is_signed_with_its_headers(
    emulator: DevEnv, jpeg_file: Path
) -> None:
    # GIVEN a completed upload on the emulator
    client = ApiClient(emulator.api_url, mint_token(emulator, TENANT))
    created = client.upload(jpeg_file)
    assert client.wait(created, timeout=30)["status"] == "completed"
    # WHEN its owner downloads the original through the URL the API returns
    answer = client.call("GET", f"/v1/uploads/{created['upload_id']}/download")
    fetched = request("GET", answer["url"])
    # THEN the S3 front accepts the signature and serves the validated bytes as an attachment
    assert fetched.status == 200, fetched.body[:300]
    assert fetched.body == jpeg_file.read_bytes()
    assert fetched.headers["content-disposition"] == (
        f"attachment; filename=\"{jpeg_file.stem}.jpg\"; filename*=UTF-8''{jpeg_file.stem}.jpg"
    )
    assert fetched.headers["content-type"] == "image/jpeg"
    # and a URL whose disposition was rewritten (say to inline) is refused: it is signed
    parts = urllib.parse.urlsplit(answer["url"])
    query = urllib.parse.parse_qsl(parts.query)
    forged = [(k, "inline" if k == "response-content-disposition" else v) for k, v in query]
    tampered = parts._replace(query=urllib.parse.urlencode(forged)).geturl()
    refused = request("GET", tampered)
    assert refused.status == 403
    assert b"SignatureDoesNotMatch" in refused.body
    # another tenant cannot even learn the upload exists
    other = ApiClient(emulator.api_url, mint_token(emulator, "h2-other"))
    with pytest.raises(ApiError) as hidden:
        other.call("GET", f"/v1/uploads/{created['upload_id']}/download")
    assert hidden.value.status == 404


def test_delete_restore_rerender_round_trip(emulator: DevEnv, jpeg_file: Path) -> None:
    # GIVEN a completed upload whose derivatives are served
    client = admin(emulator)
    created = client.upload(jpeg_file)
    upload_id = created["upload_id"]
    first = client.wait(created, timeout=30)
    assert first["status"] == "completed", first
    assert all(request("GET", d["url"]).status == 200 for d in first["derivatives"])
    # WHEN an admin deletes it
    deleted = client.call("DELETE", f"/v1/uploads/{upload_id}")
    # THEN it is deleted, by that subject, and its derivatives are gone from S3
    assert (deleted["status"], deleted["deleted_by"]) == ("deleted", TENANT)
    assert all(request("GET", d["url"]).status in (403, 404) for d in first["derivatives"])
    # WHEN it is restored inside the window
    restoring = client.call("POST", f"/v1/uploads/{upload_id}/restore")
    assert restoring["status"] == "restoring"
    # THEN the copy's ObjectCreated:Copy notification takes it through processing again
    again = wait_for(client, upload_id, "completed")
    assert again["status"] == "completed", again
    assert again["restored_by"] == TENANT
    assert again["sha256"] == first["sha256"]
    assert again["version_id"] != first["version_id"]
    assert {d["name"] for d in again["derivatives"]} == {d["name"] for d in first["derivatives"]}
    assert all(request("GET", d["url"]).status == 200 for d in again["derivatives"])
    # and the bus saw completed, deleted, restored, completed, none of them carrying a file name
    # or a URL
    seen = events_for(emulator, upload_id, 4)
    assert [e["detail-type"] for e in seen] == [
        "media.upload.completed",
        "media.upload.deleted",
        "media.upload.restored",
        "media.upload.completed",
    ]
    for event in seen:
        text = json.dumps(event)
        assert jpeg_file.name not in text
        assert "http" not in text


def test_purge_leaves_no_version_on_the_emulator(emulator: DevEnv, jpeg_file: Path) -> None:
    # GIVEN a completed upload, deleted once (so its objects have noncurrent versions)
    client = admin(emulator)
    created = client.upload(jpeg_file)
    upload_id = created["upload_id"]
    assert client.wait(created, timeout=30)["status"] == "completed"
    client.call("DELETE", f"/v1/uploads/{upload_id}")
    # the dev credentials: the emulator's S3 endpoint verifies every signature
    s3 = boto3.client(
        "s3",
        endpoint_url=emulator.aws_endpoint_url,
        region_name=emulator.region,
        aws_access_key_id="mediakit-dev",
        aws_secret_access_key="mediakit-dev",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )

    def versions(prefix: str) -> list[str]:
        listing = s3.list_object_versions(Bucket=emulator.bucket, Prefix=prefix)
        return [
            v["VersionId"]
            for v in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
        ]

    derivatives = f"derivatives/{TENANT}/{upload_id}/"
    assert versions(created["key"])
    assert versions(derivatives)
    # WHEN an admin purges it
    tombstone = client.call("DELETE", f"/v1/uploads/{upload_id}?purge=true")
    # THEN no version or delete marker is left, and the record keeps no file name
    assert versions(created["key"]) == []
    assert versions(derivatives) == []
    assert tombstone["purged_by"] == TENANT
    assert "filename" not in client.get_upload(upload_id)
    with pytest.raises(ApiError) as gone:
        client.call("POST", f"/v1/uploads/{upload_id}/restore")
    assert gone.value.status == 410

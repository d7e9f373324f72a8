"""Bounded processing through `mediakit dev`: the real presign path, S3 events, the event source
mapping and the processor in Lambda-like worker processes. What is asserted is codes and the
evidence the OS left (the signal named in the record), never wall-clock timings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mediakit.client import ApiClient, ApiError
from mediakit.corpus.hostile import (
    com_flood_jpeg,
    float_strip_offsets_tiff,
    plte_less_png,
    scan_bomb_jpeg,
    valid_jpeg,
)
from mediakit.local import oidc as jwt
from mediakit.local.emulator import DevEnv, Emulator
from runtime.settings import KNOWN_TYPES, Settings
from tests.emulator.conftest import dev_client

BATCH = 4


@pytest.fixture(scope="module")
def dev() -> Iterator[tuple[Emulator, DevEnv]]:
    settings = Settings(allowed_types=tuple(KNOWN_TYPES), processor_batch_size=BATCH)
    emulator = Emulator(settings, visibility_timeout=2)
    with emulator as env:
        yield emulator, env


def _send(client: ApiClient, tmp_path: Path, name: str, data: bytes, ctype: str) -> dict[str, Any]:
    path = tmp_path / name
    path.write_bytes(data)
    return client.upload(path, content_type=ctype)


def _queue_empty(env: DevEnv) -> bool:
    sqs = env.client("sqs")
    for url in (env.queue_url, env.dlq_url):
        attrs = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        ):
            return False
    return True


def _dlq_depth(env: DevEnv) -> int:
    attrs = env.client("sqs").get_queue_attributes(
        QueueUrl=env.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def _one_batch(emulator: Emulator, send: Any) -> int:
    """Stop polling, run `send()` (uploads), then deliver what is queued as one batch."""
    mapping = emulator.mapping
    assert mapping is not None
    mapping.stop()
    try:
        send()
        time.sleep(0.3)  # S3 notifications reach the queue asynchronously
        return mapping.poll_once()
    finally:
        mapping.start()


def test_dev_scan_bomb_fails_while_another_tenants_batch_completes(
    dev: tuple[Emulator, DevEnv], tmp_path: Path
) -> None:
    # GIVEN a progressive-JPEG scan bomb from one tenant and three photos from another
    emulator, env = dev
    evil, other = dev_client(env, "tenant-evil"), dev_client(env, "tenant-b")
    created: list[dict[str, Any]] = []

    def send() -> None:
        created.append(_send(evil, tmp_path, "bomb.jpg", scan_bomb_jpeg(), "image/jpeg"))
        for i in range(3):
            created.append(_send(other, tmp_path, f"ok{i}.jpg", valid_jpeg(40 + i), "image/jpeg"))

    # WHEN all four are delivered to the processor in one batch
    assert _one_batch(emulator, send) == BATCH
    records = [
        c.wait(u, timeout=60) for c, u in zip([evil, other, other, other], created, strict=True)
    ]
    # THEN the bomb failed with its code, the others completed, nothing was retried or lost
    assert records[0]["status"] == "failed"
    assert records[0]["error"]["code"] == "too_many_scans"
    assert [r["status"] for r in records[1:]] == ["completed"] * 3
    assert _dlq_depth(env) == 0


@pytest.mark.parametrize(
    ("name", "build", "ctype", "code"),
    [
        ("no-plte.png", plte_less_png, "image/png", "corrupt_image"),
        ("float.tiff", float_strip_offsets_tiff, "image/tiff", "corrupt_image"),
        ("com-flood.jpg", lambda: com_flood_jpeg(2_000_000), "image/jpeg", "too_many_segments"),
    ],
)
def test_dev_decoder_surprises_fail_in_one_delivery(
    dev: tuple[Emulator, DevEnv], tmp_path: Path, name: str, build: Any, ctype: str, code: str
) -> None:
    # GIVEN a file a decoder chokes on in a way nobody planned (assert, TypeError) or an 8 MB
    # JPEG of empty COM markers
    emulator, env = dev
    client = dev_client(env, "tenant-a")
    created: list[dict[str, Any]] = []

    # WHEN delivered once
    def send() -> None:
        created.append(_send(client, tmp_path, name, build(), ctype))

    assert _one_batch(emulator, send) == 1
    record = client.wait(created[0], timeout=60)
    # THEN it failed with its code on that one delivery (no retry, no DLQ)
    assert (record["status"], record["error"]["code"]) == ("failed", code)
    assert _dlq_depth(env) == 0


def test_dev_orphaned_original_is_deleted(dev: tuple[Emulator, DevEnv], tmp_path: Path) -> None:
    # GIVEN an upload whose record expired before its bytes were processed
    emulator, env = dev
    client = dev_client(env, "tenant-a")
    data = valid_jpeg(77)
    created = client.create_upload(filename="a.jpg", content_type="image/jpeg", size=len(data))
    env.client("dynamodb").delete_item(
        TableName=env.table, Key={"upload_id": {"S": created["upload_id"]}}
    )
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    # WHEN the bytes arrive and are processed
    assert _one_batch(emulator, lambda: client.send(created, path)) == 1
    # THEN the original is gone (a delete marker), nothing left on any queue
    s3 = env.client("s3")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        versions = s3.list_object_versions(Bucket=env.bucket, Prefix=created["key"])
        if any(m["IsLatest"] for m in versions.get("DeleteMarkers", [])):
            break
        time.sleep(0.2)
    assert any(m["IsLatest"] for m in versions.get("DeleteMarkers", []))
    assert _dlq_depth(env) == 0


def test_dev_replayed_post_form_leaves_the_validated_bytes_current(
    dev: tuple[Emulator, DevEnv],
) -> None:
    # GIVEN a completed POST upload
    _, env = dev
    client = dev_client(env, "tenant-a")
    data = valid_jpeg(88)
    created = client.create_upload(
        filename="a.jpg", content_type="image/jpeg", size=len(data), method="POST"
    )

    def post(body: bytes) -> None:
        files = {"file": ("a.jpg", body, "image/jpeg")}
        sent = requests.post(created["url"], data=created["fields"], files=files, timeout=10)
        assert sent.status_code in (200, 204), sent.text

    post(data)
    record = client.wait(created, timeout=60)
    assert record["status"] == "completed"
    # WHEN the form is replayed within its TTL with other bytes of the same length
    replay = bytearray(data)
    replay[-3] ^= 0xFF
    post(bytes(replay))
    # THEN the processor removes the replayed version: the current original is the validated one
    s3 = env.client("s3")
    deadline = time.monotonic() + 30
    current = s3.head_object(Bucket=env.bucket, Key=created["key"])["VersionId"]
    while current != record["version_id"] and time.monotonic() < deadline:
        time.sleep(0.2)
        current = s3.head_object(Bucket=env.bucket, Key=created["key"])["VersionId"]
    assert current == record["version_id"]
    body = s3.get_object(Bucket=env.bucket, Key=created["key"])["Body"].read()
    assert body == data
    assert client.get_upload(created["upload_id"])["sha256"] == record["sha256"]


@pytest.mark.parametrize("claim", [["acme"], "[acme]", 123, True, {"t": 1}, "\ud800"], ids=repr)
def test_dev_non_string_tenant_claims_are_403(dev: tuple[Emulator, DevEnv], claim: Any) -> None:
    # GIVEN a token the emulator's authorizer accepts, whose tenant claim is not a usable string
    _, env = dev
    now = int(time.time())
    # (jwt.sign keeps each claim's JSON type, lone surrogate included, in an RS256 token)
    token = jwt.sign(
        {
            "iss": env.jwt_issuer,
            "aud": env.jwt_audience,
            "sub": claim,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
        },
        env.jwt_signing_key,
    )
    # WHEN it lists uploads THEN the answer is 403 invalid_tenant, as JSON
    with pytest.raises(ApiError) as caught:
        ApiClient(env.api_url, token).call("GET", "/v1/uploads")
    assert caught.value.status == 403
    assert caught.value.body["error"]["code"] == "invalid_tenant"

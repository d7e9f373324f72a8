"""Presigned URL construction, read back from the URLs themselves (moto does not check them)."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest

from runtime import aws, delivery, signing

ARN = "arn:aws:kms:us-east-1:123456789012:key/1111-2222"
MIB = 1024 * 1024


def _query(url: str) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlparse(url).query)


def test_presign_put_signs_headers_and_ttl(aws_env: None) -> None:
    # GIVEN a declared type, size and sha256
    digest = "0f" * 32
    # WHEN a PUT URL is presigned
    put = signing.presign_put(
        aws.s3(),
        bucket="media-bucket",
        key="originals/t/2026/11/21/x.jpg",
        content_type="image/jpeg",
        size=1234,
        kms_key_arn=ARN,
        ttl=600,
        sha256_hex=digest,
    )
    # THEN every header the client must send is signed, and expiry is the TTL
    query = _query(put.url)
    signed = query["X-Amz-SignedHeaders"][0].split(";")
    for header in put.headers:
        assert header in signed
    assert query["X-Amz-Expires"] == ["600"]
    assert put.headers["x-amz-checksum-sha256"] == base64.b64encode(bytes.fromhex(digest)).decode()
    assert not any(k.lower().startswith("x-amz-checksum-crc") for k in query)


def test_presign_put_without_sha256_signs_no_checksum(aws_env: None) -> None:
    put = signing.presign_put(
        aws.s3(),
        bucket="media-bucket",
        key="k",
        content_type="image/png",
        size=1,
        kms_key_arn=ARN,
        ttl=60,
    )
    assert "x-amz-checksum-sha256" not in _query(put.url)["X-Amz-SignedHeaders"][0]
    assert "x-amz-checksum-sha256" not in put.headers


def test_presign_post_policy_conditions(aws_env: None) -> None:
    post = signing.presign_post(
        aws.s3(),
        bucket="media-bucket",
        key="k",
        content_type="image/png",
        size=77,
        kms_key_arn=ARN,
        ttl=120,
    )
    policy = json.loads(base64.b64decode(post.fields["policy"]))
    assert ["content-length-range", 77, 77] in policy["conditions"]
    assert {"x-amz-server-side-encryption": "aws:kms"} in policy["conditions"]
    assert post.fields["x-amz-server-side-encryption-aws-kms-key-id"] == ARN


def test_presign_get_uses_path_style_on_emulator(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an endpoint override, as the local emulator sets
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    aws.reset()
    # WHEN a URL is presigned THEN it points at the emulator with the bucket in the path
    url = signing.presign_get(aws.s3(), bucket="media-bucket", key="derivatives/a.jpeg", ttl=60)
    assert url.startswith("http://127.0.0.1:4566/media-bucket/derivatives/a.jpeg?")


def test_cdn_object_url_keeps_tenant_escapes() -> None:
    # Derivative URLs are made by runtime/delivery.py (tests/runtime/test_delivery.py).
    url = delivery.object_url("cdn.example.com", "derivatives/t~7C/x/thumb.jpeg")
    assert url == "https://cdn.example.com/derivatives/t~7C/x/thumb.jpeg"


@pytest.mark.parametrize(
    ("size", "part", "expected"),
    [
        (1, 5 * MIB, [1]),
        (5 * MIB, 5 * MIB, [5 * MIB]),
        (11 * MIB, 5 * MIB, [5 * MIB, 5 * MIB, MIB]),
    ],
)
def test_part_plan_covers_size(size: int, part: int, expected: list[int]) -> None:
    assert signing.part_plan(size, part) == expected


def test_part_plan_grows_parts_to_stay_under_10000() -> None:
    plan = signing.part_plan(5 * 1024**4, 5 * MIB)
    assert len(plan) <= 10_000
    assert sum(plan) == 5 * 1024**4

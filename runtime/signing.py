"""Presigned S3 requests: single PUT, browser POST policy, multipart parts, and GETs.

Every write is bound to the stack's KMS key (the bucket policy denies PutObject without it), to
the declared content type and to the declared size, so a URL cannot be reused for anything else.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:

    from mypy_boto3_s3 import S3Client

    from runtime.validation import CompletedPart

MAX_PARTS = 10_000


@dataclass(frozen=True)
class PresignedPut:
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class PresignedPost:
    url: str
    fields: dict[str, str]


@dataclass(frozen=True)
class PresignedPart:
    part_number: int
    url: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "part_number": self.part_number,
            "url": self.url,
            "size": self.size,
            "headers": {"content-length": str(self.size)},
        }


def sha256_base64(hex_digest: str) -> str:
    """S3 wants x-amz-checksum-sha256 as base64 of the raw digest, clients usually have hex."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def sse_headers(kms_key_arn: str) -> dict[str, str]:
    return {
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": kms_key_arn,
    }


def presign_put(
    s3: S3Client,
    *,
    bucket: str,
    key: str,
    content_type: str,
    size: int,
    kms_key_arn: str,
    ttl: int,
    sha256_hex: str | None = None,
) -> PresignedPut:
    """A PUT URL whose signature covers type, length, checksum, SSE-KMS and if-none-match."""
    params: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "ContentType": content_type,
        "ContentLength": size,
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": kms_key_arn,
        # Signed, so the URL can only create the object, never overwrite an uploaded one.
        "IfNoneMatch": "*",
    }
    headers = {"content-type": content_type, "content-length": str(size)}
    if sha256_hex:
        params["ChecksumSHA256"] = sha256_base64(sha256_hex)
        headers["x-amz-checksum-sha256"] = params["ChecksumSHA256"]
    headers.update(sse_headers(kms_key_arn))
    headers["if-none-match"] = "*"
    url = s3.generate_presigned_url("put_object", Params=params, ExpiresIn=ttl, HttpMethod="PUT")
    return PresignedPut(url=url, headers=headers)


def presign_post(
    s3: S3Client,
    *,
    bucket: str,
    key: str,
    content_type: str,
    size: int,
    kms_key_arn: str,
    ttl: int,
) -> PresignedPost:
    """A browser form POST: the policy pins the key, type, exact length and SSE-KMS key."""
    fields: dict[str, str] = {"Content-Type": content_type, **sse_headers(kms_key_arn)}
    conditions: list[Any] = [
        {"Content-Type": content_type},
        ["content-length-range", size, size],
        *({name: value} for name, value in sse_headers(kms_key_arn).items()),
    ]
    post = s3.generate_presigned_post(
        Bucket=bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=ttl
    )
    return PresignedPost(url=post["url"], fields={k: str(v) for k, v in post["fields"].items()})


def part_plan(size: int, part_bytes: int) -> list[int]:
    """Part sizes covering `size`; the part size grows if 10,000 parts would not be enough."""
    part = max(part_bytes, math.ceil(size / MAX_PARTS))
    count = max(1, math.ceil(size / part))
    return [part] * (count - 1) + [size - part * (count - 1)]


def start_multipart(
    s3: S3Client, *, bucket: str, key: str, content_type: str, kms_key_arn: str
) -> str:
    """CreateMultipartUpload with SSE-KMS fixed server-side; returns S3's UploadId."""
    response = s3.create_multipart_upload(
        Bucket=bucket,
        Key=key,
        ContentType=content_type,
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=kms_key_arn,
    )
    return response["UploadId"]


def presign_parts(
    s3: S3Client, *, bucket: str, key: str, multipart_id: str, sizes: list[int], ttl: int
) -> list[PresignedPart]:
    """One UploadPart URL per part, each bound to its exact length."""
    parts = []
    for number, part_size in enumerate(sizes, start=1):
        url = s3.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": bucket,
                "Key": key,
                "UploadId": multipart_id,
                "PartNumber": number,
                "ContentLength": part_size,
            },
            ExpiresIn=ttl,
            HttpMethod="PUT",
        )
        parts.append(PresignedPart(number, url, part_size))
    return parts


def complete_multipart(
    s3: S3Client, *, bucket: str, key: str, multipart_id: str, parts: list[CompletedPart]
) -> None:
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=multipart_id,
        MultipartUpload={"Parts": [{"PartNumber": p.part_number, "ETag": p.etag} for p in parts]},
        IfNoneMatch="*",
    )


def presign_get(s3: S3Client, *, bucket: str, key: str, ttl: int) -> str:
    """A GET URL: the emulator's stand-in for the CloudFront URL of a derivative."""
    return s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl, HttpMethod="GET"
    )

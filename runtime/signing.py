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
# Part URLs per answer (the create response's first page, each page of GET .../parts): measured
# about 0.75 KB of JSON each with a declared checksum, so a page is ~0.75 MB (signed in ~0.6 s),
# far below Lambda's 6 MB response limit, and one page is one ListParts call (S3 lists at most
# 1,000 parts per call).
PARTS_PAGE_SIZE = 1000


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
    # base64 of the part's declared SHA-256, signed as x-amz-checksum-sha256 (None: undeclared).
    checksum_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        headers = {"content-length": str(self.size)}
        out: dict[str, Any] = {"part_number": self.part_number, "url": self.url, "size": self.size}
        if self.checksum_sha256:
            headers["x-amz-checksum-sha256"] = self.checksum_sha256
            out["sha256"] = sha256_hex_of(self.checksum_sha256)
        out["headers"] = headers
        return out


@dataclass(frozen=True)
class StoredPart:
    """A part S3 holds for an open multipart upload (ListParts)."""

    part_number: int
    etag: str
    size: int
    checksum_sha256: str | None = None


def sha256_base64(hex_digest: str) -> str:
    """S3 wants x-amz-checksum-sha256 as base64 of the raw digest, clients usually have hex."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def sha256_hex_of(base64_digest: str) -> str:
    """The hex spelling of an x-amz-checksum-sha256 value (the API shows hashes in hex)."""
    return base64.b64decode(base64_digest).hex()


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


def part_size_for(size: int, part_bytes: int) -> int:
    """The part size of an upload of `size`: `part_bytes`, grown if 10,000 parts would not do."""
    return max(part_bytes, math.ceil(size / MAX_PARTS))


def part_plan(size: int, part_bytes: int) -> list[int]:
    """Part sizes covering `size`; the part size grows if 10,000 parts would not be enough."""
    part = part_size_for(size, part_bytes)
    count = max(1, math.ceil(size / part))
    return [part] * (count - 1) + [size - part * (count - 1)]


def start_multipart(
    s3: S3Client,
    *,
    bucket: str,
    key: str,
    content_type: str,
    kms_key_arn: str,
    checksum_sha256: bool = False,
) -> str:
    """CreateMultipartUpload with SSE-KMS fixed server-side; returns S3's UploadId. With
    `checksum_sha256`, S3 requires and verifies a SHA-256 of every part (the object's own
    checksum is then composite: a hash of the part hashes, not of the file)."""
    params: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "ContentType": content_type,
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": kms_key_arn,
    }
    if checksum_sha256:
        params["ChecksumAlgorithm"] = "SHA256"
    response = s3.create_multipart_upload(**params)
    return response["UploadId"]


def presign_parts(
    s3: S3Client,
    *,
    bucket: str,
    key: str,
    multipart_id: str,
    sizes: list[int],
    ttl: int,
    numbers: list[int] | None = None,
    checksums: list[str] | None = None,
) -> list[PresignedPart]:
    """UploadPart URLs for part `numbers` (default: all of `sizes`, 1-based), each bound to its
    exact length and, with `checksums` (base64 SHA-256 per part, in plan order), to its hash."""
    parts = []
    for number in numbers if numbers is not None else range(1, len(sizes) + 1):
        part_size = sizes[number - 1]
        params: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "UploadId": multipart_id,
            "PartNumber": number,
            "ContentLength": part_size,
        }
        checksum = checksums[number - 1] if checksums else None
        if checksum:
            params["ChecksumSHA256"] = checksum
        url = s3.generate_presigned_url(
            "upload_part", Params=params, ExpiresIn=ttl, HttpMethod="PUT"
        )
        parts.append(PresignedPart(number, url, part_size, checksum))
    return parts


def list_parts(
    s3: S3Client, *, bucket: str, key: str, multipart_id: str, after: int, up_to: int
) -> list[StoredPart]:
    """The parts S3 holds numbered `after` < n <= `up_to`, following S3's own pagination."""
    found: list[StoredPart] = []
    marker = after
    while marker < up_to:
        page = s3.list_parts(
            Bucket=bucket,
            Key=key,
            UploadId=multipart_id,
            PartNumberMarker=marker,
            MaxParts=min(PARTS_PAGE_SIZE, up_to - marker),
        )
        listed = page.get("Parts", [])
        for part in listed:
            if after < part["PartNumber"] <= up_to:
                found.append(
                    StoredPart(
                        part["PartNumber"],
                        part["ETag"],
                        part["Size"],
                        part.get("ChecksumSHA256"),
                    )
                )
        following = int(page.get("NextPartNumberMarker") or 0)
        if not page.get("IsTruncated") or not listed or following <= marker:
            break
        marker = following
    return found


def complete_multipart(
    s3: S3Client,
    *,
    bucket: str,
    key: str,
    multipart_id: str,
    parts: list[CompletedPart],
    checksums: list[str] | None = None,
) -> None:
    """CompleteMultipartUpload (if-none-match: write once); with `checksums` (base64 SHA-256 per
    part, plan order) each part names its hash, which S3 requires of a SHA256 upload."""
    listed: list[Any] = []
    for p in parts:
        entry: dict[str, Any] = {"PartNumber": p.part_number, "ETag": p.etag}
        if checksums:
            entry["ChecksumSHA256"] = checksums[p.part_number - 1]
        listed.append(entry)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=multipart_id,
        MultipartUpload={"Parts": listed},
        IfNoneMatch="*",
    )


def presign_get(s3: S3Client, *, bucket: str, key: str, ttl: int) -> str:
    """A GET URL: the emulator's stand-in for the CloudFront URL of a derivative."""
    return s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl, HttpMethod="GET"
    )

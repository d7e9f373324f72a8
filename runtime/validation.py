"""Request-body validation for the HTTP API: JSON in, typed requests out, 400/413/415 on misuse."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime import mediatypes
from runtime.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from runtime.settings import Settings, kind_of

MAX_BODY_BYTES = 64 * 1024
MAX_FILENAME_CHARS = 255
MAX_METADATA_KEYS = 10
MAX_METADATA_VALUE_CHARS = 256
MAX_METADATA_BYTES = 2048
MAX_PARTS = 10_000
MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PART_BYTES = 5 * 1024**3
# Declared part hashes travel in the create body (64 KB): 800 hex digests fit beside the rest.
# A client hashing parts chooses `part_size` so that its parts number at most this many.
MAX_DECLARED_PART_HASHES = 800
METHODS = ("PUT", "POST", "MULTIPART")
_METADATA_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CREATE_FIELDS = frozenset(
    {"filename", "content_type", "size", "sha256", "metadata", "method", "part_size", "part_sha256"}
)


@dataclass(frozen=True)
class CreateUpload:
    """A validated `POST /v1/uploads` body; `method` is already resolved against the threshold."""

    filename: str
    content_type: str
    size: int
    method: str
    sha256: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    # Multipart only: the client's part size (None: the stack's plan) and, when it declares
    # per-part hashes, one SHA-256 (hex) per part, in part order.
    part_size: int | None = None
    part_sha256: tuple[str, ...] = ()


@dataclass(frozen=True)
class CompletedPart:
    part_number: int
    etag: str


def parse_json_body(raw: str | None, *, is_base64: bool = False) -> dict[str, Any]:
    """Decode an API GW body into a JSON object."""
    if raw is None or raw == "":
        raise BadRequest("a JSON body is required", code="invalid_json")
    if len(raw) > MAX_BODY_BYTES * 2:
        raise PayloadTooLarge("the request body is too large", code="body_too_large")
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8") if is_base64 else raw
    except (binascii.Error, UnicodeDecodeError):
        raise BadRequest("the body is not valid base64 UTF-8", code="invalid_json") from None
    if len(text.encode("utf-8")) > MAX_BODY_BYTES:
        raise PayloadTooLarge("the request body is too large", code="body_too_large")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc.msg}", code="invalid_json") from None
    except RecursionError:
        # `[[[[...` within the size limit exhausts the decoder's stack: malformed, not a 500.
        raise BadRequest("the body nests too deeply", code="invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_body")
    return body


def _invalid(name: str, problem: str) -> BadRequest:
    return BadRequest(f"{name}: {problem}", code="invalid_field")


def _string(body: Mapping[str, Any], name: str, *, max_chars: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(name, "must be a non-empty string")
    if len(value) > max_chars:
        raise _invalid(name, f"must be at most {max_chars} characters")
    if _CONTROL.search(value):
        raise _invalid(name, "must not contain control characters")
    return value


def normalise_content_type(value: str) -> str:
    """`Image/JPEG; charset=x` -> `image/jpeg`, and a declared alias (`image/heic-sequence`,
    `image/jpg`, ...) -> its canonical type (`runtime.mediatypes`): the record, the signed
    Content-Type and the key's extension all use the canonical name."""
    return mediatypes.canonical(value)


def validate_metadata(value: Any) -> dict[str, str]:
    """A small string->string map with bounded keys, values and total size."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid("metadata", "must be an object of strings")
    if len(value) > MAX_METADATA_KEYS:
        raise _invalid("metadata", f"at most {MAX_METADATA_KEYS} keys")
    total = 0
    for key, item in value.items():
        if not _METADATA_KEY.fullmatch(key):
            raise _invalid("metadata", f"key {key!r} must match {_METADATA_KEY.pattern}")
        if not isinstance(item, str):
            raise _invalid("metadata", f"value of {key!r} must be a string")
        if len(item) > MAX_METADATA_VALUE_CHARS or _CONTROL.search(item):
            raise _invalid(
                "metadata",
                f"value of {key!r}: at most {MAX_METADATA_VALUE_CHARS} printable characters",
            )
        total += len(key.encode()) + len(item.encode())
    if total > MAX_METADATA_BYTES:
        raise _invalid("metadata", f"at most {MAX_METADATA_BYTES} bytes in total")
    return dict(value)


def validate_create(body: Mapping[str, Any], settings: Settings) -> CreateUpload:
    """Check a create-upload body against the settings (types, size limit, threshold)."""
    unknown = set(body) - _CREATE_FIELDS
    if unknown:
        raise BadRequest(f"unknown fields: {', '.join(sorted(unknown))}", code="unknown_field")
    filename = _string(body, "filename", max_chars=MAX_FILENAME_CHARS)
    content_type = normalise_content_type(_string(body, "content_type", max_chars=255))
    size = body.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise _invalid("size", "must be a positive integer (bytes)")
    # Only the allowed types of the kinds this stack turned on (mediaKinds): audio and video
    # need their media function, which exists only then.
    if content_type not in settings.accepted_types:
        raise UnsupportedMediaType(
            f"content type {content_type!r} is not allowed "
            f"(allowed: {', '.join(settings.accepted_types)})"
        )
    limit = settings.max_bytes_for(content_type)
    if size > limit:
        raise PayloadTooLarge(f"size {size} exceeds the {kind_of(content_type)} limit of {limit}")
    if size < settings.min_upload_bytes:
        raise BadRequest(
            f"size {size} is below the minimum of {settings.min_upload_bytes} bytes",
            code="too_small",
        )
    sha256 = body.get("sha256")
    if sha256 is not None:
        if not isinstance(sha256, str) or not _SHA256_HEX.fullmatch(sha256):
            raise _invalid("sha256", "must be 64 hexadecimal characters")
        sha256 = sha256.lower()
    requested = body.get("method", "PUT")
    if not isinstance(requested, str) or requested.upper() not in METHODS:
        raise _invalid("method", f"must be one of {', '.join(METHODS)}")
    method = requested.upper()
    # A single request tops out at 5 GiB and is one long retry unit: big files go multipart.
    if size >= settings.multipart_threshold_bytes:
        method = "MULTIPART"
    part_size, part_sha256 = _validate_part_plan(body, size, method)
    return CreateUpload(
        filename=filename,
        content_type=content_type,
        size=size,
        method=method,
        sha256=sha256,
        metadata=validate_metadata(body.get("metadata")),
        part_size=part_size,
        part_sha256=part_sha256,
    )


def _validate_part_plan(
    body: Mapping[str, Any], size: int, method: str
) -> tuple[int | None, tuple[str, ...]]:
    """`part_size` (5 MiB..5 GiB, at most 10,000 parts) and `part_sha256` (one hex SHA-256 per
    part; needs `part_size`, so client and API agree on where parts start), multipart only."""
    part_size, hashes = body.get("part_size"), body.get("part_sha256")
    if part_size is None and hashes is None:
        return None, ()
    if method != "MULTIPART":
        raise _invalid("part_size", "part_size and part_sha256 are for MULTIPART uploads only")
    if part_size is None:
        raise _invalid("part_size", "required with part_sha256 (the parts the hashes cover)")
    if (
        isinstance(part_size, bool)
        or not isinstance(part_size, int)
        or not MIN_PART_BYTES <= part_size <= MAX_PART_BYTES
    ):
        raise _invalid("part_size", f"must be an integer {MIN_PART_BYTES}..{MAX_PART_BYTES}")
    count = -(-size // part_size)
    if count > MAX_PARTS:
        raise _invalid("part_size", f"{count} parts: S3 takes at most {MAX_PARTS}")
    if hashes is None:
        return part_size, ()
    if not isinstance(hashes, list) or len(hashes) != count:
        raise _invalid("part_sha256", f"must list one SHA-256 per part ({count} parts)")
    if count > MAX_DECLARED_PART_HASHES:
        raise _invalid(
            "part_sha256",
            f"at most {MAX_DECLARED_PART_HASHES} part hashes: choose a larger part_size",
        )
    for i, item in enumerate(hashes):
        if not isinstance(item, str) or not _SHA256_HEX.fullmatch(item):
            raise _invalid(f"part_sha256[{i}]", "must be 64 hexadecimal characters")
    return part_size, tuple(h.lower() for h in hashes)


def validate_complete(body: Mapping[str, Any]) -> list[CompletedPart]:
    """`{"parts": [{"part_number", "etag"}]}`, part numbers unique and ascending."""
    parts = body.get("parts")
    if not isinstance(parts, list) or not 1 <= len(parts) <= MAX_PARTS:
        raise _invalid("parts", f"must be a list of 1..{MAX_PARTS} parts")
    out: list[CompletedPart] = []
    for i, part in enumerate(parts):
        if not isinstance(part, dict):
            raise _invalid(f"parts[{i}]", "must be an object with part_number and etag")
        number, etag = part.get("part_number"), part.get("etag")
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_PARTS:
            raise _invalid(f"parts[{i}].part_number", f"must be an integer 1..{MAX_PARTS}")
        if not isinstance(etag, str) or not etag.strip() or len(etag) > 128:
            raise _invalid(f"parts[{i}].etag", "must be the ETag S3 returned for the part")
        if out and number <= out[-1].part_number:
            raise _invalid("parts", "part numbers must be unique and ascending")
        out.append(CompletedPart(number, etag.strip()))
    return out

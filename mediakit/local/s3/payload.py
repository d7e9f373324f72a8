"""Request bodies checked as S3 checks them, once the signature verified: the declared
`x-amz-content-sha256` (a digest, UNSIGNED-PAYLOAD, or an aws-chunked streaming mode), the
chunk and trailer signatures of signed streaming, the decoded length, and the flexible
checksums (`x-amz-checksum-*`, in a header or a trailer) and `Content-MD5`.

https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html
https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore import httpchecksum
from botocore.auth import EMPTY_SHA256_HASH, UNSIGNED_PAYLOAD

from mediakit.local.s3.auth import (
    Received,
    Signed,
    check_signature,
    invalid_payload_hash,
    is_sha256_hex,
    sign,
    signature_does_not_match,
)
from mediakit.local.s3.errors import S3Error

STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
_STREAMING = frozenset({STREAMING_UNSIGNED_TRAILER, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER})
_TRAILER_SIGNATURE = "x-amz-trailer-signature"
_CHECKSUM_PREFIX = "x-amz-checksum-"


def _checksum_algorithms() -> tuple[frozenset[str], Mapping[str, Any]]:
    """Every algorithm botocore can send, and the ones it can compute here: botocore's own
    table, which has CRC32C and CRC64NVME (and the xxhash family) only with the AWS CRT."""
    computable: Mapping[str, Any] = getattr(httpchecksum, "_CHECKSUM_CLS", {})
    crt_only: list[str] = getattr(httpchecksum, "_CRT_CHECKSUM_ALGORITHMS", [])
    return frozenset(computable) | frozenset(crt_only), computable


KNOWN_CHECKSUMS, COMPUTABLE_CHECKSUMS = _checksum_algorithms()


@dataclass(frozen=True)
class Decoded:
    """A body with its transfer framing removed: the object bytes and any trailing headers."""

    data: bytes
    trailers: tuple[tuple[str, str], ...] = ()


def _incomplete() -> S3Error:
    return S3Error(
        400,
        "IncompleteBody",
        "You did not provide the number of bytes specified by the Content-Length HTTP header",
    )


def _malformed_trailer() -> S3Error:
    return S3Error(
        400,
        "MalformedTrailerError",
        "The request contained trailing data that was not well-formed or did not conform to "
        "our published schema.",
    )


def chunk_string_to_sign(signed: Signed, previous: str, data: bytes) -> str:
    """What a chunk's signature signs: the previous signature chained with this chunk's hash."""
    return "\n".join(
        (
            "AWS4-HMAC-SHA256-PAYLOAD",
            signed.timestamp,
            signed.scope.text,
            previous,
            EMPTY_SHA256_HASH,
            hashlib.sha256(data).hexdigest(),
        )
    )


def trailer_string_to_sign(
    signed: Signed, previous: str, trailers: Sequence[tuple[str, str]]
) -> str:
    """What the trailer signature signs: the last chunk's signature and the trailing headers."""
    canonical = "".join(f"{name}:{value}\n" for name, value in trailers)
    return "\n".join(
        (
            "AWS4-HMAC-SHA256-TRAILER",
            signed.timestamp,
            signed.scope.text,
            previous,
            hashlib.sha256(canonical.encode()).hexdigest(),
        )
    )


def _verify_chunk(signed: Signed, previous: str, provided: str | None, string_to_sign: str) -> str:
    if not provided:
        raise signature_does_not_match(signed.scope, "", string_to_sign)
    expected = sign(signed.secret, signed.scope, string_to_sign)
    check_signature(
        expected, provided, lambda: signature_does_not_match(signed.scope, provided, string_to_sign)
    )
    return provided


def decode_aws_chunked(body: bytes, signed: Signed | None = None) -> Decoded:
    """Decode an aws-chunked body (`hex-size[;chunk-signature=sig]\\r\\n data \\r\\n` ... a final
    zero-size chunk, then trailing headers). With `signed`, every chunk signature (and the
    trailer signature, when trailers are sent) is verified along the chain from the request's
    seed signature."""
    pos, parts, previous = 0, [], signed.signature if signed else ""
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            raise _incomplete()
        size_text, _, extension = body[pos:eol].partition(b";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise _incomplete() from None
        name, _, value = extension.partition(b"=")
        provided = (
            value.strip().decode("ascii", "replace") if name.strip() == b"chunk-signature" else None
        )
        pos = eol + 2
        data = body[pos : pos + size]
        if len(data) < size:
            raise _incomplete()
        if signed is not None:
            previous = _verify_chunk(
                signed, previous, provided, chunk_string_to_sign(signed, previous, data)
            )
        if size == 0:
            break
        parts.append(data)
        pos += size
        if body[pos : pos + 2] != b"\r\n":
            raise _incomplete()
        pos += 2
    trailers = _trailers(body, pos)
    if signed is not None and trailers:
        named = [(n, v) for n, v in trailers if n != _TRAILER_SIGNATURE]
        provided = dict(trailers).get(_TRAILER_SIGNATURE)
        _verify_chunk(signed, previous, provided, trailer_string_to_sign(signed, previous, named))
        trailers = tuple(named)
    return Decoded(b"".join(parts), trailers)


def _trailers(body: bytes, pos: int) -> tuple[tuple[str, str], ...]:
    """The `name:value` lines after the final chunk, up to the blank line that ends the body."""
    trailers = []
    while pos < len(body):
        eol = body.find(b"\r\n", pos)
        line = body[pos:] if eol < 0 else body[pos:eol]
        pos = len(body) if eol < 0 else eol + 2
        if not line:
            break
        name, sep, value = line.partition(b":")
        if not sep:
            raise _malformed_trailer()
        trailers.append(
            (
                name.strip().lower().decode("ascii", "replace"),
                value.strip().decode("ascii", "replace"),
            )
        )
    return tuple(trailers)


def decoded_body(received: Received, signed: Signed | None) -> Decoded:
    """The object bytes of `received` by its declared payload mode, checked: a digest must be the
    body's SHA-256; a streaming body must decode (its chunk signatures verified when signed) to
    its `x-amz-decoded-content-length`, with the trailer `x-amz-trailer` announces."""
    mode = received.header("x-amz-content-sha256")
    if mode is None or mode == UNSIGNED_PAYLOAD:
        return Decoded(received.body)
    if mode not in _STREAMING:
        if not is_sha256_hex(mode):
            raise invalid_payload_hash(mode)
        computed = hashlib.sha256(received.body).hexdigest()
        if computed != mode.lower():
            raise S3Error(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                (("ClientComputedContentSHA256", mode), ("S3ComputedContentSHA256", computed)),
            )
        return Decoded(received.body)
    length = received.header("x-amz-decoded-content-length")
    if length is None or not length.isdigit():
        raise S3Error(
            411, "MissingContentLength", "You must provide the Content-Length HTTP header."
        )
    decoded = decode_aws_chunked(
        received.body, signed if mode != STREAMING_UNSIGNED_TRAILER else None
    )
    if len(decoded.data) != int(length):
        raise _incomplete()
    announced = (received.header("x-amz-trailer") or "").lower()
    if mode == STREAMING_SIGNED and decoded.trailers:
        raise _malformed_trailer()
    if mode != STREAMING_SIGNED and announced and announced not in dict(decoded.trailers):
        raise _malformed_trailer()
    return decoded


def check_checksums(received: Received, decoded: Decoded) -> None:
    """The flexible checksum sent with the object (one `x-amz-checksum-<algorithm>`, as a header
    or a trailer) must be well-formed and, where botocore can compute the algorithm here, the
    body's; `Content-MD5` likewise. S3 refuses a mismatch with BadDigest."""
    declared = [
        (name, value, where)
        for pairs, where in ((received.headers, "header"), (decoded.trailers, "trailing header"))
        for name, value in pairs
        if name.startswith(_CHECKSUM_PREFIX) and name[len(_CHECKSUM_PREFIX) :] in KNOWN_CHECKSUMS
    ]
    if len(declared) > 1:
        raise S3Error(
            400,
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        )
    for name, value, where in declared:
        _check_checksum(name[len(_CHECKSUM_PREFIX) :], value, where, decoded.data)
    md5 = received.header("content-md5")
    if md5 is not None:
        _check_content_md5(md5, decoded.data)


def _check_checksum(algorithm: str, value: str, where: str, data: bytes) -> None:
    checksum_cls = COMPUTABLE_CHECKSUMS.get(algorithm)
    if checksum_cls is None:
        # Not computable without the AWS CRT: accepted as sent (the README says so).
        return
    checksum = checksum_cls()
    checksum.update(data)
    expected = checksum.b64digest()
    try:
        well_formed = len(base64.b64decode(value, validate=True)) == len(checksum.digest())
    except (binascii.Error, ValueError):
        well_formed = False
    if not well_formed:
        raise S3Error(
            400, "InvalidRequest", f"Value for x-amz-checksum-{algorithm} {where} is invalid."
        )
    if value != expected:
        raise S3Error(
            400,
            "BadDigest",
            f"The {algorithm.upper()} you specified did not match the calculated checksum.",
        )


def _check_content_md5(value: str, data: bytes) -> None:
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise S3Error(400, "InvalidDigest", "The Content-MD5 you specified is not valid.")
    if digest != hashlib.md5(data, usedforsecurity=False).digest():
        raise S3Error(
            400, "BadDigest", "The Content-MD5 you specified did not match what we received."
        )


def check_body(received: Received, signed: Signed | None, *, checksummed: bool) -> None:
    """All the body checks of a verified request; `checksummed` says whether the request's
    checksum headers describe this body (they describe the whole object on
    CompleteMultipartUpload, and the source on a copy)."""
    decoded = decoded_body(received, signed)
    if checksummed:
        check_checksums(received, decoded)

"""Documents (`mediaKinds` includes `document`): files that are not media, stored as uploaded.

A document is never parsed or rendered and gets no derivatives: the processor reads it once, in
one streamed GET (memory stays at one chunk plus a bounded head and tail), hashes it, and checks
its bytes against the declared type from both ends. For `application/pdf`:

- the file starts with `%PDF-` and a version `d.d` at offset 0 (PDF readers accept junk before
  it; we do not, so a JPEG, a ZIP or an HTML page with a PDF inside is not a PDF here);
- it ends with a trailer: `startxref`, an offset inside the file, `%%EOF`, then at most an end of
  line (a cut file has none; bytes appended after `%%EOF` are another file riding along);
- the head carries no markup a browser would run (`<html`, `<script`, ...), and the tail no ZIP
  end-of-central-directory record: HTML/PDF and ZIP/PDF polyglots fail `polyglot`.

Only a small, strict allow-list of types is a document (`DOCUMENT_TYPES`): `text/plain` and
similar carry no magic to check, so they are not offered.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.errors import PermanentFault

if TYPE_CHECKING:
    from collections.abc import Iterable

    from runtime.ingest import Deps
    from runtime.records import SourceRef, UploadRecord

HEAD_BYTES = 1024
# A ZIP's end-of-central-directory record sits in the last 22 + 65,535 bytes (its comment can
# hold a PDF trailer); the PDF trailer itself is in the last 1 KiB.
TAIL_BYTES = 22 + 65_535
_TRAILER_BYTES = 1024
CHUNK = 1024 * 1024

_PDF_HEAD = re.compile(rb"%PDF-(\d\.\d)")
_PDF_TRAILER = re.compile(rb"startxref\s+(\d{1,20})\s+%%EOF(?:\r\n|\r|\n)?\Z")
_MARKUP = re.compile(rb"<\s*(?:!doctype|html|head|body|script|iframe|svg|object|embed)\b", re.I)
_ZIP_EOCD = b"PK\x05\x06"


@dataclass(frozen=True)
class DocumentInfo:
    """What the record keeps: the digest, the length read, and the PDF header's version."""

    sha256: str
    size: int
    version: str


def scan(chunks: Iterable[bytes]) -> DocumentInfo:
    """Hash a PDF's bytes as they stream by and check its head and trailer; PermanentFault with
    a code (`empty_file`, `type_mismatch`, `truncated`, `polyglot`) when they are not a PDF."""
    digest = hashlib.sha256()
    head = b""
    tail = b""
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        tail = (tail + chunk)[-TAIL_BYTES:]
    if size == 0:
        raise PermanentFault("the file is empty", code="empty_file")
    match = _PDF_HEAD.match(head)
    if match is None:
        raise PermanentFault("the file does not start with a PDF header", code="type_mismatch")
    if _MARKUP.search(head):
        raise PermanentFault("the PDF carries HTML markup in its header", code="polyglot")
    if _ZIP_EOCD in tail:
        raise PermanentFault("the PDF ends in a ZIP archive", code="polyglot")
    trailer = _PDF_TRAILER.search(tail[-_TRAILER_BYTES:])
    if trailer is None:
        if b"%%EOF" in tail[-_TRAILER_BYTES:]:
            raise PermanentFault("bytes follow the PDF's end-of-file marker", code="polyglot")
        raise PermanentFault("the PDF has no trailer: cut short", code="truncated")
    if int(trailer.group(1)) >= size:
        raise PermanentFault("the PDF's cross-reference offset is past its end", code="truncated")
    return DocumentInfo(digest.hexdigest(), size, match.group(1).decode())


def read_document(s3: Any, bucket: str, key: str, version_id: str | None) -> DocumentInfo:
    """One streamed GET of the object version, scanned by `scan`."""
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id is not None:
        request["VersionId"] = version_id
    body = s3.get_object(**request)["Body"]
    try:
        return scan(body.iter_chunks(CHUNK))
    finally:
        body.close()


def render(record: UploadRecord, ref: SourceRef, deps: Deps) -> dict[str, Any]:
    """A document upload's completed-record fields: checked, hashed, no derivatives. The size
    comes from HeadObject first, so an oversized object is refused before it is read."""
    from runtime.aws import is_not_found

    limit = deps.settings.max_bytes_for(record["content_type"])
    version_id = ref.version_id if ref.version_id not in ("", "null") else None
    try:
        # As for images: a delete leaves the version readable, so ask about the current object.
        deps.s3.head_object(Bucket=ref.bucket, Key=ref.key)
        head = (
            deps.s3.head_object(Bucket=ref.bucket, Key=ref.key, VersionId=version_id)
            if version_id
            else deps.s3.head_object(Bucket=ref.bucket, Key=ref.key)
        )
        size = int(head["ContentLength"])
        if size > limit:
            raise PermanentFault(
                f"the object has {size} bytes, over the limit of {limit}", code="too_large"
            )
        if size != record["size"]:
            raise PermanentFault(
                f"the object has {size} bytes, {record['size']} were declared",
                code="size_mismatch",
            )
        info = read_document(deps.s3, ref.bucket, ref.key, version_id)
    except PermanentFault:
        raise
    except Exception as exc:
        if is_not_found(exc):
            raise PermanentFault(
                "the object was removed before processing", code="object_missing"
            ) from None
        raise
    if info.size != size:
        raise PermanentFault("the object changed while it was read", code="size_mismatch")
    if record.get("sha256") and info.sha256 != record["sha256"]:
        raise PermanentFault(
            "the object does not match the declared sha256", code="checksum_mismatch"
        )
    return {
        "format": "pdf",
        "bytes": size,
        "sha256": info.sha256,
        "media": {"kind": "document", "pdf_version": info.version},
        "derivatives": [],
    }

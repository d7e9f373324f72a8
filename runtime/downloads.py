"""Downloads of originals: a presigned GET of the validated version, served as an attachment.

The file name a browser saves comes from the record, never from raw client input: a safe ASCII
`filename` (letters, digits, `._-`, the sniffed type's extension) plus RFC 5987/6266 `filename*`
with the client's name percent-encoded, so no quote, semicolon, CR/LF or non-ASCII character
the client chose can change the header's syntax. S3 echoes `response-content-disposition` and
`response-content-type` as response headers, and the signature covers both query parameters.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from typing import TYPE_CHECKING, Any

from runtime.settings import KNOWN_TYPES

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from runtime.records import UploadRecord

MAX_NAME_CHARS = 100
# RFC 5987 attr-char, less nothing: everything else is percent-encoded.
_ATTR_CHARS = "!#$&+-.^_`|~"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# Pillow format names (lowercase, as records carry them) -> content type.
_FORMAT_TYPES = {ext if ext != "jpg" else "jpeg": t for t, ext in KNOWN_TYPES.items()}


def served_type(record: UploadRecord) -> str:
    """The sniffed content type of a completed original (a completed record's declared type
    matched the sniffed one, or it would have failed `type_mismatch`)."""
    sniffed = _FORMAT_TYPES.get(str(record.get("format", "")).lower())
    return sniffed or record["content_type"]


def _extension(content_type: str) -> str:
    return KNOWN_TYPES.get(content_type, "bin")


def ascii_filename(record: UploadRecord) -> str:
    """A name any browser and proxy accepts: the client's stem folded to ASCII (accents
    dropped), runs of anything but `[A-Za-z0-9._-]` as one `_`, no leading dots, at most 100
    characters, and the sniffed type's extension; the upload id when nothing usable is left."""
    ext = _extension(served_type(record))
    raw = str(record.get("filename") or "")
    # Only the last path segment: a name like `..\\..\\boot.ini` or `a/b.jpg` is not a path.
    raw = re.split(r"[\\/]", raw)[-1]
    stem = raw.rsplit(".", 1)[0] if "." in raw.lstrip(".") else raw
    folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    safe = _UNSAFE.sub("_", folded).strip("._-")
    if not safe:
        safe = record["upload_id"]
    return f"{safe[: MAX_NAME_CHARS - len(ext) - 1]}.{ext}"


def utf8_filename(record: UploadRecord) -> str:
    """The client's own name (last path segment, control characters removed, the sniffed
    extension), percent-encoded for `filename*=UTF-8''...`."""
    raw = re.split(r"[\\/]", str(record.get("filename") or ""))[-1]
    cleaned = "".join(
        ch
        for ch in raw
        if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Zl", "Zp") and ch != "\x7f"
    ).strip()
    stem = cleaned.rsplit(".", 1)[0] if "." in cleaned.lstrip(".") else cleaned
    stem = stem.lstrip(".")[:MAX_NAME_CHARS] or record["upload_id"]
    name = f"{stem}.{_extension(served_type(record))}"
    return urllib.parse.quote(name, safe=_ATTR_CHARS)


def content_disposition(record: UploadRecord) -> str:
    """`attachment; filename="<ascii>"; filename*=UTF-8''<encoded>` (RFC 6266)."""
    return f"attachment; filename=\"{ascii_filename(record)}\"; filename*=UTF-8''" + utf8_filename(
        record
    )


def presign(
    s3: S3Client, *, bucket: str, record: UploadRecord, ttl: int
) -> tuple[str, dict[str, Any]]:
    """A GET URL of exactly the validated version, with the attachment headers S3 will send;
    returns the URL and the parameters it signs (for logs and tests)."""
    params: dict[str, Any] = {
        "Bucket": bucket,
        "Key": record["key"],
        "VersionId": record["version_id"],
        "ResponseContentDisposition": content_disposition(record),
        "ResponseContentType": served_type(record),
    }
    url = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl, HttpMethod="GET")
    return url, params

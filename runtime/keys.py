"""Upload ids, tenant sanitising and the S3 key layout. Client file names never reach a key."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from datetime import datetime

from runtime.errors import Forbidden, Unauthorized
from runtime.settings import KNOWN_TYPES, Settings

# Crockford base32, lowercase: URL-safe, no ambiguous letters, sorts like the timestamp it encodes.
_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
UPLOAD_ID_RE = re.compile(r"[0-9a-hjkmnp-tv-z]{26}")
MAX_TENANT_LENGTH = 128
_TENANT_SAFE = re.compile(r"[A-Za-z0-9_.@-]")
_TENANT_RE = r"(?:[A-Za-z0-9_.@-]|~[0-9A-F]{2})+"
_EXTENSIONS = "|".join(sorted(set(KNOWN_TYPES.values())))


def new_upload_id(now_ms: int | None = None) -> str:
    """A ULID-like id: 48-bit millisecond timestamp + 80 random bits, 26 base32 characters."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms & ((1 << 48) - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def sanitise_tenant(raw: object) -> str:
    """Make a JWT claim safe as one key segment, injectively: characters outside
    `[A-Za-z0-9_.@-]` (and any dot that would start the segment or form `..`) become `~XX`
    hex escapes of their UTF-8 bytes, so `a/b` and `a_b` stay different tenants."""
    if not isinstance(raw, str) or not raw.strip():
        raise Unauthorized("the token carries no tenant claim", code="missing_tenant")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in raw):
        raise Forbidden("the tenant claim contains control characters", code="invalid_tenant")
    out: list[str] = []
    for ch in raw:
        previous = out[-1] if out else ""
        if _TENANT_SAFE.fullmatch(ch) and not (ch == "." and (not out or previous == ".")):
            out.append(ch)
        else:
            out.extend(f"~{b:02X}" for b in ch.encode("utf-8"))
    tenant = "".join(out)
    if len(tenant) > MAX_TENANT_LENGTH:
        raise Forbidden("the tenant claim is too long", code="invalid_tenant")
    return tenant


def original_key(
    settings: Settings, tenant: str, upload_id: str, content_type: str, created: datetime
) -> str:
    """`originals/{tenant}/{yyyy}/{mm}/{dd}/{upload_id}.{ext}`; ext from the declared type."""
    ext = settings.extension_for(content_type)
    return f"{settings.originals_prefix}{tenant}/{created:%Y/%m/%d}/{upload_id}.{ext}"


def derivative_key(settings: Settings, tenant: str, upload_id: str, name: str, fmt: str) -> str:
    """`derivatives/{tenant}/{upload_id}/{name}.{format}`."""
    return f"{derivative_prefix(settings, tenant, upload_id)}{name}.{fmt}"


def derivative_prefix(settings: Settings, tenant: str, upload_id: str) -> str:
    """`derivatives/{tenant}/{upload_id}/`: every derivative of the upload, whatever its spec
    (a tenant is one segment without `/` and ids have a fixed length, so no other upload's
    keys share the prefix)."""
    return f"{settings.derivatives_prefix}{tenant}/{upload_id}/"


@dataclass(frozen=True)
class OriginalKey:
    """The parts of a well-formed originals key."""

    key: str
    tenant: str
    upload_id: str
    extension: str


def parse_original_key(settings: Settings, key: str) -> OriginalKey | None:
    """Split an originals key, or None when the key does not have the shape we hand out."""
    pattern = (
        re.escape(settings.originals_prefix)
        + rf"(?P<tenant>{_TENANT_RE})/\d{{4}}/\d{{2}}/\d{{2}}/"
        + rf"(?P<upload_id>{UPLOAD_ID_RE.pattern})\.(?P<ext>{_EXTENSIONS})"
    )
    match = re.fullmatch(pattern, key)
    if match is None:
        return None
    return OriginalKey(key, match["tenant"], match["upload_id"], match["ext"])


def is_upload_id(value: str) -> bool:
    return UPLOAD_ID_RE.fullmatch(value) is not None

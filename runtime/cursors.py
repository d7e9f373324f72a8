"""Listing cursors of `GET /v1/uploads`: opaque, bound to the tenant and the filters, tamper-proof.

A cursor is `base64url(JSON {k, c, u}) "." base64url(MAC)`: the position (`c` created_at, `u`
upload id) where the page ended, the name `k` of the key that made the MAC, and an HMAC-SHA256
over the tenant, the filters (status, created_after, created_before) and the position. A cursor
from another tenant, for other filters, edited, truncated or oversized fails the check before
anything reads the table: `400 invalid_cursor`.

Where the key comes from: a KMS HMAC key (`HMAC_256`, usage `GENERATE_VERIFY_MAC`) per
generation, made by the stack, whose key policy lets only the presign role call
`kms:GenerateMac` on it. Chosen over a stack-generated secret handed to the function in its
environment because that secret would sit in the Pulumi state and in the function's
configuration (readable by anyone with `lambda:GetFunctionConfiguration`), and would need its
own rotation; the KMS key material never leaves KMS and every use is in CloudTrail. A cursor is
checked by computing its MAC again with `GenerateMac` and comparing in constant time
(`hmac.compare_digest`), so the role needs that one action (`VerifyMac` would compare inside
KMS: a second grant for the same guarantee). Cost: one GenerateMac per page handed a cursor and
one per page that returns one.

Rotation by key name: KMS does not rotate HMAC keys, so keys come in named generations
(`MEDIAKIT_CURSOR_KEYS` = `name=arn,...`, from the stack's `cursorKeyGenerations`); the last
one signs, every listed one verifies. Add a generation, deploy, and remove the old one once
clients' listings have moved on: its cursors then answer 400 and the client lists from the
start.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from runtime.errors import BadRequest, SettingsError
from runtime.keys import UPLOAD_ID_RE
from runtime.records import ListFilter, Position

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

ENV = "MEDIAKIT_CURSOR_KEYS"
MAC_ALGORITHM: Final = "HMAC_SHA_256"
# Far above a real cursor (~150 characters): anything longer is refused unread.
MAX_CURSOR_LENGTH = 512
_NAME_RE = re.compile(r"[a-z0-9-]{1,16}")
_ISO_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_MAC_BYTES = 32
# Fields are joined with the ASCII unit separator, which no tenant, status, timestamp or id has.
_SEP = "\x1f"


def parse_keys(value: str) -> dict[str, str]:
    """`name=arn,name=arn` -> {name: arn}, in order (the last signs); a SettingsError names the
    variable for anything else."""
    keys: dict[str, str] = {}
    for entry in (e.strip() for e in value.split(",") if e.strip()):
        name, _, arn = entry.partition("=")
        if not _NAME_RE.fullmatch(name) or not arn.startswith("arn:") or name in keys:
            raise SettingsError(ENV, f"{entry!r} is not name=key-arn (or repeats a name)")
        keys[name] = arn
    return keys


@dataclass(frozen=True)
class CursorKeys:
    """The cursor MAC keys: name -> KMS key ARN, the last one signing."""

    keys: dict[str, str]
    kms: Callable[[], KMSClient]

    def _mac(self, name: str, message: bytes) -> bytes:
        if not self.keys:
            raise SettingsError(ENV, "is required to list with cursors")
        response = self.kms().generate_mac(
            KeyId=self.keys[name], Message=message, MacAlgorithm=MAC_ALGORITHM
        )
        return bytes(response["Mac"])

    def encode(self, tenant: str, where: ListFilter, position: Position) -> str:
        """The cursor of the page after `position`, for `tenant` and `where` only."""
        if not self.keys:
            raise SettingsError(ENV, "is required to list with cursors")
        name = list(self.keys)[-1]
        mac = self._mac(name, _message(name, tenant, where, position))
        body = json.dumps(
            {"k": name, "c": position.created_at, "u": position.upload_id},
            separators=(",", ":"),
        )
        return f"{_b64(body.encode())}.{_b64(mac)}"

    def decode(self, cursor: str, tenant: str, where: ListFilter) -> Position:
        """The position a cursor names, if this tenant with these filters was handed it by this
        stack under a key it still has; 400 `invalid_cursor` otherwise."""
        invalid = BadRequest("the cursor is not valid for this listing", code="invalid_cursor")
        if len(cursor) > MAX_CURSOR_LENGTH or cursor.count(".") != 1:
            raise invalid
        body, mac_text = cursor.split(".")
        try:
            data = json.loads(_unb64(body))
            mac = _unb64(mac_text)
        except (binascii.Error, ValueError, RecursionError):
            raise invalid from None
        if not isinstance(data, dict) or set(data) != {"k", "c", "u"}:
            raise invalid
        name, created, upload_id = data["k"], data["c"], data["u"]
        if not (
            isinstance(name, str)
            and name in self.keys
            and isinstance(created, str)
            and _ISO_RE.fullmatch(created)
            and isinstance(upload_id, str)
            and UPLOAD_ID_RE.fullmatch(upload_id)
            and len(mac) == _MAC_BYTES
        ):
            raise invalid
        position = Position(created, upload_id)
        expected = self._mac(name, _message(name, tenant, where, position))
        if not hmac.compare_digest(expected, mac):
            raise invalid
        return position


def _message(name: str, tenant: str, where: ListFilter, position: Position) -> bytes:
    fields = (
        "mediakit-list-cursor-v1",
        name,
        tenant,
        where.status or "",
        where.created_after or "",
        where.created_before or "",
        position.created_at,
        position.upload_id,
    )
    return _SEP.join(fields).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

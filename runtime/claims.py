"""The caller's tenant claim, with its JSON type: only a non-empty string names a tenant.

API Gateway's JWT authorizer verifies the token, then hands the Lambda its claims already
stringified: `123` arrives as `"123"`, `["acme"]` as `"[acme]"`, `true` as `"true"`. Read from
there alone, an array and a string, or a number and its digits, would name one tenant. The JSON
type survives only in the token itself, so the claim is read back from the payload of the bearer
token in the `Authorization` header; the authorizer has verified that exact token (its signature,
issuer, audience and expiry) before the request reached the function, so its payload is trusted
as much as the stringified claims are, and the two must agree.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from runtime.errors import Forbidden, Unauthorized

INVALID_TENANT = "invalid_tenant"
MISSING_TENANT = "missing_tenant"


def token_payload(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """The JSON payload of the `Authorization` token, or None if unreadable. API Gateway's JWT
    authorizer takes the token alone or prefixed with `Bearer` (its identitySource docs), so
    both forms are read."""
    value = headers.get("authorization", "").strip()
    scheme, _, rest = value.partition(" ")
    if not rest:
        scheme, _, rest = value.partition("\t")
    token = rest.strip() if rest and scheme.lower() == "bearer" else value
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1]
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def tenant_claim(headers: Mapping[str, str], claims: Mapping[str, Any], name: str) -> str:
    """The raw tenant string: 401 without it (or blank), 403 `invalid_tenant` unless usable.

    Refused: arrays, objects, numbers, booleans and null (by their type in the token), lone
    surrogates, control characters, and strings shaped like API Gateway's array rendering
    (`[a b]`), which no log or record could tell from an array.
    """
    rendered = claims.get(name)
    if rendered is None:
        raise Unauthorized("the token carries no tenant claim", code=MISSING_TENANT)
    payload = token_payload(headers)
    if payload is None:
        raise Unauthorized("the bearer token could not be read", code="unreadable_token")
    if name not in payload:
        raise Unauthorized("the token carries no tenant claim", code=MISSING_TENANT)
    value = payload[name]
    if not isinstance(value, str):
        raise Forbidden(
            f"the tenant claim must be a string, not {_json_type(value)}", code=INVALID_TENANT
        )
    if value != rendered:
        # Not the token the authorizer verified, or a claim it rendered differently.
        raise Forbidden("the tenant claim does not match the verified token", code=INVALID_TENANT)
    return check_tenant(value)


def check_tenant(value: str) -> str:
    """`value` if a string tenant claim is usable: 401 blank, 403 `invalid_tenant` for lone
    surrogates, control characters or the shape of API Gateway's array rendering (`[a b]`).
    Also what `mediakit token` checks before minting a token the API would refuse."""
    if not value.strip():
        raise Unauthorized("the token's tenant claim is blank", code=MISSING_TENANT)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise Forbidden("the tenant claim is not valid Unicode", code=INVALID_TENANT)
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value):
        raise Forbidden("the tenant claim contains control characters", code=INVALID_TENANT)
    if value.startswith("[") and value.endswith("]"):
        raise Forbidden("the tenant claim looks like a list", code=INVALID_TENANT)
    return value


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def subject(headers: Mapping[str, str], claims: Mapping[str, Any]) -> str | None:
    """The token's `sub` (the acting subject an audit trail records), read with its JSON type
    as `tenant_claim` reads the tenant; None when the verified token has no usable string `sub`
    (absent, another type, not the one API Gateway rendered, blank or with control characters).
    """
    payload = token_payload(headers)
    if payload is None:
        return None
    value = payload.get("sub")
    if not isinstance(value, str) or value != claims.get("sub") or not value.strip():
        return None
    if any(ord(ch) < 32 or 127 <= ord(ch) < 160 or 0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        return None
    return value

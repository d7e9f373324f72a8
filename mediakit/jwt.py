"""HS256 dev tokens for the local emulator: sign, and verify the way API Gateway's JWT
authorizer does (signature, iss, aud, exp, nbf). Standard library only.

Production uses the identity provider's RS256 keys; the emulator only needs a shared secret so
that anyone can mint a token for a tenant on a laptop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from runtime.errors import Unauthorized

ALGORITHM = "HS256"
# Tolerated clock skew when checking exp / nbf / iat, in seconds.
DEFAULT_LEEWAY = 30


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise Unauthorized("malformed token: bad base64") from None


def _signature(signing_input: bytes, secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), signing_input, hashlib.sha256).digest()


def sign(claims: Mapping[str, Any], secret: str) -> str:
    """Encode `claims` as an HS256 JWT signed with `secret`."""
    header = {"alg": ALGORITHM, "typ": "JWT"}
    parts = [
        _b64url_encode(json.dumps(header, separators=(",", ":")).encode()),
        _b64url_encode(json.dumps(dict(claims), separators=(",", ":")).encode()),
    ]
    signing_input = ".".join(parts).encode("ascii")
    return ".".join([*parts, _b64url_encode(_signature(signing_input, secret))])


def issue(
    *,
    secret: str,
    issuer: str,
    audience: str,
    tenant_claim: str,
    tenant: str,
    ttl_seconds: int = 3600,
    now: float | None = None,
) -> str:
    """A dev token for `tenant`, carried in `tenant_claim` (also `sub`, as IdPs always set it)."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": tenant,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
    }
    claims[tenant_claim] = tenant
    return sign(claims, secret)


def verify(
    token: str,
    *,
    secret: str,
    issuer: str,
    audience: str,
    now: float | None = None,
    leeway: int = DEFAULT_LEEWAY,
) -> dict[str, Any]:
    """Return the claims of a valid token; raise `Unauthorized` saying why otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthorized("malformed token: expected three dot-separated parts")
    header = _json_part(parts[0], "header")
    # Only HS256: refusing everything else shuts out `alg: none` and key-confusion tricks.
    if header.get("alg") != ALGORITHM:
        raise Unauthorized(f"unsupported token algorithm {header.get('alg')!r}")
    expected = _signature(f"{parts[0]}.{parts[1]}".encode("ascii"), secret)
    if not hmac.compare_digest(expected, _b64url_decode(parts[2])):
        raise Unauthorized("invalid token signature")
    claims = _json_part(parts[1], "payload")

    if claims.get("iss") != issuer:
        raise Unauthorized("token issuer is not accepted")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    # API Gateway accepts `client_id` in place of `aud` (Cognito access tokens carry no aud).
    if audience not in audiences and claims.get("client_id") != audience:
        raise Unauthorized("token audience is not accepted")
    current = time.time() if now is None else now
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise Unauthorized("token has no expiry")
    if current > exp + leeway:
        raise Unauthorized("token has expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and not isinstance(nbf, bool) and current < nbf - leeway:
        raise Unauthorized("token is not valid yet")
    iat = claims.get("iat")
    if isinstance(iat, int | float) and not isinstance(iat, bool) and current < iat - leeway:
        raise Unauthorized("token was issued in the future")
    return claims


def _json_part(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url_decode(segment))
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: `[[[[...` headers are decoded before the signature is checked.
        raise Unauthorized(f"malformed token: {what} is not JSON") from None
    if not isinstance(value, dict):
        raise Unauthorized(f"malformed token: {what} is not an object")
    return value

"""Tokens as API Gateway's HTTP API JWT authorizer sees them: RS256 signatures checked against
the keys an OIDC issuer publishes (its discovery document's `jwks_uri`), then the claims, in the
order and with the rules the authorizer documents. joserfc does every signature; this module
only chooses keys and reads claims.

The emulator is itself such an issuer for dev tokens (`DevIssuer`: an RSA key generated per run,
its discovery document and JWKS), and can instead trust a real identity provider
(`RemoteKeys`), so that the tokens a team uses in production work locally unchanged.

Rules and their source, "Control access to HTTP APIs with JWT authorizers in API Gateway"
(docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html) and
"Troubleshooting issues with HTTP API JWT authorizers" (.../http-api-troubleshooting-jwt.html):
the token may come with or without the `Bearer` prefix; only RSA-based algorithms are supported;
the `kid` header must name a key of the issuer's JWKS; `iss` must equal the configured issuer;
`aud` must match one configured audience, and `client_id` is read only when there is no `aud`
at all; `exp` must be in the future, `nbf` and `iat` in the past; and, for a route with
authorization scopes, `scope` or `scp` must hold at least one of them.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import urllib.request
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

log = logging.getLogger("mediakit.local.oidc")

# RSASSA-PKCS1-v1_5 only: "Currently, only RSA-based algorithms are supported" (the developer
# guide above). HS256 would let anyone holding the audience forge tokens; `none` signs nothing.
ALGORITHMS = ("RS256", "RS384", "RS512")
SIGNING_ALGORITHM = "RS256"
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks.json"
# Tolerated clock skew on exp / nbf / iat, in seconds. AWS publishes no figure; a laptop's clock
# drifting from a real identity provider's must not make a token minted a second ago "issued in
# the future".
DEFAULT_LEEWAY = 30
# "API Gateway caches the public keys for two hours" (developer guide, step 3).
JWKS_CACHE_SECONDS = 2 * 3600
# An unknown `kid` refetches the JWKS (a rotated key), at most this often, so a stream of forged
# kids cannot turn the emulator into a load generator against the identity provider.
JWKS_REFETCH_SECONDS = 60
RSA_KEY_BITS = 2048
# The one description AWS documents for a refusal (the troubleshooting page's example); the others
# are the emulator's own words for the same 401.
INVALID_AUDIENCE = "the token does not have a valid audience"


class InvalidToken(Exception):
    """The authorizer refuses the token: API Gateway's 401. The message is the
    `error_description` of the `www-authenticate` challenge."""


class KeySource(Protocol):
    """Where the verifier finds the public key a token names."""

    def key_for(self, kid: str) -> RSAKey | None:
        """The issuer's public key with this `kid`, or None if it publishes none."""
        ...


@dataclass(frozen=True)
class StaticKeys:
    """Keys known up front: the emulator's own dev issuer."""

    keys: tuple[RSAKey, ...]

    def key_for(self, kid: str) -> RSAKey | None:
        """The key published under `kid`, if any."""
        return next((k for k in self.keys if k.kid == kid), None)


@dataclass
class RemoteKeys:
    """An identity provider's JWKS, found through its discovery document as API Gateway finds it
    (`{issuer}/.well-known/openid-configuration` -> `jwks_uri`) and fetched over HTTPS only."""

    issuer: str
    ssl_context: ssl.SSLContext | None = None
    timeout: float = 10
    refetch_seconds: float = JWKS_REFETCH_SECONDS
    _keys: dict[str, RSAKey] = field(default_factory=dict, init=False, repr=False)
    _fetched_at: float = field(default=float("-inf"), init=False, repr=False)
    _attempted_at: float = field(default=float("-inf"), init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.issuer.startswith("https://"):
            # API Gateway reaches issuers over HTTPS only; a plain-HTTP JWKS could be swapped
            # by anyone on the path, and then any token verifies.
            raise ValueError(f"the issuer must be an https:// URL, not {self.issuer!r}")

    @property
    def discovery_url(self) -> str:
        """Where API Gateway looks for the issuer's configuration."""
        return self.issuer.rstrip("/") + DISCOVERY_PATH

    def refresh(self) -> None:
        """Fetch the discovery document and the JWKS it names now (raises `OSError`/`ValueError`
        saying what failed), so a wrong --issuer fails at start, not at the first request."""
        discovery = self._get_json(self.discovery_url)
        jwks_uri = discovery.get("jwks_uri") if isinstance(discovery, dict) else None
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith("https://"):
            raise ValueError(f"{self.discovery_url} names no https:// jwks_uri")
        document = self._get_json(jwks_uri)
        keys = _rsa_keys(document)
        with self._lock:
            self._keys = keys
            self._fetched_at = time.monotonic()

    def key_for(self, kid: str) -> RSAKey | None:
        """The cached key for `kid`; an unknown kid (a rotation) or a cache older than two
        hours reads the JWKS again, at most once per `refetch_seconds`."""
        with self._lock:
            key = self._keys.get(kid)
            stale = time.monotonic() - self._fetched_at > JWKS_CACHE_SECONDS
            may_fetch = time.monotonic() - self._attempted_at >= self.refetch_seconds
            if (stale or key is None) and may_fetch:
                self._attempted_at = time.monotonic()
            else:
                may_fetch = False
        if may_fetch:
            try:
                self.refresh()
            except (OSError, ValueError) as exc:
                # An unreachable provider: keys still cached serve until they age out.
                log.warning("cannot refresh the JWKS of %s: %s", self.issuer, exc)
            with self._lock:
                key = self._keys.get(kid)
                stale = time.monotonic() - self._fetched_at > JWKS_CACHE_SECONDS
        # Keys older than the cache's lifetime are not trusted any more: a key the provider
        # revoked must stop verifying, here as on AWS.
        return None if stale else key

    def _get_json(self, url: str) -> Any:
        context = self.ssl_context or ssl.create_default_context()
        req = urllib.request.Request(url, headers={"accept": "application/json"})  # noqa: S310
        with urllib.request.urlopen(req, timeout=self.timeout, context=context) as resp:  # noqa: S310
            return json.loads(resp.read(1024 * 1024))


def _rsa_keys(document: Any) -> dict[str, RSAKey]:
    """The RSA signing keys of a JWKS document, by kid; keys without a kid cannot be chosen."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the JWKS has no keys list")
    usable = [
        e
        for e in entries
        if isinstance(e, dict)
        and e.get("kty") == "RSA"
        and isinstance(e.get("kid"), str)
        and e.get("use", "sig") == "sig"
    ]
    try:
        key_set = KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"the JWKS holds an unreadable key: {exc}") from None
    return {str(k.kid): k for k in key_set.keys if isinstance(k, RSAKey)}


@dataclass(frozen=True)
class DevIssuer:
    """The emulator's own OIDC issuer: one RSA key per run, published as a JWKS."""

    issuer: str
    key: RSAKey

    @classmethod
    def generate(cls, issuer: str) -> DevIssuer:
        """A fresh signing key: tokens of an earlier run stop verifying, as after a rotation."""
        return cls(issuer, RSAKey.generate_key(RSA_KEY_BITS, private=True))

    @classmethod
    def from_pem(cls, issuer: str, pem: str) -> DevIssuer:
        """The issuer whose private key `mediakit dev` wrote to its env file."""
        key = RSAKey.import_key(pem)
        if not key.is_private:
            raise ValueError("the dev signing key is a public key")
        return cls(issuer, key)

    @property
    def kid(self) -> str:
        """The key id tokens carry in their header and the JWKS publishes."""
        # RFC 7638 thumbprint: the same key always gets the same kid, in the env file and JWKS.
        return str(self.key.thumbprint())

    @property
    def jwks_uri(self) -> str:
        """Where the discovery document says the JWKS is."""
        return self.issuer + JWKS_PATH

    def private_pem(self) -> str:
        """The private key as PKCS#8 PEM, for the owner-only env file (never for HTTP)."""
        return self.key.as_pem(private=True).decode("ascii")

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document. Never the private parts: it is served over HTTP."""
        public = self.key.as_dict(private=False, kid=self.kid, use="sig", alg=SIGNING_ALGORITHM)
        return {"keys": [public]}

    def discovery(self) -> dict[str, Any]:
        """The OIDC discovery document API Gateway reads to find the JWKS."""
        return {
            "issuer": self.issuer,
            "jwks_uri": self.jwks_uri,
            "id_token_signing_alg_values_supported": [SIGNING_ALGORITHM],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "claims_supported": ["iss", "aud", "sub", "exp", "nbf", "iat", "scope"],
        }

    def keys(self) -> StaticKeys:
        """The verifier's view of this issuer: its public key only."""
        public = RSAKey.import_key(self.key.as_dict(private=False, kid=self.kid))
        return StaticKeys((public,))

    def sign(self, claims: Mapping[str, Any]) -> str:
        """Any claims, signed with this issuer's key (tests use it for odd claim types)."""
        return sign(claims, self.key, kid=self.kid)

    def issue(
        self,
        *,
        audience: str,
        tenant_claim: str,
        tenant: str,
        ttl_seconds: int = 3600,
        scopes: Sequence[str] = (),
        scope_claim: str = "scope",
        now: float | None = None,
    ) -> str:
        """A dev token for `tenant`, carried in `tenant_claim` (and `sub`, as IdPs set it), with
        `scopes` in `scope_claim` as real identity providers put them (`scope_claim_value`)."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": tenant,
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_seconds,
        }
        if scopes:
            claims[scope_claim] = scope_claim_value(scope_claim, scopes)
        claims[tenant_claim] = tenant
        return self.sign(claims)


def scope_claim_value(scope_claim: str, scopes: Sequence[str]) -> str | list[str]:
    """`scopes` as identity providers send them in `scope_claim`: `scope` is OAuth 2.0's
    space-separated string (RFC 8693 section 4.2, Cognito access tokens); `scp` and custom
    claims (groups, roles) are arrays, as Okta sends `scp`."""
    return " ".join(scopes) if scope_claim == "scope" else list(scopes)


def sign(claims: Mapping[str, Any], key: RSAKey | str, *, kid: str | None = None) -> str:
    """Encode `claims` as an RS256 JWT. `key` is an RSA private key or its PEM; `kid` defaults
    to the key's thumbprint, as `DevIssuer` publishes it.

    The payload is serialised here, with every non-ASCII character escaped, so claims no
    identity provider would send (lone surrogates, nested objects) still reach the API intact.
    """
    private = RSAKey.import_key(key) if isinstance(key, str) else key
    header = {"alg": SIGNING_ALGORITHM, "typ": "JWT", "kid": kid or private.thumbprint()}
    payload = json.dumps(dict(claims), separators=(",", ":")).encode("ascii")
    return jws.serialize_compact(header, payload, private, algorithms=[SIGNING_ALGORITHM])


def issue(
    *,
    signing_key: str,
    issuer: str,
    audience: str,
    tenant_claim: str,
    tenant: str,
    ttl_seconds: int = 3600,
    scopes: Sequence[str] = (),
    scope_claim: str = "scope",
    now: float | None = None,
) -> str:
    """A dev token signed with the PEM private key `mediakit dev` wrote to its env file."""
    return DevIssuer.from_pem(issuer, signing_key).issue(
        audience=audience,
        tenant_claim=tenant_claim,
        tenant=tenant,
        ttl_seconds=ttl_seconds,
        scopes=scopes,
        scope_claim=scope_claim,
        now=now,
    )


def bearer_token(value: str | None) -> str:
    """The token in an Authorization header value, with or without the `Bearer` prefix (the
    identity source "can include only the token, or the token prefixed with Bearer")."""
    token = (value or "").strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    if not token:
        raise InvalidToken("no token in the identity source")
    return token


def verify(
    token: str,
    *,
    keys: KeySource,
    issuer: str,
    audiences: Collection[str],
    now: float | None = None,
    leeway: int = DEFAULT_LEEWAY,
) -> dict[str, Any]:
    """The claims of a token the JWT authorizer accepts; `InvalidToken` saying why otherwise.

    Checks run in the documented order: decode, algorithm, kid and signature, then iss,
    aud/client_id, exp, nbf, iat. Route scopes are the caller's (`token_scopes`).
    """
    try:
        unverified = jws.extract_compact(token.encode("ascii"))
        header = unverified.headers()
    except (JoseError, ValueError, UnicodeError, RecursionError, TypeError):
        # RecursionError: a `[[[[...` header is parsed before any signature is checked.
        raise InvalidToken("the token is not a readable JWT") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise InvalidToken("the token's signing algorithm is not an RSA one API Gateway supports")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("the token has no kid header")
    key = keys.key_for(kid)
    if key is None:
        raise InvalidToken("no key of the issuer matches the token's kid")
    try:
        verified = jws.deserialize_compact(token, key, algorithms=ALGORITHMS)
        claims = json.loads(verified.payload)
    except (JoseError, ValueError, RecursionError):
        raise InvalidToken("the token's signature is invalid") from None
    if not isinstance(claims, dict):
        raise InvalidToken("the token's payload is not a JSON object")

    if claims.get("iss") != issuer:
        raise InvalidToken("the token does not have a valid issuer")
    if not _audience_ok(claims, audiences):
        raise InvalidToken(INVALID_AUDIENCE)
    current = time.time() if now is None else now
    exp = _number(claims.get("exp"))
    if exp is None:
        raise InvalidToken("the token has no expiry")
    if current >= exp + leeway:
        raise InvalidToken("the token has expired")
    nbf = _number(claims.get("nbf"))
    if nbf is not None and current < nbf - leeway:
        raise InvalidToken("the token is not valid yet")
    iat = _number(claims.get("iat"))
    if iat is not None and current < iat - leeway:
        raise InvalidToken("the token was issued in the future")
    return claims


def _audience_ok(claims: Mapping[str, Any], audiences: Collection[str]) -> bool:
    # "API Gateway validates client_id only if aud is not present. When both aud and client_id
    # are present, API Gateway evaluates aud." (troubleshooting page)
    if "aud" in claims:
        aud = claims["aud"]
        values = aud if isinstance(aud, list) else [aud]
        return any(isinstance(v, str) and v in audiences for v in values)
    client_id = claims.get("client_id")
    return isinstance(client_id, str) and client_id in audiences


def _number(value: object) -> float | None:
    """A NumericDate claim's value; None when absent or not a number (booleans are not)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def token_scopes(claims: Mapping[str, Any]) -> list[str]:
    """The scopes a token grants: `scope` (space-separated, OAuth 2.0) or `scp` (a string or a
    list, as Okta and Entra ID send it) — the two claims the authorizer reads."""
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            return value.split()
        if isinstance(value, list):
            return [v for v in value if isinstance(v, str)]
    return []

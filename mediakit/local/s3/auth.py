"""Request authentication as S3 does it (AWS Signature Version 4), as pure functions over what
the endpoint received: the `Authorization` header or the presigned query parameters, checked
against a keyring of access key id -> secret and a clock.

The signature is recomputed with botocore's own S3 signer (`S3SigV4Auth`: canonical request,
string to sign, signing-key derivation), fed exactly the headers the client listed in
`SignedHeaders` with the values that arrived, so a header that was signed but is missing or
altered makes the signatures differ, as on S3. Error codes and messages are S3's:
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-auth-using-authorization-header.html
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import cached_property
from http.client import HTTPMessage
from urllib.parse import quote, unquote

from botocore.auth import SIGV4_TIMESTAMP, UNSIGNED_PAYLOAD, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode

from mediakit.local.s3.errors import S3Error

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
# S3 refuses a request signed more than 15 minutes from its clock (RequestTimeTooSkewed says
# MaxAllowedSkewMilliseconds 900000), and a presigned URL may live at most seven days.
MAX_SKEW = timedelta(minutes=15)
MAX_EXPIRES_SECONDS = 7 * 24 * 3600
QUERY_AUTH_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
_ISO = "%Y-%m-%dT%H:%M:%SZ"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")

Keyring = Mapping[str, str]
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Received:
    """A request as it arrived: method, path and query exactly as on the wire (still
    percent-encoded), headers with lower-cased names in arrival order, and the body."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    @cached_property
    def _header_map(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for name, value in self.headers:
            # Repeated headers travel as one comma-joined value, as SigV4 canonicalises them.
            merged[name] = f"{merged[name]},{value}" if name in merged else value
        return merged

    def header(self, name: str) -> str | None:
        """The value of header `name` (any case), repeated values comma-joined; None if absent."""
        return self._header_map.get(name.lower())

    @cached_property
    def params(self) -> list[tuple[str, str]]:
        """The query's name/value pairs, percent-decoded, in order."""
        pairs = []
        for part in self.query.split("&"):
            if part:
                name, _, value = part.partition("=")
                pairs.append((unquote(name), unquote(value)))
        return pairs

    def param(self, name: str) -> str | None:
        """The first value of query parameter `name` (exact case, as S3 reads them)."""
        return next((v for k, v in self.params if k == name), None)


@dataclass(frozen=True)
class Scope:
    """A credential scope: `<access key>/<yyyymmdd>/<region>/<service>/aws4_request`."""

    access_key: str
    date: str
    region: str
    service: str

    @property
    def text(self) -> str:
        """The scope as the string to sign names it (without the access key)."""
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True)
class Signed:
    """A request whose signature verified: what the payload checks need to go on (chunk
    signatures chain from `signature`, with the key of `scope` and `secret`)."""

    scope: Scope
    secret: str
    timestamp: str
    signature: str
    presigned: bool


def sign(secret: str, scope: Scope, string_to_sign: str) -> str:
    """The hex SigV4 signature of `string_to_sign` with the key derived for `scope`: botocore's
    key derivation (AWS4+secret -> date -> region -> service -> aws4_request)."""
    signer = S3SigV4Auth(Credentials(scope.access_key, secret), scope.service, scope.region)
    request = AWSRequest()
    # botocore derives the date key from the first 8 characters of the timestamp.
    request.context["timestamp"] = scope.date
    return signer.signature(string_to_sign, request)


def signatures_match(expected: str, provided: str) -> bool:
    """Constant-time comparison of two hex signatures (S3 compares them case-sensitively)."""
    return hmac.compare_digest(
        expected.encode("ascii", "replace"), provided.encode("ascii", "replace")
    )


def utc_now() -> datetime:
    """The endpoint's clock."""
    return datetime.now(UTC)


def is_header_signed(received: Received) -> bool:
    """True when the request carries an `Authorization` header."""
    return received.header("authorization") is not None


def is_presigned(received: Received) -> bool:
    """True when any SigV4 query-string authentication parameter is present."""
    names = {k for k, _ in received.params}
    return any(p in names for p in QUERY_AUTH_PARAMS)


def is_sigv2_presigned(received: Received) -> bool:
    """True for a Signature Version 2 presigned URL (AWSAccessKeyId + Signature)."""
    names = {k for k, _ in received.params}
    return "AWSAccessKeyId" in names or "Signature" in names


def verify_request(
    received: Received, keys: Keyring, region: str, now: Clock = utc_now
) -> Signed | None:
    """Authenticate a REST request (not a POST form) as S3 would: by its Authorization header
    or its presigned query. None for an anonymous request; an `S3Error` for a refused one."""
    header = is_header_signed(received)
    if header and (is_presigned(received) or is_sigv2_presigned(received)):
        raise S3Error(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            (
                ("ArgumentName", "Authorization"),
                ("ArgumentValue", received.header("authorization") or ""),
            ),
        )
    if header:
        return verify_header(received, keys, region, now)
    if is_presigned(received):
        return verify_presigned(received, keys, region, now)
    if is_sigv2_presigned(received):
        raise unsupported_mechanism()
    return None


def unsupported_mechanism() -> S3Error:
    """What S3 answers a Signature Version 2 request with where it accepts only SigV4: every
    region opened since 2014, and buckets created after 24 June 2020 in the others
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingAWSSDK.html#UsingAWSSDK-sig2-deprecation).
    The emulator's bucket is such a new bucket; botocore presigns with SigV4 when configured
    `signature_version="s3v4"`, as the kit's clients are."""
    return S3Error(
        400,
        "InvalidRequest",
        "The authorization mechanism you have provided is not supported. "
        "Please use AWS4-HMAC-SHA256.",
    )


# -- the Authorization header ---------------------------------------------------------------


def _malformed_header(detail: str, details: Sequence[tuple[str, str]] = ()) -> S3Error:
    return S3Error(
        400,
        "AuthorizationHeaderMalformed",
        f"The authorization header is malformed; {detail}",
        details,
    )


def parse_authorization(value: str) -> tuple[str, list[str], str]:
    """`AWS4-HMAC-SHA256 Credential=..., SignedHeaders=a;b, Signature=...` -> its credential,
    signed header names and signature; S3's errors for anything else."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        if algorithm == "AWS":
            raise unsupported_mechanism()
        raise S3Error(
            400,
            "InvalidArgument",
            "Unsupported Authorization Type",
            (("ArgumentName", "Authorization"), ("ArgumentValue", value)),
        )
    components: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, component = part.strip().partition("=")
        if sep:
            components[name] = component
    if not all(components.get(n) for n in ("Credential", "SignedHeaders", "Signature")):
        raise _malformed_header(
            "the authorization header requires three components: Credential, "
            "SignedHeaders, and Signature."
        )
    signed = components["SignedHeaders"].split(";")
    return components["Credential"], signed, components["Signature"]


def parse_scope(credential: str, region: str, malformed: Callable[..., S3Error]) -> Scope:
    """A credential `<key>/<date>/<region>/<service>/aws4_request` checked against this
    endpoint's region and service; `malformed(detail, details)` builds the flavour of error
    (header or query) S3 answers with."""
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise malformed(
            "the Credential is mal-formed; expecting "
            '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    access_key, date, scope_region, service, terminal = parts
    if scope_region != region:
        raise malformed(
            f"the region '{scope_region}' is wrong; expecting '{region}'", (("Region", region),)
        )
    if service != SERVICE:
        raise malformed(f'incorrect service "{service}". This endpoint belongs to "{SERVICE}".')
    if terminal != "aws4_request":
        raise malformed(f'incorrect terminal "{terminal}". This endpoint uses "aws4_request".')
    return Scope(access_key, date, scope_region, service)


def secret_for(scope: Scope, keys: Keyring) -> str:
    """The secret of the scope's access key; InvalidAccessKeyId for a key S3 never issued."""
    secret = keys.get(scope.access_key)
    if secret is None:
        raise S3Error(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            (("AWSAccessKeyId", scope.access_key),),
        )
    return secret


def request_timestamp(received: Received) -> str:
    """The signing time: `x-amz-date` (ISO 8601 basic), else the `Date` header, as SigV4 allows."""
    amz_date = received.header("x-amz-date")
    try:
        if amz_date is not None:
            datetime.strptime(amz_date, SIGV4_TIMESTAMP)
            return amz_date
        date = received.header("date")
        if date is not None:
            return parsedate_to_datetime(date).astimezone(UTC).strftime(SIGV4_TIMESTAMP)
    except (ValueError, TypeError):
        pass
    raise S3Error(
        403, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
    )


def _parse_timestamp(timestamp: str) -> datetime:
    return datetime.strptime(timestamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)


def check_skew(timestamp: str, now: datetime) -> None:
    """S3 refuses a header-signed request stamped more than 15 minutes from its own clock."""
    if abs(now - _parse_timestamp(timestamp)) > MAX_SKEW:
        raise S3Error(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            (
                ("RequestTime", timestamp),
                ("ServerTime", now.strftime(_ISO)),
                ("MaxAllowedSkewMilliseconds", str(int(MAX_SKEW.total_seconds() * 1000))),
            ),
        )


def check_signed_headers(received: Received, signed: Sequence[str], *, presigned: bool) -> None:
    """SigV4 requires `host` and every `x-amz-*` header sent to be signed; S3 refuses a request
    carrying one it cannot vouch for (a presigned URL's `x-amz-content-sha256` is exempt: it is
    not part of that signature)."""
    listed = set(signed)
    unsigned = [] if "host" in listed else ["host"]
    for name, _ in received.headers:
        if name.startswith("x-amz-") and name not in listed and name not in unsigned:
            if presigned and name == "x-amz-content-sha256":
                continue
            unsigned.append(name)
    if unsigned:
        raise S3Error(
            403,
            "AccessDenied",
            "There were headers present in the request which were not signed",
            (("HeadersNotSigned", ", ".join(unsigned)),),
        )


def check_no_session_token(received: Received) -> None:
    """The endpoint's keys are long-term keys: a session token is one S3 never issued them."""
    if (
        received.header("x-amz-security-token") is not None
        or received.param("X-Amz-Security-Token") is not None
    ):
        raise S3Error(400, "InvalidToken", "The provided token is malformed or otherwise invalid.")


class _ReceivedRequestSigner(S3SigV4Auth):
    """botocore's S3 signer pointed at a received request: the canonical headers are exactly
    the ones the client listed in SignedHeaders (botocore would pick them itself, dropping a
    few such as `expect`), and the payload line is the one the client declared."""

    def __init__(self, credentials: Credentials, region: str, payload: str) -> None:
        super().__init__(credentials, SERVICE, region)
        self._declared_payload = payload

    def headers_to_sign(self, request: AWSRequest) -> HTTPMessage:
        return request.headers

    def payload(self, request: AWSRequest) -> str:
        return self._declared_payload


def canonical_path(raw_path: str) -> str:
    """The canonical URI as S3 computes it: each path segment decoded and URI-encoded once
    (S3 does not normalise `.`/`..` or double slashes; an encoded `/` stays in its segment)."""
    return "/".join(quote(unquote(segment), safe="~") for segment in raw_path.split("/"))


def canonical_request(
    received: Received, signed: Sequence[str], *, exclude: str | None = None
) -> AWSRequest:
    """The received request as botocore's signer sees it: canonical path, the query re-encoded
    by botocore's encoder (less `exclude`), and the signed headers with their received values
    (a signed header that did not arrive is signed as empty, so the signatures differ)."""
    query = "&".join(
        f"{percent_encode(k)}={percent_encode(v)}" for k, v in received.params if k != exclude
    )
    url = f"http://s3{canonical_path(received.path)}" + (f"?{query}" if query else "")
    headers = {name: received.header(name) or "" for name in signed}
    return AWSRequest(method=received.method, url=url, headers=headers)


def expected_signature(
    received: Received,
    *,
    scope: Scope,
    secret: str,
    timestamp: str,
    signed: Sequence[str],
    payload: str,
    exclude: str | None = None,
) -> tuple[str, str, str]:
    """The signature S3 computes for `received`, with the canonical request and string to sign
    it came from (S3 returns both in SignatureDoesNotMatch, to debug a client)."""
    signer = _ReceivedRequestSigner(Credentials(scope.access_key, secret), scope.region, payload)
    request = canonical_request(received, signed, exclude=exclude)
    request.context["timestamp"] = timestamp
    canonical = signer.canonical_request(request)
    string_to_sign = signer.string_to_sign(request, canonical)
    return signer.signature(string_to_sign, request), canonical, string_to_sign


def signature_does_not_match(
    scope: Scope, provided: str, string_to_sign: str, canonical: str | None = None
) -> S3Error:
    """S3's SignatureDoesNotMatch, with the material it returns to debug the client."""
    details = [
        ("AWSAccessKeyId", scope.access_key),
        ("StringToSign", string_to_sign),
        ("SignatureProvided", provided),
        ("StringToSignBytes", string_to_sign.encode().hex(" ")),
    ]
    if canonical is not None:
        details += [
            ("CanonicalRequest", canonical),
            ("CanonicalRequestBytes", canonical.encode().hex(" ")),
        ]
    return S3Error(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
        details,
    )


def check_signature(expected: str, provided: str, error: Callable[[], S3Error]) -> None:
    """Refuse with `error()` unless the provided signature is the expected one."""
    if not signatures_match(expected, provided):
        raise error()


def verify_header(received: Received, keys: Keyring, region: str, now: Clock = utc_now) -> Signed:
    """Verify an `Authorization: AWS4-HMAC-SHA256 ...` request: credential scope, key, date and
    skew, signed headers, declared payload hash, then the signature."""
    credential, signed, provided = parse_authorization(received.header("authorization") or "")
    scope = parse_scope(credential, region, _malformed_header)
    secret = secret_for(scope, keys)
    check_no_session_token(received)
    timestamp = request_timestamp(received)
    if timestamp[:8] != scope.date:
        raise _malformed_header("Invalid credential date. Date is not the same as X-Amz-Date.")
    check_skew(timestamp, now())
    payload = declared_payload(received)
    check_signed_headers(received, signed, presigned=False)
    expected, canonical, string_to_sign = expected_signature(
        received, scope=scope, secret=secret, timestamp=timestamp, signed=signed, payload=payload
    )
    check_signature(
        expected,
        provided,
        lambda: signature_does_not_match(scope, provided, string_to_sign, canonical),
    )
    return Signed(scope, secret, timestamp, provided, presigned=False)


# The values S3 accepts for x-amz-content-sha256 besides a hex digest.
PAYLOAD_MODES = frozenset(
    {
        UNSIGNED_PAYLOAD,
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    }
)


def declared_payload(received: Received) -> str:
    """The header-signed request's `x-amz-content-sha256`: required by S3, and either a hex
    SHA-256 or one of S3's named payload modes."""
    value = received.header("x-amz-content-sha256")
    if value is None:
        raise S3Error(
            400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        )
    if value not in PAYLOAD_MODES and not is_sha256_hex(value):
        raise invalid_payload_hash(value)
    return value


def is_sha256_hex(value: str) -> bool:
    """True for a hex SHA-256 digest (either case)."""
    return _HEX64.match(value) is not None


def invalid_payload_hash(value: str) -> S3Error:
    """S3's refusal of an `x-amz-content-sha256` it does not know (SigV4a's ECDSA streaming
    modes are in S3's list but need an algorithm this endpoint does not verify)."""
    return S3Error(
        400,
        "InvalidArgument",
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, "
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
        (("ArgumentName", "x-amz-content-sha256"), ("ArgumentValue", value)),
    )


# -- presigned query ------------------------------------------------------------------------


def _query_error(message: str, details: Sequence[tuple[str, str]] = ()) -> S3Error:
    return S3Error(400, "AuthorizationQueryParametersError", message, details)


def _malformed_query_credential(detail: str, details: Sequence[tuple[str, str]] = ()) -> S3Error:
    return _query_error(f"Error parsing the X-Amz-Credential parameter; {detail}", details)


def presigned_expiry(received: Received) -> int:
    """X-Amz-Expires as S3 bounds it: a whole number of seconds, at most seven days."""
    value = received.param("X-Amz-Expires") or ""
    try:
        expires = int(value)
    except ValueError:
        raise _query_error("X-Amz-Expires should be a number") from None
    if expires < 0:
        raise _query_error("X-Amz-Expires must be non-negative")
    if expires > MAX_EXPIRES_SECONDS:
        raise _query_error(
            "X-Amz-Expires must be less than a week (in seconds) that is "
            f"{MAX_EXPIRES_SECONDS} seconds"
        )
    return expires


def check_validity_window(timestamp: str, expires: int, now: datetime) -> None:
    """A presigned URL is good from its X-Amz-Date (15 minutes of clock skew allowed) until
    X-Amz-Expires seconds after it."""
    signed_at = _parse_timestamp(timestamp)
    if signed_at - now > MAX_SKEW:
        raise S3Error(403, "AccessDenied", "Request is not valid yet")
    expires_at = signed_at + timedelta(seconds=expires)
    if now > expires_at:
        raise S3Error(
            403,
            "AccessDenied",
            "Request has expired",
            (
                ("X-Amz-Expires", str(expires)),
                ("Expires", expires_at.strftime(_ISO)),
                ("ServerTime", now.strftime(_ISO)),
            ),
        )


def verify_presigned(
    received: Received, keys: Keyring, region: str, now: Clock = utc_now
) -> Signed:
    """Verify a presigned (query-string authenticated) request: all six parameters, credential,
    key, expiry window, signed headers, then the signature over an UNSIGNED-PAYLOAD."""
    if any(received.param(p) is None for p in QUERY_AUTH_PARAMS):
        raise _query_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
            "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
        )
    if received.param("X-Amz-Algorithm") != ALGORITHM:
        raise _query_error(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    scope = parse_scope(
        received.param("X-Amz-Credential") or "", region, _malformed_query_credential
    )
    secret = secret_for(scope, keys)
    check_no_session_token(received)
    timestamp = received.param("X-Amz-Date") or ""
    try:
        _parse_timestamp(timestamp)
    except ValueError:
        raise _query_error(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        ) from None
    if timestamp[:8] != scope.date:
        raise _query_error("Invalid credential date. Date is not the same as X-Amz-Date.")
    check_validity_window(timestamp, presigned_expiry(received), now())
    signed = (received.param("X-Amz-SignedHeaders") or "").split(";")
    check_signed_headers(received, signed, presigned=True)
    provided = received.param("X-Amz-Signature") or ""
    expected, canonical, string_to_sign = expected_signature(
        received,
        scope=scope,
        secret=secret,
        timestamp=timestamp,
        signed=signed,
        payload=UNSIGNED_PAYLOAD,
        exclude="X-Amz-Signature",
    )
    check_signature(
        expected,
        provided,
        lambda: signature_does_not_match(scope, provided, string_to_sign, canonical),
    )
    return Signed(scope, secret, timestamp, provided, presigned=True)

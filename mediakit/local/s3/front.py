"""The gate in front of moto's S3: each request moto's dispatcher routes to its S3 backend is
first treated as S3 treats it. A preflight OPTIONS is answered from the bucket's CORS
configuration (moto never sees it); any other request must authenticate, by SigV4 header,
presigned query or POST policy, and its body must be what it declares, or it gets S3's XML
error; what moto answers gets S3's CORS headers instead of the allow-all ones moto's Flask
app adds to every response.

Which requests are S3's is moto's own routing decision (`DomainDispatcherApplication`: the
credential scope's service in the Authorization header, else the host, else S3 as moto's
default), so the gate sees exactly what moto's S3 would, and SQS, DynamoDB, KMS, EventBridge
and STS on the same port are left to moto, unverified.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from mediakit.local.s3.auth import (
    Clock,
    Keyring,
    Received,
    is_header_signed,
    is_presigned,
    utc_now,
    verify_request,
)
from mediakit.local.s3.cors import CorsRule, actual_request_headers, preflight
from mediakit.local.s3.errors import S3Error, error_response
from mediakit.local.s3.payload import check_body
from mediakit.local.s3.post import is_form_upload, parse_form, verify_post

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
StartResponse = Callable[..., Any]
# A bucket's CORS rules by name: (whether the bucket exists, its rules or None without any).
BucketCors = Callable[[str], tuple[bool, tuple[CorsRule, ...] | None]]


def moto_bucket_cors(bucket: str) -> tuple[bool, tuple[CorsRule, ...] | None]:
    """Read a bucket's CORS configuration back from moto's S3 backend (in this process), so the
    gate enforces what was put with PutBucketCors, whoever put it."""
    from moto.s3.models import s3_backends

    location = s3_backends.bucket_accounts.get(bucket)
    if location is None:
        return False, None
    partition, account_id = location
    found = s3_backends[account_id][partition].buckets.get(bucket)
    if found is None:
        return False, None
    rules = tuple(
        CorsRule(
            allowed_origins=tuple(rule.allowed_origins or ()),
            allowed_methods=tuple(rule.allowed_methods or ()),
            allowed_headers=tuple(rule.allowed_headers or ()),
            expose_headers=tuple(rule.exposed_headers or ()),
            max_age_seconds=int(rule.max_age_seconds) if rule.max_age_seconds is not None else None,
        )
        for rule in found.cors
    )
    return True, rules or None


def wsgi_headers(environ: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The request headers from a WSGI environ, names lower-cased; header names with
    underscores keep their spelling from moto's request handler, which preserves them."""
    from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY

    preserved: Mapping[str, str] = environ.get(PRESERVED_HEADER_NAMES_ENVIRON_KEY) or {}
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = preserved.get(key) or key[5:].replace("_", "-")
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            name = key.replace("_", "-")
        else:
            continue
        headers.append((name.lower(), str(value)))
    return tuple(headers)


def request_target(environ: Mapping[str, Any]) -> tuple[str, str]:
    """The path and query exactly as the client sent them (werkzeug's server keeps the raw
    request target; PATH_INFO is already decoded, which would change what was signed)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        return environ.get("PATH_INFO", "/"), environ.get("QUERY_STRING", "")
    if "://" in raw:
        parts = urlsplit(raw)
        return parts.path or "/", parts.query
    path, _, query = raw.partition("?")
    return path or "/", query


def bucket_and_key(host: str, path: str) -> tuple[str, str]:
    """The bucket and key a request addresses, by moto's own rule for virtual-hosted versus
    path-style addressing (an IP address or localhost is always path-style)."""
    from moto.s3.responses import S3Response
    from moto.s3.utils import bucket_name_from_url

    class _Request:
        headers = {"host": host}

    if S3Response.subdomain_based_buckets(_Request()):
        return bucket_name_from_url(f"http://{host}{path}") or "", unquote(path.lstrip("/"))
    bucket, _, key = path.lstrip("/").partition("/")
    return unquote(bucket), unquote(key)


def checksummed(received: Received) -> bool:
    """Whether the request's `x-amz-checksum-*` describes its own body: not on
    CompleteMultipartUpload (the whole object's) nor on a copy (the source's)."""
    if received.method == "POST" and any(k == "uploadId" for k, _ in received.params):
        return False
    return received.header("x-amz-copy-source") is None


class S3Front:
    """The verifying front of the emulator's S3 endpoint, for the keys in `keys` (access key id
    -> secret) and the endpoint's `region`."""

    def __init__(
        self,
        keys: Keyring,
        region: str,
        *,
        now: Clock = utc_now,
        bucket_cors: BucketCors = moto_bucket_cors,
    ) -> None:
        self.keys = dict(keys)
        self.region = region
        self.now = now
        self.bucket_cors = bucket_cors

    def __call__(
        self,
        app: WsgiApp,
        environ: dict[str, Any],
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        start_response: StartResponse,
    ) -> Iterable[bytes]:
        """Serve one S3 request: answer or refuse it here, or pass it on to moto's `app`."""
        path, query = request_target(environ)
        received = Received(environ["REQUEST_METHOD"].upper(), path, query, headers, body)
        bucket, key = bucket_and_key(received.header("host") or "", path)
        origin = received.header("origin")
        if received.method == "OPTIONS":
            return self._preflight(received, bucket, key, start_response)
        # Only a request from a page (with an Origin) needs the bucket's rules looked up.
        cors = (
            actual_request_headers(self.bucket_cors(bucket)[1], origin, received.method)
            if origin and bucket
            else []
        )
        try:
            self.authorize(received, bucket)
        except S3Error as error:
            return _send(error, cors, start_response, head=received.method == "HEAD")
        return app(environ, _replacing_cors(start_response, cors))

    def authorize(self, received: Received, bucket: str) -> None:
        """Refuse (raise `S3Error`) unless S3 would carry out `received`."""
        content_type = received.header("content-type")
        if (
            is_form_upload(received.method, content_type)
            and not is_header_signed(received)
            and not is_presigned(received)
        ):
            form = parse_form(content_type or "", received.body)
            verify_post(form, bucket=bucket, keys=self.keys, region=self.region, now=self.now)
            return
        signed = verify_request(received, self.keys, self.region, self.now)
        if signed is None:
            # Anonymous: the bucket is private and blocks public access, so S3 says no.
            raise S3Error(403, "AccessDenied", "Access Denied")
        check_body(received, signed, checksummed=checksummed(received))

    def _preflight(
        self, received: Received, bucket: str, key: str, start_response: StartResponse
    ) -> Iterable[bytes]:
        exists, rules = self.bucket_cors(bucket) if bucket else (False, None)
        try:
            headers = preflight(
                rules,
                bucket_exists=exists,
                origin=received.header("origin"),
                method=received.header("access-control-request-method"),
                request_headers=received.header("access-control-request-headers"),
                resource_type="OBJECT" if key else "BUCKET",
            )
        except S3Error as error:
            return _send(error, [], start_response)
        start_response("200 OK", [*headers, ("Content-Length", "0")])
        return [b""]


def _send(
    error: S3Error,
    cors: list[tuple[str, str]],
    start_response: StartResponse,
    *,
    head: bool = False,
) -> Iterable[bytes]:
    # S3 puts the CORS headers on its errors too, so a page can read why it was refused.
    response = error_response(error, head=head)
    start_response(response.status, [*response.headers, *cors])
    return [response.body]


def _is_cors_header(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("access-control-") or lowered == "vary"


def _replacing_cors(start_response: StartResponse, cors: list[tuple[str, str]]) -> StartResponse:
    """Swap the CORS headers of moto's answer (flask-cors allows every origin) for S3's."""

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        kept = [(k, v) for k, v in headers if not _is_cors_header(k)]
        return start_response(status, [*kept, *cors], exc_info)

    return start

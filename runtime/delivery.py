"""Delivery of derivatives: the URLs a record view carries, how long they may be cached, and
what a DELETE does at the edge.

`private` mode (the default): CloudFront serves `derivatives/*` only to signed requests (the
stack's trusted key group). One custom policy per upload — a wildcard over the upload's
derivative prefix, valid for `deliveryUrlTtlSeconds` (rounded down to a grid of 1/12 of it, so
reads within one step share URLs and signature) — is signed once with KMS (`kms:Sign`,
RSASSA-PKCS1-v1_5 over SHA-256; the private key never leaves KMS), and every derivative URL of
the record carries the same `Policy`, `Signature`, `Key-Pair-Id` and `Hash-Algorithm=SHA256`.
CloudFront accepts RSA 2048 and ECDSA P-256 keys and, with `Hash-Algorithm=SHA256`, SHA-256
signatures (CloudFront Developer Guide, "Code examples for creating a signature for a signed
URL"); KMS cannot sign RSA with SHA-1, so the parameter is required.

`public` mode: plain CloudFront URLs; a DELETE invalidates the upload's explicit derivative paths
(CloudFront allows only 15 wildcard invalidations in progress per distribution, but 3,000 paths).

Without a CDN (`mediakit dev`) the URLs are presigned S3 GETs living `deliveryUrlTtlSeconds`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.parse
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from runtime import keys, signing
from runtime.aws import error_code, is_transient
from runtime.errors import SettingsError, TransientFault

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client

    from runtime.records import UploadRecord
    from runtime.settings import Resources, Settings

log = logging.getLogger(__name__)

PRIVATE = "private"
PUBLIC = "public"
# KMS hashes the RAW message with SHA-256 and signs it PKCS#1 v1.5: what CloudFront verifies for
# an RSA key when the URL says Hash-Algorithm=SHA256.
SIGNING_ALGORITHM: Final = "RSASSA_PKCS1_V1_5_SHA_256"
HASH_ALGORITHM_PARAM = "Hash-Algorithm=SHA256"
# CreateInvalidation: retried on these (CloudFront answers 400 TooManyInvalidationsInProgress
# while its per-distribution limits are reached), within the presign function's timeout.
INVALIDATION_RETRY_CODES = frozenset(
    {"TooManyInvalidationsInProgress", "Throttling", "ThrottlingException", "ServiceUnavailable"}
)
INVALIDATION_ATTEMPTS = 4
INVALIDATION_BACKOFF_SECONDS = 0.5
# Signed URLs expire on a grid of 1/12 of the TTL (5 minutes of the default hour): a record read
# again within one step gets the same URLs, so browsers reuse their cached copies (the URL is
# the cache key) and a warm function asks KMS once per upload per step, not once per read. A URL
# therefore lives between 11/12 of the TTL and the TTL, never longer.
EXPIRY_STEPS_PER_TTL = 12
SIGNATURE_CACHE_SIZE = 4096


class InvalidationClient(Protocol):
    """The part of boto3's CloudFront client a DELETE uses."""

    def create_invalidation(self, **kwargs: Any) -> Any: ...


def cache_control(settings: Settings) -> str:
    """The Cache-Control of a derivative: never longer than the mode's bound (the CDN's response
    headers policy sets the same value on every response, also for objects written before)."""
    scope = "private" if settings.delivery_mode == PRIVATE else "public"
    return f"{scope}, max-age={settings.delivery_cache_seconds}"


def object_url(cdn_domain: str, key: str) -> str:
    """The CloudFront URL of an object key (percent-encoded as CloudFront matches it)."""
    return f"https://{cdn_domain}/{urllib.parse.quote(key)}"


def upload_prefix(settings: Settings, record: UploadRecord) -> str:
    """`derivatives/{tenant}/{upload_id}/`: every derivative of the upload, whatever its spec."""
    return f"{settings.derivatives_prefix}{record['tenant']}/{record['upload_id']}/"


def policy_resource(cdn_domain: str, prefix: str) -> str:
    """The custom policy's Resource: a wildcard over one upload's derivative prefix."""
    return object_url(cdn_domain, prefix) + "*"


def signed_query(
    kms: KMSClient, *, key_arn: str, key_pair_id: str, resource: str, expires: datetime
) -> str:
    """`Policy=…&Signature=…&Key-Pair-Id=…&Hash-Algorithm=SHA256` for a custom policy on
    `resource` valid until `expires`, signed once with KMS. botocore's CloudFrontSigner builds
    the policy and CloudFront's URL-safe base64; called on an empty URL it returns the query."""
    from botocore.signers import CloudFrontSigner

    def kms_sign(message: bytes) -> bytes:
        answer = kms.sign(
            KeyId=key_arn,
            Message=message,
            MessageType="RAW",
            SigningAlgorithm=SIGNING_ALGORITHM,
        )
        return answer["Signature"]

    signer = CloudFrontSigner(key_pair_id, kms_sign)
    policy = signer.build_policy(resource, expires)
    query = str(signer.generate_presigned_url("", policy=policy))
    return f"{query.removeprefix('?')}&{HASH_ALGORITHM_PARAM}"


class _Signatures:
    """Recently made signed queries by (key, key pair id, resource, expiry), least recently used
    dropped first; a warm function serves repeated reads of an upload without KMS."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, str, str, int], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str, int], make: Callable[[], str]) -> str:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        query = make()
        with self._lock:
            self._entries[key] = query
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return query


_signatures = _Signatures(SIGNATURE_CACHE_SIZE)


def signed_expiry(now: datetime, ttl: int) -> datetime:
    """`now + ttl` rounded down to the expiry grid (a step of ttl / EXPIRY_STEPS_PER_TTL)."""
    step = max(1, ttl // EXPIRY_STEPS_PER_TTL)
    epoch = int((now + timedelta(seconds=ttl)).timestamp())
    return datetime.fromtimestamp(epoch - epoch % step, tz=UTC)


@dataclass
class RecordUrls:
    """The URLs of one record's derivatives; private mode signs at most once, on first use."""

    url_for: Callable[[str], str]
    # When the URLs stop working (None: public CloudFront URLs do not expire).
    expires_at: datetime | None


def record_urls(
    record: UploadRecord,
    *,
    settings: Settings,
    resources: Resources,
    s3: S3Client,
    kms: Callable[[], KMSClient],
    now: datetime,
) -> RecordUrls:
    """How the derivative URLs of `record` are made in this mode, on this stack."""
    ttl = settings.delivery_url_ttl_seconds
    cdn = resources.cdn_domain
    if not cdn:
        # The emulator: no CloudFront, presigned GETs of the same lifetime.
        return RecordUrls(
            lambda key: signing.presign_get(s3, bucket=resources.bucket, key=key, ttl=ttl),
            now + timedelta(seconds=ttl),
        )
    if settings.delivery_mode == PUBLIC:
        return RecordUrls(lambda key: object_url(cdn, key), None)
    for attr in ("delivery_key_arn", "delivery_key_pair_id"):
        if not getattr(resources, attr):
            raise SettingsError(resources.ENV[attr], "is required in private delivery mode")
    expires = signed_expiry(now, ttl)
    resource = policy_resource(cdn, upload_prefix(settings, record))
    cache_key = (
        resources.delivery_key_arn,
        resources.delivery_key_pair_id,
        resource,
        int(expires.timestamp()),
    )
    query: list[str] = []

    def url_for(key: str) -> str:
        if not query:
            query.append(
                _signatures.get(
                    cache_key,
                    lambda: signed_query(
                        kms(),
                        key_arn=resources.delivery_key_arn,
                        key_pair_id=resources.delivery_key_pair_id,
                        resource=resource,
                        expires=expires,
                    ),
                )
            )
        return f"{object_url(cdn, key)}?{query[0]}"

    return RecordUrls(url_for, expires)


def invalidation_paths(settings: Settings, object_keys: Iterable[str]) -> list[str]:
    """The explicit CloudFront paths of the derivative keys among `object_keys` (no wildcard)."""
    return sorted(
        {
            "/" + urllib.parse.quote(key)
            for key in object_keys
            if key.startswith(settings.derivatives_prefix)
        }
    )


def invalidate_upload(
    settings: Settings,
    resources: Resources,
    record: UploadRecord,
    cloudfront: Callable[[], InvalidationClient],
    *,
    listed: Iterable[str] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """`invalidate` every derivative path the upload can have: the keys a DELETE found under
    its prefix (`listed`), the recorded ones, and the current specs' ones, so a repeated DELETE
    (whose listing finds nothing left) invalidates the same paths again."""
    doomed = set(listed)
    doomed.update(d["key"] for d in record.get("derivatives", []))
    doomed.update(
        keys.derivative_key(settings, record["tenant"], record["upload_id"], spec.name, spec.format)
        for spec in settings.derivatives
    )
    return invalidate(settings, resources, doomed, cloudfront, sleep=sleep)


def invalidate(
    settings: Settings,
    resources: Resources,
    object_keys: Iterable[str],
    cloudfront: Callable[[], InvalidationClient],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """Public mode: invalidate the derivative paths among `object_keys`; returns the invalidation id
    (None when there is nothing to invalidate: private mode, no CDN, no derivative key).

    Retried with jittered backoff while CloudFront answers TooManyInvalidationsInProgress or
    throttles; still failing, it raises TransientFault, so the DELETE answers 503 and the client
    retries it (a repeated DELETE invalidates again). Even then the edge's TTL
    (`deliveryCacheSeconds`) bounds how long a deleted derivative is served."""
    if settings.delivery_mode != PUBLIC or not resources.cdn_domain:
        return None
    paths = invalidation_paths(settings, object_keys)
    if not paths:
        return None
    if not resources.cdn_distribution_id:
        raise SettingsError(resources.ENV["cdn_distribution_id"], "is required in public mode")
    batch = {
        "Paths": {"Quantity": len(paths), "Items": paths},
        # Unique per attempt of a DELETE: a repeated DELETE must invalidate again.
        "CallerReference": f"mediakit-delete-{uuid.uuid4()}",
    }
    client = cloudfront()
    attempt = 0
    while True:
        attempt += 1
        try:
            answer = client.create_invalidation(
                DistributionId=resources.cdn_distribution_id, InvalidationBatch=batch
            )
            return str(answer["Invalidation"]["Id"])
        except Exception as exc:
            if error_code(exc) not in INVALIDATION_RETRY_CODES and not is_transient(exc):
                raise
            if attempt >= INVALIDATION_ATTEMPTS:
                log.warning("invalidation of %s failed %d times: %r", paths, attempt, exc)
                raise TransientFault(
                    "the CDN did not accept the invalidation; retry the DELETE",
                    code="invalidation_failed",
                ) from exc
            delay = INVALIDATION_BACKOFF_SECONDS * 2 ** (attempt - 1)
            sleep(delay + random.uniform(0, delay / 2))

"""Boto3 clients, created once per process on first use, plus transient-fault classification.

boto3 is imported lazily: the presign handler's cold import must stay small, and the endpoint
override (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`) is read by boto3 itself.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, cast

from runtime.errors import TransientFault

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client

_clients: dict[str, Any] = {}
_lock = threading.Lock()
# botocore's data loader (parsed service models) outlives reset(): the models are immutable, and
# re-parsing them dominated the cost of re-creating clients in tests and emulator restarts.
_loader: Any = None

# Error codes AWS services use for throttling and server-side trouble: retry, never fail a record.
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMS.KMSInternalException",
        "KMSInternalException",
    }
)


def has_endpoint_override(service: str) -> bool:
    """True when boto3 will talk to an emulator instead of AWS for `service`."""
    specific = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
    return bool(os.environ.get(specific) or os.environ.get("AWS_ENDPOINT_URL"))


def client_config(service: str) -> Config:
    """Adaptive retries everywhere; S3 also pins SigV4, skips optional checksums and, on an
    emulator, uses path-style addressing (no wildcard DNS for bucket subdomains there)."""
    from botocore.config import Config

    options: dict[str, Any] = {
        "retries": {"mode": "adaptive", "max_attempts": 5},
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    if service == "s3":
        options["signature_version"] = "s3v4"
        # Presigned URLs must carry only the checksum the client declared, never a default one.
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
        if has_endpoint_override("s3"):
            options["s3"] = {"addressing_style": "path"}
    return Config(**options)


def client(service: str) -> Any:
    """The process-wide client for `service`, created on first use."""
    existing = _clients.get(service)
    if existing is not None:
        return existing
    with _lock:
        if service not in _clients:
            _clients[service] = _session().client(service, config=client_config(service))
        return _clients[service]


def _session() -> Any:
    """One boto3 session per reset(); credentials and endpoints are read afresh each time."""
    global _loader
    session = _clients.get("__session__")
    if session is None:
        from runtime import sdk

        # Before the first client: a botocore other than the bundled one fails the cold start
        # here, with its reason, instead of a TypeError from the client configuration.
        sdk.verify()
        import boto3
        import botocore.session

        core = botocore.session.get_session()
        if _loader is None:
            _loader = core.get_component("data_loader")
        else:
            core.register_component("data_loader", _loader)
        session = _clients["__session__"] = boto3.session.Session(botocore_session=core)
    return session


def s3() -> S3Client:
    return cast("S3Client", client("s3"))


def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", client("dynamodb"))


def events() -> EventBridgeClient:
    return cast("EventBridgeClient", client("events"))


def kms() -> KMSClient:
    return cast("KMSClient", client("kms"))


def cloudfront() -> Any:
    """CloudFront (CreateInvalidation in public delivery mode); typed by runtime.delivery."""
    return client("cloudfront")


def reset() -> None:
    """Forget cached clients and settings (tests, emulator restarts, env changes)."""
    from runtime import config

    with _lock:
        _clients.clear()
    config.reset()


def _forget_after_fork() -> None:
    """A forked child (runtime.sandbox's processing child) never uses its parent's clients: their
    connection pools' sockets are shared with the parent, and a lock another thread held at the
    fork would never be released. The child builds its own on first use."""
    global _lock
    _lock = threading.Lock()
    _clients.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, else ''."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx, timeouts and connection failures: worth retrying later."""
    if isinstance(exc, TransientFault):
        return True
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    from botocore.exceptions import (
        ClientError,
        HTTPClientError,
        IncompleteReadError,
    )
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )

    if isinstance(exc, BotoConnectionError | HTTPClientError | IncompleteReadError):
        return True
    if isinstance(exc, ClientError):
        status = http_status(exc)
        return error_code(exc) in TRANSIENT_CODES or status >= 500 or status == 429
    return False


def is_not_found(exc: BaseException) -> bool:
    """A missing S3 object/version (GetObject says NoSuchKey, HeadObject only says 404)."""
    return error_code(exc) in {"NoSuchKey", "NoSuchVersion", "404", "NotFound"} or (
        http_status(exc) == 404 and error_code(exc) != "NoSuchBucket"
    )

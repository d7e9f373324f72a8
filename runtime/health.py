"""`GET /v1/health`: do the presign function's dependencies answer, with its own role?

Two harmless calls, each one its role already needs or is granted for this alone: a GetItem of a
sentinel key that no upload can have (the table answers, found or not) and a GetObject of the
small object the stack writes under `health/` (the bucket answers and the stack key decrypts;
a HeadObject of a missing key would be a 403 without ListBucket, not a 404). The route needs no
token, so the body carries nothing but component names and ok/unavailable (no resource names,
no error text: the cause goes to the function's log), and one result is reused for
`healthCacheSeconds` per function instance, so a flood of health calls reaches DynamoDB and S3
at most once per instance per period.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

# The object the stack creates (stacks/storage.py), encrypted with the stack key like the rest.
HEALTH_PREFIX = "health/"
HEALTH_OBJECT_KEY = f"{HEALTH_PREFIX}probe.txt"
HEALTH_OBJECT_BODY = "ok\n"
# A table key no upload id, rate window or other item can take (upload ids have no '#').
SENTINEL_KEY = "health#sentinel"
OK = "ok"
UNAVAILABLE = "unavailable"


def check_table(ddb: DynamoDBClient, table: str) -> None:
    """GetItem of the sentinel key: an answer (found or not) is healthy."""
    ddb.get_item(
        TableName=table,
        Key={"upload_id": {"S": SENTINEL_KEY}},
        ProjectionExpression="upload_id",
    )


def check_bucket(s3: S3Client, bucket: str) -> None:
    """GetObject of the stack's health object (the key decrypts it): its bytes must come back."""
    response = s3.get_object(Bucket=bucket, Key=HEALTH_OBJECT_KEY)
    with response["Body"] as body:
        body.read(64)


@dataclass(frozen=True)
class Result:
    status: int
    body: dict[str, Any]


def probe(checks: dict[str, Callable[[], None]]) -> Result:
    """Run every check; 200 when all answer, else 503 naming the failing components."""
    outcome: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
        except Exception as exc:
            # The cause (with resource names, ARNs, messages) goes to the log only.
            log.warning("health check %s failed: %r", name, exc)
            outcome[name] = UNAVAILABLE
        else:
            outcome[name] = OK
    failing = sorted(n for n, v in outcome.items() if v != OK)
    if not failing:
        return Result(200, {"status": OK, "checks": outcome})
    return Result(
        503,
        {
            "status": UNAVAILABLE,
            "checks": outcome,
            "error": {
                "code": "unhealthy",
                "message": f"{', '.join(failing)} did not answer",
            },
        },
    )


@dataclass
class Cache:
    """One result per instance for `seconds`; concurrent callers wait for the one probe."""

    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _entry: tuple[float, tuple[str, ...], Result] | None = None

    def get(self, key: tuple[str, ...], seconds: int, run: Callable[[], Result]) -> Result:
        with self._lock:
            now = self.clock()
            entry = self._entry
            if entry is not None and entry[1] == key and now < entry[0]:
                return entry[2]
            result = run()
            self._entry = (self.clock() + seconds, key, result)
            return result

    def clear(self) -> None:
        with self._lock:
            self._entry = None


CACHE = Cache()


def health(
    ddb: DynamoDBClient,
    table: str,
    s3: S3Client,
    bucket: str,
    *,
    cache_seconds: int,
    cache: Cache | None = None,
) -> Result:
    """The (cached: `CACHE` unless given) health of the table and the bucket."""
    return (cache or CACHE).get(
        (table, bucket),
        cache_seconds,
        lambda: probe(
            {"table": lambda: check_table(ddb, table), "bucket": lambda: check_bucket(s3, bucket)}
        ),
    )

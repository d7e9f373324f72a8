"""Per-tenant limits on creating uploads, and a tenant's usage.

- **Presigns per minute** (`maxPresignsPerMinute`): one counter item per tenant and clock minute
  (`rate#{tenant}#{minute}`), raised by an atomic `UpdateItem ADD` whose condition refuses the
  write at the limit, so concurrent creates can never pass it together. The item carries a TTL a
  minute after its window, and sits in the sparse `tenant_items` index so an erase finds it.
- **Pending uploads** (`maxPendingUploads`): counted, never kept as a counter (a record that
  expires by TTL runs no code, so a counter would only go up). A record carries its
  `tenant_items` entry (`item_tenant`, `item_sort = pending#{ttl}`) only while it is
  `pending_upload` (`Store._update` removes it on every transition out), and the count is a
  `Query ... Select=COUNT` of the entries whose expiry is still ahead, bounded by the limit: a
  record DynamoDB's TTL has not removed yet stops counting the second it expires. The index is
  eventually consistent, so creates racing each other may pass the limit by the requests in
  flight; the rate limit bounds how many.
- **Storage quota** (`storageQuotaBytes`) and `GET /v1/usage`: computed from the tenant index at
  request time (no counter to drift, no code in the processor), so they are exact as of the index
  (a fraction of a second behind a write) and cost a read of the tenant's records.

A token with the `operatorScope` (migrations: `mediakit import`) skips all three.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runtime import scopes
from runtime.aws import error_code
from runtime.errors import PayloadTooLarge, TooManyRequests
from runtime.records import (
    COMPLETED,
    FAILED,
    ITEM_SORT,
    ITEM_TENANT,
    PENDING,
    PROCESSING,
    RESTORING,
    TENANT_INDEX,
    TENANT_ITEMS_INDEX,
    TTL_ATTRIBUTE,
    UPLOADED,
    epoch,
    tenant_item_keys,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from runtime.http import Request
    from runtime.settings import Settings

RATE_WINDOW_SECONDS = 60
# Rate windows stay a minute past their end (a late create of the window still finds its item),
# then DynamoDB's TTL removes them.
RATE_ITEM_LINGER_SECONDS = 60
PENDING_SORT = "pending#"
RATE_SORT = "rate#"
RATE_KEY_PREFIX = "rate#"
# Epoch seconds as fixed-width digits: string order is time order in the index's sort key.
_DIGITS = 12
_SORT_MAX = "9" * _DIGITS
# Statuses whose original is in the bucket (what the usage counts as stored).
STORED = frozenset({UPLOADED, PROCESSING, COMPLETED, FAILED, RESTORING})


def _stamp(seconds: int) -> str:
    return str(max(0, seconds)).rjust(_DIGITS, "0")


def pending_sort(expires: int) -> str:
    """The `item_sort` of a new pending record (with `item_tenant` = its tenant) expiring at
    epoch second `expires`: its `tenant_items` entry until it leaves pending_upload."""
    return PENDING_SORT + _stamp(expires)


def rate_key(tenant: str, window: int) -> str:
    """The counter item of `tenant` for the minute starting at epoch second `window`."""
    return f"{RATE_KEY_PREFIX}{tenant}#{_stamp(window)}"


def is_operator(request: Request, settings: Settings) -> bool:
    """Whether the caller's token carries the operator scope (read exactly, as every scope)."""
    grant = scopes.granted(request.headers, request.claims, settings.scope_claim)
    return settings.operator_scope in grant.scopes


def admit_create(
    ddb: DynamoDBClient,
    table: str,
    settings: Settings,
    request: Request,
    *,
    tenant: str,
    size: int,
    now: datetime,
) -> None:
    """Raise 429 `too_many_pending` / `rate_limited` or 413 `quota_exceeded` when creating one
    more upload of `size` bytes would pass a limit of `tenant`; otherwise count the presign.
    Reads first, the rate counter last: a refused create never uses up a presign."""
    if is_operator(request, settings):
        return
    if settings.storage_quota_bytes:
        check_quota(ddb, table, tenant, size=size, quota=settings.storage_quota_bytes, now=now)
    if settings.max_pending_uploads:
        check_pending(ddb, table, tenant, now=now, limit=settings.max_pending_uploads)
    if settings.max_presigns_per_minute:
        take_presign(ddb, table, tenant, now=now, limit=settings.max_presigns_per_minute)


def take_presign(ddb: DynamoDBClient, table: str, tenant: str, *, now: datetime, limit: int) -> int:
    """Count one presign in the current minute's window; 429 `rate_limited` at the limit, with
    the seconds left in the window. Returns the window's count."""
    seconds = now.timestamp()
    window = int(seconds // RATE_WINDOW_SECONDS) * RATE_WINDOW_SECONDS
    ends = window + RATE_WINDOW_SECONDS
    try:
        response = ddb.update_item(
            TableName=table,
            Key={"upload_id": {"S": rate_key(tenant, window)}},
            UpdateExpression="ADD #count :one SET #ttl = :ttl, #it = :tenant, #is = :sort",
            ConditionExpression="attribute_not_exists(#count) OR #count < :limit",
            ExpressionAttributeNames={
                "#count": "count",
                "#ttl": TTL_ATTRIBUTE,
                "#it": ITEM_TENANT,
                "#is": ITEM_SORT,
            },
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":limit": {"N": str(limit)},
                ":ttl": {"N": str(ends + RATE_ITEM_LINGER_SECONDS)},
                ":tenant": {"S": tenant},
                ":sort": {"S": RATE_SORT + _stamp(window)},
            },
            ReturnValues="UPDATED_NEW",
        )
    except Exception as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        raise TooManyRequests(
            f"this tenant may create {limit} uploads per minute",
            code="rate_limited",
            retry_after=math.ceil(ends - seconds),
        ) from None
    return int(response["Attributes"]["count"]["N"])


def _pending_query(tenant: str, now: datetime) -> dict[str, Any]:
    # Entries that expire after now: a record past its TTL that DynamoDB has not removed yet
    # no longer counts.
    return {
        "IndexName": TENANT_ITEMS_INDEX,
        "KeyConditionExpression": "#it = :tenant AND #is BETWEEN :after AND :last",
        "ExpressionAttributeNames": {"#it": ITEM_TENANT, "#is": ITEM_SORT},
        "ExpressionAttributeValues": {
            ":tenant": {"S": tenant},
            ":after": {"S": PENDING_SORT + _stamp(epoch(now) + 1)},
            ":last": {"S": PENDING_SORT + _SORT_MAX},
        },
    }


def pending_count(
    ddb: DynamoDBClient, table: str, tenant: str, *, now: datetime, limit: int
) -> int:
    """The tenant's pending uploads that have not expired, counted up to `limit` (no further:
    the query reads at most `limit` small keys-only entries)."""
    count = 0
    start: dict[str, Any] | None = None
    while count < limit:
        kwargs: dict[str, Any] = {
            "TableName": table,
            **_pending_query(tenant, now),
            "Select": "COUNT",
            "Limit": limit - count,
        }
        if start:
            kwargs["ExclusiveStartKey"] = start
        response = ddb.query(**kwargs)
        count += int(response.get("Count", 0))
        start = response.get("LastEvaluatedKey")
        if not start:
            break
    return count


def check_pending(
    ddb: DynamoDBClient, table: str, tenant: str, *, now: datetime, limit: int
) -> None:
    """429 `too_many_pending` when the tenant already holds `limit` pending uploads; Retry-After
    is when the soonest of them expires (finishing or aborting one frees a slot sooner)."""
    if pending_count(ddb, table, tenant, now=now, limit=limit) < limit:
        return
    response = ddb.query(TableName=table, **_pending_query(tenant, now), Limit=1)
    items = response.get("Items") or []
    soonest = int(items[0][ITEM_SORT]["S"].removeprefix(PENDING_SORT)) if items else 0
    raise TooManyRequests(
        f"this tenant already has {limit} pending uploads: finish or abort (DELETE) some",
        code="too_many_pending",
        retry_after=soonest - epoch(now),
    )


@dataclass(frozen=True)
class Usage:
    """A tenant's originals in the bucket (`bytes`, `objects`) and its pending uploads' declared
    bytes and count (reserved against the quota)."""

    bytes: int
    objects: int
    pending_bytes: int
    pending: int

    def to_json(self, quota: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bytes": self.bytes,
            "objects": self.objects,
            "pending_bytes": self.pending_bytes,
            "pending_uploads": self.pending,
            "quota_bytes": quota or None,
        }
        return out


def usage(ddb: DynamoDBClient, table: str, tenant: str, *, now: datetime) -> Usage:
    """Sum the tenant's records by the tenant index: originals of uploads that hold one (see
    `STORED`) and pending uploads that have not expired. Reads every record of the tenant."""
    stored = objects = pending_bytes = pending = 0
    paginator = ddb.get_paginator("query")
    pages = paginator.paginate(
        TableName=table,
        IndexName=TENANT_INDEX,
        KeyConditionExpression="#tenant = :tenant",
        ProjectionExpression="#status, #size, #ttl",
        ExpressionAttributeNames={
            "#tenant": "tenant",
            "#status": "status",
            "#size": "size",
            "#ttl": TTL_ATTRIBUTE,
        },
        ExpressionAttributeValues={":tenant": {"S": tenant}},
    )
    current = epoch(now)
    for page in pages:
        for item in page.get("Items", []):
            status = item.get("status", {}).get("S", "")
            size = int(item.get("size", {}).get("N", "0"))
            if status in STORED:
                stored += size
                objects += 1
            elif status == PENDING and int(item.get(TTL_ATTRIBUTE, {}).get("N", "0")) > current:
                pending_bytes += size
                pending += 1
    return Usage(stored, objects, pending_bytes, pending)


def check_quota(
    ddb: DynamoDBClient, table: str, tenant: str, *, size: int, quota: int, now: datetime
) -> None:
    """413 `quota_exceeded` when the tenant's stored and pending bytes plus `size` pass `quota`."""
    found = usage(ddb, table, tenant, now=now)
    used = found.bytes + found.pending_bytes
    if used + size > quota:
        raise PayloadTooLarge(
            f"the upload would pass this tenant's storage quota ({max(0, quota - used)} of "
            f"{quota} bytes left)",
            code="quota_exceeded",
        )


def counter_keys(ddb: DynamoDBClient, table: str, tenant: str) -> Iterator[str]:
    """The primary keys of the tenant's rate windows (for `mediakit erase`)."""
    return tenant_item_keys(ddb, table, tenant, RATE_SORT)

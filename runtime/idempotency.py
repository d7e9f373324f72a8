"""Idempotent `POST /v1/uploads`: an `Idempotency-Key` header makes a retried create answer with
the upload the first request made, never a second one.

Each key is one item of its own kind in the uploads table, keyed `idem#{tenant}#{sha256(key)}`
(scoped to the tenant: two tenants' equal keys are two items), carrying the fingerprint of the
validated request, the upload id it stands for and a state. The first request claims it with a
conditional PutItem (`in_progress`, with a short lease) and the upload id chosen up front; the
upload record is then written with that id (itself a conditional put), and the item becomes
`created`. A retry with the same key and the same body gets the same upload; with another body
`409 idempotency_conflict`; while the first request still holds the lease `409
idempotency_in_progress` with `Retry-After`. A request that died holding the lease is taken over
once the lease ran out: the upload id is fixed in the item, so the takeover writes the same
record (or finds it written) and there are never two uploads for one key. The key answers for
`idempotencyWindowSeconds` from its first use (decided from the item's `window_ends`, not from
DynamoDB's TTL, which deletes late); after that it creates a new upload.

Why not Powertools' idempotency utility (`aws_lambda_powertools.utilities.idempotency`), which
the team prefers: (1) it stores the handler's whole response and replays it, so the table would
hold live upload grants (signed PUT/POST/part URLs are bearer credentials) and a replay would
hand out the first, ageing URLs, where we must sign fresh ones while the record is pending and
none once it was validated (a new write grant after validation would break write-once); its
`response_hook` can rewrite the replayed response but the stored grants stay in the table.
(2) Its item has the key layout and attributes of its persistence layer only (an opaque hash of
`function#key`, no tenant attribute of ours): the tenant erase (`mediakit erase`, and a purge of
one upload) could only find a tenant's keys by scanning the whole table. (3) Its payload
validation hashes a JMESPath selection of the raw event, so a body that differs only in JSON
whitespace or key order is a conflict; here the fingerprint is of the validated request. The
conditional-write protocol below is the same one Powertools uses (claim in progress, then
complete; an expired in-progress claim may be taken over).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runtime.aws import error_code
from runtime.errors import BadRequest, Conflict, TransientFault
from runtime.records import ITEM_SORT, ITEM_TENANT, TTL_ATTRIBUTE, epoch, iso
from runtime.validation import CreateUpload

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HEADER = "idempotency-key"
# The item kind and its key prefix. Each item also sits in the sparse `tenant_items` index
# (`item_tenant` = its tenant, `item_sort` = `idem#{sha256(key)}`), where the tenant erase finds it.
KIND = "idempotency"
ITEM_PREFIX = "idem#"
SORT_PREFIX = "idem#"
MAX_KEY_LENGTH = 255
# Printable token characters only: no spaces, quotes, commas (API Gateway joins a repeated
# header with a comma, so two values must not read as one key), controls or non-ASCII.
_KEY_RE = re.compile(rf"[A-Za-z0-9._:~+/=-]{{1,{MAX_KEY_LENGTH}}}")
# How long a claim stays `in_progress` before another request may take it over: API Gateway
# gives up on an integration after 30 s, so a request older than that has no client waiting.
LEASE_SECONDS = 30
# What `Retry-After` tells a client that raced the first request (a create takes well under it).
RETRY_AFTER_SECONDS = 1
IN_PROGRESS = "in_progress"
CREATED = "created"
RELEASED = "released"


class InProgress(Conflict):
    """The key is being created by a concurrent request: 409 with `Retry-After`."""

    code = "idempotency_in_progress"

    def __init__(self, message: str, *, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


def key_from(headers: Mapping[str, str]) -> str | None:
    """The request's validated `Idempotency-Key` (None without one). An RFC 8941 sf-string
    (`"abc"`, as the IETF draft writes it) is the same key as its content (`abc`)."""
    raw = headers.get(HEADER)
    if raw is None:
        return None
    value = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    if not _KEY_RE.fullmatch(value):
        raise BadRequest(
            f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} of A-Z a-z 0-9 . _ : ~ + / = -",
            code="invalid_idempotency_key",
        )
    return value


def item_id(tenant: str, key: str) -> str:
    """The item's primary key: per tenant (a sanitised tenant holds no `#`), the key hashed."""
    return f"{ITEM_PREFIX}{tenant}#{hashlib.sha256(key.encode()).hexdigest()}"


def fingerprint(wanted: CreateUpload) -> str:
    """SHA-256 of the validated request: the same upload asked for in other JSON spelling (key
    order, whitespace, a type alias) is the same request."""
    canonical = json.dumps(asdict(wanted), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """What a request holding an Idempotency-Key does: create `upload_id` (`create`), or answer
    with the upload already made for the key."""

    item: str
    upload_id: str
    create: bool


@dataclass(frozen=True)
class Keys:
    """The idempotency items of one table."""

    ddb: DynamoDBClient
    table: str

    def claim(
        self,
        *,
        tenant: str,
        key: str,
        request_hash: str,
        upload_id: str,
        now: datetime,
        window_seconds: int,
    ) -> Claim:
        """Claim `key` for a new upload `upload_id`, or learn which upload it already names.
        409 `idempotency_conflict` for another request under the key, 409
        `idempotency_in_progress` while a live claim is being created."""
        item = item_id(tenant, key)
        for _ in range(4):
            if self._put_claim(item, tenant, request_hash, upload_id, now, window_seconds):
                return Claim(item, upload_id, create=True)
            found = self._get(item)
            if found is None or int(found["window_ends"]) <= epoch(now):
                continue  # deleted or expired meanwhile: claim it afresh
            if found["request_sha256"] != request_hash:
                raise Conflict(
                    "this Idempotency-Key was used with a different request",
                    code="idempotency_conflict",
                )
            if found["state"] == CREATED:
                return Claim(item, str(found["target"]), create=False)
            lease_until = int(found["lease_until"])
            if lease_until > epoch(now):
                raise InProgress("a request with this Idempotency-Key is still being created")
            if self._take_over(item, lease_until, now):
                return Claim(item, str(found["target"]), create=True)
        raise TransientFault("the Idempotency-Key kept changing; retry")

    def created(self, claim: Claim) -> None:
        """The upload exists: later requests with the key answer with it."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"upload_id": {"S": claim.item}},
                UpdateExpression="SET #state = :created REMOVE lease_until",
                ConditionExpression="#target = :target",
                ExpressionAttributeNames={"#state": "state", "#target": "target"},
                ExpressionAttributeValues={
                    ":created": {"S": CREATED},
                    ":target": {"S": claim.upload_id},
                },
            )
        except Exception as exc:
            # Removed meanwhile (an erase): the upload stands, the key just answers no more.
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def release(self, claim: Claim) -> None:
        """Free an in-progress claim whose create failed, so a retry can try again."""
        self._free(
            claim.item,
            "#target = :target AND #state = :progress",
            {":target": {"S": claim.upload_id}, ":progress": {"S": IN_PROGRESS}},
        )

    def forget(self, item: str, upload_id: str) -> None:
        """Free the key if it still names `upload_id` (a purged or vanished upload): the item
        keeps no upload id or request hash, and TTL removes it."""
        self._free(item, "#target = :target", {":target": {"S": upload_id}})

    def _free(self, item: str, condition: str, values: dict[str, Any]) -> None:
        # An UpdateItem, not a DeleteItem: the presign role never needs to delete table items
        # (a DeleteItem grant would reach the upload records too). A window that ended frees
        # the key for the next claim (`_put_claim`).
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"upload_id": {"S": item}},
                UpdateExpression=(
                    "SET window_ends = :zero, #state = :released "
                    "REMOVE #target, request_sha256, lease_until"
                ),
                ConditionExpression=condition,
                ExpressionAttributeNames={"#target": "target", "#state": "state"},
                ExpressionAttributeValues={
                    **values,
                    ":zero": {"N": "0"},
                    ":released": {"S": RELEASED},
                },
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    def _put_claim(
        self,
        item: str,
        tenant: str,
        request_hash: str,
        upload_id: str,
        now: datetime,
        window_seconds: int,
    ) -> bool:
        ends = epoch(now) + window_seconds
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={
                    "upload_id": {"S": item},
                    "kind": {"S": KIND},
                    ITEM_TENANT: {"S": tenant},
                    ITEM_SORT: {"S": SORT_PREFIX + item.rsplit("#", 1)[-1]},
                    "request_sha256": {"S": request_hash},
                    "target": {"S": upload_id},
                    "state": {"S": IN_PROGRESS},
                    "started_at": {"S": iso(now)},
                    "lease_until": {"N": str(epoch(now) + LEASE_SECONDS)},
                    "window_ends": {"N": str(ends)},
                    TTL_ATTRIBUTE: {"N": str(ends)},
                },
                # A key whose window ended is free again, whether or not TTL removed it yet.
                ConditionExpression="attribute_not_exists(upload_id) OR window_ends <= :now",
                ExpressionAttributeValues={":now": {"N": str(epoch(now))}},
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _take_over(self, item: str, seen_lease: int, now: datetime) -> bool:
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"upload_id": {"S": item}},
                UpdateExpression="SET lease_until = :lease",
                ConditionExpression="#state = :progress AND lease_until = :seen",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":lease": {"N": str(epoch(now) + LEASE_SECONDS)},
                    ":progress": {"S": IN_PROGRESS},
                    ":seen": {"N": str(seen_lease)},
                },
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _get(self, item: str) -> dict[str, str] | None:
        response = self.ddb.get_item(
            TableName=self.table, Key={"upload_id": {"S": item}}, ConsistentRead=True
        )
        found = response.get("Item")
        if not found:
            return None
        # Every attribute of the item is a string (S) or a number (N): both arrive as text.
        return {name: str(next(iter(value.values()))) for name, value in found.items()}

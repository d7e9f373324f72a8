"""Upload status records in DynamoDB: one item per upload, every transition a conditional write.

Lifecycle: pending_upload -> uploaded -> processing -> completed | failed, completed | failed ->
expired (retention), and deleted from any state. The one edge out of `deleted` is a restore inside
the restore window: deleted -> restoring -> processing -> completed | failed. Conditions make each
step happen at most once and never backwards, whatever order or number of times S3 events arrive.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict, cast

from runtime.aws import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PENDING = "pending_upload"
UPLOADED = "uploaded"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
DELETED = "deleted"
RESTORING = "restoring"
EXPIRED = "expired"
TERMINAL = frozenset({COMPLETED, FAILED, DELETED, EXPIRED})
# Every edge the lifecycle allows (a status may also stay where it is). `deleted -> restoring` is
# the one way out of `deleted`, and only while the restore window is open.
# `-> failed` from pending, uploaded, completed and restoring is malware scanning's one edge
# (`Store.mark_malware`): a threat found in the original fails the upload whatever it reached.
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({UPLOADED, DELETED, FAILED}),
    UPLOADED: frozenset({PROCESSING, DELETED, FAILED}),
    PROCESSING: frozenset({COMPLETED, FAILED, DELETED}),
    COMPLETED: frozenset({EXPIRED, DELETED, FAILED}),
    FAILED: frozenset({EXPIRED, DELETED}),
    EXPIRED: frozenset({DELETED}),
    DELETED: frozenset({RESTORING}),
    RESTORING: frozenset({PROCESSING, DELETED, FAILED}),
}

TENANT_INDEX = "by_tenant"
# The tenant's records of one status, newest first: hash `tenant_status` (`{tenant}#{status}`; a
# sanitised tenant holds no `#`), range `created_at`. Every write that sets a status sets it too
# (`Store.create`, `Store._update`), so `GET /v1/uploads?status=` reads full pages of exactly
# that status instead of filtering a tenant-wide query.
STATUS_INDEX = "by_tenant_status"
TENANT_STATUS = "tenant_status"
# The sparse index of a tenant's bookkeeping items (runtime/limits.py): pending uploads (while
# pending_upload), per-minute rate windows. Its key attributes; records lose them when they
# leave pending_upload.
TENANT_ITEMS_INDEX = "tenant_items"
ITEM_TENANT = "item_tenant"
ITEM_SORT = "item_sort"
PENDING_INDEX_FIELDS = (ITEM_TENANT, ITEM_SORT)
# DynamoDB TTL attribute (epoch seconds): pending records (abandoned uploads) and deleted ones
# (the close of the restore window) carry it. TTL deletes late: no decision reads it.
TTL_ATTRIBUTE = "ttl"
DAY_SECONDS = 86400

# Fields clients see; everything else (source ids, leases, TTL) is bookkeeping.
PUBLIC_FIELDS = (
    "upload_id",
    "tenant",
    "status",
    "key",
    "filename",
    "method",
    "content_type",
    "size",
    "sha256",
    "version_id",
    "correlation_id",
    "metadata",
    "created_at",
    "updated_at",
    "uploaded_at",
    "processing_at",
    "completed_at",
    "failed_at",
    "deleted_at",
    "deleted_by",
    "restoring_at",
    "restored_by",
    "purged_at",
    "purged_by",
    "expired_at",
    "erased_at",
    "last_download_at",
    "last_download_by",
    "width",
    "height",
    "format",
    "bytes",
    "exif",
    # The kind and probed facts: {kind: document, ...} (runtime/documents.py), audio/video's.
    "media",
    "derivatives",
    "error",
)

# What survives an erase (purge, expiry, a closed restore window): ids, status, timestamps and the
# acting subjects. Everything else (file name, metadata, EXIF and GPS, derivatives, media facts,
# the client's correlation id, digests, errors) is removed from the item.
TOMBSTONE_FIELDS = frozenset(
    {
        "upload_id",
        "tenant",
        "status",
        "key",
        "version_id",
        "created_at",
        "updated_at",
        "uploaded_at",
        "processing_at",
        "completed_at",
        "failed_at",
        "deleted_at",
        "deleted_by",
        "restoring_at",
        "restored_by",
        "purged_at",
        "purged_by",
        "expired_at",
        "erased_at",
        "last_download_at",
        "last_download_by",
        TTL_ATTRIBUTE,
        TENANT_STATUS,
    }
)
# The fields issue 11 names personal; erasing keeps none of them (TOMBSTONE_FIELDS keeps less).
PERSONAL_FIELDS = ("filename", "metadata", "exif", "derivatives", "media")


class ErrorInfo(TypedDict):
    code: str
    message: str


class DerivativeInfo(TypedDict):
    name: str
    key: str
    format: str
    content_type: str
    width: int
    height: int
    bytes: int


class UploadRecord(TypedDict, total=False):
    """The DynamoDB item (see PUBLIC_FIELDS for what the API returns)."""

    upload_id: str
    tenant: str
    status: str
    key: str
    filename: str
    method: str
    content_type: str
    size: int
    sha256: str
    version_id: str
    correlation_id: str
    metadata: dict[str, str]
    created_at: str
    updated_at: str
    uploaded_at: str
    processing_at: str
    completed_at: str
    failed_at: str
    deleted_at: str
    deleted_by: str
    restoring_at: str
    restored_by: str
    restore_version_id: str
    purged_at: str
    purged_by: str
    expired_at: str
    erased_at: str
    last_download_at: str
    last_download_by: str
    media: dict[str, Any]
    width: int
    height: int
    format: str
    bytes: int
    exif: dict[str, Any]
    derivatives: list[DerivativeInfo]
    error: ErrorInfo
    last_error: dict[str, str]
    source: dict[str, str]
    source_id: str
    lease_until: int
    notified_at: str
    multipart_upload_id: str
    multipart_completed_at: str
    # The Idempotency-Key item that names this upload (runtime/idempotency.py), if any.
    idempotency_item: str
    # `{tenant}#{status}`: the record's partition in the status index (STATUS_INDEX).
    tenant_status: str
    # While pending_upload only: the tenant's pending-count entry (runtime/limits.py).
    item_tenant: str
    item_sort: str
    # Multipart plan: part size and count, and the declared SHA-256 of each part (base64, as
    # S3 wants it) when the client declared them (the upload then uses ChecksumAlgorithm=SHA256).
    part_size: int
    part_count: int
    part_sha256: list[str]
    # Reprocessing (runtime/reprocessing.py): `rendered_specs` is "{version_id}:{spec hash}" of
    # the last re-render, the claim and its lease keep a duplicate message from working twice,
    # `stale_derivatives` are keys the re-render dropped, kept until their objects are gone.
    rendered_specs: str
    reprocess_claim: str
    reprocess_lease_until: int
    reprocessed_at: str
    reprocess_error: dict[str, str]
    stale_derivatives: list[str]
    ttl: int


def iso(moment: datetime) -> str:
    """UTC, millisecond ISO-8601 with `Z`: sorts lexicographically in the tenant index."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass(frozen=True)
class SourceRef:
    """The S3 object version an event is about; the idempotency key of processing."""

    bucket: str
    key: str
    version_id: str
    sequencer: str

    @property
    def id(self) -> str:
        return f"{self.bucket}/{self.key}#{self.version_id}#{self.sequencer}"

    def to_item(self) -> dict[str, str]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "sequencer": self.sequencer,
        }

    def is_newer_than(self, other: Mapping[str, str]) -> bool:
        """S3 sequencers compare as hex strings after left-padding to the same length."""
        theirs = other.get("sequencer", "")
        width = max(len(theirs), len(self.sequencer))
        return self.sequencer.upper().rjust(width, "0") > theirs.upper().rjust(width, "0")


def table_spec(name: str) -> dict[str, Any]:
    """`create_table` arguments for the uploads table (the emulator and tests use it)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "upload_id", "AttributeType": "S"},
            {"AttributeName": "tenant", "AttributeType": "S"},
            {"AttributeName": "created_at", "AttributeType": "S"},
            {"AttributeName": TENANT_STATUS, "AttributeType": "S"},
            {"AttributeName": ITEM_TENANT, "AttributeType": "S"},
            {"AttributeName": ITEM_SORT, "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "upload_id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": TENANT_INDEX,
                "KeySchema": [
                    {"AttributeName": "tenant", "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": STATUS_INDEX,
                "KeySchema": [
                    {"AttributeName": TENANT_STATUS, "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": TENANT_ITEMS_INDEX,
                "KeySchema": [
                    {"AttributeName": ITEM_TENANT, "KeyType": "HASH"},
                    {"AttributeName": ITEM_SORT, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
    }


def tenant_item_keys(
    ddb: DynamoDBClient, table: str, tenant: str, sort_prefix: str
) -> Iterator[str]:
    """The primary keys of the tenant's items of one kind on the sparse `tenant_items` index
    (rate windows, Idempotency-Keys: the kind is the `item_sort` prefix), for `mediakit erase`."""
    pages = ddb.get_paginator("query").paginate(
        TableName=table,
        IndexName=TENANT_ITEMS_INDEX,
        KeyConditionExpression="#tenant = :tenant AND begins_with(#sort, :prefix)",
        ExpressionAttributeNames={"#tenant": ITEM_TENANT, "#sort": ITEM_SORT},
        ExpressionAttributeValues={":tenant": {"S": tenant}, ":prefix": {"S": sort_prefix}},
    )
    for page in pages:
        for item in page.get("Items", []):
            yield str(item["upload_id"]["S"])


# --- attribute values ----------------------------------------------------------------------------


def to_attr(value: Any) -> dict[str, Any]:
    """Python JSON-ish value -> DynamoDB attribute value (floats kept as numbers, no Decimal)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)} if math.isfinite(value) else {"NULL": True}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_attr(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_attr(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in a record")


def from_attr(attr: Mapping[str, Any]) -> Any:
    (kind, value), *_ = attr.items()
    if kind == "S":
        return value
    if kind == "N":
        return int(value) if re.fullmatch(r"-?\d+", value) else float(value)
    if kind == "BOOL":
        return bool(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_attr(v) for k, v in value.items()}
    if kind == "L":
        return [from_attr(v) for v in value]
    if kind == "SS":
        return list(value)
    raise TypeError(f"unexpected attribute type {kind}")


def to_item(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_attr(v) for k, v in record.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> UploadRecord:
    return cast(UploadRecord, {k: from_attr(v) for k, v in item.items()})


# --- listing -------------------------------------------------------------------------------------


def status_partition(tenant: str, status: str) -> str:
    """The `tenant_status` value of a record: its partition in the status index."""
    return f"{tenant}#{status}"


def tenant_of_original(key: str) -> str:
    """The tenant segment of an originals key (`{prefix}{tenant}/yyyy/mm/dd/{id}.{ext}`, see
    runtime/keys.py; a tenant segment holds no `/`)."""
    return key.split("/")[-5]


@dataclass(frozen=True)
class Position:
    """Where a listing page ended: the last record handed out (or examined), newest first."""

    created_at: str
    upload_id: str


@dataclass(frozen=True)
class ListFilter:
    """What `GET /v1/uploads` asks for: one status (None: every status but deleted) and a
    created_at range, both ends exclusive (ISO strings as `iso` writes them)."""

    status: str | None = None
    created_after: str | None = None
    created_before: str | None = None


def _range(where: ListFilter) -> tuple[str | None, str | None]:
    """The exclusive created_at bounds as the inclusive ones a key condition takes (the
    timestamps have millisecond steps)."""
    step = timedelta(milliseconds=1)
    low = iso(parse_iso(where.created_after) + step) if where.created_after else None
    high = iso(parse_iso(where.created_before) - step) if where.created_before else None
    return low, high


# A page without a status filter skips deleted records (a filter expression): it reads on
# until the page is full, at most this many queries, so a run of deleted uploads costs the
# client a short page, never an empty one with a cursor, unless it is longer than this many pages.
MAX_PAGE_READS = 4


# --- the store -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    items: list[UploadRecord]
    # Where the next page starts (None: this was the last one).
    after: Position | None


class Store:
    """Reads and conditional transitions of upload records in one table."""

    def __init__(self, ddb: DynamoDBClient, table: str) -> None:
        self.ddb = ddb
        self.table = table

    def create(self, record: UploadRecord) -> None:
        indexed = {**record, TENANT_STATUS: status_partition(record["tenant"], record["status"])}
        self.ddb.put_item(
            TableName=self.table,
            Item=to_item(indexed),
            ConditionExpression="attribute_not_exists(upload_id)",
        )

    def get(self, upload_id: str) -> UploadRecord | None:
        response = self.ddb.get_item(
            TableName=self.table, Key={"upload_id": {"S": upload_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return from_item(item) if item else None

    def list_for_tenant(
        self,
        tenant: str,
        *,
        limit: int,
        after: Position | None = None,
        where: ListFilter = ListFilter(),
    ) -> Page:
        """Newest first, at most `limit` records of `tenant` matching `where`. With a status,
        the status index serves it (full pages); without one, deleted records are skipped and
        further queries (up to MAX_PAGE_READS) fill the page."""
        names = {"#hash": TENANT_STATUS if where.status else "tenant"}
        values: dict[str, Any] = {
            ":hash": {"S": status_partition(tenant, where.status) if where.status else tenant}
        }
        condition = "#hash = :hash"
        low, high = _range(where)
        if low or high:
            names["#created"] = "created_at"
        if low and high:
            condition += " AND #created BETWEEN :low AND :high"
            values |= {":low": {"S": low}, ":high": {"S": high}}
        elif low:
            condition += " AND #created >= :low"
            values[":low"] = {"S": low}
        elif high:
            condition += " AND #created <= :high"
            values[":high"] = {"S": high}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": STATUS_INDEX if where.status else TENANT_INDEX,
            "KeyConditionExpression": condition,
            "ScanIndexForward": False,
        }
        if not where.status:
            kwargs["FilterExpression"] = "#status <> :deleted"
            names["#status"] = "status"
            values[":deleted"] = {"S": DELETED}
        kwargs["ExpressionAttributeNames"] = names
        kwargs["ExpressionAttributeValues"] = values
        items: list[UploadRecord] = []
        start = after
        # One record more than the page: when it comes, there is a next page (and the page
        # that ends exactly at the last record says so, instead of a cursor to an empty one).
        for _ in range(MAX_PAGE_READS):
            if start is not None:
                kwargs["ExclusiveStartKey"] = self._start_key(tenant, where, start)
            kwargs["Limit"] = limit + 1 - len(items) if where.status else limit + 1
            response = self.ddb.query(**kwargs)
            items.extend(from_item(i) for i in response.get("Items", []))
            last = response.get("LastEvaluatedKey")
            start = (
                Position(from_attr(last["created_at"]), from_attr(last["upload_id"]))
                if last
                else None
            )
            if len(items) > limit or start is None:
                break
        if len(items) > limit:
            # Read past the page: the next one starts after its last record.
            items = items[:limit]
            start = Position(items[-1]["created_at"], items[-1]["upload_id"])
        return Page(items=items, after=start)

    @staticmethod
    def _start_key(tenant: str, where: ListFilter, position: Position) -> dict[str, Any]:
        key: dict[str, Any] = {
            "upload_id": {"S": position.upload_id},
            "created_at": {"S": position.created_at},
        }
        if where.status:
            key[TENANT_STATUS] = {"S": status_partition(tenant, where.status)}
        else:
            key["tenant"] = {"S": tenant}
        return key

    def _update(
        self,
        upload_id: str,
        *,
        condition: str,
        set_: Mapping[str, Any],
        remove: Iterable[str] = (),
        values: Mapping[str, Any] | None = None,
        tenant: str | None = None,
    ) -> UploadRecord | None:
        """Apply one conditional update; None when the condition did not hold. A status change
        moves the record to its status-index partition in the same write when `tenant` is
        given (every transition here gives it), else in a second, conditional one."""
        status = set_.get("status")
        if status is not None and tenant is not None:
            set_ = {**set_, TENANT_STATUS: status_partition(tenant, status)}
        names: dict[str, str] = {}
        assignments: list[str] = []
        attr_values: dict[str, Any] = {}
        for i, (name, value) in enumerate(set_.items()):
            names[f"#{name}"] = name
            attr_values[f":set{i}"] = to_attr(value)
            assignments.append(f"#{name} = :set{i}")
        removed = list(remove)
        if set_.get("status") not in (None, PENDING):
            # Leaving pending_upload leaves the tenant's pending count (runtime/limits.py).
            removed.extend(PENDING_INDEX_FIELDS)
        removed = list(dict.fromkeys(removed))
        for name in removed:
            names[f"#{name}"] = name
        for name in re.findall(r"#(\w+)", condition):
            names[f"#{name}"] = name
        for placeholder, value in (values or {}).items():
            attr_values[placeholder] = to_attr(value)
        expression = "SET " + ", ".join(assignments)
        if removed:
            expression += " REMOVE " + ", ".join(f"#{n}" for n in removed)
        try:
            response = self.ddb.update_item(
                TableName=self.table,
                Key={"upload_id": {"S": upload_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attr_values,
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        updated = from_item(response["Attributes"])
        if status is not None and tenant is None:
            self._index_status(updated)
        return updated

    def _index_status(self, record: UploadRecord) -> None:
        """Set the status-index partition of a record a transition wrote without it (unless
        its status moved on meanwhile: that write set its own)."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"upload_id": {"S": record["upload_id"]}},
                UpdateExpression="SET #partition = :partition",
                ConditionExpression="#status = :status",
                ExpressionAttributeNames={"#partition": TENANT_STATUS, "#status": "status"},
                ExpressionAttributeValues={
                    ":partition": {"S": status_partition(record["tenant"], record["status"])},
                    ":status": {"S": record["status"]},
                },
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise

    # -- transitions: each returns the new record, or None when the precondition failed --------

    def mark_uploaded(self, upload_id: str, ref: SourceRef, now: datetime) -> UploadRecord | None:
        """pending_upload -> uploaded, remembering which object version arrived."""
        return self._update(
            upload_id,
            tenant=tenant_of_original(ref.key),
            condition="#status = :pending",
            values={":pending": PENDING},
            set_={
                "status": UPLOADED,
                "source": ref.to_item(),
                "source_id": ref.id,
                "uploaded_at": iso(now),
                "updated_at": iso(now),
            },
            remove=[TTL_ATTRIBUTE],
        )

    def supersede(
        self, upload_id: str, old_source_id: str, ref: SourceRef, now: datetime
    ) -> UploadRecord | None:
        """A newer version of the object arrived before processing finished: process that one.
        The lease is dropped so the newer event can claim at once; the status stays put."""
        return self._update(
            upload_id,
            condition="#status IN (:uploaded, :processing) AND #source_id = :old",
            values={":uploaded": UPLOADED, ":processing": PROCESSING, ":old": old_source_id},
            set_={"source": ref.to_item(), "source_id": ref.id, "updated_at": iso(now)},
            remove=["lease_until"],
        )

    def claim(
        self, upload_id: str, ref: SourceRef, now: datetime, lease_seconds: int
    ) -> UploadRecord | None:
        """uploaded -> processing under a lease; a processing record whose lease ran out (a
        crashed or retried attempt) may be claimed again, a live lease may not."""
        return self._update(
            upload_id,
            tenant=tenant_of_original(ref.key),
            condition=(
                "(#status = :uploaded OR (#status = :processing AND "
                "(attribute_not_exists(#lease_until) OR #lease_until < :now))) "
                "AND #source_id = :sid"
            ),
            values={
                ":uploaded": UPLOADED,
                ":processing": PROCESSING,
                ":now": epoch(now),
                ":sid": ref.id,
            },
            set_={
                "status": PROCESSING,
                "processing_at": iso(now),
                "updated_at": iso(now),
                "lease_until": epoch(now) + lease_seconds,
            },
        )

    def complete(
        self, upload_id: str, ref: SourceRef, result: Mapping[str, Any], now: datetime
    ) -> UploadRecord | None:
        """processing -> completed with the image facts and derivatives."""
        return self._update(
            upload_id,
            tenant=tenant_of_original(ref.key),
            condition="#status = :processing AND #source_id = :sid",
            values={":processing": PROCESSING, ":sid": ref.id},
            set_={
                **result,
                "status": COMPLETED,
                "version_id": ref.version_id,
                "completed_at": iso(now),
                "updated_at": iso(now),
            },
            remove=["lease_until", "last_error"],
        )

    def fail(
        self, upload_id: str, ref: SourceRef, error: ErrorInfo, now: datetime
    ) -> UploadRecord | None:
        """processing -> failed with a stable error code."""
        return self._update(
            upload_id,
            tenant=tenant_of_original(ref.key),
            condition="#status = :processing AND #source_id = :sid",
            values={":processing": PROCESSING, ":sid": ref.id},
            set_={
                "status": FAILED,
                "version_id": ref.version_id,
                "error": error,
                "failed_at": iso(now),
                "updated_at": iso(now),
            },
            remove=["lease_until"],
        )

    def note_transient(self, upload_id: str, error: ErrorInfo, now: datetime) -> None:
        """Remember the last retryable failure (for DLQ tooling) and release the lease; a
        finished record whose event has not gone out yet (PutEvents failing) notes it too."""
        self._update(
            upload_id,
            condition=(
                "#status IN (:pending, :uploaded, :processing, :restoring) OR "
                "(#status IN (:completed, :failed, :expired) "
                "AND attribute_not_exists(#notified_at))"
            ),
            values={
                ":pending": PENDING,
                ":uploaded": UPLOADED,
                ":processing": PROCESSING,
                ":restoring": RESTORING,
                ":completed": COMPLETED,
                ":failed": FAILED,
                ":expired": EXPIRED,
            },
            set_={"last_error": {**error, "at": iso(now)}, "updated_at": iso(now)},
            # The message exists, so the object arrived: its record must not expire.
            remove=["lease_until", TTL_ATTRIBUTE],
        )

    def mark_notified(self, upload_id: str, now: datetime, status: str | None = None) -> None:
        """The event for `status` (default: completed or failed) went out; a redelivered S3
        event, or a repeated API call, need not resend it."""
        statuses = (COMPLETED, FAILED) if status is None else (status,)
        placeholders = {f":s{i}": value for i, value in enumerate(statuses)}
        self._update(
            upload_id,
            condition=f"#status IN ({', '.join(placeholders)})",
            values=placeholders,
            set_={"notified_at": iso(now)},
            remove=["last_error"],
        )

    def mark_multipart_completed(
        self, upload_id: str, tenant: str, now: datetime
    ) -> UploadRecord | None:
        return self._update(
            upload_id,
            condition=(
                "#tenant = :tenant AND #status = :pending "
                "AND attribute_not_exists(#multipart_completed_at)"
            ),
            values={":tenant": tenant, ":pending": PENDING},
            set_={"multipart_completed_at": iso(now), "updated_at": iso(now)},
            # S3 assembled the object: a record whose object arrived never expires.
            remove=[TTL_ATTRIBUTE],
        )

    def mark_deleted(
        self,
        upload_id: str,
        tenant: str,
        now: datetime,
        *,
        by: str,
        window_days: int,
        pending_only: bool = False,
    ) -> UploadRecord | None:
        """Any status but deleted -> deleted, by `by`. The record keeps what a restore needs
        until the window closes; DynamoDB's TTL removes it after that (late, so nothing decides
        on its existence: see `window_open`). `pending_only` (an abort, which needs no admin
        scope): only while the record is still pending_upload, so an upload whose processing
        finished since the caller's read is not deleted on the abort's authority."""
        condition = "#tenant = :tenant AND #status <> :deleted"
        values = {":tenant": tenant, ":deleted": DELETED}
        if pending_only:
            condition = "#tenant = :tenant AND #status = :pending"
            values = {":tenant": tenant, ":pending": PENDING}
        return self._update(
            upload_id,
            tenant=tenant,
            condition=condition,
            values=values,
            set_={
                "status": DELETED,
                "deleted_at": iso(now),
                "deleted_by": by,
                "updated_at": iso(now),
                TTL_ATTRIBUTE: epoch(now) + window_days * DAY_SECONDS,
            },
            remove=["lease_until", "notified_at", "restore_version_id"],
        )

    def mark_restoring(
        self, upload_id: str, tenant: str, now: datetime, *, by: str, window_days: int
    ) -> UploadRecord | None:
        """deleted -> restoring while the window is open (decided from deleted_at, never from
        the item's existence), for a record with a validated original that was not purged."""
        return self._update(
            upload_id,
            tenant=tenant,
            condition=(
                "#tenant = :tenant AND #status = :deleted AND #deleted_at > :cutoff "
                "AND attribute_exists(#version_id) AND attribute_not_exists(#purged_at) "
                "AND attribute_not_exists(#expired_at) AND attribute_not_exists(#erased_at)"
            ),
            values={
                ":tenant": tenant,
                ":deleted": DELETED,
                ":cutoff": iso(now - timedelta(days=window_days)),
            },
            set_={
                "status": RESTORING,
                "restoring_at": iso(now),
                "restored_by": by,
                "updated_at": iso(now),
            },
            # The derivative objects are gone until the processor renders them again.
            remove=[TTL_ATTRIBUTE, "restore_version_id", "notified_at", "derivatives"],
        )

    def unmark_restoring(
        self,
        marked: UploadRecord,
        now: datetime,
        *,
        window_days: int,
        before: Mapping[str, Any] | None = None,
    ) -> UploadRecord | None:
        """restoring -> deleted again (the `RESTORING -> DELETED` edge), only for a restore whose
        copy failed or whose window closed before the copy: conditioned on exactly that restoring
        write (`restoring_at`) with no copy recorded. The TTL is set back to deleted_at + window;
        the fields the restoring write removed or set come back as `before` (the deleted record
        read before it) had them, else they are removed."""
        set_: dict[str, Any] = {
            "status": DELETED,
            "updated_at": iso(now),
            TTL_ATTRIBUTE: epoch(parse_iso(marked["deleted_at"])) + window_days * DAY_SECONDS,
        }
        remove: list[str] = []
        for name in ("derivatives", "notified_at", "restoring_at", "restored_by"):
            if before is not None and name in before:
                set_[name] = before[name]
            else:
                remove.append(name)
        return self._update(
            marked["upload_id"],
            tenant=marked["tenant"],
            condition=(
                "#tenant = :tenant AND #status = :restoring AND #restoring_at = :marked "
                "AND attribute_not_exists(#restore_version_id)"
            ),
            values={
                ":tenant": marked["tenant"],
                ":restoring": RESTORING,
                ":marked": marked.get("restoring_at", ""),
            },
            set_=set_,
            remove=remove,
        )

    def set_restore_version(
        self, upload_id: str, version_id: str, now: datetime
    ) -> UploadRecord | None:
        """The version the restore wrote: the only one the processor will take the record on."""
        return self._update(
            upload_id,
            condition="#status = :restoring",
            values={":restoring": RESTORING},
            set_={"restore_version_id": version_id, "updated_at": iso(now)},
        )

    def claim_restored(
        self, upload_id: str, ref: SourceRef, now: datetime, lease_seconds: int
    ) -> UploadRecord | None:
        """restoring -> processing, for the event of exactly the version the restore wrote."""
        return self._update(
            upload_id,
            tenant=tenant_of_original(ref.key),
            condition="#status = :restoring AND #restore_version_id = :version",
            values={":restoring": RESTORING, ":version": ref.version_id},
            set_={
                "status": PROCESSING,
                "source": ref.to_item(),
                "source_id": ref.id,
                "processing_at": iso(now),
                "updated_at": iso(now),
                "lease_until": epoch(now) + lease_seconds,
            },
            remove=["restore_version_id"],
        )

    def purge(
        self, record: UploadRecord, now: datetime, *, by: str, window_days: int
    ) -> UploadRecord | None:
        """Any status -> deleted and erased at once, leaving a tombstone. Conditioned on the
        status read, so a transition racing it makes the caller read and try again."""
        deleted_at = record.get("deleted_at") if record["status"] == DELETED else None
        stamp = deleted_at or iso(now)
        return self._update(
            record["upload_id"],
            tenant=record["tenant"],
            condition="#tenant = :tenant AND #status = :seen",
            values={":tenant": record["tenant"], ":seen": record["status"]},
            set_={
                "status": DELETED,
                "deleted_at": stamp,
                "deleted_by": record.get("deleted_by", by) if deleted_at else by,
                "purged_at": iso(now),
                "purged_by": by,
                "updated_at": iso(now),
                TTL_ATTRIBUTE: epoch(parse_iso(stamp)) + window_days * DAY_SECONDS,
            },
            remove=erasable_fields(record),
        )

    def erase(self, record: UploadRecord, now: datetime) -> UploadRecord | None:
        """A deleted record whose restore window closed loses its personal fields (DynamoDB's TTL
        deletes the item later, in its own time)."""
        return self._update(
            record["upload_id"],
            condition="#status = :deleted AND #deleted_at = :seen",
            values={":deleted": DELETED, ":seen": record.get("deleted_at", "")},
            set_={"erased_at": iso(now)},
            remove=erasable_fields(record),
        )

    def mark_malware(
        self, record: UploadRecord, error: ErrorInfo, now: datetime, *, version_id: str
    ) -> UploadRecord | None:
        """A threat found in the original (runtime/malware.py) -> failed, from the status `record`
        was read in (not deleted or expired), completed included: its derivatives are being
        removed and its original must never be handed out. Conditional on the record as read;
        the derivative list goes (the objects do), and the event is sent afresh."""
        set_: dict[str, Any] = {
            "status": FAILED,
            "error": error,
            "failed_at": iso(now),
            "updated_at": iso(now),
        }
        if not record.get("version_id"):
            # Not validated yet: the scanned version is the one the record now describes, so a
            # late S3 event for it is stale, not a replay.
            set_["version_id"] = version_id
        return self._update(
            record["upload_id"],
            tenant=record["tenant"],
            condition=(
                "#status = :seen AND #updated_at = :seen_at AND NOT #status IN (:deleted, :expired)"
            ),
            values={
                ":seen": record["status"],
                ":seen_at": record.get("updated_at", ""),
                ":deleted": DELETED,
                ":expired": EXPIRED,
            },
            set_=set_,
            remove=["lease_until", TTL_ATTRIBUTE, "notified_at", "derivatives"],
        )

    def mark_expired(self, record: UploadRecord, now: datetime) -> UploadRecord | None:
        """completed | failed -> expired: the retention rule expired the original. The record
        keeps a tombstone; its personal fields go with the bytes."""
        return self._update(
            record["upload_id"],
            tenant=record["tenant"],
            condition="#status IN (:completed, :failed) AND #status = :seen",
            values={":completed": COMPLETED, ":failed": FAILED, ":seen": record["status"]},
            set_={"status": EXPIRED, "expired_at": iso(now), "updated_at": iso(now)},
            remove=erasable_fields(record),
        )

    def record_download(
        self, upload_id: str, tenant: str, now: datetime, *, by: str
    ) -> UploadRecord | None:
        """Who last asked for the original of a completed upload, and when."""
        return self._update(
            upload_id,
            condition="#tenant = :tenant AND #status = :completed",
            values={":tenant": tenant, ":completed": COMPLETED},
            set_={"last_download_at": iso(now), "last_download_by": by},
        )

    # -- reprocessing (runtime/reprocessing.py): the record stays completed throughout --------

    def claim_reprocess(
        self, record: UploadRecord, rendered: str, token: str, now: datetime, lease_seconds: int
    ) -> UploadRecord | None:
        """Take a completed record for a re-render under the current specs (`rendered`): not
        when it already has them, changed status or validated version, or another run holds a
        live claim."""
        return self._update(
            record["upload_id"],
            condition=(
                "#status = :completed AND #version_id = :version AND #tenant = :tenant "
                "AND (attribute_not_exists(#rendered_specs) OR #rendered_specs <> :rendered) "
                "AND (attribute_not_exists(#reprocess_lease_until) "
                "OR #reprocess_lease_until < :now)"
            ),
            values={
                ":completed": COMPLETED,
                ":version": record.get("version_id", ""),
                ":tenant": record["tenant"],
                ":rendered": rendered,
                ":now": epoch(now),
            },
            set_={"reprocess_claim": token, "reprocess_lease_until": epoch(now) + lease_seconds},
        )

    def finish_reprocess(
        self,
        upload_id: str,
        token: str,
        rendered: str,
        derivatives: list[DerivativeInfo],
        stale: list[str],
        now: datetime,
    ) -> UploadRecord | None:
        """The re-render's derivatives replace the record's, while it is still completed under
        our claim; the keys it no longer lists are remembered until they are deleted."""
        set_: dict[str, Any] = {
            "derivatives": derivatives,
            "rendered_specs": rendered,
            "reprocessed_at": iso(now),
            "updated_at": iso(now),
        }
        if stale:
            set_["stale_derivatives"] = stale
        return self._update(
            upload_id,
            condition="#status = :completed AND #reprocess_claim = :token",
            values={":completed": COMPLETED, ":token": token},
            set_=set_,
            remove=["reprocess_claim", "reprocess_lease_until", "reprocess_error"],
        )

    def release_reprocess(
        self, upload_id: str, token: str, error: ErrorInfo, now: datetime
    ) -> UploadRecord | None:
        """A re-render that could not finish gives its claim back (the record is untouched)."""
        return self._update(
            upload_id,
            condition="#reprocess_claim = :token",
            values={":token": token},
            set_={"reprocess_error": {**error, "at": iso(now)}},
            remove=["reprocess_claim", "reprocess_lease_until"],
        )

    def clear_stale_derivatives(self, upload_id: str, stale: list[str]) -> None:
        """The dropped derivatives' objects are gone: forget them (unless they changed)."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key={"upload_id": {"S": upload_id}},
                UpdateExpression="REMOVE #stale",
                ConditionExpression="#stale = :seen",
                ExpressionAttributeNames={"#stale": "stale_derivatives"},
                ExpressionAttributeValues={":seen": to_attr(stale)},
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise


def parse_iso(text: str) -> datetime:
    """The inverse of `iso`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def restore_deadline(record: Mapping[str, Any], window_days: int) -> datetime | None:
    """deleted_at + window: until then a deleted upload can be restored. None when not deleted."""
    deleted_at = record.get("deleted_at")
    if record.get("status") != DELETED or not isinstance(deleted_at, str):
        return None
    return parse_iso(deleted_at) + timedelta(days=window_days)


def window_open(record: Mapping[str, Any], now: datetime, window_days: int) -> bool:
    deadline = restore_deadline(record, window_days)
    return deadline is not None and now < deadline


def erasable_fields(record: Mapping[str, Any], keep: Iterable[str] = ()) -> list[str]:
    """The attributes an erase removes: everything outside the tombstone."""
    kept = TOMBSTONE_FIELDS | set(keep)
    return sorted(name for name in record if name not in kept)


def tombstone(record: UploadRecord) -> UploadRecord:
    """The record as an erase leaves it (for answers read before the erase is written)."""
    return cast(UploadRecord, {k: v for k, v in record.items() if k in TOMBSTONE_FIELDS})


def public_view(record: UploadRecord, url_for: Callable[[str], str]) -> dict[str, Any]:
    """What the API and events show: public fields, derivative URLs computed now. A deleted
    upload has no derivatives (their objects are removed), so none are listed, nor URLs issued."""
    view: dict[str, Any] = {k: record[k] for k in PUBLIC_FIELDS if k in record}  # type: ignore[literal-required]
    if record["status"] in (DELETED, EXPIRED):
        view.pop("derivatives", None)
    elif "derivatives" in record:
        view["derivatives"] = [
            {
                "name": d["name"],
                "key": d["key"],
                "url": url_for(d["key"]),
                "width": d["width"],
                "height": d["height"],
                "bytes": d["bytes"],
                "format": d["format"],
            }
            for d in record["derivatives"]
        ]
    return view

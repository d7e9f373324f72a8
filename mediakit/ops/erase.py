"""`mediakit erase --tenant T`: remove everything a tenant left, on `mediakit dev` (its env file)
or a deployed stack (`pulumi stack output --json` saved to a file, the operator's own AWS
credentials).

What goes: every object version and delete marker under the tenant's `originals/` and
`derivatives/` prefixes (the tenant claim sanitised into its key segment as the runtime does,
`runtime.keys.sanitise_tenant`, so tenant `a` never reaches `ab/` or `a~2Fb/`) and every item
of every kind the tenant has in the table (`ITEM_KINDS`: the upload records today, found by the
tenant index). Records go first: an upload being processed meanwhile then fails its conditional
writes and removes its own derivatives, and a late original has no record and is deleted as an
orphan. After removing, the prefixes and the index are read again; whatever is still there is
reported (and the command exits non-zero), so a retry finishes the job.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mediakit.ops.outputs import read_outputs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

# DeleteObjects takes at most 1000 keys, BatchWriteItem at most 25 requests.
_S3_BATCH = 1000
_DDB_BATCH = 25
# BatchWriteItem hands back what it could not write (throttling): tries before giving up on it.
_DDB_ATTEMPTS = 5


@dataclass(frozen=True)
class EraseTarget:
    """The bucket and table of one deployment, with clients that reach them."""

    s3: S3Client
    ddb: DynamoDBClient
    bucket: str
    table: str
    originals_prefix: str
    derivatives_prefix: str
    where: str  # "mediakit dev at ..." or "stack outputs ..." for messages

    @classmethod
    def from_env_file(cls, path: Path) -> EraseTarget:
        """The emulator's bucket and table (dev credentials, its endpoint)."""
        from mediakit.local.emulator import DevEnv

        env = DevEnv.read(path)
        originals, derivatives = _prefixes()
        return cls(
            s3=env.client("s3"),
            ddb=env.client("dynamodb"),
            bucket=env.bucket,
            table=env.table,
            originals_prefix=originals,
            derivatives_prefix=derivatives,
            where=f"mediakit dev at {env.aws_endpoint_url}",
        )

    @classmethod
    def from_outputs(cls, path: Path) -> EraseTarget:
        """A deployed stack: `bucket_name` and `table_name` from its outputs, with the caller's
        AWS credentials, in the region of its `kms_key_arn` (else the configured region)."""
        import boto3

        outputs = read_outputs(path, ("bucket_name", "table_name"))
        arn = str(outputs.get("kms_key_arn") or "").split(":")
        region = (arn[3] if len(arn) > 3 and arn[3] else None) or os.environ.get("AWS_REGION")
        session = boto3.session.Session(region_name=region)
        originals, derivatives = _prefixes()
        return cls(
            s3=session.client("s3"),
            ddb=session.client("dynamodb"),
            bucket=str(outputs["bucket_name"]),
            table=str(outputs["table_name"]),
            originals_prefix=originals,
            derivatives_prefix=derivatives,
            where=f"stack outputs {path}",
        )


def _prefixes() -> tuple[str, str]:
    """The stack's key prefixes: the defaults, or MEDIAKIT_ORIGINALS_PREFIX and
    MEDIAKIT_DERIVATIVES_PREFIX when the stack set others (read as the runtime reads them)."""
    from runtime.settings import Settings

    # An invalid MEDIAKIT_* value is a SettingsError naming it: one line, exit 2 (mediakit.errors).
    settings = Settings.from_env(os.environ)
    return settings.originals_prefix, settings.derivatives_prefix


def tenant_segment(tenant: str) -> str:
    """The key segment and record value of the tenant claim `tenant` (as the runtime makes it)."""
    from runtime import keys
    from runtime.errors import MediakitError

    try:
        return keys.sanitise_tenant(tenant)
    except MediakitError as exc:
        raise click.BadParameter(exc.message, param_hint="--tenant") from None


def _client_error(exc: Any) -> str:
    error = exc.response.get("Error", {})
    operation = getattr(exc, "operation_name", "the call")
    return f"{operation} failed: {error.get('Code', '?')}: {error.get('Message', '')}".strip()


# --- what a tenant has ---------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class ObjectVersion:
    """One object version or delete marker."""

    key: str
    version_id: str
    delete_marker: bool = False

    def describe(self) -> str:
        kind = "delete marker" if self.delete_marker else "version"
        return f"{self.key} ({kind} {self.version_id})"


@dataclass(frozen=True)
class Item:
    """One table item of the tenant: its kind (`ITEM_KINDS`) and primary key."""

    kind: str
    table: str
    key: dict[str, dict[str, str]]

    def describe(self) -> str:
        shown = ", ".join(f"{name}={next(iter(v.values()))}" for name, v in self.key.items())
        return f"{self.kind} {shown}"


@dataclass(frozen=True)
class ItemKind:
    """A kind of table item a tenant owns: its name and how to find the tenant's items."""

    name: str
    find: Callable[[EraseTarget, str], Iterator[Item]]


def _upload_records(target: EraseTarget, tenant: str) -> Iterator[Item]:
    """Every upload record of the tenant, whatever its status, by the tenant index."""
    from runtime.records import TENANT_INDEX

    paginator = target.ddb.get_paginator("query")
    pages = paginator.paginate(
        TableName=target.table,
        IndexName=TENANT_INDEX,
        KeyConditionExpression="#tenant = :tenant",
        ExpressionAttributeNames={"#tenant": "tenant", "#id": "upload_id"},
        ExpressionAttributeValues={":tenant": {"S": tenant}},
        ProjectionExpression="#id",
    )
    for page in pages:
        for item in page.get("Items", []):
            upload_id = item["upload_id"]["S"]
            yield Item("upload record", target.table, {"upload_id": {"S": upload_id}})


def _rate_windows(target: EraseTarget, tenant: str) -> Iterator[Item]:
    """The tenant's per-minute presign counters (runtime/limits.py), by the sparse
    `tenant_items` index (TTL removes them a minute after their window, but late)."""
    from runtime import limits

    for key in limits.counter_keys(target.ddb, target.table, tenant):
        yield Item("rate window", target.table, {"upload_id": {"S": key}})


def _idempotency_keys(target: EraseTarget, tenant: str) -> Iterator[Item]:
    """The tenant's Idempotency-Key items (runtime/idempotency.py), by the `tenant_items` index."""
    from runtime.idempotency import SORT_PREFIX
    from runtime.records import tenant_item_keys

    for key in tenant_item_keys(target.ddb, target.table, tenant, SORT_PREFIX):
        yield Item("idempotency key", target.table, {"upload_id": {"S": key}})


# Every kind of item a tenant can own, in removal order. A new kind (idempotency keys, per-tenant
# counters) is one entry here: its finder yields the tenant's items with their primary keys.
ITEM_KINDS: tuple[ItemKind, ...] = (
    ItemKind("upload record", _upload_records),
    ItemKind("rate window", _rate_windows),
    ItemKind("idempotency key", _idempotency_keys),
)


@dataclass
class Inventory:
    """What a tenant has: object versions and delete markers, and table items."""

    tenant: str
    prefixes: tuple[str, ...]
    objects: list[ObjectVersion] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)

    @property
    def versions(self) -> int:
        return sum(1 for o in self.objects if not o.delete_marker)

    @property
    def delete_markers(self) -> int:
        return sum(1 for o in self.objects if o.delete_marker)

    def counts(self) -> dict[str, int]:
        out = {"object versions": self.versions, "delete markers": self.delete_markers}
        for kind in ITEM_KINDS:
            out[f"{kind.name}s"] = sum(1 for i in self.items if i.kind == kind.name)
        return out

    def summary(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in self.counts().items())

    @property
    def empty(self) -> bool:
        return not self.objects and not self.items


def inventory(target: EraseTarget, tenant: str) -> Inventory:
    """Everything the tenant segment `tenant` has in the bucket and the table."""
    prefixes = (f"{target.originals_prefix}{tenant}/", f"{target.derivatives_prefix}{tenant}/")
    found = Inventory(tenant, prefixes)
    for prefix in prefixes:
        found.objects.extend(_versions(target, prefix))
    for kind in ITEM_KINDS:
        found.items.extend(kind.find(target, tenant))
    return found


def _versions(target: EraseTarget, prefix: str) -> Iterator[ObjectVersion]:
    paginator = target.s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=target.bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            yield ObjectVersion(version["Key"], version["VersionId"])
        for marker in page.get("DeleteMarkers", []):
            yield ObjectVersion(marker["Key"], marker["VersionId"], delete_marker=True)


# --- removing it ---------------------------------------------------------------------------


@dataclass
class Outcome:
    """What an erase removed, what failed on the way, and what is still there afterwards."""

    removed_items: list[Item] = field(default_factory=list)
    removed_objects: list[ObjectVersion] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    remaining: Inventory | None = None

    @property
    def complete(self) -> bool:
        return not self.errors and (self.remaining is None or self.remaining.empty)


def erase(
    target: EraseTarget, found: Inventory, report: Callable[[str], None] = lambda _: None
) -> Outcome:
    """Remove what `found` lists (items first, then object versions), reporting each removal,
    then read the tenant's prefixes and items again into `remaining`."""
    outcome = Outcome()
    for item in _remove_items(target, found.items, outcome.errors):
        outcome.removed_items.append(item)
        report(f"removed {item.describe()}")
    for obj in _remove_objects(target, found.objects, outcome.errors):
        outcome.removed_objects.append(obj)
        report(f"removed {obj.describe()}")
    remaining = inventory(target, found.tenant)
    # The tenant index is eventually consistent: an item it still lists right after its delete
    # counts as remaining only if a strongly consistent read of the table still finds it.
    remaining.items = [i for i in remaining.items if _still_there(target, i)]
    outcome.remaining = remaining
    return outcome


def _still_there(target: EraseTarget, item: Item) -> bool:
    response = target.ddb.get_item(TableName=item.table, Key=item.key, ConsistentRead=True)
    return "Item" in response


def _chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _remove_items(target: EraseTarget, items: Iterable[Item], errors: list[str]) -> Iterator[Item]:
    by_table: dict[str, list[Item]] = {}
    for item in items:
        by_table.setdefault(item.table, []).append(item)
    from botocore.exceptions import ClientError

    for table, listed in by_table.items():
        for chunk in _chunks(listed, _DDB_BATCH):
            pending = chunk
            for _ in range(_DDB_ATTEMPTS):
                try:
                    response = target.ddb.batch_write_item(
                        RequestItems={table: [{"DeleteRequest": {"Key": i.key}} for i in pending]}
                    )
                except ClientError as exc:
                    # Refused (access denied, a missing table): the rest of the erase goes on.
                    errors.extend(f"{i.describe()}: {_client_error(exc)}" for i in pending)
                    pending = []
                    break
                unprocessed = response.get("UnprocessedItems", {}).get(table, [])
                left = [r["DeleteRequest"]["Key"] for r in unprocessed if "DeleteRequest" in r]
                done = [i for i in pending if i.key not in left]
                yield from done
                pending = [i for i in pending if i.key in left]
                if not pending:
                    break
            errors.extend(f"{i.describe()}: still unprocessed (throttled)" for i in pending)


def _remove_objects(
    target: EraseTarget, objects: Iterable[ObjectVersion], errors: list[str]
) -> Iterator[ObjectVersion]:
    from botocore.exceptions import ClientError

    for chunk in _chunks(sorted(objects), _S3_BATCH):
        try:
            response = target.s3.delete_objects(
                Bucket=target.bucket,
                Delete={
                    "Objects": [{"Key": o.key, "VersionId": o.version_id} for o in chunk],
                    "Quiet": False,
                },
            )
        except ClientError as exc:
            errors.extend(f"{o.describe()}: {_client_error(exc)}" for o in chunk)
            continue
        failed = {(e.get("Key"), e.get("VersionId")) for e in response.get("Errors", [])}
        for e in response.get("Errors", []):
            errors.append(f"{e.get('Key')} ({e.get('VersionId')}): {e.get('Code')}")
        yield from (o for o in chunk if (o.key, o.version_id) not in failed)

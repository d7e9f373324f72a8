"""`mediakit reprocess [--tenant T | --all] [--since DATE]`: re-render the derivatives of existing
uploads under the stack's current derivative specs, through the queue, on `mediakit dev` (its env
file) or a deployed stack (`pulumi stack output --json` saved to a file, the operator's own AWS
credentials).

The command only selects and asks: it reads the completed uploads (one tenant by the tenant
index, or every tenant by a paginated scan), optionally those created since a date, and sends one
small message per upload (`runtime.reprocessing.ReprocessRequest`) with SendMessageBatch to the
ingest queue (audio and video to the media queue). The processor does the work, idempotently
(keyed on upload id + version + spec hash), so running the command twice, or a message delivered
twice, renders once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediakit.ops.outputs import queue_region, read_outputs

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

    from runtime.reprocessing import ReprocessRequest

# SendMessageBatch takes at most 10 entries; entries it refuses (throttling) are sent again.
_SQS_BATCH = 10
_SEND_ATTEMPTS = 5
_MEDIA_ONLY = ("audio", "video")


@dataclass(frozen=True)
class ReprocessTarget:
    """The table and queues of one deployment, with clients that reach them."""

    ddb: DynamoDBClient
    sqs: SQSClient
    table: str
    queue_url: str
    # The media function's queue (audio/video), "" when the stack has none.
    media_queue_url: str
    where: str

    @classmethod
    def from_env_file(cls, path: Path) -> ReprocessTarget:
        """The emulator's table and queues (dev credentials, its endpoint)."""
        from mediakit.local.emulator import DevEnv

        env = DevEnv.read(path)
        return cls(
            ddb=env.client("dynamodb"),
            sqs=env.client("sqs"),
            table=env.table,
            queue_url=env.queue_url,
            media_queue_url=str(getattr(env, "media_queue_url", "") or ""),
            where=f"mediakit dev at {env.aws_endpoint_url}",
        )

    @classmethod
    def from_outputs(cls, path: Path) -> ReprocessTarget:
        """A deployed stack: `table_name` and `ingest_queue_url` (and `media_queue_url` when it
        has one) from its outputs, with the caller's AWS credentials, in the queue's region."""
        import boto3

        outputs = read_outputs(path, ("table_name", "ingest_queue_url"))
        queue_url = str(outputs["ingest_queue_url"])
        region = (
            queue_region(queue_url)
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
        )
        session = boto3.session.Session(region_name=region)
        return cls(
            ddb=session.client("dynamodb"),
            sqs=session.client("sqs"),
            table=str(outputs["table_name"]),
            queue_url=queue_url,
            media_queue_url=str(outputs.get("media_queue_url") or ""),
            where=f"stack outputs {path}",
        )


def since_stamp(moment: datetime | None) -> str | None:
    """A --since value (naive means UTC) as the records' sortable `created_at` text."""
    if moment is None:
        return None
    from runtime.records import iso

    return iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


# --- which uploads --------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A completed upload to re-render, and the queue its message goes to."""

    upload_id: str
    version_id: str
    tenant: str
    kind: str

    def request(self) -> ReprocessRequest:
        from runtime.reprocessing import ReprocessRequest

        return ReprocessRequest(self.upload_id, self.version_id, self.tenant)


_PROJECTION = "#id, #version, #tenant, #type, #status"
_NAMES = {
    "#id": "upload_id",
    "#version": "version_id",
    "#tenant": "tenant",
    "#type": "content_type",
    "#status": "status",
    "#created": "created_at",
}


def candidates(target: ReprocessTarget, tenant: str | None, since: str | None) -> list[Candidate]:
    """Completed uploads of tenant segment `tenant` (None: every tenant, by a paginated scan),
    created at or after `since` when given."""
    from runtime.records import COMPLETED, TENANT_INDEX

    # DynamoDB refuses a name no expression uses: #created only with --since.
    names = {k: v for k, v in _NAMES.items() if k != "#created" or since is not None}
    values: dict[str, Any] = {":completed": {"S": COMPLETED}}
    if since is not None:
        values[":since"] = {"S": since}
    common: dict[str, Any] = {
        "TableName": target.table,
        "ProjectionExpression": _PROJECTION,
        "ExpressionAttributeNames": names,
    }
    if tenant is not None:
        values[":tenant"] = {"S": tenant}
        condition = "#tenant = :tenant" + (" AND #created >= :since" if since else "")
        pages = target.ddb.get_paginator("query").paginate(
            IndexName=TENANT_INDEX,
            KeyConditionExpression=condition,
            FilterExpression="#status = :completed",
            ExpressionAttributeValues=values,
            **common,
        )
    else:
        expression = "#status = :completed" + (" AND #created >= :since" if since else "")
        pages = target.ddb.get_paginator("scan").paginate(
            FilterExpression=expression, ExpressionAttributeValues=values, **common
        )
    return list(_parse(pages))


def _parse(pages: Iterable[Any]) -> Iterator[Candidate]:
    from runtime.settings import kind_of

    for page in pages:
        for item in page.get("Items", []):
            version = item.get("version_id", {}).get("S", "")
            if not version:
                continue
            yield Candidate(
                upload_id=item["upload_id"]["S"],
                version_id=version,
                tenant=item["tenant"]["S"],
                kind=kind_of(item.get("content_type", {}).get("S", "")),
            )


# --- asking for it --------------------------------------------------------------------------


@dataclass
class Outcome:
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def send(
    target: ReprocessTarget,
    found: list[Candidate],
    progress: Callable[[int], None] = lambda _: None,
) -> Outcome:
    """One message per candidate, in batches of ten, to the queue of its kind; `progress` gets
    the number of candidates each batch settled."""
    outcome = Outcome()
    by_queue: dict[str, list[Candidate]] = {}
    for candidate in found:
        if candidate.kind in _MEDIA_ONLY:
            if not target.media_queue_url:
                outcome.skipped.append(candidate.upload_id)
                progress(1)
                continue
            by_queue.setdefault(target.media_queue_url, []).append(candidate)
        else:
            by_queue.setdefault(target.queue_url, []).append(candidate)
    for queue_url, listed in by_queue.items():
        for start in range(0, len(listed), _SQS_BATCH):
            chunk = listed[start : start + _SQS_BATCH]
            _send_batch(target, queue_url, chunk, outcome)
            progress(len(chunk))
    return outcome


def _send_batch(
    target: ReprocessTarget, queue_url: str, chunk: list[Candidate], outcome: Outcome
) -> None:
    pending = {str(i): c for i, c in enumerate(chunk)}
    for _ in range(_SEND_ATTEMPTS):
        response = target.sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": i, "MessageBody": c.request().body()} for i, c in pending.items()],
        )
        for ok in response.get("Successful", []):
            outcome.sent.append(pending.pop(ok["Id"]).upload_id)
        refused = response.get("Failed", [])
        for failure in refused:
            if not failure.get("SenderFault"):
                continue
            # The sender's fault will not change on a retry.
            candidate = pending.pop(failure["Id"])
            outcome.errors.append(
                f"{candidate.upload_id}: {failure.get('Code')}: {failure.get('Message', '')}"
            )
        if not pending:
            return
    outcome.errors.extend(f"{c.upload_id}: not accepted by the queue" for c in pending.values())

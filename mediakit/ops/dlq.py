"""`mediakit dlq`: look at, redrive and purge the ingest dead-letter queue, on `mediakit dev`
(its env file) or a deployed stack (`pulumi stack output --json` saved to a file).

Each dead message is shown with the upload it is about (parsed from the S3 notification), how
often it was received and the last transient failure the processor noted on the status record
(`last_error`). Looking is a receive with a short visibility timeout that is handed back at once,
so messages being looked at by someone else at that moment are not listed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediakit.errors import SetupError
from mediakit.ops.outputs import queue_region, read_outputs

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from runtime.records import Store

# Long enough to page through a DLQ without seeing a message twice; returned right after.
PEEK_VISIBILITY_SECONDS = 30
_BATCH = 10


@dataclass(frozen=True)
class DlqTarget:
    """Where the queues and the status table are, and the clients to reach them."""

    sqs: SQSClient
    dlq_url: str
    queue_url: str
    store: Store | None

    @classmethod
    def from_env_file(cls, path: Path, *, media: bool = False) -> DlqTarget:
        """The emulator's queues and table (dev credentials, its endpoint); `media`: the media
        function's queue and DLQ (audio/video on)."""
        from mediakit.local.emulator import DevEnv
        from runtime.records import Store

        _check_settings()
        env = DevEnv.read(path)
        dlq_url, queue_url = (
            (env.media_dlq_url, env.media_queue_url) if media else (env.dlq_url, env.queue_url)
        )
        if not dlq_url:
            raise SetupError(f"{path}: the emulator runs no media function (audio/video off)")
        return cls(
            sqs=env.client("sqs"),
            dlq_url=dlq_url,
            queue_url=queue_url,
            store=Store(env.client("dynamodb"), env.table),
        )

    @classmethod
    def from_outputs(cls, path: Path, *, media: bool = False) -> DlqTarget:
        """A deployed stack: `dlq_url`, `ingest_queue_url`, `table_name` from its outputs (with
        `media`: `media_dlq_url`, `media_queue_url`), with the caller's normal AWS credentials;
        the region is the queues'."""
        import boto3

        from runtime.records import Store

        _check_settings()
        dlq_key, queue_key = (
            ("media_dlq_url", "media_queue_url") if media else ("dlq_url", "ingest_queue_url")
        )
        outputs = read_outputs(path, (dlq_key, queue_key))
        dlq_url = str(outputs[dlq_key])
        region = queue_region(dlq_url) or os.environ.get("AWS_REGION") or None
        session = boto3.session.Session(region_name=region)
        table = outputs.get("table_name")
        return cls(
            sqs=session.client("sqs"),
            dlq_url=dlq_url,
            queue_url=str(outputs[queue_key]),
            store=Store(session.client("dynamodb"), str(table)) if table else None,
        )


def _check_settings() -> None:
    """Refuse an invalid MEDIAKIT_* value (a SettingsError naming it) before any call: the
    messages' keys are parsed with the settings' prefixes."""
    from runtime.settings import Settings

    Settings.from_env(os.environ)


@dataclass
class DeadMessage:
    """One dead-lettered message and what it was about."""

    message_id: str
    receive_count: int
    sent_at: str
    upload_id: str | None
    key: str | None
    status: str | None
    last_error: dict[str, str] | None
    body: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def describe(message: MessageTypeDef, store: Store | None) -> DeadMessage:
    """Parse the S3 notification in a dead message and look up its status record."""
    from runtime import events, keys, malware
    from runtime.settings import Settings

    body = message.get("Body", "")
    attributes = message.get("Attributes", {})
    key = upload_id = status = None
    last_error: dict[str, str] | None = None
    try:
        created = events.parse_s3_notification(body)
    except events.MalformedEvent:
        created = []
    if created:
        key = created[0].key
    elif (scan := malware.scan_result_payload(body)) is not None:
        # A GuardDuty scan result (malwareScanning) dead-lettered: name the original it is about.
        try:
            key = malware.parse_scan_result(scan).key
        except events.MalformedEvent:
            key = None
    if key is not None:
        parsed = keys.parse_original_key(Settings.from_env(os.environ), key)
        upload_id = parsed.upload_id if parsed else None
    if upload_id and store is not None:
        record = store.get(upload_id)
        if record is not None:
            status = record.get("status")
            final = record.get("error")
            last_error = record.get("last_error") or (
                {"code": final["code"], "message": final["message"]} if final else None
            )
    # Our own look is a receive too: report the count as it was before it.
    count = max(0, int(attributes.get("ApproximateReceiveCount", "1")) - 1)
    sent = attributes.get("SentTimestamp", "")
    return DeadMessage(
        message_id=message["MessageId"],
        receive_count=count,
        sent_at=_iso_ms(sent) if sent else "",
        upload_id=upload_id,
        key=key,
        status=status,
        last_error=last_error,
        body=body,
    )


def _iso_ms(epoch_ms: str) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(int(epoch_ms) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _receive_all(sqs: SQSClient, url: str, limit: int | None = None) -> Iterator[MessageTypeDef]:
    """Every currently visible message once (each stays hidden for the peek timeout)."""
    seen: set[str] = set()
    while limit is None or len(seen) < limit:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=_BATCH if limit is None else min(_BATCH, limit - len(seen)),
            VisibilityTimeout=PEEK_VISIBILITY_SECONDS,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message


def _release(sqs: SQSClient, url: str, messages: Iterable[MessageTypeDef]) -> None:
    """Make looked-at messages visible again at once."""
    pending = list(messages)
    for start in range(0, len(pending), _BATCH):
        chunk = pending[start : start + _BATCH]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(chunk)
            ],
        )


def list_dead(target: DlqTarget, *, limit: int | None = None) -> list[DeadMessage]:
    """Describe the visible dead messages (up to `limit`), leaving them on the DLQ."""
    received = list(_receive_all(target.sqs, target.dlq_url, limit))
    try:
        return [describe(m, target.store) for m in received]
    finally:
        _release(target.sqs, target.dlq_url, received)


def redrive(target: DlqTarget, message_ids: set[str] | None) -> list[str]:
    """Send the chosen dead messages (None: all) back to the ingest queue, then delete them
    from the DLQ; returns the ids moved. A message is deleted only after its copy is sent."""
    moved: list[str] = []
    untouched: list[MessageTypeDef] = []
    for message in _receive_all(target.sqs, target.dlq_url):
        if message_ids is not None and message["MessageId"] not in message_ids:
            untouched.append(message)
            continue
        target.sqs.send_message(QueueUrl=target.queue_url, MessageBody=message.get("Body", ""))
        target.sqs.delete_message(QueueUrl=target.dlq_url, ReceiptHandle=message["ReceiptHandle"])
        moved.append(message["MessageId"])
    _release(target.sqs, target.dlq_url, untouched)
    return moved


def depth(target: DlqTarget) -> int:
    """ApproximateNumberOfMessages of the DLQ: what the alarm watches."""
    attrs = target.sqs.get_queue_attributes(
        QueueUrl=target.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessages", "0"))


def purge(target: DlqTarget) -> int:
    """Delete every visible dead message; returns how many were deleted."""
    deleted = 0
    for message in _receive_all(target.sqs, target.dlq_url):
        target.sqs.delete_message(QueueUrl=target.dlq_url, ReceiptHandle=message["ReceiptHandle"])
        deleted += 1
    return deleted


# --- the command ---------------------------------------------------------------------------------

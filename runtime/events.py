"""Event shapes in and out: SQS batches of S3 notifications, and EventBridge upload events."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from runtime.errors import TransientFault
from runtime.records import SourceRef

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient

SOURCE = "mediakit"
COMPLETED = "media.upload.completed"
FAILED = "media.upload.failed"
DELETED = "media.upload.deleted"
RESTORED = "media.upload.restored"
PURGED = "media.upload.purged"
EXPIRED = "media.upload.expired"
# Every detail-type the kit publishes (stacks/events.py documents the same tuple).
DETAIL_TYPES = (COMPLETED, FAILED, DELETED, RESTORED, PURGED, EXPIRED)
# The shape of `detail`; a subscriber can refuse a version it does not know.
DETAIL_VERSION = 1
# S3 event names the processor acts on besides ObjectCreated: a retention rule expired the
# current original (on a versioned bucket, by writing a delete marker).
LIFECYCLE_EXPIRED = "LifecycleExpiration:DeleteMarkerCreated"


class SqsRecord(TypedDict, total=False):
    messageId: str
    receiptHandle: str
    body: str
    attributes: dict[str, str]
    eventSource: str
    eventSourceARN: str


class SqsEvent(TypedDict):
    Records: list[SqsRecord]


class BatchItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[BatchItemFailure]


class MalformedEvent(ValueError):
    """A message that is not an S3 notification we understand; retrying cannot help."""


@dataclass(frozen=True)
class SqsMessage:
    message_id: str
    body: str
    # How many times SQS has handed this message out, this delivery included.
    receive_count: int = 1


@dataclass(frozen=True)
class ObjectCreated:
    """One `s3:ObjectCreated:*` notification (or, with `event_name`
    `LifecycleExpiration:DeleteMarkerCreated`, a retention expiry), key already URL-decoded."""

    bucket: str
    key: str
    size: int
    version_id: str
    sequencer: str
    event_name: str
    event_time: str

    @property
    def ref(self) -> SourceRef:
        return SourceRef(self.bucket, self.key, self.version_id, self.sequencer)

    @property
    def expired(self) -> bool:
        return self.event_name == LIFECYCLE_EXPIRED


def sqs_messages(event: Mapping[str, Any]) -> list[SqsMessage]:
    """The messages of an SQS event-source batch."""
    records = event.get("Records")
    if not isinstance(records, list):
        raise MalformedEvent("not an SQS batch: no Records list")
    return [
        SqsMessage(
            str(r.get("messageId", "")), str(r.get("body", "")), _receive_count(r.get("attributes"))
        )
        for r in records
    ]


def _receive_count(attributes: object) -> int:
    raw = attributes.get("ApproximateReceiveCount") if isinstance(attributes, Mapping) else None
    try:
        return max(1, int(str(raw)))
    except ValueError:
        return 1


def decode_key(raw: str) -> str:
    """S3 notification keys are form-encoded: `+` is a space and `%2B` a plus."""
    return urllib.parse.unquote_plus(raw)


def parse_s3_notification(body: str) -> list[ObjectCreated]:
    """The object-created and lifecycle-expired records of one S3 notification; [] for test
    events and other kinds (a noncurrent version expiring, `LifecycleExpiration:Delete`, needs
    nothing)."""
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        raise MalformedEvent(f"message body is not JSON: {exc.msg}") from None
    except RecursionError:
        raise MalformedEvent("message body nests too deeply") from None
    if not isinstance(payload, dict):
        raise MalformedEvent("message body is not a JSON object")
    # S3 sends this once when the notification is configured; it names no object.
    if payload.get("Event") == "s3:TestEvent":
        return []
    records = payload.get("Records")
    if not isinstance(records, list):
        raise MalformedEvent("message body has no Records list")
    out: list[ObjectCreated] = []
    for record in records:
        name = str(record.get("eventName", "")) if isinstance(record, dict) else ""
        if not name.startswith("ObjectCreated:") and name != LIFECYCLE_EXPIRED:
            continue
        try:
            s3 = record["s3"]
            obj = s3["object"]
            out.append(
                ObjectCreated(
                    bucket=str(s3["bucket"]["name"]),
                    key=decode_key(str(obj["key"])),
                    size=int(obj.get("size", 0)),
                    version_id=str(obj.get("versionId") or "null"),
                    sequencer=str(obj.get("sequencer", "")),
                    event_name=name,
                    event_time=str(record.get("eventTime", "")),
                )
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            # OverflowError: JSON allows `Infinity`, and int() of it is no ValueError.
            raise MalformedEvent(f"S3 record lacks {exc}") from None
    return out


# The probed facts an event carries (runtime.media.probe.MediaInfo, all technical).
MEDIA_EVENT_FIELDS = (
    "kind",
    "container",
    "duration_seconds",
    "bit_rate",
    "streams",
    "video_codec",
    "width",
    "height",
    "rotation",
    "frame_rate",
    "audio_codec",
    "sample_rate",
    "channels",
)


def detail(record: Mapping[str, Any], *, by: str | None = None) -> dict[str, Any]:
    """The thin `detail` of an upload event: ids, status, keys, codes, dimensions and the acting
    subject, and an audio/video upload's probed `media` facts (kind, duration, codecs,
    dimensions: no tags or titles are ever probed); never the file name, metadata, EXIF/GPS or a
    URL (signed or not), so neither subscribers nor the bus's archive ever hold personal data or
    a usable link."""
    out: dict[str, Any] = {
        "version": DETAIL_VERSION,
        "upload_id": record["upload_id"],
        "tenant": record["tenant"],
        "status": record["status"],
        "key": record["key"],
        "occurred_at": record.get("updated_at"),
    }
    for name in ("version_id", "correlation_id"):
        if record.get(name):
            out[name] = record[name]
    if record["status"] == "completed":
        out["derivatives"] = [
            {
                "name": d["name"],
                "key": d["key"],
                "format": d["format"],
                "width": d["width"],
                "height": d["height"],
                "bytes": d["bytes"],
            }
            for d in record.get("derivatives", [])
        ]
        media = record.get("media")
        if isinstance(media, Mapping) and media.get("kind"):
            out["media"] = {k: media[k] for k in MEDIA_EVENT_FIELDS if k in media}
    error = record.get("error")
    if isinstance(error, Mapping) and error.get("code"):
        # The code only: messages may quote what the bytes said.
        out["error"] = {"code": error["code"]}
    if by is not None:
        out["by"] = by
    return out


def publish(
    client: EventBridgeClient, bus: str, detail_type: str, detail: Mapping[str, Any]
) -> None:
    """PutEvents one upload event; a rejected entry is transient (the message is retried)."""
    response = client.put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, separators=(",", ":"), default=str),
                "EventBusName": bus,
            }
        ]
    )
    if response.get("FailedEntryCount", 0):
        entry = response["Entries"][0]
        raise TransientFault(
            f"PutEvents rejected the event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}"
        )

"""Processing one uploaded original: claim it, validate it, write derivatives, record, announce.

Every step is safe to repeat: the record's conditional transitions decide whether an event is
new, a duplicate, stale (an older object version) or moot (the upload was deleted).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from runtime import (
    delivery,
    documents,
    events,
    keys,
    malware,
    reprocessing,
    sandbox,
    telemetry,
)
from runtime.aws import error_code, is_not_found
from runtime.errors import PermanentFault, TransientFault
from runtime.events import MalformedEvent, ObjectCreated
from runtime.records import (
    COMPLETED,
    DELETED,
    EXPIRED,
    FAILED,
    PENDING,
    PROCESSING,
    RESTORING,
    DerivativeInfo,
    SourceRef,
    Store,
    UploadRecord,
)
from runtime.settings import Resources, Settings, kind_of

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client

    from runtime.imaging import ProcessedImage, RenderedDerivative
    from runtime.media.job import MediaJob, MediaOutcome

log = logging.getLogger(__name__)

_MAX_RACES = 5


class ImageProcessor(Protocol):
    def __call__(
        self, data: bytes, declared_type: str, settings: Settings, *, include_gps: bool
    ) -> ProcessedImage: ...


class MediaRunner(Protocol):
    """Runs one audio/video job (`runtime.media.job.run`), normally in the processing child."""

    def __call__(self, job: MediaJob) -> MediaOutcome: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    """Everything processing touches; tests pass moto-backed clients and may swap `process`."""

    settings: Settings
    resources: Resources
    s3: S3Client
    store: Store
    events: EventBridgeClient
    process: ImageProcessor
    clock: Callable[[], datetime] = field(default=_utcnow)
    # This invocation's metrics; None outside a handler (tests of the core).
    metrics: telemetry.Recorder | None = None
    # The media function's: audio/video uploads (None in the image processor, which refuses
    # them: they reach it only through a misrouted notification).
    media: MediaRunner | None = None


def default_deps() -> Deps:
    """Deps from the environment and the process-wide clients; Pillow loads here, not earlier."""
    from runtime import aws, config
    from runtime.imaging import process_image

    resources = config.resources()
    settings = config.settings()
    return Deps(
        settings=settings,
        resources=resources,
        s3=aws.s3(),
        store=Store(aws.dynamodb(), resources.table),
        events=aws.events(),
        process=isolated(process_image, settings),
    )


def processing_budget(settings: Settings) -> sandbox.Budget:
    """The per-upload CPU, wall-time and memory budgets the settings give."""
    return sandbox.Budget(
        cpu_seconds=settings.processing_cpu_seconds,
        wall_seconds=settings.processing_timeout_seconds,
        memory_mb=settings.processing_memory_mb,
    )


def isolated(process: ImageProcessor, settings: Settings) -> ImageProcessor:
    """`process` run in a child process under the settings' CPU, wall-time and memory budgets."""
    budget = processing_budget(settings)

    def run(
        data: bytes, declared_type: str, settings: Settings, *, include_gps: bool
    ) -> ProcessedImage:
        return sandbox.run(
            process, data, declared_type, settings, include_gps=include_gps, budget=budget
        )

    return run


def media_budget(settings: Settings) -> sandbox.Budget:
    """The per-upload budgets of the media function (mediaProcessing*)."""
    return sandbox.Budget(
        cpu_seconds=settings.media_processing_cpu_seconds,
        wall_seconds=settings.media_processing_timeout_seconds,
        memory_mb=settings.media_processing_memory_mb,
    )


def isolated_media(settings: Settings) -> MediaRunner:
    """`runtime.media.job.run` in the processing child under the media budgets; the child makes
    its own S3 client (runtime.aws forgets the parent's at fork)."""
    from runtime.media import job as media_job

    budget = media_budget(settings)

    def run(job: MediaJob) -> MediaOutcome:
        return sandbox.run(media_job.run, job, budget=budget)

    return run


def handle_message(body: str, deps: Deps, *, last_attempt: bool = False) -> list[str]:
    """Process every object in one SQS message body; returns an outcome per object.
    Permanent faults end here (record failed); an exception means "retry this message".
    On the `last_attempt` before the DLQ, a retryable overrun of the processing child (starved
    past its wall budget, killed from outside) ends the record too."""
    scan_result = malware.scan_result_payload(body)
    if scan_result is not None:
        # GuardDuty's scan results share the queue (malwareScanning): runtime/malware.py.
        return [_handle_scan_result(scan_result, deps)]
    reprocess = reprocessing.request_payload(body)
    if reprocess is not None:
        # `mediakit reprocess` re-renders a completed upload: runtime/reprocessing.py.
        return [reprocessing.handle(reprocess, deps)]
    try:
        created = events.parse_s3_notification(body)
    except MalformedEvent as exc:
        log.warning("acknowledging a message that is not an S3 notification: %s", exc)
        return ["ignored:malformed"]
    return [handle_object(event, deps, last_attempt=last_attempt) for event in created]


def _handle_scan_result(payload: Mapping[str, Any], deps: Deps) -> str:
    outcome = malware.handle_scan_result(payload, deps)
    log.info("scan result: %s", outcome)
    if deps.metrics is not None and outcome.startswith("failed:"):
        deps.metrics.add(telemetry.UPLOADS_FAILED)
        deps.metrics.add_by(telemetry.UPLOADS_FAILED, "code", outcome.split(":", 1)[1])
    return outcome


def handle_object(event: ObjectCreated, deps: Deps, *, last_attempt: bool = False) -> str:
    """Advance one upload for one S3 event; the outcome says what happened, for logs and tests."""
    parsed = keys.parse_original_key(deps.settings, event.key)
    if event.bucket != deps.resources.bucket or parsed is None:
        log.info("ignoring s3://%s/%s: not an original we issued", event.bucket, event.key)
        return "ignored:unknown_key"
    started = time.monotonic()
    with telemetry.bound(upload_id=parsed.upload_id):
        try:
            if event.expired:
                outcome = _expire(event, parsed, deps)
            else:
                outcome = _advance(event, parsed, deps, last_attempt)
        except Exception as exc:
            _note_transient(parsed.upload_id, exc, deps)
            if deps.metrics is not None:
                deps.metrics.add(telemetry.PROCESSING_RETRIES)
            raise
        log.info("upload %s: %s", parsed.upload_id, outcome)
    if deps.metrics is not None:
        _measure(deps.metrics, outcome, event.size, time.monotonic() - started)
    return outcome


_REMOVALS = {"deleted:no_record": "no_record", "removed:unvalidated_version": "replay"}


def _measure(metrics: telemetry.Recorder, outcome: str, size: int, seconds: float) -> None:
    """Terminal outcomes count, with their time and bytes; acknowledgements without work don't."""
    if outcome in _REMOVALS:
        # Originals the processor removed: should these climb, the table may be the wrong one.
        metrics.add_by(telemetry.ORIGINALS_REMOVED, "reason", _REMOVALS[outcome])
        return
    if outcome == "completed":
        metrics.add(telemetry.UPLOADS_COMPLETED)
    elif outcome.startswith("failed:"):
        metrics.add(telemetry.UPLOADS_FAILED)
        metrics.add_by(telemetry.UPLOADS_FAILED, "code", outcome.split(":", 1)[1])
    else:
        return
    metrics.add(telemetry.PROCESSING_TIME, seconds * 1000, "Milliseconds")
    metrics.add(telemetry.PROCESSED_BYTES, size, "Bytes")


def _note_transient(upload_id: str, exc: Exception, deps: Deps) -> None:
    code = error_code(exc) or getattr(exc, "code", "") or type(exc).__name__
    try:
        deps.store.note_transient(
            upload_id, {"code": str(code), "message": str(exc)[:500]}, deps.clock()
        )
    except Exception:
        # The record may be unreachable for the same reason; the retry is what matters.
        log.warning("could not note the transient failure on %s", upload_id, exc_info=True)


def claim_lease(record: UploadRecord, settings: Settings) -> int:
    """Seconds a claim holds the record: the timeout of the function that renders its kind
    (audio/video run in the media function, whose budget outlasts the image processor's), so
    a duplicate event cannot claim and run the same job while the first run still may."""
    if kind_of(record["content_type"]) in MEDIA_ONLY_KINDS:
        return settings.media_processor_timeout_seconds
    return settings.processor_timeout_seconds


def _advance(event: ObjectCreated, parsed: keys.OriginalKey, deps: Deps, last_attempt: bool) -> str:
    store, ref, upload_id = deps.store, event.ref, parsed.upload_id
    for _ in range(_MAX_RACES):
        record = store.get(upload_id)
        if record is None:
            # An original nobody can see (its pending record expired before the event was
            # processed, e.g. a DLQ redrive days later) would stay in the bucket for ever.
            # Removed by key: a delete marker, so a misconfigured table cannot destroy data
            # for good; the version expires as noncurrent.
            _delete_keys([event.key], deps)
            return "deleted:no_record"
        if record["key"] != event.key or record["tenant"] != parsed.tenant:
            return "ignored:key_mismatch"
        status = record["status"]
        if status == DELETED:
            # A presigned URL outlives the DELETE of its pending upload, so the original can
            # still arrive: remove it as the DELETE route would (by key: a delete marker, the
            # version expiring as noncurrent). A run that rendered while the upload was deleted
            # removes its derivatives; should either removal have failed, this redelivery
            # finishes it (deleting is idempotent).
            _delete_keys([event.key, *_derivative_keys(record, deps.settings)], deps)
            return "ignored:deleted"
        if status == RESTORING:
            # A restore copied the validated version back: its event (and only its) takes the
            # record restoring -> processing, and the upload is validated and rendered again.
            wanted = record.get("restore_version_id")
            if not wanted:
                # The restore has copied but not yet recorded the version: come back for it.
                raise TransientFault(f"upload {upload_id} is being restored; retrying")
            if ref.version_id != wanted:
                return "ignored:stale"
            lease = claim_lease(record, deps.settings)
            restored = store.claim_restored(upload_id, ref, deps.clock(), lease)
            if restored is None:
                continue
            return _process(restored, ref, deps, last_attempt)
        if status == EXPIRED:
            return "ignored:expired"
        if status == PENDING:
            if store.mark_uploaded(upload_id, ref, deps.clock()) is None:
                continue
        elif record.get("source_id") != ref.id:
            if status in (COMPLETED, FAILED):
                # Finished records never go back. Another version of a validated upload is a
                # replayed POST form (conditional writes do not cover POST) or an older one:
                # either way not the bytes that were validated, so it goes.
                return _remove_unvalidated_version(record, ref, deps)
            if not ref.is_newer_than(record.get("source", {})):
                return "ignored:stale"
            if store.supersede(upload_id, record["source_id"], ref, deps.clock()) is None:
                continue
        elif status in (COMPLETED, FAILED):
            if not record.get("notified_at"):
                announce(record, deps)
                return "renotified"
            return "duplicate"
        lease = claim_lease(record, deps.settings)
        claimed = store.claim(upload_id, ref, deps.clock(), lease)
        if claimed is None:
            fresh = store.get(upload_id)
            if fresh and fresh["status"] == PROCESSING and fresh.get("source_id") == ref.id:
                return "duplicate:in_progress"
            continue
        return _process(claimed, ref, deps, last_attempt)
    raise TransientFault(f"upload {upload_id} kept changing under us; retrying")


def _expire(event: ObjectCreated, parsed: keys.OriginalKey, deps: Deps) -> str:
    """A retention rule expired the current original (S3 wrote a delete marker): a completed or
    failed record becomes expired, its derivatives go, and `media.upload.expired` goes out."""
    record = deps.store.get(parsed.upload_id)
    if record is None or record["key"] != event.key or record["tenant"] != parsed.tenant:
        return "ignored:unknown_key"
    if record["status"] == EXPIRED:
        if not record.get("notified_at"):
            announce(record, deps)
            return "renotified"
        return "duplicate"
    if record["status"] not in (COMPLETED, FAILED):
        # Deleted, restoring or still in flight: retention has nothing to end.
        return f"ignored:{record['status']}"
    _delete_keys(
        sorted({*_derivative_keys(record, deps.settings), *_recorded_derivatives(record)}), deps
    )
    expired = deps.store.mark_expired(record, deps.clock())
    if expired is None:
        raise TransientFault(f"upload {parsed.upload_id} changed while it expired; retrying")
    announce(expired, deps)
    return "expired"


def _recorded_derivatives(record: UploadRecord) -> list[str]:
    return [d["key"] for d in record.get("derivatives", [])]


def _remove_unvalidated_version(record: UploadRecord, ref: SourceRef, deps: Deps) -> str:
    """Delete the event's version unless it is the one the record describes (write once)."""
    validated = record.get("version_id") or record.get("source", {}).get("version_id", "")
    if ref.version_id in ("", "null") or ref.version_id == validated:
        return "ignored:stale"
    # DeleteObjectVersion removes exactly these bytes and fires no ObjectCreated event; copying
    # the validated version back instead would create a new version, and a new event: a loop.
    deps.s3.delete_object(Bucket=ref.bucket, Key=ref.key, VersionId=ref.version_id)
    log.warning(
        "upload %s: removed version %s of its original, written after validation",
        record["upload_id"],
        ref.version_id,
    )
    return "removed:unvalidated_version"


def _process(record: UploadRecord, ref: SourceRef, deps: Deps, last_attempt: bool) -> str:
    with telemetry.bound(correlation_id=record.get("correlation_id")):
        return _process_bound(record, ref, deps, last_attempt)


def _process_bound(record: UploadRecord, ref: SourceRef, deps: Deps, last_attempt: bool) -> str:
    upload_id = record["upload_id"]
    try:
        try:
            if kind_of(record["content_type"]) in MEDIA_ONLY_KINDS:
                result = _render_media(record, ref, deps)
            elif kind_of(record["content_type"]) == "document":
                # Stored, checked and hashed, never rendered: runtime/documents.py.
                result = documents.render(record, ref, deps)
            else:
                result = _render(record, ref, deps)
        except sandbox.RetryableOverrun as overrun:
            if not last_attempt:
                raise
            # Every delivery ended the same way: end the upload here rather than in the DLQ.
            raise PermanentFault(
                f"{overrun.detail}, on the last delivery", code=overrun.code
            ) from None
    except PermanentFault as fault:
        failed = deps.store.fail(
            upload_id, ref, {"code": fault.code, "message": fault.message}, deps.clock()
        )
        if failed is None:
            return "ignored:superseded"
        announce(failed, deps)
        return f"failed:{fault.code}"
    # What the derivatives were rendered under: `mediakit reprocess` skips it until specs change.
    result["rendered_specs"] = reprocessing.rendered_key(ref.version_id, deps.settings)
    completed = deps.store.complete(upload_id, ref, result, deps.clock())
    if completed is None:
        fresh = deps.store.get(upload_id)
        if fresh is not None and fresh["status"] == DELETED:
            # Deleted while we rendered: do not leave servable derivatives behind.
            _delete_keys([d["key"] for d in result["derivatives"]], deps)
            return "ignored:deleted"
        if fresh is not None and fresh.get("error", {}).get("code") == malware.MALWARE:
            # A threat was found while we rendered: the same, the record stays failed.
            _delete_keys([d["key"] for d in result["derivatives"]], deps)
            return "ignored:malware"
        return "ignored:superseded"
    announce(completed, deps)
    return "completed"


def _read_original(ref: SourceRef, deps: Deps) -> bytes:
    """Fetch exactly the version the event named, refusing anything over the size cap."""
    limit = deps.settings.max_upload_bytes
    versioned = ref.version_id not in ("", "null")
    version: dict[str, Any] = {"VersionId": ref.version_id} if versioned else {}
    try:
        # The bucket is versioned: a delete leaves the version readable behind a delete
        # marker, so ask about the current object to learn whether the upload was removed.
        deps.s3.head_object(Bucket=ref.bucket, Key=ref.key)
        obj = deps.s3.get_object(Bucket=ref.bucket, Key=ref.key, **version)
    except Exception as exc:
        if is_not_found(exc):
            raise PermanentFault(
                "the object was removed before processing", code="object_missing"
            ) from None
        raise
    body = obj["Body"]
    if obj["ContentLength"] > limit:
        body.close()
        raise PermanentFault(
            f"the object has {obj['ContentLength']} bytes, over the limit of {limit}",
            code="too_large",
        )
    data = body.read(limit + 1)
    if len(data) > limit:
        raise PermanentFault(f"the object is over the limit of {limit} bytes", code="too_large")
    return data


def _render(record: UploadRecord, ref: SourceRef, deps: Deps) -> dict[str, Any]:
    """Validate and render, write derivatives; the completed-record fields come back."""
    settings = deps.settings
    data = _read_original(ref, deps)
    if len(data) != record["size"]:
        raise PermanentFault(
            f"the object has {len(data)} bytes, {record['size']} were declared",
            code="size_mismatch",
        )
    digest = hashlib.sha256(data).hexdigest()
    if record.get("sha256") and digest != record["sha256"]:
        raise PermanentFault(
            "the object does not match the declared sha256", code="checksum_mismatch"
        )
    image = deps.process(
        data,
        record["content_type"],
        settings,
        include_gps=settings.gps_allowed(record["tenant"]),
    )
    return {
        "width": image.width,
        "height": image.height,
        "format": image.format,
        "bytes": image.bytes,
        "sha256": digest,
        "exif": dict(image.exif),
        "derivatives": _write_derivatives(record, image.derivatives, deps),
    }


def _write_derivatives(
    record: UploadRecord, rendered_list: list[RenderedDerivative], deps: Deps
) -> list[DerivativeInfo]:
    """PutObject each derivative under the upload's prefix; their record entries."""
    settings, resources = deps.settings, deps.resources
    derivatives: list[DerivativeInfo] = []
    for rendered in rendered_list:
        key = keys.derivative_key(
            settings, record["tenant"], record["upload_id"], rendered.name, rendered.format
        )
        deps.s3.put_object(
            Bucket=resources.bucket,
            Key=key,
            Body=rendered.body,
            ContentType=rendered.content_type,
            # Bounded by the delivery mode, never a year: deletes must take effect.
            CacheControl=delivery.cache_control(settings),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=resources.kms_key_arn,
        )
        derivatives.append(
            {
                "name": rendered.name,
                "key": key,
                "format": rendered.format,
                "content_type": rendered.content_type,
                "width": rendered.width,
                "height": rendered.height,
                "bytes": len(rendered.body),
            }
        )
    return derivatives


MEDIA_ONLY_KINDS = ("audio", "video")


def _render_media(record: UploadRecord, ref: SourceRef, deps: Deps) -> dict[str, Any]:
    """An audio/video upload: never read whole. The size comes from HeadObject, the sha256 from
    one streamed GET (bounded memory), and the probe and derivative from ranged GETs inside the
    processing child (`runtime.media.job`), under the read budget."""
    from runtime.media.faults import MediaLimits
    from runtime.media.job import MediaJob
    from runtime.media.ranged import Budget, sha256_object

    settings = deps.settings
    if deps.media is None:
        raise PermanentFault(
            "audio and video are processed by the media function, not this one",
            code="unsupported_type",
        )
    content_type = record["content_type"]
    limit = settings.max_bytes_for(content_type)
    versioned = ref.version_id not in ("", "null")
    version_id = ref.version_id if versioned else None
    try:
        # As for images: a delete leaves the version readable, so ask about the current object.
        deps.s3.head_object(Bucket=ref.bucket, Key=ref.key)
        pinned: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        head = deps.s3.head_object(Bucket=ref.bucket, Key=ref.key, **pinned)
    except Exception as exc:
        if is_not_found(exc):
            raise PermanentFault(
                "the object was removed before processing", code="object_missing"
            ) from None
        raise
    size = int(head["ContentLength"])
    if size > limit:
        raise PermanentFault(
            f"the object has {size} bytes, over the limit of {limit}", code="too_large"
        )
    if size != record["size"]:
        raise PermanentFault(
            f"the object has {size} bytes, {record['size']} were declared", code="size_mismatch"
        )
    digest = sha256_object(deps.s3, ref.bucket, ref.key, version_id=version_id)
    if record.get("sha256") and digest.sha256 != record["sha256"]:
        raise PermanentFault(
            "the object does not match the declared sha256", code="checksum_mismatch"
        )
    longest = max(settings.max_audio_duration_seconds, settings.max_video_duration_seconds)
    job = MediaJob(
        bucket=ref.bucket,
        key=ref.key,
        version_id=version_id,
        size=size,
        declared_type=content_type,
        limits=MediaLimits(
            max_duration_seconds=float(longest),
            max_frame_pixels=settings.max_video_frame_pixels,
            max_streams=settings.max_media_streams,
        ),
        read_budget=Budget(settings.media_read_max_bytes, settings.media_read_max_requests),
        max_audio_seconds=float(settings.max_audio_duration_seconds),
        max_video_seconds=float(settings.max_video_duration_seconds),
        specs=settings.derivatives,
        max_pixels=settings.max_video_frame_pixels,
    )
    outcome = deps.media(job)
    if deps.metrics is not None:
        deps.metrics.add(telemetry.MEDIA_BYTES_READ, outcome.bytes_fetched, "Bytes")
        deps.metrics.add(telemetry.MEDIA_READ_REQUESTS, outcome.requests)
    log.info(
        "media %s: %d bytes of %d in %d ranged GETs",
        record["upload_id"],
        outcome.bytes_fetched,
        size,
        outcome.requests,
    )
    info = outcome.info
    media: dict[str, Any] = {
        k: v for k, v in info.items() if v is not None and k not in ("content_type",)
    }
    if outcome.poster_seconds is not None:
        media["poster_seconds"] = outcome.poster_seconds
    result: dict[str, Any] = {
        "format": info["container"],
        "bytes": size,
        "sha256": digest.sha256,
        "media": media,
        "derivatives": _write_derivatives(record, outcome.derivatives, deps),
    }
    if info["width"] is not None and info["height"] is not None:
        result |= {"width": info["width"], "height": info["height"]}
    return result


def _derivative_keys(record: UploadRecord, settings: Settings) -> list[str]:
    """Every derivative key the upload can have, recorded or not."""
    out = [
        keys.derivative_key(settings, record["tenant"], record["upload_id"], s.name, s.format)
        for s in settings.derivatives
    ]
    if kind_of(record.get("content_type", "")) in MEDIA_ONLY_KINDS:
        # An audio upload's waveform (a video's poster renders to the specs above).
        out.append(
            keys.derivative_key(settings, record["tenant"], record["upload_id"], "waveform", "png")
        )
    return out


def _delete_keys(doomed: list[str], deps: Deps) -> None:
    """DeleteObjects reports refused keys in a successful response: those are retried."""
    if doomed:
        response = deps.s3.delete_objects(
            Bucket=deps.resources.bucket,
            Delete={"Objects": [{"Key": k} for k in doomed], "Quiet": True},
        )
        if response.get("Errors"):
            first = response["Errors"][0]
            raise TransientFault(f"could not delete {first.get('Key')}: {first.get('Code')}")


_DETAIL_TYPES = {COMPLETED: events.COMPLETED, FAILED: events.FAILED, EXPIRED: events.EXPIRED}


def announce(record: UploadRecord, deps: Deps) -> None:
    """PutEvents `media.upload.completed|failed|expired` (thin: `events.detail`), then remember
    it went out."""
    status = record["status"]
    detail_type = _DETAIL_TYPES[status]
    events.publish(deps.events, deps.resources.event_bus, detail_type, events.detail(record))
    deps.store.mark_notified(record["upload_id"], deps.clock(), status)

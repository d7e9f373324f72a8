"""Re-rendering a completed upload's derivatives under the current specs (`mediakit reprocess`).

The operator's command sends one small message per completed upload to the ingest queue:
`{"mediakit": "reprocess", "upload_id": ..., "version_id": ..., "tenant": ...}`. The processor
re-renders from the record's validated version (never another one), writes the derivatives the
current `derivatives` settings name, removes the ones they no longer name, and replaces the
record's derivative list with one conditional write. The record stays `completed` throughout (its
old derivatives are served until the new list lands); a record deleted, failed, expired or
restored meanwhile is left alone and whatever this run wrote for it is removed. Idempotency is
keyed on upload id + version + spec hash (`rendered_specs`): a duplicate or repeated message,
or a rerun of the command, does no work twice. A message naming an unknown id, another tenant
or a version that is not the record's is acknowledged and ignored with a log: the queue takes
messages from whoever holds sqs:SendMessage in the account, so nothing in one is trusted
beyond selecting a record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime import keys, telemetry
from runtime.errors import PermanentFault, TransientFault
from runtime.records import COMPLETED, ErrorInfo, SourceRef, UploadRecord
from runtime.settings import Settings, kind_of

if TYPE_CHECKING:
    from runtime.ingest import Deps

log = logging.getLogger(__name__)

MESSAGE_TYPE = "reprocess"
# A version id is at most 1024 bytes in S3; a tenant segment is bounded by the key rules.
_MAX_TEXT = 1024
_FIELDS = frozenset({"mediakit", "upload_id", "version_id", "tenant"})


@dataclass(frozen=True)
class ReprocessRequest:
    upload_id: str
    version_id: str
    tenant: str

    def body(self) -> str:
        """The SQS message body the processor reads back with `request_payload`."""
        return json.dumps(
            {
                "mediakit": MESSAGE_TYPE,
                "upload_id": self.upload_id,
                "version_id": self.version_id,
                "tenant": self.tenant,
            },
            separators=(",", ":"),
        )


def request_payload(body: str) -> Mapping[str, Any] | None:
    """The decoded message if it claims to be a reprocess request, else None (an S3
    notification or a scan result is not ours to judge)."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if isinstance(payload, dict) and payload.get("mediakit") == MESSAGE_TYPE:
        return payload
    return None


def parse_request(payload: Mapping[str, Any]) -> ReprocessRequest | None:
    """The validated request, or None for any other shape."""
    if set(payload) != _FIELDS:
        return None
    upload_id, version_id, tenant = (payload[k] for k in ("upload_id", "version_id", "tenant"))
    if not all(isinstance(v, str) and 0 < len(v) <= _MAX_TEXT for v in (version_id, tenant)):
        return None
    if not isinstance(upload_id, str) or not keys.is_upload_id(upload_id):
        return None
    return ReprocessRequest(upload_id, version_id, tenant)


def spec_hash(settings: Settings) -> str:
    """What the derivatives are rendered with: a change to any spec changes it."""
    specs = [{**d.to_json(), "speed": d.encoder_speed} for d in settings.derivatives]
    canonical = json.dumps(specs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def rendered_key(version_id: str, settings: Settings) -> str:
    """The idempotency key of one re-render: the validated version and the specs."""
    return f"{version_id}:{spec_hash(settings)}"


# Kinds whose derivatives come from the specs; a document has none to re-render.
_RENDERED_KINDS = ("image", "audio", "video")


def handle(payload: Mapping[str, Any], deps: Deps) -> str:
    """Re-render one upload for a reprocess message; the outcome names what happened."""
    request = parse_request(payload)
    if request is None:
        log.warning("acknowledging a malformed reprocess message")
        return "ignored:malformed"
    with telemetry.bound(upload_id=request.upload_id):
        outcome = _reprocess(request, deps)
        log.info("reprocess %s: %s", request.upload_id, outcome)
        return outcome


def _reprocess(request: ReprocessRequest, deps: Deps) -> str:
    from runtime.ingest import MEDIA_ONLY_KINDS

    record = deps.store.get(request.upload_id)
    if record is None:
        log.warning("reprocess message for unknown upload %s ignored", request.upload_id)
        return "ignored:no_record"
    refusal = _refusal(request, record)
    if refusal is not None:
        return refusal
    kind = kind_of(record.get("content_type", ""))
    if kind not in _RENDERED_KINDS:
        return "ignored:no_derivatives"
    if kind in MEDIA_ONLY_KINDS and deps.media is None:
        # Audio and video render in the media function; this message reached the image one.
        log.warning("reprocess of %s %s belongs on the media queue", kind, request.upload_id)
        return "ignored:media_function"
    if kind not in MEDIA_ONLY_KINDS and deps.media is not None:
        # The media function refuses images: this message belongs on the ingest queue.
        log.warning("reprocess of %s %s belongs on the ingest queue", kind, request.upload_id)
        return "ignored:image_function"
    rendered = rendered_key(request.version_id, deps.settings)
    if record.get("rendered_specs") == rendered:
        _remove_stale(record, deps)
        return "duplicate"
    token = secrets.token_hex(16)
    settings = deps.settings
    media = kind in MEDIA_ONLY_KINDS
    lease = (
        settings.media_processor_timeout_seconds if media else settings.processor_timeout_seconds
    )
    claimed = deps.store.claim_reprocess(record, rendered, token, deps.clock(), lease)
    if claimed is None:
        fresh = deps.store.get(request.upload_id)
        if fresh is None:
            return "ignored:no_record"
        refusal = _refusal(request, fresh)
        if refusal is not None:
            return refusal
        if fresh.get("rendered_specs") == rendered:
            _remove_stale(fresh, deps)
            return "duplicate"
        # Another delivery holds a live claim: come back when it has finished or lapsed.
        raise TransientFault(f"upload {request.upload_id} is being reprocessed; retrying")
    try:
        derivatives = _render(claimed, deps)
    except PermanentFault as fault:
        # The upload stays completed with its old derivatives; the operator sees the code.
        error: ErrorInfo = {"code": fault.code, "message": fault.message}
        deps.store.release_reprocess(request.upload_id, token, error, deps.clock())
        log.warning("reprocess of %s failed: %s", request.upload_id, fault.code)
        return f"failed:{fault.code}"
    except Exception as exc:
        _release_quietly(request.upload_id, token, exc, deps)
        raise
    return _finish(claimed, token, rendered, derivatives, deps)


def _refusal(request: ReprocessRequest, record: UploadRecord) -> str | None:
    """Why a message does not select `record` for a re-render, or None when it does."""
    if record.get("tenant") != request.tenant:
        log.warning("reprocess message for %s names another tenant; ignored", request.upload_id)
        return "ignored:tenant_mismatch"
    if record.get("status") != COMPLETED:
        return f"ignored:{record.get('status')}"
    if record.get("version_id") != request.version_id:
        log.warning(
            "reprocess message for %s names a version that is not the validated one; ignored",
            request.upload_id,
        )
        return "ignored:version_mismatch"
    return None


def _render(record: UploadRecord, deps: Deps) -> list[Any]:
    """Validate again and render from the record's validated version; derivatives written."""
    from runtime import ingest

    ref = SourceRef(
        bucket=deps.resources.bucket,
        key=record["key"],
        version_id=record.get("version_id", ""),
        sequencer=record.get("source", {}).get("sequencer", ""),
    )
    if kind_of(record["content_type"]) in ingest.MEDIA_ONLY_KINDS:
        result = ingest._render_media(record, ref, deps)
    else:
        result = ingest._render(record, ref, deps)
    return list(result["derivatives"])


def _finish(
    record: UploadRecord, token: str, rendered: str, derivatives: list[Any], deps: Deps
) -> str:
    from runtime import ingest

    written = [d["key"] for d in derivatives]
    stale = sorted({d["key"] for d in record.get("derivatives", [])} - set(written))
    stale = sorted({*stale, *record.get("stale_derivatives", [])} - set(written))
    done = deps.store.finish_reprocess(
        record["upload_id"], token, rendered, derivatives, stale, deps.clock()
    )
    if done is None:
        fresh = deps.store.get(record["upload_id"])
        if fresh is not None and fresh.get("status") == COMPLETED:
            # Our claim lapsed and another run took over: its derivatives share our keys.
            return "ignored:superseded"
        # Deleted, failed (malware), expired or restored while we rendered: leave no servable
        # derivative of ours behind, and do not touch the record.
        ingest._delete_keys(written, deps)
        return f"ignored:{fresh.get('status') if fresh else 'no_record'}"
    _remove_stale(done, deps)
    return "reprocessed"


def _remove_stale(record: UploadRecord, deps: Deps) -> None:
    """Delete the objects of derivatives the specs dropped, then forget them."""
    from runtime import ingest

    stale = list(record.get("stale_derivatives", []))
    if not stale:
        return
    prefix = keys.derivative_prefix(deps.settings, record["tenant"], record["upload_id"])
    ingest._delete_keys([k for k in stale if k.startswith(prefix)], deps)
    deps.store.clear_stale_derivatives(record["upload_id"], stale)


def _release_quietly(upload_id: str, token: str, exc: Exception, deps: Deps) -> None:
    error: ErrorInfo = {"code": type(exc).__name__, "message": str(exc)[:500]}
    try:
        deps.store.release_reprocess(upload_id, token, error, deps.clock())
    except Exception:
        # The lease lapses on its own; the retry is what matters.
        log.warning("could not release the reprocess claim on %s", upload_id, exc_info=True)

"""The one settings model: read by the stack from Pulumi config, handed to the Lambdas as
environment variables, read back here with the same validation, and used by the local emulator.

Every field has a Pulumi config key (camelCase, namespace `mediakit`) and an environment variable
(`MEDIAKIT_<SNAKE>`); an invalid value raises `SettingsError` naming the key the user wrote.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.errors import SettingsError
from runtime.scopes import DEFAULT_OPERATION_SCOPES, OPERATIONS, SETTING_SCOPE

# Content types the runtime knows how to sniff and decode, and their canonical file extension.
KNOWN_TYPES: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/tiff": "tiff",
    "image/heic": "heic",
    "image/heif": "heif",
    "image/avif": "avif",
    # Audio and video (runtime/media): processed by the media function, when their kind is on.
    # Each has its own extension, so a key's suffix names its kind (the stack's notification
    # filters route by it: stacks/queues.py).
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/wav": "wav",
    "audio/ogg": "ogg",
    "audio/webm": "weba",
    "audio/flac": "flac",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/x-matroska": "mkv",
    # Documents (runtime/documents.py): stored and hashed, never rendered, when their kind is on.
    "application/pdf": "pdf",
}
MEDIA_KINDS = ("image", "audio", "video", "document")
# Canonical types of the document kind: their top-level type does not name a kind.
DOCUMENT_TYPES = ("application/pdf",)


def kind_of(content_type: str) -> str:
    """`image`, `audio`, `video` or `document`: the kind a canonical content type announces."""
    if content_type in DOCUMENT_TYPES:
        return "document"
    return content_type.split("/", 1)[0]


def types_of_kind(kind: str) -> tuple[str, ...]:
    """Every known canonical type of one kind, in KNOWN_TYPES order."""
    return tuple(t for t in KNOWN_TYPES if kind_of(t) == kind)


DERIVATIVE_FORMATS = ("jpeg", "webp", "png", "avif")
# AVIF encoder speed (libavif/aom, 0 slowest .. 10 fastest) when a spec names none. Measured on
# a 2 CPU machine for one 2048x1536 derivative of a photo: speed 6 takes 1.4 CPU-s, 7 0.8 s,
# 8 0.36 s, 9 0.17 s (speed 4: 15 s); files within 1% of each other from 6 to 8.
DEFAULT_AVIF_SPEED = 8
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MIB = 1024 * 1024


@dataclass(frozen=True)
class DerivativeSpec:
    """One derivative: longest edge in pixels, output format and encoder quality."""

    name: str
    max_edge: int
    format: str = "jpeg"
    quality: int = 82
    # AVIF only: encoder speed 0..10; None takes DEFAULT_AVIF_SPEED.
    speed: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @property
    def encoder_speed(self) -> int:
        """The AVIF encoder speed this spec renders with."""
        return DEFAULT_AVIF_SPEED if self.speed is None else self.speed


DEFAULT_DERIVATIVES: tuple[DerivativeSpec, ...] = (
    DerivativeSpec("thumb", 320),
    DerivativeSpec("medium", 1280),
    DerivativeSpec("large", 2048),
)


# CloudWatch Logs accepts only these retention periods (days); logRetentionDays is one of them.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip


def _ref(field_name: str) -> str:
    """Another setting named inside an error message: `InvalidSetting` spells it the way the
    source the user wrote in does (config key, `mediakit:` key or `MEDIAKIT_` variable)."""
    return f"\0{field_name}\0"


_REF = re.compile("\0([a-z0-9_]+)\0")


class InvalidSetting(SettingsError):
    """A validator's refusal of one setting (`field`, a Python field name), its `problem` naming
    other settings through `_ref`. Raised with config keys (`maxUploadBytes`); the readers
    (`Settings.from_env`, `Settings.from_config`) respell it in their source's names."""

    def __init__(
        self, field: str, problem: str, key_of: Callable[[str], str] | None = None
    ) -> None:
        spell = key_of or config_key
        super().__init__(spell(field), _REF.sub(lambda m: spell(m.group(1)), problem))
        self.field = field
        self.problem = problem

    @property
    def references(self) -> list[str]:
        """The other settings the problem names, in order."""
        return _REF.findall(self.problem)

    def respelled(self, key_of: Callable[[str], str], given: Mapping[str, Any]) -> SettingsError:
        """This refusal in a source's spelling. When the refused setting was left at its default
        but a setting it names was given, that given one is what the user wrote: name it."""
        if self.field in given:
            return InvalidSetting(self.field, self.problem, key_of)
        other = next((name for name in self.references if name in given), None)
        if other is None:
            return InvalidSetting(self.field, self.problem, key_of)
        default = _display(_field_default(self.field))
        spelled = InvalidSetting(self.field, self.problem, key_of)
        primary = key_of(self.field)
        return SettingsError(
            key_of(other),
            f"{_display(given[other])} conflicts with {primary}, which is not set (default "
            f"{default}): {primary} {str(spelled).split(': ', 1)[1]}; change this value or set "
            f"{primary} too",
        )


def _display(value: Any) -> str:
    if isinstance(value, tuple):
        if value and isinstance(value[0], DerivativeSpec):
            return json.dumps([d.to_json() for d in value], separators=(",", ":"))
        return repr(",".join(value))
    return repr(value) if isinstance(value, str) else str(value)


def _field_default(field_name: str) -> Any:
    for f in dataclasses.fields(Settings):
        if f.name == field_name:
            return f.default
    raise KeyError(field_name)


def _meta(config: str, doc: str) -> dict[str, str]:
    return {"config": config, "doc": doc}


@dataclass(frozen=True)
class Settings:
    """Pipeline settings shared by stack, runtime and emulator; validated on construction."""

    max_upload_bytes: int = field(
        default=50 * MIB, metadata=_meta("maxUploadBytes", "Largest accepted upload, in bytes.")
    )
    allowed_types: tuple[str, ...] = field(
        default=(
            "image/jpeg",
            "image/png",
            "image/webp",
            "image/heic",
            "image/heif",
            "image/avif",
            *(t for t in KNOWN_TYPES if kind_of(t) in ("audio", "video", "document")),
        ),
        metadata=_meta(
            "allowedTypes",
            "Content types clients may declare (subset of image/jpeg, image/png, image/webp, "
            "image/gif, image/tiff, image/heic, image/heif, image/avif, audio/mpeg, audio/mp4, "
            "audio/aac, audio/wav, audio/ogg, audio/webm, audio/flac, video/mp4, video/quicktime, "
            "video/webm, video/x-matroska, application/pdf); a type is accepted only while its "
            "kind is in mediaKinds (the audio, video and document types listed by default are "
            "refused until then). Declared aliases are read as their canonical type (image/jpg, "
            "image/pjpeg -> image/jpeg; image/heic-sequence -> image/heic; audio/x-m4a -> "
            "audio/mp4; audio/x-wav -> audio/wav; audio/mp3 -> audio/mpeg; video/x-m4v -> "
            "video/mp4; application/x-pdf -> application/pdf; ...; parameters such as "
            ";codecs=opus are ignored); image/heic and image/heif are one family: either admits "
            "the other's files when declared. GIF and TIFF are off by default (rarely uploaded, "
            "large decoder surface).",
        ),
    )
    media_kinds: tuple[str, ...] = field(
        default=("image",),
        metadata=_meta(
            "mediaKinds",
            "Kinds of media this stack accepts: any of image, audio, video, document (at least "
            "one). image is processed by the processor function; audio and video (opt-in) by "
            "their own media function and queue, with the media* budgets below; turning either "
            "on adds that function, its queue and DLQ, and an artifacts bucket to the stack. "
            "document (opt-in: application/pdf) is checked by its bytes (magic, trailer, no "
            "polyglot), hashed and stored by the processor function, never rendered; its size "
            "limit is maxUploadBytes.",
        ),
    )
    max_audio_upload_bytes: int = field(
        default=200 * MIB,
        metadata=_meta(
            "maxAudioUploadBytes",
            "Largest accepted audio upload, in bytes (1..5 TiB; maxUploadBytes is the "
            "images'). At or above multipartThresholdBytes it goes multipart, in at most "
            "10,000 parts of multipartPartBytes.",
        ),
    )
    max_video_upload_bytes: int = field(
        default=5 * 1024 * MIB,
        metadata=_meta(
            "maxVideoUploadBytes",
            "Largest accepted video upload, in bytes (1..5 TiB), multipart above "
            "multipartThresholdBytes like the others. The media function reads it through "
            "ranged GETs (mediaReadMaxBytes) and hashes it in one streamed GET, which "
            "mediaProcessorTimeoutSeconds must fit (at 50 MB/s).",
        ),
    )
    max_audio_duration_seconds: int = field(
        default=4 * 3600,
        metadata=_meta(
            "maxAudioDurationSeconds",
            "Longest accepted audio, in seconds (1..86400); longer fails duration_too_long.",
        ),
    )
    max_video_duration_seconds: int = field(
        default=4 * 3600,
        metadata=_meta(
            "maxVideoDurationSeconds",
            "Longest accepted video, in seconds (1..86400); longer fails duration_too_long.",
        ),
    )
    max_video_frame_pixels: int = field(
        default=8192 * 4320,
        metadata=_meta(
            "maxVideoFramePixels",
            "Largest video frame, width x height (1..268435456, i.e. 16384x16384; default "
            "8K UHD); checked from the container and set as every decoder's max_pixels; a "
            "larger frame fails frame_too_large. x 8 bytes must fit mediaProcessingMemoryMb.",
        ),
    )
    max_media_streams: int = field(
        default=16,
        metadata=_meta(
            "maxMediaStreams",
            "Streams of any type an audio/video container may hold (1..64; phones write 2-5); "
            "more fail too_many_streams.",
        ),
    )
    media_read_max_bytes: int = field(
        default=64 * MIB,
        metadata=_meta(
            "mediaReadMaxBytes",
            "Bytes one audio/video upload's probe, poster or waveform may fetch through ranged "
            "GETs (1 MiB..4 GiB; the streamed sha256 is not counted); over it fails "
            "read_budget_exceeded. A 30 s 1080p poster measured 1.4 MB.",
        ),
    )
    media_read_max_requests: int = field(
        default=200,
        metadata=_meta(
            "mediaReadMaxRequests",
            "Ranged GETs one audio/video upload may make (4..10000); over it fails "
            "read_budget_exceeded.",
        ),
    )
    media_processor_memory_mb: int = field(
        default=3008,
        metadata=_meta("mediaProcessorMemoryMb", "Media Lambda memory (512..10240 MB)."),
    )
    media_processor_timeout_seconds: int = field(
        default=900,
        metadata=_meta(
            "mediaProcessorTimeoutSeconds",
            "Media Lambda timeout (60..900 s, Lambda's maximum); at least "
            "mediaProcessorBatchSize x (mediaProcessingTimeoutSeconds + the streamed hash of "
            "the largest audio/video upload at 50 MB/s) + 10.",
        ),
    )
    media_processing_timeout_seconds: int = field(
        default=300,
        metadata=_meta(
            "mediaProcessingTimeoutSeconds",
            "Wall-time budget of one audio/video upload's probe and derivative (1..900 s).",
        ),
    )
    media_processing_cpu_seconds: int = field(
        default=240,
        metadata=_meta(
            "mediaProcessingCpuSeconds",
            "CPU-time budget of one audio/video upload (1..mediaProcessingTimeoutSeconds s); "
            "over it fails processing_limit.",
        ),
    )
    media_processing_memory_mb: int = field(
        default=2048,
        metadata=_meta(
            "mediaProcessingMemoryMb",
            "Memory budget of one audio/video upload's processing child "
            "(64..mediaProcessorMemoryMb - 256 MB); over it fails processing_limit.",
        ),
    )
    media_processor_batch_size: int = field(
        default=1,
        metadata=_meta(
            "mediaProcessorBatchSize",
            "SQS messages per media invocation (1..10): a video's budget is minutes, so one.",
        ),
    )
    media_processor_max_concurrency: int = field(
        default=5,
        metadata=_meta(
            "mediaProcessorMaxConcurrency",
            "Media event source mapping MaximumConcurrency (2..1000).",
        ),
    )
    presign_ttl_seconds: int = field(
        default=900,
        metadata=_meta("presignTtlSeconds", "Lifetime of presigned upload URLs (60..43200)."),
    )
    multipart_threshold_bytes: int = field(
        default=100 * MIB,
        metadata=_meta(
            "multipartThresholdBytes", "Uploads of at least this size use multipart (>= 5 MiB)."
        ),
    )
    multipart_part_bytes: int = field(
        default=16 * MIB,
        metadata=_meta("multipartPartBytes", "Part size for multipart uploads (5 MiB..5 GiB)."),
    )
    pending_ttl_seconds: int = field(
        default=86400,
        metadata=_meta(
            "pendingTtlSeconds",
            "A record still pending_upload after this long expires (DynamoDB TTL).",
        ),
    )
    max_pixels: int = field(
        default=50_000_000,
        metadata=_meta(
            "maxPixels",
            "Decompression-bomb guard: images with more pixels fail (width*height; 1..10^9, and "
            "maxPixels x 8 bytes must fit in processingMemoryMb).",
        ),
    )
    derivatives: tuple[DerivativeSpec, ...] = field(
        default=DEFAULT_DERIVATIVES,
        metadata=_meta(
            "derivatives",
            "Derivative specs: list of {name, max_edge 16..8192, format (jpeg|webp|png|avif), "
            "quality 1..100, speed 0..10 (avif only: encoder speed, default 8; one 2048-edge "
            "AVIF takes ~0.4 CPU-s at 8, ~1.4 at 6, ~15 at 4)}.",
        ),
    )
    tenant_claim: str = field(
        default="sub",
        metadata=_meta(
            "tenantClaim",
            "JWT claim that names the caller's tenant. Only a non-empty JSON string is a tenant: "
            "arrays, objects, numbers, booleans, lone surrogates, control characters and "
            "[a b]-shaped strings are refused 403 invalid_tenant. API Gateway hands claims to "
            'the Lambda stringified (123 -> "123", ["a","b"] -> "[a b]"), so the type '
            "is read from the verified token in the Authorization header.",
        ),
    )
    scope_claim: str = field(
        default="scope",
        metadata=_meta(
            "scopeClaim",
            "JWT claim that carries the caller's OAuth scopes: scope (a space-separated string, "
            "OAuth 2.0 and Cognito), scp (a string or an array, Entra ID and Okta) or a custom "
            "claim name (1..128 of A-Za-z0-9_:.-/, not the tenantClaim). Read from the verified "
            "token with its JSON type; a claim of any other type, [a b]-shaped or holding a "
            "malformed scope grants no scope. API Gateway route scopes are added only for scope "
            "and scp.",
        ),
    )
    operation_scopes: tuple[str, ...] = field(
        default=DEFAULT_OPERATION_SCOPES,
        metadata=_meta(
            "operationScopes",
            "Scope each operation needs, as operation=scope entries; operations: "
            + ", ".join(OPERATIONS)
            + " (abort = DELETE of a pending_upload, delete = DELETE of any other, purge = "
            "DELETE ?purge=true). An operation not listed keeps its default (delete, restore "
            "and purge need media:admin; the others none beyond a valid tenant; empty: every "
            "default); operation= with no scope needs none. A scope is 1..256 printable ASCII "
            "characters, without "
            'space, ", \\, comma, [ or ]; matched exactly (no prefixes, case-sensitive).',
        ),
    )
    gps_allowed_tenants: tuple[str, ...] = field(
        default=(),
        metadata=_meta(
            "gpsAllowedTenants",
            "Tenants whose status records may carry GPS from EXIF ('*' = all). Default and empty: "
            "none.",
        ),
    )
    list_page_size: int = field(
        default=50,
        metadata=_meta(
            "listPageSize",
            "Default page size of GET /v1/uploads (1..100; a request's limit= may ask for 1..100).",
        ),
    )
    idempotency_window_seconds: int = field(
        default=86400,
        metadata=_meta(
            "idempotencyWindowSeconds",
            "How long an Idempotency-Key of POST /v1/uploads answers with the same upload "
            "(60..pendingTtlSeconds s); after it the key creates a new upload.",
        ),
    )
    originals_prefix: str = field(
        default="originals/",
        metadata=_meta("originalsPrefix", "Key prefix of uploaded originals (quarantine)."),
    )
    derivatives_prefix: str = field(
        default="derivatives/",
        metadata=_meta("derivativesPrefix", "Key prefix of processed derivatives (served)."),
    )
    # -- retention and queueing: used by the stack and the emulator, validated the same way --
    ia_transition_days: int = field(
        default=30,
        metadata=_meta("iaTransitionDays", "Originals move to STANDARD_IA after this many days."),
    )
    glacier_transition_days: int = field(
        default=365,
        metadata=_meta(
            "glacierTransitionDays", "Originals move to GLACIER_IR after this many days."
        ),
    )
    noncurrent_expiration_days: int = field(
        default=30,
        metadata=_meta(
            "noncurrentExpirationDays",
            "Noncurrent object versions expire after this many days (1..3650); also the "
            "restore window of a deleted upload (POST /v1/uploads/{id}/restore, 410 after it).",
        ),
    )
    original_expiration_days: int = field(
        default=0,
        metadata=_meta(
            "originalExpirationDays",
            "Retention: current originals expire this many days after upload (0 = never; "
            "1..36500), and their records become expired; the bytes go noncurrentExpirationDays "
            "later. Must not fall in the 30 days after iaTransitionDays nor the 90 days after "
            "glacierTransitionDays (S3's minimum storage durations); transitions at or after it "
            "are left out.",
        ),
    )
    derivative_expiration_days: int = field(
        default=0,
        metadata=_meta(
            "derivativeExpirationDays",
            "Retention: derivatives expire this many days after they are written (0 = never; "
            "1..36500).",
        ),
    )
    download_ttl_seconds: int = field(
        default=300,
        metadata=_meta(
            "downloadTtlSeconds",
            "Lifetime of the presigned GET of an original (GET /v1/uploads/{id}/download; "
            "30..3600 s).",
        ),
    )
    pitr_recovery_days: int = field(
        default=35,
        metadata=_meta(
            "pitrRecoveryDays",
            "DynamoDB point-in-time recovery window (1..35 days): how long a purged or erased "
            "record can still be recovered from the table's continuous backups.",
        ),
    )
    log_retention_days: int = field(
        default=90,
        metadata=_meta("logRetentionDays", "Access logs and Lambda logs are kept this long."),
    )
    dlq_max_receive_count: int = field(
        default=5,
        metadata=_meta(
            "dlqMaxReceiveCount", "Receives before a message moves to the DLQ (1..1000)."
        ),
    )
    processor_timeout_seconds: int = field(
        default=60,
        metadata=_meta(
            "processorTimeoutSeconds",
            "Processor Lambda timeout (1..900 s); at least processorBatchSize x "
            "processingTimeoutSeconds + 10.",
        ),
    )
    processor_memory_mb: int = field(
        default=1536,
        metadata=_meta("processorMemoryMb", "Processor Lambda memory (256..10240 MB)."),
    )
    processing_timeout_seconds: int = field(
        default=10,
        metadata=_meta(
            "processingTimeoutSeconds",
            "Wall-time budget of one upload's processing (1..900 s). An overrun with CPU time "
            "under budget is retried; processorTimeoutSeconds must fit a whole batch of them.",
        ),
    )
    processing_cpu_seconds: int = field(
        default=8,
        metadata=_meta(
            "processingCpuSeconds",
            "CPU-time budget of one upload (1..processingTimeoutSeconds s); over it the "
            "upload fails with processing_limit.",
        ),
    )
    processing_memory_mb: int = field(
        default=1024,
        metadata=_meta(
            "processingMemoryMb",
            "Memory budget of one upload's processing child, beyond what the function already "
            "holds (64..processorMemoryMb - 256 MB); over it the upload fails with "
            "processing_limit.",
        ),
    )
    max_jpeg_scans: int = field(
        default=100,
        metadata=_meta(
            "maxJpegScans",
            "JPEG scans (SOS markers) allowed before decoding (1..1000); ordinary progressive "
            "files have about ten.",
        ),
    )
    max_metadata_segments: int = field(
        default=1000,
        metadata=_meta(
            "maxMetadataSegments",
            "JPEG markers, PNG/WebP ancillary chunks and HEIF/AVIF boxes other than image "
            "data allowed (16..100000).",
        ),
    )
    max_metadata_bytes: int = field(
        default=8 * MIB,
        metadata=_meta(
            "maxMetadataBytes",
            "Total bytes of metadata segments (EXIF, XMP, ICC, comments, text chunks) "
            "allowed (64 KiB..64 MiB).",
        ),
    )
    max_animation_pixels: int = field(
        default=1_000_000_000,
        metadata=_meta(
            "maxAnimationPixels",
            "Animated images: frames x width x height allowed (1..10^11).",
        ),
    )
    processor_batch_size: int = field(
        default=5,
        metadata=_meta("processorBatchSize", "SQS messages per processor invocation (1..100)."),
    )
    processor_max_concurrency: int = field(
        default=10,
        metadata=_meta(
            "processorMaxConcurrency", "Event source mapping MaximumConcurrency (2..1000)."
        ),
    )
    # -- delivery of derivatives (runtime/delivery.py, stacks/cdn.py) --
    delivery_mode: str = field(
        default="private",
        metadata=_meta(
            "deliveryMode",
            "private: derivatives are served only through CloudFront signed URLs (a trusted key "
            "group; unsigned or expired requests are refused at the edge). public: plain "
            "CloudFront URLs, and DELETE invalidates the upload's derivative paths.",
        ),
    )
    delivery_url_ttl_seconds: int = field(
        default=3600,
        metadata=_meta(
            "deliveryUrlTtlSeconds",
            "Lifetime of the derivative URLs a record view returns (60..86400 s): CloudFront "
            "signed URLs in private mode (expiring on a grid of 1/12 of it, so they live 11/12 "
            "to all of it), presigned S3 GETs under mediakit dev.",
        ),
    )
    delivery_cache_seconds: int = field(
        default=300,
        metadata=_meta(
            "deliveryCacheSeconds",
            "How long a served derivative may be cached (0..86400 s): the Cache-Control max-age "
            "browsers get (private in private mode, public in public mode; at most "
            "deliveryUrlTtlSeconds in private mode), and CloudFront's edge TTL in public mode, "
            "so a deleted derivative stops being served within 2 x this even if its "
            "invalidation fails.",
        ),
    )

    # -- malware scanning (stacks/malware.py, runtime/malware.py) --
    malware_scanning: bool = field(
        default=False,
        metadata=_meta(
            "malwareScanning",
            "true: GuardDuty Malware Protection for S3 scans every new original (the "
            "originalsPrefix, tagging on; GuardDuty bills per GB scanned and per object, see the "
            "README). Downloads of an original are then refused until its scan tag says "
            "NO_THREATS_FOUND, and a threat found ends the upload failed with code malware and "
            "removes its derivatives. false (the default): no scanning.",
        ),
    )

    # -- per-tenant limits and health (runtime/limits.py, runtime/health.py) --
    max_presigns_per_minute: int = field(
        default=100,
        metadata=_meta(
            "maxPresignsPerMinute",
            "Uploads (POST /v1/uploads) a tenant may create per clock minute (0 = no limit; "
            "0..100000); the next one is 429 rate_limited with Retry-After until the minute "
            "ends. 100 is the replaced system's documented limit.",
        ),
    )
    max_pending_uploads: int = field(
        default=1000,
        metadata=_meta(
            "maxPendingUploads",
            "Uploads a tenant may hold in pending_upload at once (0 = no limit; 0..10000); the "
            "next create is 429 too_many_pending with Retry-After. A pending upload stops "
            "counting once its bytes arrive, it is aborted (DELETE) or its record expires.",
        ),
    )
    storage_quota_bytes: int = field(
        default=0,
        metadata=_meta(
            "storageQuotaBytes",
            "Bytes of originals a tenant may store, pending uploads included (0 = no quota; "
            "0..10^15); a create that would pass it is 413 quota_exceeded. GET /v1/usage "
            "reports a tenant's bytes and objects either way.",
        ),
    )
    min_upload_bytes: int = field(
        default=1,
        metadata=_meta(
            "minUploadBytes",
            "Smallest accepted upload, in bytes (1..maxUploadBytes; the photo service used "
            "1024); a smaller declared size is 400 too_small.",
        ),
    )
    operator_scope: str = field(
        default="media:operator",
        metadata=_meta(
            "operatorScope",
            "Scope (in the scopeClaim) that lifts the per-tenant limits (maxPresignsPerMinute, "
            "maxPendingUploads, storageQuotaBytes) for migrations such as mediakit import; a "
            "scope as in operationScopes. It never reaches across tenants.",
        ),
    )
    health_cache_seconds: int = field(
        default=5,
        metadata=_meta(
            "healthCacheSeconds",
            "How long one function instance reuses its GET /v1/health result (1..60 s), so a "
            "flood of health calls never fans out to DynamoDB and S3.",
        ),
    )

    def __post_init__(self) -> None:
        _validate(self)

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, strict: bool = True) -> Settings:
        """Read from `MEDIAKIT_*` environment variables; absent ones take defaults. A
        `MEDIAKIT_*` variable nothing reads (runtime/registry.py) is refused as a typo, unless
        `strict` is off: the deployed functions (runtime/config.py), where a variable an operator
        added, or one a newer release sets before its code arrives, must not stop every
        invocation; they log it instead."""
        if strict:
            from runtime.registry import check_environ

            check_environ(environ)
        return cls._from_raw(lambda f: environ.get(env_name(f)), env_name)

    @classmethod
    def from_config(cls, get: Callable[[str], Any]) -> Settings:
        """Read from Pulumi config: `get(configKey)` returns a value or None; errors name the
        key as a stack file spells it (`mediakit:maxUploadBytes`)."""
        return cls._from_raw(lambda f: get(config_key(f)), stack_key)

    @classmethod
    def _from_raw(cls, lookup: Callable[[str], Any], key_of: Callable[[str], str]) -> Settings:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = lookup(f.name)
            if raw is None:
                continue
            if isinstance(raw, str) and not raw.strip():
                if f.name not in EMPTY_MEANS_NONE:
                    # An empty value is not a way to ask for the default: it is usually a
                    # variable that was meant to hold something.
                    raise SettingsError(
                        key_of(f.name),
                        f"is empty: give it a value, or leave it out for the default "
                        f"({_display(f.default)})",
                    )
                values[f.name] = ()
                continue
            values[f.name] = _coerce(f.name, raw, key_of(f.name))
        try:
            return cls(**values)
        except InvalidSetting as exc:
            # Validators name settings by config key; re-key to the user's spelling and source.
            raise exc.respelled(key_of, values) from None

    def to_env(self) -> dict[str, str]:
        """Environment variables that reproduce these settings in `from_env`."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "derivatives":
                out[env_name(f.name)] = json.dumps(
                    [d.to_json() for d in value], separators=(",", ":")
                )
            elif isinstance(value, tuple):
                out[env_name(f.name)] = ",".join(value)
            elif isinstance(value, bool):
                out[env_name(f.name)] = "true" if value else "false"
            else:
                out[env_name(f.name)] = str(value)
        return out

    # -- helpers used by the runtime ---------------------------------------------------------

    def extension_for(self, content_type: str) -> str:
        return KNOWN_TYPES[content_type]

    def scope_for(self, operation: str) -> str:
        """The scope `operation` needs ("" for none): its `operationScopes` entry, else the
        default's. Unknown operations are a programming error (KeyError)."""
        if operation not in OPERATIONS:
            raise KeyError(operation)
        for source in (self.operation_scopes, DEFAULT_OPERATION_SCOPES):
            for entry in source:
                name, _, scope = entry.partition("=")
                if name == operation:
                    return scope
        return ""

    def kind_enabled(self, kind: str) -> bool:
        return kind in self.media_kinds

    @property
    def accepted_types(self) -> tuple[str, ...]:
        """The allowed types whose kind is on: what the API accepts."""
        return tuple(t for t in self.allowed_types if kind_of(t) in self.media_kinds)

    @property
    def media_enabled(self) -> bool:
        """Audio or video on: the stack carries the media function and its queue."""
        return any(k in self.media_kinds for k in ("audio", "video"))

    def max_bytes_for(self, content_type: str) -> int:
        """The size limit of a canonical type's kind."""
        kind = kind_of(content_type)
        if kind == "audio":
            return self.max_audio_upload_bytes
        if kind == "video":
            return self.max_video_upload_bytes
        return self.max_upload_bytes

    @property
    def max_media_bytes(self) -> int:
        """The largest audio/video upload an enabled kind accepts (0 with both off)."""
        sizes = [self.max_bytes_for(f"{k}/x") for k in ("audio", "video") if k in self.media_kinds]
        return max(sizes, default=0)

    def gps_allowed(self, tenant: str) -> bool:
        return "*" in self.gps_allowed_tenants or tenant in self.gps_allowed_tenants


def env_name(field_name: str) -> str:
    return "MEDIAKIT_" + field_name.upper()


def stack_key(field_name: str) -> str:
    """The key as a stack file spells it: `mediakit:<configKey>`."""
    return f"mediakit:{config_key(field_name)}"


# Settings for which an empty value means none (an empty list): every other setting refuses an
# empty value rather than silently taking its default.
EMPTY_MEANS_NONE = frozenset({"gps_allowed_tenants", "operation_scopes"})


def config_key(field_name: str) -> str:
    for f in dataclasses.fields(Settings):
        if f.name == field_name:
            return str(f.metadata["config"])
    raise KeyError(field_name)


def describe() -> list[dict[str, Any]]:
    """Every setting with its config key, env var, type, default and description (for docs)."""
    rows = []
    defaults = Settings()
    for f in dataclasses.fields(Settings):
        default = getattr(defaults, f.name)
        if f.name == "derivatives":
            default = [d.to_json() for d in default]
        elif isinstance(default, tuple):
            default = list(default)
        rows.append(
            {
                "field": f.name,
                "config": f.metadata["config"],
                "env": env_name(f.name),
                "type": _type_name(f.name),
                "default": default,
                "doc": f.metadata["doc"],
                "allowed": allowed_values(f.name),
            }
        )
    return rows


def allowed_values(field_name: str) -> str:
    """The values the validator enforces for an integer setting, as docs print them
    ("60..43200", "1..maxUploadBytes", "one of 1, 3, ..."); "" for other settings."""
    if field_name == "log_retention_days":
        return "one of " + ", ".join(map(str, LOG_RETENTION_DAYS))
    if field_name not in RANGES:
        return ""
    lo, hi = RANGES[field_name]
    bytes_ = field_name.endswith("_bytes")
    high = config_key(hi) if isinstance(hi, str) else _amount(hi, bytes_)
    return f"{_amount(lo, bytes_)}..{high}"


def _amount(value: int, bytes_: bool) -> str:
    """`value`, in KiB/MiB/GiB/TiB when it is a whole number of them and counts bytes."""
    if bytes_:
        for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", MIB), ("KiB", 1024)):
            if value >= size and value % size == 0 and value // size < 10_000:
                return f"{value // size} {unit}"
    return str(value)


# --- parsing and validation ----------------------------------------------------------------------

_INT_FIELDS = {f.name for f in dataclasses.fields(Settings) if f.type in ("int", int)}
_LIST_FIELDS = {"allowed_types", "gps_allowed_tenants", "operation_scopes", "media_kinds"}
_BOOL_FIELDS = {f.name for f in dataclasses.fields(Settings) if f.type in ("bool", bool)}


def _type_name(name: str) -> str:
    if name in _INT_FIELDS:
        return "integer"
    if name in _LIST_FIELDS:
        return "list of strings"
    if name in _BOOL_FIELDS:
        return "boolean"
    if name == "derivatives":
        return "list of objects"
    return "string"


def _coerce(name: str, raw: Any, key: str) -> Any:
    if name in _BOOL_FIELDS:
        # Pulumi config and the environment hand booleans over as text: only true/false.
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise SettingsError(key, f"must be true or false, got {raw!r}")
    if name in _INT_FIELDS:
        if isinstance(raw, bool):
            raise SettingsError(key, f"must be an integer, got {raw!r}")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
            return int(raw.strip())
        raise SettingsError(key, f"must be an integer, got {raw!r}")
    if name in _LIST_FIELDS:
        items = _as_list(raw, key)
        if not all(isinstance(i, str) for i in items):
            raise SettingsError(key, "must be a list of strings")
        return tuple(i.strip() for i in items if i.strip())
    if name == "derivatives":
        items = _as_list(raw, key)
        specs = []
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise SettingsError(key, f"item {i} must be an object with name and max_edge")
            unknown = set(item) - {"name", "max_edge", "format", "quality", "maxEdge", "speed"}
            if unknown:
                raise SettingsError(key, f"item {i} has unknown fields {sorted(unknown)}")
            edge = item.get("max_edge", item.get("maxEdge"))
            try:
                specs.append(
                    DerivativeSpec(
                        name=str(item["name"]),
                        max_edge=int(edge),
                        format=str(item.get("format", "jpeg")).lower(),
                        quality=int(item.get("quality", 82)),
                        speed=None if item.get("speed") is None else int(item["speed"]),
                    )
                )
            except (KeyError, TypeError, ValueError):
                raise SettingsError(
                    key, f"item {i} needs name (string) and max_edge (integer)"
                ) from None
        return tuple(specs)
    if not isinstance(raw, str):
        raise SettingsError(key, f"must be a string, got {raw!r}")
    return raw.strip()


def _as_list(raw: Any, key: str) -> list[Any]:
    if isinstance(raw, list | tuple):
        return list(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise SettingsError(key, f"is not valid JSON: {exc.msg}") from None
            if not isinstance(parsed, list):
                raise SettingsError(key, "must be a JSON list")
            return parsed
        return [p for p in text.split(",")]
    raise SettingsError(key, f"must be a list, got {raw!r}")


# Every enforced range of an integer setting, lo..hi inclusive (hi may name another setting):
# `_validate` checks them first, and describe() prints them in Pulumi.yaml and the README.
RANGES: dict[str, tuple[int, int | str]] = {
    "max_upload_bytes": (1, 5 * 1024**4),
    "max_audio_upload_bytes": (1, 5 * 1024**4),
    "max_video_upload_bytes": (1, 5 * 1024**4),
    "presign_ttl_seconds": (60, 43200),
    # S3 takes at most 5 GiB in one PUT or POST: anything larger has to go multipart.
    "multipart_threshold_bytes": (5 * MIB, 5 * 1024**3),
    "multipart_part_bytes": (5 * MIB, 5 * 1024**3),
    "pending_ttl_seconds": (300, 90 * 86400),
    "max_pixels": (1, 1_000_000_000),
    "list_page_size": (1, 100),
    "idempotency_window_seconds": (60, 90 * 86400),
    "ia_transition_days": (30, 3650),
    "glacier_transition_days": (1, 36500),
    "noncurrent_expiration_days": (1, 3650),
    "download_ttl_seconds": (30, 3600),
    "pitr_recovery_days": (1, 35),
    "dlq_max_receive_count": (1, 1000),
    "processor_timeout_seconds": (1, 900),
    "processor_batch_size": (1, 100),
    "processor_max_concurrency": (2, 1000),
    "processor_memory_mb": (256, 10240),
    "processing_timeout_seconds": (1, 900),
    "processing_cpu_seconds": (1, 900),
    "processing_memory_mb": (64, 10240),
    "max_jpeg_scans": (1, 1000),
    "max_metadata_segments": (16, 100_000),
    "max_metadata_bytes": (64 * 1024, 64 * MIB),
    "max_animation_pixels": (1, 10**11),
    "max_presigns_per_minute": (0, 100_000),
    "max_pending_uploads": (0, 10_000),
    "storage_quota_bytes": (0, 10**15),
    "health_cache_seconds": (1, 60),
    "max_audio_duration_seconds": (1, 86400),
    "max_video_duration_seconds": (1, 86400),
    "max_video_frame_pixels": (1, 16384 * 16384),
    "max_media_streams": (1, 64),
    "media_read_max_bytes": (MIB, 4 * 1024 * MIB),
    "media_read_max_requests": (4, 10000),
    "media_processor_memory_mb": (512, 10240),
    "media_processor_timeout_seconds": (60, 900),
    "media_processing_timeout_seconds": (1, 900),
    "media_processing_cpu_seconds": (1, 900),
    "media_processing_memory_mb": (64, 10240),
    "media_processor_batch_size": (1, 10),
    "media_processor_max_concurrency": (2, 1000),
    "delivery_url_ttl_seconds": (60, 86400),
    "delivery_cache_seconds": (0, 86400),
    "original_expiration_days": (0, 36500),
    "derivative_expiration_days": (0, 36500),
    # After max_upload_bytes, whose own range is then known to hold.
    "min_upload_bytes": (1, "max_upload_bytes"),
}


def _check_range(name: str, value: int, lo: int, hi: int, hi_field: str = "") -> None:
    """`lo <= value <= hi`; `hi_field` names the setting `hi` comes from, if any."""
    if not lo <= value <= hi:
        bound = f"{hi} ({_ref(hi_field)})" if hi_field else str(hi)
        raise InvalidSetting(name, f"must be between {lo} and {bound}, got {value}")


def _validate(s: Settings) -> None:
    for name, (lo, hi) in RANGES.items():
        if isinstance(hi, str):
            _check_range(name, getattr(s, name), lo, getattr(s, hi), hi)
        else:
            _check_range(name, getattr(s, name), lo, hi)
    # A replay past the pending record's TTL would find no upload to answer with.
    if s.idempotency_window_seconds > s.pending_ttl_seconds:
        raise InvalidSetting(
            "idempotency_window_seconds",
            f"must be at most {_ref('pending_ttl_seconds')} ({s.pending_ttl_seconds}), "
            f"got {s.idempotency_window_seconds}",
        )
    # S3 refuses a lifecycle rule whose next transition comes less than 30 days after the
    # STANDARD_IA one (objects must sit 30 days in STANDARD_IA first): `pulumi up` would fail.
    if s.glacier_transition_days < s.ia_transition_days + 30:
        raise InvalidSetting(
            "glacier_transition_days",
            f"must be at least 30 days after {_ref('ia_transition_days')} "
            f"({s.ia_transition_days}), got {s.glacier_transition_days}",
        )
    _validate_retention(s)
    if s.log_retention_days not in LOG_RETENTION_DAYS:
        raise InvalidSetting(
            "log_retention_days",
            f"CloudWatch Logs keeps logs only for one of {', '.join(map(str, LOG_RETENTION_DAYS))} "
            f"days, got {s.log_retention_days}",
        )
    _validate_budgets(s)
    _validate_delivery(s)
    _validate_media(s)
    _validate_limits(s)

    if not s.allowed_types:
        raise InvalidSetting("allowed_types", "must name at least one content type")
    for t in s.allowed_types:
        if t not in KNOWN_TYPES:
            raise InvalidSetting(
                "allowed_types", f"unknown content type {t!r} (known: {', '.join(KNOWN_TYPES)})"
            )
    if not s.derivatives:
        raise InvalidSetting("derivatives", "must list at least one derivative")
    seen: set[str] = set()
    for d in s.derivatives:
        if not _NAME_RE.match(d.name):
            raise InvalidSetting("derivatives", f"name {d.name!r} must match {_NAME_RE.pattern}")
        if d.name in seen:
            raise InvalidSetting("derivatives", f"duplicate name {d.name!r}")
        seen.add(d.name)
        if d.format not in DERIVATIVE_FORMATS:
            raise InvalidSetting(
                "derivatives",
                f"{d.name}: unknown format {d.format!r} (known: {', '.join(DERIVATIVE_FORMATS)})",
            )
        if not 16 <= d.max_edge <= 8192:
            raise InvalidSetting("derivatives", f"{d.name}: max_edge must be 16..8192")
        if not 1 <= d.quality <= 100:
            raise InvalidSetting("derivatives", f"{d.name}: quality must be 1..100")
        if d.speed is not None:
            if d.format != "avif":
                raise InvalidSetting("derivatives", f"{d.name}: speed applies to avif only")
            if isinstance(d.speed, bool) or not 0 <= d.speed <= 10:
                raise InvalidSetting("derivatives", f"{d.name}: speed must be 0..10")
    if not re.fullmatch(r"[A-Za-z0-9_:.\-/]{1,128}", s.tenant_claim):
        raise InvalidSetting("tenant_claim", f"{s.tenant_claim!r} is not a valid claim name")
    _validate_scopes(s)
    for name in ("originals_prefix", "derivatives_prefix"):
        prefix = getattr(s, name)
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}/", prefix):
            raise InvalidSetting(name, f"{prefix!r} must be one lowercase segment ending in '/'")
    if s.originals_prefix == s.derivatives_prefix:
        raise InvalidSetting(
            "derivatives_prefix",
            f"must differ from {_ref('originals_prefix')} (both {s.originals_prefix!r})",
        )


def _validate_limits(s: Settings) -> None:
    """Per-tenant limits, the smallest upload, the operator scope and the health cache."""
    if not SETTING_SCOPE.fullmatch(s.operator_scope):
        raise InvalidSetting(
            "operator_scope",
            f"{s.operator_scope!r} is not a scope (1..256 printable ASCII characters without "
            'space, ", \\, comma, [ or ])',
        )


# Throughput assumed for the media function's streamed sha256 of an original (one GET): the
# function timeout must fit the largest upload's hash beside its processing budget.
HASH_BYTES_PER_SECOND = 50_000_000
MAX_PARTS = 10_000


def _validate_media(s: Settings) -> None:
    """Media kinds, per-kind limits, and the media function's budgets against each other."""
    if not s.media_kinds:
        raise InvalidSetting("media_kinds", "must name at least one kind")
    for kind in s.media_kinds:
        if kind not in MEDIA_KINDS:
            raise InvalidSetting(
                "media_kinds", f"unknown kind {kind!r} (known: {', '.join(MEDIA_KINDS)})"
            )
    if len(set(s.media_kinds)) != len(s.media_kinds):
        raise InvalidSetting("media_kinds", "names a kind twice")
    for kind in s.media_kinds:
        if not any(kind_of(t) == kind for t in s.allowed_types):
            raise InvalidSetting(
                "allowed_types", f"names no {kind} type, but {_ref('media_kinds')} turns {kind} on"
            )
    for name in ("max_upload_bytes", "max_audio_upload_bytes", "max_video_upload_bytes"):
        value = getattr(s, name)
        if value >= s.multipart_threshold_bytes and -(-value // s.multipart_part_bytes) > MAX_PARTS:
            raise InvalidSetting(
                name,
                f"{value} bytes need more than {MAX_PARTS} parts of {_ref('multipart_part_bytes')} "
                f"({s.multipart_part_bytes}): raise {_ref('multipart_part_bytes')}",
            )
    if s.media_processing_cpu_seconds > s.media_processing_timeout_seconds:
        raise InvalidSetting(
            "media_processing_cpu_seconds",
            f"must not exceed {_ref('media_processing_timeout_seconds')} "
            f"({s.media_processing_timeout_seconds}), got {s.media_processing_cpu_seconds}",
        )
    if s.media_processing_memory_mb + PARENT_RESERVE_MB > s.media_processor_memory_mb:
        raise InvalidSetting(
            "media_processing_memory_mb",
            f"must leave {PARENT_RESERVE_MB} MB of {_ref('media_processor_memory_mb')} "
            f"({s.media_processor_memory_mb}) to the function, got {s.media_processing_memory_mb}",
        )
    frame_mb = s.max_video_frame_pixels * DECODE_BYTES_PER_PIXEL // MIB
    if frame_mb > s.media_processing_memory_mb:
        raise InvalidSetting(
            "max_video_frame_pixels",
            f"{s.max_video_frame_pixels} pixels need about {frame_mb} MB to decode and render, "
            f"more than {_ref('media_processing_memory_mb')} ({s.media_processing_memory_mb})",
        )
    needed = media_seconds_per_message(s) * s.media_processor_batch_size + BATCH_MARGIN_SECONDS
    if s.media_enabled and s.media_processor_timeout_seconds < needed:
        raise InvalidSetting(
            "media_processor_timeout_seconds",
            f"must fit a batch: {_ref('media_processor_batch_size')} "
            f"({s.media_processor_batch_size}) x "
            f"({_ref('media_processing_timeout_seconds')} ({s.media_processing_timeout_seconds}) + "
            f"{media_hash_seconds(s)} s to hash {s.max_media_bytes} bytes) + "
            f"{BATCH_MARGIN_SECONDS} s = {needed}, got {s.media_processor_timeout_seconds}",
        )


def media_hash_seconds(s: Settings) -> int:
    """Seconds the streamed sha256 of the largest enabled audio/video upload may take."""
    return -(-s.max_media_bytes // HASH_BYTES_PER_SECOND)


def media_seconds_per_message(s: Settings) -> int:
    """What one audio/video message needs: its hash, then its processing budget."""
    return s.media_processing_timeout_seconds + media_hash_seconds(s)


DELIVERY_MODES = ("private", "public")


def _validate_delivery(s: Settings) -> None:
    """The delivery mode, and browser caching that never outlives a private URL."""
    if s.delivery_mode not in DELIVERY_MODES:
        raise InvalidSetting(
            "delivery_mode", f"must be one of {', '.join(DELIVERY_MODES)}, got {s.delivery_mode!r}"
        )
    if s.delivery_mode == "private" and s.delivery_cache_seconds > s.delivery_url_ttl_seconds:
        raise InvalidSetting(
            "delivery_cache_seconds",
            f"must not exceed {_ref('delivery_url_ttl_seconds')} ({s.delivery_url_ttl_seconds}) "
            f"in private "
            f"mode: a browser would keep showing a copy after its URL expired, got "
            f"{s.delivery_cache_seconds}",
        )


def _validate_scopes(s: Settings) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_:.\-/]{1,128}", s.scope_claim):
        raise InvalidSetting("scope_claim", f"{s.scope_claim!r} is not a valid claim name")
    if s.scope_claim == s.tenant_claim:
        # The tenant's own name would then be a scope it grants itself (a tenant "media:admin").
        raise InvalidSetting(
            "scope_claim", f"must differ from {_ref('tenant_claim')} ({s.tenant_claim!r})"
        )
    seen: set[str] = set()
    for entry in s.operation_scopes:
        operation, sep, scope = entry.partition("=")
        if not sep:
            raise InvalidSetting("operation_scopes", f"{entry!r} is not operation=scope")
        if operation not in OPERATIONS:
            raise InvalidSetting(
                "operation_scopes",
                f"unknown operation {operation!r} (known: {', '.join(OPERATIONS)})",
            )
        if operation in seen:
            raise InvalidSetting("operation_scopes", f"{operation} is listed twice")
        seen.add(operation)
        if scope and not SETTING_SCOPE.fullmatch(scope):
            raise InvalidSetting(
                "operation_scopes",
                f"{operation}: {scope!r} is not a scope (1..256 printable ASCII characters "
                'without space, ", \\, comma, [ or ])',
            )


# S3's minimum storage durations: deleting earlier is billed as if the object had stayed.
IA_MINIMUM_DAYS = 30
GLACIER_IR_MINIMUM_DAYS = 90


def _validate_retention(s: Settings) -> None:
    """Retention expiry against the storage-class transitions of originals."""
    days = s.original_expiration_days
    if not days:
        return
    ia, glacier = s.ia_transition_days, s.glacier_transition_days
    if ia < days < ia + IA_MINIMUM_DAYS:
        raise InvalidSetting(
            "original_expiration_days",
            f"{days} falls within {IA_MINIMUM_DAYS} days of the STANDARD_IA transition "
            f"({_ref('ia_transition_days')} {ia}): use at most {ia} (no transition) or at least "
            f"{ia + IA_MINIMUM_DAYS}",
        )
    if glacier < days < glacier + GLACIER_IR_MINIMUM_DAYS:
        raise InvalidSetting(
            "original_expiration_days",
            f"{days} falls within {GLACIER_IR_MINIMUM_DAYS} days of the GLACIER_IR transition "
            f"({_ref('glacier_transition_days')} {glacier}): use at most {glacier} or at least "
            f"{glacier + GLACIER_IR_MINIMUM_DAYS}",
        )


def original_transitions(s: Settings) -> list[tuple[int, str]]:
    """The storage-class transitions of originals that come before their expiry (all of them
    without one): S3 refuses a rule whose expiration is not after its transitions."""
    out = [(s.ia_transition_days, "STANDARD_IA"), (s.glacier_transition_days, "GLACIER_IR")]
    days = s.original_expiration_days
    return [(d, c) for d, c in out if not days or d < days]


# What the processor keeps for itself beside the processing child: Python, boto3, the original.
PARENT_RESERVE_MB = 256
# Seconds a batch needs beyond its uploads' budgets: reading, writing, recording, announcing.
BATCH_MARGIN_SECONDS = 10
# Bytes per pixel a decode may hold at once: RGBA (4) plus a premultiplied working copy (4).
DECODE_BYTES_PER_PIXEL = 8


def _validate_budgets(s: Settings) -> None:
    """The per-upload budgets must fit the function, and the function a whole batch."""
    if s.processing_cpu_seconds > s.processing_timeout_seconds:
        raise InvalidSetting(
            "processing_cpu_seconds",
            f"must not exceed {_ref('processing_timeout_seconds')} "
            f"({s.processing_timeout_seconds}), "
            f"got {s.processing_cpu_seconds}",
        )
    if s.processing_memory_mb + PARENT_RESERVE_MB > s.processor_memory_mb:
        raise InvalidSetting(
            "processing_memory_mb",
            f"must leave {PARENT_RESERVE_MB} MB of {_ref('processor_memory_mb')} "
            f"({s.processor_memory_mb}) to the function, got {s.processing_memory_mb}",
        )
    decode_mb = s.max_pixels * DECODE_BYTES_PER_PIXEL // MIB
    if decode_mb > s.processing_memory_mb:
        raise InvalidSetting(
            "max_pixels",
            f"{s.max_pixels} pixels need about {decode_mb} MB to decode, more than "
            f"{_ref('processing_memory_mb')} ({s.processing_memory_mb})",
        )
    needed = s.processor_batch_size * s.processing_timeout_seconds + BATCH_MARGIN_SECONDS
    if s.processor_timeout_seconds < needed:
        raise InvalidSetting(
            "processor_timeout_seconds",
            f"must fit a batch: {_ref('processor_batch_size')} ({s.processor_batch_size}) x "
            f"{_ref('processing_timeout_seconds')} ({s.processing_timeout_seconds}) + "
            f"{BATCH_MARGIN_SECONDS} s = {needed}, got {s.processor_timeout_seconds}",
        )


@dataclass(frozen=True)
class Resources:
    """Names of the deployed resources, handed to the Lambdas by the stack (or the emulator)."""

    bucket: str
    table: str
    event_bus: str
    kms_key_arn: str
    # Empty on the emulator: derivative URLs are then presigned GETs standing in for CloudFront.
    cdn_domain: str = ""
    # `<project>-<stack>`: the metrics' `pipeline` dimension, so two stacks' alarms never mix.
    pipeline: str = ""
    # Delivery (runtime/delivery.py): the distribution public-mode DELETEs invalidate, and in
    # private mode the KMS key that signs URLs and its CloudFront public key id (Key-Pair-Id).
    cdn_distribution_id: str = ""
    delivery_key_arn: str = ""
    delivery_key_pair_id: str = ""
    # The listing cursors' KMS HMAC keys, `name=arn,...`, the last signing (runtime/cursors.py).
    cursor_keys: str = ""

    ENV = {
        "bucket": "MEDIAKIT_BUCKET",
        "table": "MEDIAKIT_TABLE",
        "event_bus": "MEDIAKIT_EVENT_BUS",
        "kms_key_arn": "MEDIAKIT_KMS_KEY_ARN",
        "cdn_domain": "MEDIAKIT_CDN_DOMAIN",
        "pipeline": "MEDIAKIT_PIPELINE",
        "cdn_distribution_id": "MEDIAKIT_CDN_DISTRIBUTION_ID",
        "delivery_key_arn": "MEDIAKIT_DELIVERY_KEY_ARN",
        "delivery_key_pair_id": "MEDIAKIT_DELIVERY_KEY_PAIR_ID",
        "cursor_keys": "MEDIAKIT_CURSOR_KEYS",
    }
    OPTIONAL = frozenset(
        {
            "cdn_domain",
            "pipeline",
            "cdn_distribution_id",
            "delivery_key_arn",
            "delivery_key_pair_id",
            "cursor_keys",
        }
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Resources:
        """Read resource names; a missing required one is a SettingsError naming the variable."""
        values: dict[str, str] = {}
        for attr, var in cls.ENV.items():
            value = environ.get(var, "").strip()
            if not value and attr not in cls.OPTIONAL:
                raise SettingsError(var, "is required")
            values[attr] = value
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        return {var: getattr(self, attr) for attr, var in self.ENV.items()}

"""The HTTP API's routes as functions of (request, dependencies) -> (status, JSON body)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from runtime import (
    aws,
    claims,
    cursors,
    delivery,
    downloads,
    events,
    health,
    idempotency,
    keys,
    limits,
    malware,
    scopes,
    signing,
)
from runtime.aws import error_code, is_not_found
from runtime.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    MethodNotAllowed,
    NotFound,
    TransientFault,
    Unauthorized,
)
from runtime.http import Request
from runtime.records import (
    COMPLETED,
    DELETED,
    PENDING,
    RESTORING,
    TRANSITIONS,
    ListFilter,
    Store,
    UploadRecord,
    epoch,
    iso,
    public_view,
    tombstone,
    window_open,
)
from runtime.settings import Resources, Settings
from runtime.validation import CreateUpload, parse_json_body, validate_complete, validate_create

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_s3 import S3Client

_ID = r"(?P<id>[^/]+)"


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    """Everything a route touches; tests pass moto-backed clients and a fixed clock."""

    settings: Settings
    resources: Resources
    s3: S3Client
    store: Store
    clock: Callable[[], datetime] = _utcnow
    new_id: Callable[[], str] = field(default=keys.new_upload_id)
    # Created on first use: private mode signs derivative URLs with KMS, public mode's DELETE
    # invalidates CloudFront paths (runtime/delivery.py).
    kms: Callable[[], KMSClient] = field(default=aws.kms)
    cloudfront: Callable[[], delivery.InvalidationClient] = field(default=aws.cloudfront)
    # The bus of the deleted/restored/purged events (created on first use).
    events: Callable[[], EventBridgeClient] = field(default=aws.events)

    def view(self, record: UploadRecord) -> dict[str, Any]:
        """The record as the API shows it: derivative URLs of the delivery mode, made now (one
        signature per record in private mode), and when they stop working."""
        urls = delivery.record_urls(
            record,
            settings=self.settings,
            resources=self.resources,
            s3=self.s3,
            kms=self.kms,
            now=self.clock(),
        )
        view = public_view(record, urls.url_for)
        if view.get("derivatives") and urls.expires_at is not None:
            view["urls_expire_at"] = iso(urls.expires_at)
        return view


def default_deps() -> Deps:
    """Deps from the environment and the process-wide clients."""
    from runtime import aws, config

    resources = config.resources()
    return Deps(
        settings=config.settings(),
        resources=resources,
        s3=aws.s3(),
        store=Store(aws.dynamodb(), resources.table),
    )


RouteHandler = Callable[["Deps", Request, str, "re.Match[str]"], tuple[int, Any]]


@dataclass(frozen=True)
class Route:
    """One route of the HTTP API: method, path pattern, the operation it performs (what scopes
    and metrics are keyed on) and its handler (deps, request, tenant, path match).
    `route()` checks the operation's scope before the handler runs, unless `decides_scope`:
    then the handler calls `scopes.require` itself (DELETE is abort, delete or purge depending
    on the record and `?purge=true`)."""

    method: str
    pattern: re.Pattern[str]
    operation: str
    handler: RouteHandler
    decides_scope: bool = False
    # No token (API Gateway route without the JWT authorizer): no tenant, no scope, and the
    # handler's answer names no resource (`GET /v1/health`). The tenant argument is "".
    public: bool = False


def _path(template: str) -> re.Pattern[str]:
    return re.compile(template.replace("{id}", _ID) + "/?")


ROUTES: tuple[Route, ...] = (
    Route("POST", _path("/v1/uploads"), "create", lambda d, r, t, m: create_upload(d, r, t)),
    Route(
        "GET",
        _path("/v1/uploads"),
        "list",
        lambda d, r, t, m: (200, list_uploads(d, r, t)),
    ),
    Route(
        "GET",
        _path("/v1/uploads/{id}"),
        "get",
        lambda d, r, t, m: (200, d.view(owned_record(d, t, m["id"]))),
    ),
    Route(
        "DELETE",
        _path("/v1/uploads/{id}"),
        "delete",
        lambda d, r, t, m: (200, delete_upload(d, r, t, m["id"])),
        decides_scope=True,
    ),
    Route(
        "POST",
        _path("/v1/uploads/{id}/complete"),
        "complete",
        lambda d, r, t, m: (200, complete_upload(d, r, t, m["id"])),
    ),
    Route(
        "GET",
        _path("/v1/uploads/{id}/parts"),
        "parts",
        lambda d, r, t, m: (200, upload_parts(d, r, t, m["id"])),
    ),
    Route(
        "GET",
        _path("/v1/uploads/{id}/download"),
        "download",
        lambda d, r, t, m: (200, download_upload(d, r, t, m["id"])),
    ),
    Route(
        "POST",
        _path("/v1/uploads/{id}/restore"),
        "restore",
        lambda d, r, t, m: (202, restore_upload(d, r, t, m["id"])),
    ),
    Route("GET", _path("/v1/usage"), "usage", lambda d, r, t, m: (200, tenant_usage(d, t))),
    Route("GET", _path("/v1/health"), "health", lambda d, r, t, m: check_health(d), public=True),
)


def route(request: Request, deps: Deps) -> tuple[int, Any]:
    """Dispatch on path then method; 404 for unknown paths, 405 for wrong methods."""
    matches = [(r, m) for r in ROUTES if (m := r.pattern.fullmatch(request.path))]
    if not matches:
        raise NotFound(f"no route for {request.path}", code="route_not_found")
    chosen = [(r, m) for r, m in matches if r.method == request.method]
    if not chosen:
        allowed = tuple(r.method for r, _ in matches)
        raise MethodNotAllowed(f"{request.method} is not allowed here (allowed: {allowed})")
    found, match = chosen[0]
    if found.public:
        return found.handler(deps, request, "", match)
    tenant = tenant_of(request, deps.settings)
    if not found.decides_scope:
        scopes.require(request, deps.settings, found.operation)
    return found.handler(deps, request, tenant, match)


def tenant_of(request: Request, settings: Settings) -> str:
    """The caller's sanitised tenant; 401 without verified claims."""
    if not request.claims:
        raise Unauthorized("a valid bearer token is required")
    raw = claims.tenant_claim(request.headers, request.claims, settings.tenant_claim)
    return keys.sanitise_tenant(raw)


_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:=-]{1,128}")


def correlation_id(request: Request) -> str:
    """The client's `X-Correlation-Id` when it is a sane token, else API Gateway's request id."""
    given = request.headers.get("x-correlation-id", "")
    if _CORRELATION_ID.fullmatch(given):
        return given
    # A direct invocation (no API Gateway) still gets a unique id.
    return request.request_id or keys.new_upload_id()


def owned_record(deps: Deps, tenant: str, upload_id: str) -> UploadRecord:
    """The record if it belongs to `tenant`; other tenants' ids look exactly like missing ones."""
    record = deps.store.get(upload_id) if keys.is_upload_id(upload_id) else None
    if record is None or record.get("tenant") != tenant:
        raise NotFound(f"no upload {upload_id}")
    return settle(deps, record)


def settle(deps: Deps, record: UploadRecord) -> UploadRecord:
    """A deleted record whose restore window closed (deleted_at + noncurrentExpirationDays,
    whatever DynamoDB's TTL has done yet) is answered, and written, without its personal fields."""
    window = deps.settings.noncurrent_expiration_days
    if (
        record["status"] != DELETED
        or record.get("erased_at")
        or window_open(record, deps.clock(), window)
    ):
        return record
    erased = deps.store.erase(record, deps.clock())
    return erased if erased is not None else tombstone(record)


def acting_subject(request: Request) -> str:
    """The caller's `sub`, recorded by DELETE, restore, purge and download; 403 without one
    (an audit trail must name somebody)."""
    found = claims.subject(request.headers, request.claims)
    if found is None:
        raise Forbidden("the token carries no usable sub claim", code="invalid_subject")
    return found


def create_upload(deps: Deps, request: Request, tenant: str) -> tuple[int, dict[str, Any]]:
    """Validate and create an upload (201); with an `Idempotency-Key`, the upload the key
    already made is answered instead (`create_idempotent`)."""
    idempotency_key = idempotency.key_from(request.headers)
    wanted = validate_create(
        parse_json_body(request.body, is_base64=request.is_base64), deps.settings
    )
    if idempotency_key is None:
        return 201, new_upload(deps, request, tenant, wanted, deps.new_id())
    return create_idempotent(deps, request, tenant, wanted, idempotency_key)


def create_idempotent(
    deps: Deps, request: Request, tenant: str, wanted: CreateUpload, idempotency_key: str
) -> tuple[int, dict[str, Any]]:
    """Create once per (tenant, key) within `idempotencyWindowSeconds` (runtime/idempotency.py):
    the first request creates (201); a retry with the same request gets the same upload, with
    freshly signed upload URLs while it is still pending_upload (201) and, once the bytes
    arrived, the record without any upload URL (200: a new write grant would break write-once).
    409 `idempotency_conflict` for a different request under the key, 409
    `idempotency_in_progress` (Retry-After) while the first request is still creating it.
    A replay is not a new presign: the per-tenant limits are not counted again."""
    store = idempotency.Keys(deps.store.ddb, deps.store.table)
    request_hash = idempotency.fingerprint(wanted)
    for _ in range(2):
        claim = store.claim(
            tenant=tenant,
            key=idempotency_key,
            request_hash=request_hash,
            upload_id=deps.new_id(),
            now=deps.clock(),
            window_seconds=deps.settings.idempotency_window_seconds,
        )
        # A claim taken over from a request that died may find its record already written.
        existing = deps.store.get(claim.upload_id)
        if claim.create and existing is None:
            try:
                made = new_upload(
                    deps, request, tenant, wanted, claim.upload_id, idempotency_item=claim.item
                )
            except Exception as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    store.release(claim)
                    raise
                existing = deps.store.get(claim.upload_id)
            else:
                store.created(claim)
                return 201, made
        if claim.create:
            store.created(claim)
        if existing is not None and existing.get("tenant") == tenant:
            return replay(deps, request, settle(deps, existing))
        # The upload the key named is gone (erased, or expired by TTL): the key is free again.
        store.forget(claim.item, claim.upload_id)
    raise TransientFault("the Idempotency-Key kept changing; retry")


def replay(deps: Deps, request: Request, record: UploadRecord) -> tuple[int, dict[str, Any]]:
    """The answer to a repeated create: fresh upload URLs for a pending upload whose bytes have
    not arrived, else the record."""
    status_url = f"{request.base_url}/v1/uploads/{record['upload_id']}"
    if (
        record["status"] == PENDING
        and not record.get("multipart_completed_at")
        and not _original_arrived(deps, record)
    ):
        return 201, upload_grant(deps, record, status_url)
    return 200, {**deps.view(record), "status_url": status_url}


def _original_arrived(deps: Deps, record: UploadRecord) -> bool:
    """Whether the bytes of a PUT or POST upload are in the bucket although the record is still
    pending (its S3 event not processed yet): then no new grant is signed. A PUT grant could
    not overwrite them (if-none-match), but a POST form could, as a new version."""
    if record["method"] not in ("PUT", "POST"):
        return False  # multipart: the object exists only once `complete` marked the record
    listed = deps.s3.list_object_versions(
        Bucket=deps.resources.bucket, Prefix=record["key"], MaxKeys=1
    )
    return any(v["Key"] == record["key"] for v in listed.get("Versions", []))


def upload_grant(deps: Deps, record: UploadRecord, status_url: str) -> dict[str, Any]:
    """Freshly signed URLs (the full presignTtlSeconds) for a pending upload's existing key, in
    the shape `new_upload` answers (a multipart upload: its first page of part URLs)."""
    settings, resources = deps.settings, deps.resources
    ttl = settings.presign_ttl_seconds
    response: dict[str, Any] = {
        "upload_id": record["upload_id"],
        "key": record["key"],
        "method": record["method"],
        "expires_at": iso(deps.clock() + timedelta(seconds=ttl)),
        "status_url": status_url,
    }
    common = {
        "bucket": resources.bucket,
        "key": record["key"],
        "content_type": record["content_type"],
        "kms_key_arn": resources.kms_key_arn,
    }
    if record["method"] == "PUT":
        put = signing.presign_put(
            deps.s3, **common, size=record["size"], ttl=ttl, sha256_hex=record.get("sha256")
        )
        response.update(url=put.url, headers=put.headers)
    elif record["method"] == "POST":
        post = signing.presign_post(deps.s3, **common, size=record["size"], ttl=ttl)
        response.update(url=post.url, fields=post.fields)
    else:
        part_size = record.get("part_size") or signing.part_size_for(
            record["size"], settings.multipart_part_bytes
        )
        sizes = signing.part_plan(record["size"], part_size)
        checksums = record.get("part_sha256") or None
        first = list(range(1, min(len(sizes), signing.PARTS_PAGE_SIZE) + 1))
        parts = signing.presign_parts(
            deps.s3,
            bucket=resources.bucket,
            key=record["key"],
            multipart_id=record["multipart_upload_id"],
            sizes=sizes,
            ttl=ttl,
            numbers=first,
            checksums=checksums,
        )
        response.update(
            url=f"{status_url}/complete",
            part_size=part_size,
            part_count=len(sizes),
            parts=[p.to_json() for p in parts],
            parts_url=f"{status_url}/parts",
            next_cursor=str(first[-1]) if first[-1] < len(sizes) else None,
        )
        if checksums:
            response["checksum_algorithm"] = "SHA256"
    return response


def new_upload(
    deps: Deps,
    request: Request,
    tenant: str,
    wanted: CreateUpload,
    upload_id: str,
    *,
    idempotency_item: str | None = None,
) -> dict[str, Any]:
    """Presign (PUT, POST or multipart) and store a pending record `upload_id`."""
    settings, resources = deps.settings, deps.resources
    now = deps.clock()
    # Per-tenant limits (429 with Retry-After, 413 quota_exceeded), lifted by the operator scope.
    limits.admit_create(
        deps.store.ddb,
        deps.store.table,
        settings,
        request,
        tenant=tenant,
        size=wanted.size,
        now=now,
    )
    key = keys.original_key(settings, tenant, upload_id, wanted.content_type, now)
    ttl = settings.presign_ttl_seconds
    status_url = f"{request.base_url}/v1/uploads/{upload_id}"
    record: UploadRecord = {
        "upload_id": upload_id,
        "tenant": tenant,
        "status": PENDING,
        "key": key,
        "filename": wanted.filename,
        "method": wanted.method,
        "content_type": wanted.content_type,
        "size": wanted.size,
        "metadata": wanted.metadata,
        "created_at": iso(now),
        "updated_at": iso(now),
        # S3 events carry no request id: the record carries it to the processor and its event.
        "correlation_id": correlation_id(request),
        # Outlive the URL, so an upload made at the last second still finds its record.
        "ttl": epoch(now) + max(settings.pending_ttl_seconds, ttl + 3600),
    }
    # Counted among the tenant's pending uploads until it leaves pending_upload or expires.
    record["item_tenant"] = tenant
    record["item_sort"] = limits.pending_sort(record["ttl"])
    if wanted.sha256:
        record["sha256"] = wanted.sha256
    if idempotency_item:
        # A purge of the upload forgets its Idempotency-Key too.
        record["idempotency_item"] = idempotency_item
    response: dict[str, Any] = {
        "upload_id": upload_id,
        "key": key,
        "method": wanted.method,
        "expires_at": iso(now + timedelta(seconds=ttl)),
        "status_url": status_url,
    }
    common = {
        "bucket": resources.bucket,
        "key": key,
        "content_type": wanted.content_type,
        "kms_key_arn": resources.kms_key_arn,
    }
    if wanted.method == "PUT":
        put = signing.presign_put(
            deps.s3, **common, size=wanted.size, ttl=ttl, sha256_hex=wanted.sha256
        )
        response.update(url=put.url, headers=put.headers)
    elif wanted.method == "POST":
        post = signing.presign_post(deps.s3, **common, size=wanted.size, ttl=ttl)
        response.update(url=post.url, fields=post.fields)
    else:
        checksums = [signing.sha256_base64(h) for h in wanted.part_sha256]
        multipart_id = signing.start_multipart(deps.s3, **common, checksum_sha256=bool(checksums))
        part_size = wanted.part_size or signing.part_size_for(
            wanted.size, settings.multipart_part_bytes
        )
        sizes = signing.part_plan(wanted.size, part_size)
        record["multipart_upload_id"] = multipart_id
        record["part_size"] = part_size
        record["part_count"] = len(sizes)
        if checksums:
            record["part_sha256"] = checksums
        # The first page of part URLs; GET .../parts?cursor=next_cursor has the rest.
        first = list(range(1, min(len(sizes), signing.PARTS_PAGE_SIZE) + 1))
        parts = signing.presign_parts(
            deps.s3,
            bucket=resources.bucket,
            key=key,
            multipart_id=multipart_id,
            sizes=sizes,
            ttl=ttl,
            numbers=first,
            checksums=checksums or None,
        )
        response.update(
            url=f"{status_url}/complete",
            part_size=part_size,
            part_count=len(sizes),
            parts=[p.to_json() for p in parts],
            parts_url=f"{status_url}/parts",
            next_cursor=str(first[-1]) if first[-1] < len(sizes) else None,
        )
        if checksums:
            response["checksum_algorithm"] = "SHA256"
    deps.store.create(record)
    return response


def tenant_usage(deps: Deps, tenant: str) -> dict[str, Any]:
    """`GET /v1/usage`: the tenant's stored originals (bytes, objects), its pending uploads and
    the quota (null when off), computed from its records now (`runtime.limits.usage`)."""
    found = limits.usage(deps.store.ddb, deps.store.table, tenant, now=deps.clock())
    return found.to_json(deps.settings.storage_quota_bytes)


def check_health(deps: Deps) -> tuple[int, Any]:
    """`GET /v1/health`: 200 `{status: ok, checks}` or 503 naming the failing component
    (`runtime.health`; cached per instance for `healthCacheSeconds`)."""
    result = health.health(
        deps.store.ddb,
        deps.store.table,
        deps.s3,
        deps.resources.bucket,
        cache_seconds=deps.settings.health_cache_seconds,
    )
    return result.status, result.body


# The query parameters of GET /v1/uploads; any other is refused (a misspelt `?stauts=failed`
# must not silently list everything).
LIST_PARAMETERS = frozenset({"cursor", "status", "created_after", "created_before", "limit"})
MAX_LIST_LIMIT = 100
_MAX_TIMESTAMP_LENGTH = 40


def list_uploads(deps: Deps, request: Request, tenant: str) -> dict[str, Any]:
    """One page of the tenant's uploads, newest first, filtered by `status` and a created_at
    range (`created_after` < created_at < `created_before`), `limit` records at most; the
    `next_cursor` continues exactly this listing (runtime/cursors.py)."""
    where, limit = list_query(request, deps.settings)
    cursor_keys = cursors.CursorKeys(cursors.parse_keys(deps.resources.cursor_keys), deps.kms)
    cursor = request.query.get("cursor")
    after = cursor_keys.decode(cursor, tenant, where) if cursor is not None else None
    page = deps.store.list_for_tenant(tenant, limit=limit, after=after, where=where)
    next_cursor = cursor_keys.encode(tenant, where, page.after) if page.after else None
    # Each listed record is settled as GET settles it: past its restore window, erased.
    items = [deps.view(settle(deps, r)) for r in page.items]
    return {"items": items, "next_cursor": next_cursor}


def list_query(request: Request, settings: Settings) -> tuple[ListFilter, int]:
    """The listing's filters and page size from the query string; 400 for anything else."""
    query = request.query
    unknown = sorted(set(query) - LIST_PARAMETERS)
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0][:64]!r}", code="unknown_field")
    status = query.get("status")
    if status is not None and status not in TRANSITIONS:
        raise BadRequest(f"status must be one of {', '.join(TRANSITIONS)}", code="invalid_field")
    created_after = _timestamp(query, "created_after")
    created_before = _timestamp(query, "created_before")
    if created_after and created_before and created_after >= created_before:
        raise BadRequest("created_after must be before created_before", code="invalid_field")
    limit = settings.list_page_size
    raw = query.get("limit")
    if raw is not None:
        if not re.fullmatch(r"\d{1,3}", raw) or not 1 <= int(raw) <= MAX_LIST_LIMIT:
            raise BadRequest(f"limit must be an integer 1..{MAX_LIST_LIMIT}", code="invalid_field")
        limit = int(raw)
    return ListFilter(status, created_after, created_before), limit


def _timestamp(query: dict[str, str], name: str) -> str | None:
    """An ISO-8601 date (UTC midnight) or date-time with a UTC offset, as the records write
    timestamps (UTC, milliseconds); 400 for anything else."""
    raw = query.get(name)
    if raw is None:
        return None
    problem = BadRequest(
        f"{name} must be an ISO-8601 date or date-time with a time zone (2026-03-01, "
        "2026-03-01T12:00:00Z)",
        code="invalid_field",
    )
    if len(raw) > _MAX_TIMESTAMP_LENGTH or not raw.isascii():
        raise problem
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            moment = datetime.fromisoformat(raw).replace(tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(raw)
    except ValueError:
        raise problem from None
    if moment.tzinfo is None or not 1970 <= moment.astimezone(UTC).year <= 9998:
        raise problem
    return iso(moment)


def complete_upload(deps: Deps, request: Request, tenant: str, upload_id: str) -> dict[str, Any]:
    """Finish a multipart upload with the client's part ETags; the S3 event does the rest."""
    record = owned_record(deps, tenant, upload_id)
    multipart_id = record.get("multipart_upload_id")
    if not multipart_id:
        raise Conflict("this upload is not a multipart upload", code="not_multipart")
    if record["status"] != PENDING or record.get("multipart_completed_at"):
        raise Conflict(f"the upload is {record['status']}, not pending", code="not_pending")
    parts = validate_complete(parse_json_body(request.body, is_base64=request.is_base64))
    count = record.get("part_count")
    if count and [p.part_number for p in parts] != list(range(1, count + 1)):
        # Fewer parts would assemble a shorter object than was declared; S3 would take it.
        raise BadRequest(f"complete needs every part 1..{count} exactly once", code="invalid_parts")
    try:
        signing.complete_multipart(
            deps.s3,
            bucket=deps.resources.bucket,
            key=record["key"],
            multipart_id=multipart_id,
            parts=parts,
            checksums=record.get("part_sha256"),
        )
    except Exception as exc:
        code = error_code(exc)
        if code in {
            "InvalidPart",
            "InvalidPartOrder",
            "EntityTooSmall",
            "MalformedXML",
            "InvalidRequest",
            "BadDigest",
        }:
            raise BadRequest(f"S3 rejected the parts: {code}", code="invalid_parts") from None
        if code == "NoSuchUpload":
            raise Conflict("the multipart upload is no longer open", code="not_pending") from None
        if code == "PreconditionFailed":
            raise Conflict("the object already exists", code="already_exists") from None
        raise
    updated = deps.store.mark_multipart_completed(upload_id, tenant, deps.clock())
    if updated is None:
        # S3 accepted the parts, so the object exists: its event may already have reached the
        # processor and moved the record past pending. That is this completion succeeding.
        fresh = deps.store.get(upload_id)
        if fresh is None or fresh["status"] in (PENDING, DELETED):
            raise Conflict("the upload was completed concurrently", code="not_pending")
        return deps.view(fresh)
    return deps.view(updated)


def _part_window(request: Request, count: int) -> tuple[int, int]:
    """The page of part numbers asked for: after `cursor` (a part number, default 0), at most
    `limit` (1..PARTS_PAGE_SIZE, default the most)."""
    cursor, limit = request.query.get("cursor"), request.query.get("limit")
    after = 0
    if cursor is not None:
        if not re.fullmatch(r"\d{1,5}", cursor) or int(cursor) > count:
            raise BadRequest(f"cursor must be a part number 0..{count}", code="invalid_cursor")
        after = int(cursor)
    size = signing.PARTS_PAGE_SIZE
    if limit is not None:
        if not re.fullmatch(r"\d{1,4}", limit) or not 1 <= int(limit) <= size:
            raise BadRequest(f"limit must be an integer 1..{size}", code="invalid_field")
        size = int(limit)
    return after, min(count, after + size)


def upload_parts(deps: Deps, request: Request, tenant: str, upload_id: str) -> dict[str, Any]:
    """Resume a multipart upload: the parts S3 already holds in one page of part numbers, and
    fresh URLs (the full presign TTL) for the missing ones. Owner only, while pending_upload."""
    record = owned_record(deps, tenant, upload_id)
    multipart_id = record.get("multipart_upload_id")
    if not multipart_id:
        raise Conflict("this upload is not a multipart upload", code="not_multipart")
    if record["status"] != PENDING or record.get("multipart_completed_at"):
        raise Conflict(f"the upload is {record['status']}, not pending", code="not_pending")
    part_size = record.get("part_size") or signing.part_size_for(
        record["size"], deps.settings.multipart_part_bytes
    )
    sizes = signing.part_plan(record["size"], part_size)
    after, up_to = _part_window(request, len(sizes))
    checksums = record.get("part_sha256") or None
    bucket = deps.resources.bucket
    try:
        stored = signing.list_parts(
            deps.s3, bucket=bucket, key=record["key"], multipart_id=multipart_id,
            after=after, up_to=up_to,
        )  # fmt: skip
    except Exception as exc:
        if error_code(exc) == "NoSuchUpload":
            raise Conflict("the multipart upload is no longer open", code="not_pending") from None
        raise
    # A part whose size is not the plan's (none can be: each URL signs its length) is resent.
    held = {p.part_number: p for p in stored if p.size == sizes[p.part_number - 1]}
    missing = [n for n in range(after + 1, up_to + 1) if n not in held]
    ttl = deps.settings.presign_ttl_seconds
    urls = signing.presign_parts(
        deps.s3, bucket=bucket, key=record["key"], multipart_id=multipart_id, sizes=sizes,
        ttl=ttl, numbers=missing, checksums=checksums,
    )  # fmt: skip
    uploaded = []
    for number in sorted(held):
        part = held[number]
        entry: dict[str, Any] = {"part_number": number, "etag": part.etag, "size": part.size}
        checksum = part.checksum_sha256 or (checksums[number - 1] if checksums else None)
        if checksum:
            entry["sha256"] = signing.sha256_hex_of(checksum)
        uploaded.append(entry)
    answer: dict[str, Any] = {
        "upload_id": upload_id,
        "status": record["status"],
        "part_size": part_size,
        "part_count": len(sizes),
        "uploaded": uploaded,
        "parts": [p.to_json() for p in urls],
        "expires_at": iso(deps.clock() + timedelta(seconds=ttl)),
        "next_cursor": str(up_to) if up_to < len(sizes) else None,
        "url": f"{request.base_url}/v1/uploads/{upload_id}/complete",
    }
    if checksums:
        answer["checksum_algorithm"] = "SHA256"
    return answer


def download_upload(deps: Deps, request: Request, tenant: str, upload_id: str) -> dict[str, Any]:
    """A short-lived GET of the validated original, for its tenant, once completed; the caller
    is recorded as the last downloader. With malware scanning on, the original's scan tag must
    say NO_THREATS_FOUND first (`malware.require_clean`: 409 scan_pending, malware, scan_failed)."""
    record = owned_record(deps, tenant, upload_id)
    if record["status"] != COMPLETED or not record.get("version_id"):
        raise Conflict(f"the upload is {record['status']}, not completed", code="not_completed")
    by = acting_subject(request)
    # malwareScanning on: only once GuardDuty tagged the validated version NO_THREATS_FOUND.
    malware.require_clean(deps.s3, deps.settings, bucket=deps.resources.bucket, record=record)
    now = deps.clock()
    ttl = deps.settings.download_ttl_seconds
    url, _ = downloads.presign(deps.s3, bucket=deps.resources.bucket, record=record, ttl=ttl)
    if deps.store.record_download(upload_id, tenant, now, by=by) is None:
        raise Conflict("the upload changed while the download was prepared", code="not_completed")
    return {"url": url, "expires_at": iso(now + timedelta(seconds=ttl))}


def purge_requested(request: Request) -> bool:
    """`?purge=true` (or `false`); anything else is a 400, never a silent soft delete."""
    value = request.query.get("purge")
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise BadRequest("purge must be true or false", code="invalid_field")


def delete_upload(deps: Deps, request: Request, tenant: str, upload_id: str) -> dict[str, Any]:
    """Soft delete (`delete`, or `abort` of a pending upload) or, with `?purge=true`, `purge`.

    Soft: the record is marked first, so a processing run that completes before the mark has
    written its derivatives already and the listing below finds them, and one that completes
    after it fails its conditional write and removes its own. The original and every current
    object under the upload's derivative prefix (whatever specs wrote them) are deleted by key:
    their versions stay noncurrent for the restore window. A repeated DELETE removes the objects
    again (idempotent) before answering 409, so a retry after a failed removal still cleans up."""
    purge = purge_requested(request)
    record = owned_record(deps, tenant, upload_id)
    operation = scopes.delete_operation(pending=record["status"] == PENDING, purge=purge)
    scopes.require(request, deps.settings, operation)
    by = acting_subject(request)
    if purge:
        return purge_upload(deps, record, by)
    updated = None
    if record["status"] != DELETED:
        _abort_multipart(deps, record)
        updated = _mark_deleted(deps, record, by)
        if updated is None and operation == "abort":
            # Processing finished between the read and the abort's write (conditioned on
            # pending_upload): decide again on what the upload is now, with that scope.
            record = owned_record(deps, tenant, upload_id)
            pending = record["status"] == PENDING
            scopes.require(
                request, deps.settings, scopes.delete_operation(pending=pending, purge=False)
            )
            if record["status"] != DELETED:
                updated = _mark_deleted(deps, record, by)
    _remove_current(deps, record)
    if updated is None:
        fresh = deps.store.get(upload_id)
        if fresh is not None and fresh["status"] == DELETED and not fresh.get("notified_at"):
            # The first DELETE's event did not go out (PutEvents failed): this retry sends it.
            _announce(deps, events.DELETED, fresh, fresh.get("deleted_by", by))
        raise Conflict("the upload is already deleted", code="already_deleted")
    _announce(deps, events.DELETED, updated, by)
    return deps.view(updated)


def _mark_deleted(deps: Deps, record: UploadRecord, by: str) -> UploadRecord | None:
    """Soft delete; an abort (a pending record, no admin scope needed) only while still pending."""
    return deps.store.mark_deleted(
        record["upload_id"],
        record["tenant"],
        deps.clock(),
        by=by,
        window_days=deps.settings.noncurrent_expiration_days,
        pending_only=record["status"] == PENDING,
    )


def purge_upload(deps: Deps, record: UploadRecord, by: str) -> dict[str, Any]:
    """Erase the record to a tombstone at once, then remove every version and delete marker of
    the original and of everything under the derivative prefix. Repeatable: a retry removes
    whatever a failed or raced run left."""
    purged = None
    for _ in range(5):
        _abort_multipart(deps, record)
        purged = deps.store.purge(
            record, deps.clock(), by=by, window_days=deps.settings.noncurrent_expiration_days
        )
        if purged is not None:
            break
        # A transition raced the read (the processor finished, say): read and erase again.
        record = owned_record(deps, record["tenant"], record["upload_id"])
    if purged is None:
        raise TransientFault(f"upload {record['upload_id']} kept changing; retry the purge")
    _remove_versions(deps, record)
    if record.get("idempotency_item"):
        # A retried create must not answer with (or count as) the purged upload.
        keys_store = idempotency.Keys(deps.store.ddb, deps.store.table)
        keys_store.forget(record["idempotency_item"], record["upload_id"])
    delivery.invalidate_upload(deps.settings, deps.resources, record, deps.cloudfront)
    _announce(deps, events.PURGED, purged, by)
    return deps.view(purged)


def restore_upload(deps: Deps, request: Request, tenant: str, upload_id: str) -> dict[str, Any]:
    """Bring a deleted upload back inside its restore window: the validated version is copied
    back as the current original (a new version whose ObjectCreated:Copy event the processor
    takes the record on: restoring -> processing -> completed, derivatives rendered again, the
    bytes checked against the recorded sha256). 410 `gone` once the window closed, or after a
    purge; 409 for an upload that is not deleted or never had a validated original."""
    record = owned_record(deps, tenant, upload_id)
    by = acting_subject(request)
    now, window = deps.clock(), deps.settings.noncurrent_expiration_days
    marked: UploadRecord | None
    before: UploadRecord | None = None
    if record["status"] == RESTORING and not record.get("restore_version_id"):
        # A restore that stopped before its copy was recorded: the retry finishes it, inside
        # the window only; past it the record goes back to deleted (with its TTL) and is gone.
        if record.get("purged_at") or not window_open(record, now, window):
            deps.store.unmark_restoring(record, now, window_days=window)
            raise Gone("the restore window of this upload has closed", code="gone")
        marked = record
    elif record["status"] != DELETED:
        raise Conflict(f"the upload is {record['status']}, not deleted", code="not_deleted")
    elif record.get("purged_at") or not window_open(record, now, window):
        raise Gone("the restore window of this upload has closed", code="gone")
    elif not record.get("version_id") or record.get("expired_at"):
        raise Conflict("the upload has no validated original to restore", code="not_restorable")
    else:
        # malwareScanning on: the copy reads the validated version, which the bucket's tag-based
        # deny (and the download gate) lets through only once it was scanned clean.
        malware.require_clean(deps.s3, deps.settings, bucket=deps.resources.bucket, record=record)
        before = record
        marked = deps.store.mark_restoring(upload_id, tenant, now, by=by, window_days=window)
    if marked is None:
        raise Conflict("the upload changed while it was restored", code="restore_conflict")
    bucket = deps.resources.bucket
    try:
        copied = deps.s3.copy_object(
            Bucket=bucket,
            Key=marked["key"],
            CopySource={"Bucket": bucket, "Key": marked["key"], "VersionId": marked["version_id"]},
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=deps.resources.kms_key_arn,
        )
    except Exception as exc:
        # No copy was written: put the record back to deleted, its TTL and fields as they were,
        # instead of leaving it restoring (no TTL, personal fields kept) for good.
        deps.store.unmark_restoring(marked, deps.clock(), window_days=window, before=before)
        if is_not_found(exc):
            raise Gone("the original's version is gone", code="gone") from None
        raise
    restored = deps.store.set_restore_version(upload_id, copied["VersionId"], deps.clock())
    if restored is None:
        raise Conflict("the upload changed while it was restored", code="restore_conflict")
    _announce(deps, events.RESTORED, restored, by)
    return deps.view(restored)


def _abort_multipart(deps: Deps, record: UploadRecord) -> None:
    multipart_id = record.get("multipart_upload_id")
    if not multipart_id or record["status"] != PENDING:
        return
    try:
        deps.s3.abort_multipart_upload(
            Bucket=deps.resources.bucket, Key=record["key"], UploadId=multipart_id
        )
    except Exception as exc:
        if error_code(exc) != "NoSuchUpload" and not is_not_found(exc):
            raise


def _derivative_prefix(deps: Deps, record: UploadRecord) -> str:
    return keys.derivative_prefix(deps.settings, record["tenant"], record["upload_id"])


def _remove_current(deps: Deps, record: UploadRecord) -> None:
    """Delete by key the original and every current object under the derivative prefix."""
    doomed = [record["key"]]
    paginator = deps.s3.get_paginator("list_objects_v2")
    pages = paginator.paginate(
        Bucket=deps.resources.bucket, Prefix=_derivative_prefix(deps, record)
    )
    for page in pages:
        doomed.extend(o["Key"] for o in page.get("Contents", []))
    _delete(deps, [{"Key": k} for k in doomed])
    # Public mode: the edge forgets them too (explicit paths, retried; 503 if still refused).
    delivery.invalidate_upload(
        deps.settings, deps.resources, record, deps.cloudfront, listed=doomed
    )


def _remove_versions(deps: Deps, record: UploadRecord) -> None:
    """Delete every version and delete marker of the original and of the derivatives."""
    doomed: list[dict[str, str]] = []
    paginator = deps.s3.get_paginator("list_object_versions")
    for prefix, exact in ((record["key"], True), (_derivative_prefix(deps, record), False)):
        for page in paginator.paginate(Bucket=deps.resources.bucket, Prefix=prefix):
            for entry in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if not exact or entry["Key"] == record["key"]:
                    doomed.append({"Key": entry["Key"], "VersionId": entry["VersionId"]})
    _delete(deps, doomed)


def _delete(deps: Deps, objects: list[dict[str, str]]) -> None:
    """DeleteObjects in batches of 1000; keys S3 refused make the request fail (retryable)."""
    for start in range(0, len(objects), 1000):
        batch: Any = objects[start : start + 1000]
        response = deps.s3.delete_objects(
            Bucket=deps.resources.bucket, Delete={"Objects": batch, "Quiet": True}
        )
        if response.get("Errors"):
            first = response["Errors"][0]
            raise TransientFault(f"could not delete {first.get('Key')}: {first.get('Code')}")


def _announce(deps: Deps, detail_type: str, record: UploadRecord, by: str) -> None:
    """PutEvents the thin event with the acting subject, then remember it went out."""
    bus = deps.resources.event_bus
    events.publish(deps.events(), bus, detail_type, events.detail(record, by=by))
    deps.store.mark_notified(record["upload_id"], deps.clock(), record["status"])

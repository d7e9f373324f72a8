"""The HTTP API's routes as functions of (request, dependencies) -> (status, JSON body)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from runtime import claims, keys, scopes, signing
from runtime.aws import error_code, is_not_found
from runtime.errors import (
    BadRequest,
    Conflict,
    MethodNotAllowed,
    NotFound,
    TransientFault,
    Unauthorized,
)
from runtime.http import Request
from runtime.records import (
    DELETED,
    PENDING,
    Store,
    UploadRecord,
    epoch,
    iso,
    public_view,
)
from runtime.settings import Resources, Settings
from runtime.validation import parse_json_body, validate_complete, validate_create

if TYPE_CHECKING:
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

    def view(self, record: UploadRecord) -> dict[str, Any]:
        return public_view(record, signing.derivative_urls(self.s3, self.resources, self.settings))


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


def _path(template: str) -> re.Pattern[str]:
    return re.compile(template.replace("{id}", _ID) + "/?")


ROUTES: tuple[Route, ...] = (
    Route("POST", _path("/v1/uploads"), "create", lambda d, r, t, m: (201, create_upload(d, r, t))),
    Route(
        "GET",
        _path("/v1/uploads"),
        "list",
        lambda d, r, t, m: (200, list_uploads(d, t, r.query.get("cursor"))),
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
    tenant = tenant_of(request, deps.settings)
    found, match = chosen[0]
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
    return record


def create_upload(deps: Deps, request: Request, tenant: str) -> dict[str, Any]:
    """Validate, presign (PUT, POST or multipart) and store a pending record."""
    settings, resources = deps.settings, deps.resources
    wanted = validate_create(parse_json_body(request.body, is_base64=request.is_base64), settings)
    now = deps.clock()
    upload_id = deps.new_id()
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
    if wanted.sha256:
        record["sha256"] = wanted.sha256
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
        multipart_id = signing.start_multipart(deps.s3, **common)
        record["multipart_upload_id"] = multipart_id
        sizes = signing.part_plan(wanted.size, settings.multipart_part_bytes)
        parts = signing.presign_parts(
            deps.s3,
            bucket=resources.bucket,
            key=key,
            multipart_id=multipart_id,
            sizes=sizes,
            ttl=ttl,
        )
        response.update(
            url=f"{status_url}/complete",
            part_size=sizes[0],
            parts=[p.to_json() for p in parts],
        )
    deps.store.create(record)
    return response


def list_uploads(deps: Deps, tenant: str, cursor: str | None) -> dict[str, Any]:
    page = deps.store.list_for_tenant(tenant, limit=deps.settings.list_page_size, cursor=cursor)
    return {"items": [deps.view(r) for r in page.items], "next_cursor": page.next_cursor}


def complete_upload(deps: Deps, request: Request, tenant: str, upload_id: str) -> dict[str, Any]:
    """Finish a multipart upload with the client's part ETags; the S3 event does the rest."""
    record = owned_record(deps, tenant, upload_id)
    multipart_id = record.get("multipart_upload_id")
    if not multipart_id:
        raise Conflict("this upload is not a multipart upload", code="not_multipart")
    if record["status"] != PENDING or record.get("multipart_completed_at"):
        raise Conflict(f"the upload is {record['status']}, not pending", code="not_pending")
    parts = validate_complete(parse_json_body(request.body, is_base64=request.is_base64))
    try:
        signing.complete_multipart(
            deps.s3,
            bucket=deps.resources.bucket,
            key=record["key"],
            multipart_id=multipart_id,
            parts=parts,
        )
    except Exception as exc:
        code = error_code(exc)
        if code in {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML"}:
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


def delete_upload(deps: Deps, request: Request, tenant: str, upload_id: str) -> dict[str, Any]:
    """Mark the record deleted, then remove the original and every derivative (409 twice).

    The record is marked first: a processing run that completes before the mark has written its
    derivatives already, so the removal below catches them; one that completes after it fails
    its conditional write and removes its own. A repeated DELETE removes the objects again
    (idempotent) before answering 409, so a retry after a failed removal still cleans up."""
    record = owned_record(deps, tenant, upload_id)
    operation = scopes.delete_operation(pending=record["status"] == PENDING, purge=False)
    scopes.require(request, deps.settings, operation)
    bucket = deps.resources.bucket
    updated = None
    if record["status"] != DELETED:
        multipart_id = record.get("multipart_upload_id")
        if multipart_id and record["status"] == PENDING:
            try:
                deps.s3.abort_multipart_upload(
                    Bucket=bucket, Key=record["key"], UploadId=multipart_id
                )
            except Exception as exc:
                if error_code(exc) != "NoSuchUpload" and not is_not_found(exc):
                    raise
        updated = deps.store.mark_deleted(upload_id, tenant, deps.clock())
    # Every key the processor could have written, not only the recorded ones: a processing run
    # racing this delete may have stored derivatives it has not recorded yet.
    doomed = {record["key"]}
    doomed.update(d["key"] for d in record.get("derivatives", []))
    doomed.update(
        keys.derivative_key(deps.settings, tenant, upload_id, spec.name, spec.format)
        for spec in deps.settings.derivatives
    )
    response = deps.s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": k} for k in sorted(doomed)], "Quiet": True}
    )
    if response.get("Errors"):
        first = response["Errors"][0]
        raise TransientFault(f"could not delete {first.get('Key')}: {first.get('Code')}")
    if updated is None:
        raise Conflict("the upload is already deleted", code="already_deleted")
    return deps.view(updated)

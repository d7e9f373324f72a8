"""API Gateway HTTP API (payload v2) requests and responses; errors map to HTTP status here only."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from runtime.aws import is_transient
from runtime.errors import MediakitError, TooManyRequests, TransientFault

log = logging.getLogger(__name__)

# API responses carry upload URLs and per-tenant data: never cache, never sniff.
BASE_HEADERS = {
    "content-type": "application/json",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}


class HttpResponse(TypedDict):
    statusCode: int
    headers: dict[str, str]
    body: str


@dataclass(frozen=True)
class Request:
    """The parts of an API GW v2 event the routes use; `path` has any stage prefix removed."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    is_base64: bool = False
    claims: dict[str, Any] = field(default_factory=dict)
    base_url: str = ""
    # API Gateway's id of this request (requestContext.requestId).
    request_id: str = ""


def parse_request(event: Mapping[str, Any]) -> Request:
    """Read method, path, query, body and JWT claims from an HTTP API v2 event."""
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    method = str(http.get("method") or event.get("httpMethod") or "GET").upper()
    path = str(event.get("rawPath") or http.get("path") or "/")
    stage = str(context.get("stage") or "$default")
    prefix = "" if stage == "$default" else f"/{stage}"
    if prefix and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix) :] or "/"
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    host = str(context.get("domainName") or headers.get("host") or "")
    scheme = headers.get("x-forwarded-proto", "https")
    return Request(
        method=method,
        path=path,
        query={str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()},
        headers=headers,
        body=event.get("body"),
        is_base64=bool(event.get("isBase64Encoded")),
        claims=dict(claims) if isinstance(claims, Mapping) else {},
        base_url=f"{scheme}://{host}{prefix}" if host else prefix,
        request_id=str(context.get("requestId") or ""),
    )


def json_response(status: int, body: Any) -> HttpResponse:
    return {
        "statusCode": status,
        "headers": dict(BASE_HEADERS),
        "body": json.dumps(body, separators=(",", ":"), default=str),
    }


def error_response(exc: BaseException) -> HttpResponse:
    """The one mapping from exceptions to HTTP errors."""
    if isinstance(exc, MediakitError) and not isinstance(exc, TransientFault):
        if exc.http_status >= 500:
            log.error("request failed: %s", exc.message, exc_info=exc)
        response = json_response(exc.http_status, exc.to_body())
        if isinstance(exc, TooManyRequests):
            response["headers"]["retry-after"] = str(exc.retry_after)
        elif isinstance(getattr(exc, "retry_after", None), int):
            # Any other error that says when to come back (409 idempotency_in_progress).
            response["headers"]["retry-after"] = str(getattr(exc, "retry_after"))  # noqa: B009
        return response
    if is_transient(exc):
        log.warning("transient failure: %r", exc)
        fault = TransientFault("the service is busy, retry shortly", code="service_unavailable")
        return json_response(503, fault.to_body())
    log.error("unexpected error", exc_info=exc)
    return json_response(500, MediakitError("internal error").to_body())


def handle(event: Mapping[str, Any], route: Callable[[Request], tuple[int, Any]]) -> HttpResponse:
    """Parse, route, shape: any exception becomes the JSON error body."""
    try:
        status, body = route(parse_request(event))
    except Exception as exc:
        return error_response(exc)
    return json_response(status, body)

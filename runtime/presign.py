"""Lambda entry point of the HTTP API (`runtime.presign.handler`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from runtime import api, config, telemetry
from runtime.errors import SettingsError
from runtime.http import HttpResponse, Request, handle


def handler(event: Mapping[str, Any], context: object) -> HttpResponse:
    """API Gateway HTTP API (payload v2) -> JSON response."""
    telemetry.configure_logging(telemetry.PRESIGN)
    metrics = telemetry.Recorder(telemetry.PRESIGN, _pipeline())
    response = handle(event, measured(metrics, lambda r: api.route(r, api.default_deps())))
    measure_error(metrics, response)
    metrics.flush()
    return response


def _pipeline() -> str:
    try:
        return config.resources().pipeline
    except SettingsError:
        # Misconfigured resources are answered as a 500 by the route; metrics still go out.
        return ""


def measured(
    metrics: telemetry.Recorder, route: Callable[[Request], tuple[int, Any]]
) -> Callable[[Request], tuple[int, Any]]:
    """`route`, counting each upload it creates by method (from the result, before it is
    serialised: a multipart answer can carry thousands of part URLs)."""

    def counted(request: Request) -> tuple[int, Any]:
        status, body = route(request)
        if status == 201 and isinstance(body, Mapping):
            metrics.add_by(telemetry.PRESIGNS, "method", str(body.get("method", "")))
        return status, body

    return counted


def measure_error(metrics: telemetry.Recorder, response: HttpResponse) -> None:
    """Client errors (4xx) by code, read back from the small JSON error body."""
    if not 400 <= int(response["statusCode"]) < 500:
        return
    try:
        body = json.loads(response.get("body") or "{}")
    except ValueError:
        return
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        metrics.add(telemetry.CLIENT_ERRORS)
        metrics.add_by(telemetry.CLIENT_ERRORS, "code", str(body["error"].get("code", "")))

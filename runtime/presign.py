"""Lambda entry point of the HTTP API (`runtime.presign.handler`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runtime import api, config, telemetry
from runtime.http import HttpResponse, handle


def handler(event: Mapping[str, Any], context: object) -> HttpResponse:
    """API Gateway HTTP API (payload v2) -> JSON response."""
    telemetry.configure_logging(telemetry.PRESIGN)
    response = handle(event, lambda request: api.route(request, api.default_deps()))
    metrics = telemetry.Recorder(telemetry.PRESIGN, _pipeline())
    measure(metrics, response)
    metrics.flush()
    return response


def _pipeline() -> str:
    try:
        return config.resources().pipeline
    except Exception:
        # Misconfigured resources are answered as a 500 by the route; metrics still go out.
        return ""


def measure(metrics: telemetry.Recorder, response: HttpResponse) -> None:
    """Presigns by method and client errors by code, read back from the answer itself."""
    status = int(response["statusCode"])
    if status != 201 and not 400 <= status < 500:
        return
    try:
        body = json.loads(response.get("body") or "{}")
    except ValueError:
        return
    if status == 201 and isinstance(body, dict):
        metrics.add_by(telemetry.PRESIGNS, "method", str(body.get("method", "")))
    elif isinstance(body, dict) and isinstance(body.get("error"), dict):
        metrics.add(telemetry.CLIENT_ERRORS)
        metrics.add_by(telemetry.CLIENT_ERRORS, "code", str(body["error"].get("code", "")))

"""Lambda entry point of the HTTP API (`runtime.presign.handler`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime import api
from runtime.http import HttpResponse, handle


def handler(event: Mapping[str, Any], context: object) -> HttpResponse:
    """API Gateway HTTP API (payload v2) -> JSON response."""
    return handle(event, lambda request: api.route(request, api.default_deps()))

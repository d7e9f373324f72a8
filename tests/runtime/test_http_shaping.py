"""API Gateway v2 request parsing and the one error mapping."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from rt_support import http_event

from runtime.errors import Conflict, NotFound, PayloadTooLarge
from runtime.http import error_response, handle, parse_request


def test_parse_request_reads_claims_query_and_base_url() -> None:
    # GIVEN the stored sample event with a query string
    event = http_event("GET", "/v1/uploads", claims={"sub": "t"}, query={"cursor": "abc"})
    # WHEN parsed
    request = parse_request(event)
    # THEN the routes see method, path, query, claims and the public base URL
    assert (request.method, request.path, request.query) == (
        "GET",
        "/v1/uploads",
        {"cursor": "abc"},
    )
    assert request.claims["sub"] == "t"
    assert request.base_url == "https://abc123.execute-api.eu-west-1.amazonaws.com"


def test_parse_request_strips_named_stage() -> None:
    event = http_event("GET", "/dev/v1/uploads/x", claims={"sub": "t"})
    event["requestContext"]["stage"] = "dev"
    request = parse_request(event)
    assert request.path == "/v1/uploads/x"
    assert request.base_url.endswith("/dev")


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (NotFound("x"), 404, "not_found"),
        (Conflict("x", code="already_deleted"), 409, "already_deleted"),
        (PayloadTooLarge("x"), 413, "too_large"),
        (
            ClientError(
                {
                    "Error": {"Code": "ProvisionedThroughputExceededException"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "PutItem",
            ),
            503,
            "service_unavailable",
        ),
        (RuntimeError("secret detail"), 500, "internal_error"),
    ],
)
def test_error_response_maps_status_and_code(exc: Exception, status: int, code: str) -> None:
    response = error_response(exc)
    body = json.loads(response["body"])
    assert (response["statusCode"], body["error"]["code"]) == (status, code)
    assert "secret detail" not in response["body"]
    assert response["headers"]["content-type"] == "application/json"


def test_handle_shapes_success() -> None:
    response = handle(http_event("GET", "/x", claims={"sub": "t"}), lambda r: (200, {"ok": r.path}))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"ok": "/x"}

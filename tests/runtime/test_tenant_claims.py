"""Tenant claims keep their JSON type: only a string names a tenant, whatever API Gateway's
stringified rendering of the claim looks like."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rt_support import Pipeline, bearer_token, http_event

from mediakit.local.gateway import claims_for_event
from runtime import api, claims
from runtime.errors import Forbidden, Unauthorized
from runtime.http import handle


def _list(pipeline: Pipeline, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = handle(event, lambda request: api.route(request, pipeline.api))
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize(
    "claim",
    [["acme"], ["a", "b"], {"t": "acme"}, 123, 1.5, True, None, "[acme]", "\ud800", "a\x00b"],
    ids=["array", "array2", "object", "int", "float", "bool", "null", "rendered", "lone", "ctrl"],
)
def test_non_string_or_unusable_claim_is_403(pipeline: Pipeline, claim: object) -> None:
    # GIVEN a verified token whose tenant claim is not a usable string
    event = http_event("GET", "/v1/uploads", claims={"sub": claim, "aud": "mediakit"})
    # WHEN it calls the API THEN it is refused with a JSON error, never a 500
    status, body = _list(pipeline, event)
    assert (status, body["error"]["code"]) == (403, "invalid_tenant")


def test_array_and_its_rendering_are_not_one_tenant(pipeline: Pipeline) -> None:
    # GIVEN API Gateway renders ["acme"] as "[acme]" in the claims it hands the Lambda
    assert claims_for_event({"sub": ["acme"]}) == {"sub": "[acme]"}
    # WHEN the claims alone would say "[acme]" THEN the token's array type still decides
    event = http_event("GET", "/v1/uploads", claims={"sub": ["acme"]})
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == "[acme]"
    assert _list(pipeline, event)[0] == 403


def test_number_and_its_digits_are_not_one_tenant(pipeline: Pipeline) -> None:
    # GIVEN the string "123" is a tenant
    assert _list(pipeline, http_event("GET", "/v1/uploads", claims={"sub": "123"}))[0] == 200
    # WHEN the number 123 arrives, rendered "123" THEN it is refused
    event = http_event("GET", "/v1/uploads", claims={"sub": 123})
    assert event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == "123"
    assert _list(pipeline, event)[0] == 403


def test_claims_that_disagree_with_the_token_are_refused() -> None:
    headers = {"authorization": f"Bearer {bearer_token({'sub': 'acme'})}"}
    with pytest.raises(Forbidden):
        claims.tenant_claim(headers, {"sub": "other"}, "sub")


@pytest.mark.parametrize(
    "authorization",
    ["", "Basic abc", "Bearer not-a-jwt", "Bearer a.!!!.c", "Bearer a.bnVsbA.c", "a.b.c.d.e"],
)
def test_unreadable_token_is_401(authorization: str) -> None:
    with pytest.raises(Unauthorized):
        claims.tenant_claim({"authorization": authorization}, {"sub": "acme"}, "sub")


def test_string_claim_becomes_the_tenant() -> None:
    headers = {"authorization": f"Bearer {bearer_token({'sub': 'acme corp'})}"}
    assert claims.tenant_claim(headers, {"sub": "acme corp"}, "sub") == "acme corp"


@pytest.mark.parametrize("form", ["Bearer {}", "bearer {}", "Bearer\t{}", "{}", "  Bearer   {} "])
def test_token_is_read_with_or_without_the_bearer_scheme(form: str) -> None:
    # API Gateway's JWT authorizer accepts the bare token too, so the handler must read it
    headers = {"authorization": form.format(bearer_token({"sub": "acme"}))}
    assert claims.tenant_claim(headers, {"sub": "acme"}, "sub") == "acme"

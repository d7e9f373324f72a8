"""`GET /v1/health` on moto: no token, 200 with every check ok, 503 naming the failing component,
no resource names or error text in the body, and one probe per cache period however many calls."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from rt_support import Pipeline, http_event

from runtime import api, health
from runtime.http import HttpResponse, handle


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """A client wrapper counting the calls that reach it."""

    def __init__(self, client: Any) -> None:
        self._client, self.calls = client, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return attr(*args, **kwargs)

        return counted


@pytest.fixture
def ticks(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Ticks:
    clock = Ticks()
    monkeypatch.setattr(health, "CACHE", health.Cache(clock=clock))
    # What the stack writes under health/ (stacks/storage.py), with the stack key.
    pipeline.s3.put_object(
        Bucket=pipeline.resources.bucket,
        Key=health.HEALTH_OBJECT_KEY,
        Body=health.HEALTH_OBJECT_BODY.encode(),
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=pipeline.resources.kms_key_arn,
    )
    return clock


def _health(pipeline: Pipeline, **headers: str) -> HttpResponse:
    # No authorizer on this route: the event has no claims at all.
    event = http_event("GET", "/v1/health", claims=None)
    event["headers"].pop("authorization", None)
    event["headers"].update(headers)
    return handle(event, lambda request: api.route(request, pipeline.api))


def _no_names(pipeline: Pipeline, text: str) -> None:
    for secret in (
        pipeline.resources.bucket,
        pipeline.resources.table,
        pipeline.resources.kms_key_arn,
        "arn:",
        health.HEALTH_OBJECT_KEY,
        "Exception",
        "Error",
    ):
        assert secret not in text


def test_health_needs_no_token_and_reports_every_check_ok(pipeline: Pipeline, ticks: Ticks) -> None:
    # WHEN health is asked without any token
    response = _health(pipeline)
    # THEN it is 200 with each component ok and nothing else
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {
        "status": "ok",
        "checks": {"table": "ok", "bucket": "ok"},
    }
    assert response["headers"]["cache-control"] == "no-store"
    _no_names(pipeline, response["body"])


def test_health_ignores_a_forged_token(pipeline: Pipeline, ticks: Ticks) -> None:
    # A bearer token on an open route grants nothing and changes nothing in the answer.
    response = _health(pipeline, authorization="Bearer not.a.token")
    assert response["statusCode"] == 200
    assert "tenant" not in response["body"]


def test_health_is_503_naming_the_table_when_it_is_gone(pipeline: Pipeline, ticks: Ticks) -> None:
    # GIVEN the table was deleted under the function
    pipeline.ddb.delete_table(TableName=pipeline.resources.table)
    # WHEN health is asked
    response = _health(pipeline)
    body = json.loads(response["body"])
    # THEN 503 names the table as the failing component, in our JSON error shape, without the
    # table's name, an ARN or DynamoDB's message
    assert response["statusCode"] == 503
    assert body["checks"] == {"table": "unavailable", "bucket": "ok"}
    assert body["status"] == "unavailable"
    assert body["error"] == {"code": "unhealthy", "message": "table did not answer"}
    _no_names(pipeline, response["body"])


def test_health_is_503_naming_the_bucket_when_its_object_cannot_be_read(
    pipeline: Pipeline, ticks: Ticks
) -> None:
    # GIVEN the health object is gone (a GetObject fails as a refusal would)
    pipeline.s3.delete_object(Bucket=pipeline.resources.bucket, Key=health.HEALTH_OBJECT_KEY)
    versions = pipeline.s3.list_object_versions(Bucket=pipeline.resources.bucket)
    for entry in [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])]:
        pipeline.s3.delete_object(
            Bucket=pipeline.resources.bucket, Key=entry["Key"], VersionId=entry["VersionId"]
        )
    # WHEN health is asked
    response = _health(pipeline)
    # THEN the bucket is the failing component
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["checks"] == {"table": "ok", "bucket": "unavailable"}
    _no_names(pipeline, response["body"])


def test_health_flood_is_answered_from_the_cache(pipeline: Pipeline, ticks: Ticks) -> None:
    # GIVEN clients that count the calls reaching DynamoDB and S3
    ddb, s3 = Counting(pipeline.ddb), Counting(pipeline.s3)
    pipeline.api = dataclasses.replace(
        pipeline.api, s3=s3, store=type(pipeline.store)(ddb, pipeline.resources.table)
    )
    # WHEN 200 health calls arrive within the cache period
    answers = {_health(pipeline)["statusCode"] for _ in range(200)}
    # THEN one probe answered them all
    assert answers == {200}
    assert (ddb.calls, s3.calls) == (1, 1)
    # AND once the period (healthCacheSeconds) is over, the next call probes again
    ticks.now += pipeline.settings.health_cache_seconds
    assert _health(pipeline)["statusCode"] == 200
    assert (ddb.calls, s3.calls) == (2, 2)


def test_health_cache_keeps_a_failure_for_the_period_too(pipeline: Pipeline, ticks: Ticks) -> None:
    # A failing dependency is not hammered either: the 503 is reused until the period ends.
    pipeline.ddb.delete_table(TableName=pipeline.resources.table)
    assert _health(pipeline)["statusCode"] == 503
    ddb = Counting(pipeline.ddb)
    pipeline.api = dataclasses.replace(
        pipeline.api, store=type(pipeline.store)(ddb, pipeline.resources.table)
    )
    assert _health(pipeline)["statusCode"] == 503
    assert ddb.calls == 0


def test_health_route_refuses_other_methods(pipeline: Pipeline, ticks: Ticks) -> None:
    event = http_event("POST", "/v1/health", claims=None)
    response = handle(event, lambda request: api.route(request, pipeline.api))
    assert response["statusCode"] == 405

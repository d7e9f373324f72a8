"""Health and per-tenant limits through `mediakit dev`: the stack's open health route (no token, its
own answer, no names), a broken bucket or table making it 503, the rate and pending limits as our
JSON 429 with Retry-After (exposed to browsers), the quota with `GET /v1/usage`, `minUploadBytes`,
and the operator scope lifting the limits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from mediakit.client import Response, request
from mediakit.local import oidc as jwt
from mediakit.local.emulator import DevEnv, Emulator
from runtime import health
from runtime.settings import Settings

ORIGIN = "https://app.example"
SIZE = 2048
SETTINGS = Settings(
    max_presigns_per_minute=4,
    max_pending_uploads=2,
    min_upload_bytes=1024,
    storage_quota_bytes=5 * SIZE,
    health_cache_seconds=1,
)


@pytest.fixture(scope="module")
def env() -> Iterator[DevEnv]:
    with Emulator(SETTINGS, cors_origins=(ORIGIN,)) as running:
        yield running


def _token(env: DevEnv, tenant: str, scopes: tuple[str, ...] = ()) -> str:
    return jwt.issue(
        signing_key=env.jwt_signing_key,
        issuer=env.jwt_issuer,
        audience=env.jwt_audience,
        tenant_claim=env.tenant_claim,
        tenant=tenant,
        scopes=scopes,
        scope_claim=env.scope_claim,
    )


def _call(
    env: DevEnv,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    origin: str | None = None,
) -> Response:
    headers = {"accept": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if origin:
        headers["origin"] = origin
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["content-type"] = "application/json"
    return request(method, f"{env.api_url}{path}", headers=headers, body=payload)


def _create(env: DevEnv, token: str, size: int = SIZE, origin: str | None = None) -> Response:
    body = {"filename": "a.jpg", "content_type": "image/jpeg", "size": size}
    return _call(env, "POST", "/v1/uploads", token=token, body=body, origin=origin)


def _code(response: Response) -> tuple[int, str]:
    return response.status, response.json()["error"]["code"]


def _names(env: DevEnv) -> tuple[str, ...]:
    return (env.bucket, env.table, env.kms_key_arn, "arn:", health.HEALTH_OBJECT_KEY)


def test_health_dev_is_open_and_names_nothing(env: DevEnv) -> None:
    # WHEN health is asked without any token (the route has no authorizer in the stack)
    response = _call(env, "GET", "/v1/health")
    # THEN the function answers 200 with its checks, and the body names no resource
    assert response.status == 200
    assert response.json() == {"status": "ok", "checks": {"table": "ok", "bucket": "ok"}}
    text = response.body.decode()
    assert not [name for name in _names(env) if name in text]
    # AND the token-protected routes still refuse a call without one (API Gateway's 401)
    assert _call(env, "GET", "/v1/usage").json() == {"message": "Unauthorized"}


def test_limits_dev_rate_limit_is_429_with_retry_after_exposed_to_the_page(env: DevEnv) -> None:
    # GIVEN a minute with room for the whole run (the window is the clock minute)
    if datetime.now(UTC).second > 50:
        time.sleep(61 - datetime.now(UTC).second)
    token = _token(env, "rate-tenant")
    # WHEN the tenant creates its four uploads of the minute, aborting each (pending stays low)
    for _ in range(4):
        created = _create(env, token)
        assert created.status == 201, created.json()
        upload_id = created.json()["upload_id"]
        assert _call(env, "DELETE", f"/v1/uploads/{upload_id}", token=token).status == 200
    refused = _create(env, token, origin=ORIGIN)
    # THEN the fifth is our JSON 429 with Retry-After, which a browser may read
    assert _code(refused) == (429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    exposed = refused.headers["access-control-expose-headers"].lower().split(",")
    assert "retry-after" in exposed


def test_limits_dev_pending_limit_frees_a_slot_on_abort(env: DevEnv) -> None:
    token = _token(env, "pending-tenant")
    first = _create(env, token).json()
    assert _create(env, token).status == 201
    refused = _create(env, token)
    assert _code(refused) == (429, "too_many_pending")
    assert int(refused.headers["retry-after"]) > 0
    # WHEN the owner aborts one THEN the next create passes
    assert _call(env, "DELETE", f"/v1/uploads/{first['upload_id']}", token=token).status == 200
    assert _create(env, token).status == 201


def test_limits_dev_min_size_quota_and_usage(env: DevEnv) -> None:
    token = _token(env, "quota-tenant")
    # A declared size under minUploadBytes is refused before anything is signed.
    assert _code(_create(env, token, size=1023)) == (400, "too_small")
    # The quota counts pending uploads: 5 x SIZE fits two of 2 x SIZE, not a third.
    assert _create(env, token, size=2 * SIZE).status == 201
    usage = _call(env, "GET", "/v1/usage", token=token).json()
    assert usage["pending_bytes"] == 2 * SIZE
    assert usage["quota_bytes"] == 5 * SIZE
    assert _code(_create(env, token, size=4 * SIZE)) == (413, "quota_exceeded")


def test_limits_dev_operator_scope_lifts_them(env: DevEnv) -> None:
    # GIVEN a tenant at its pending limit
    plain = _token(env, "migrated-tenant")
    for _ in range(2):
        assert _create(env, plain).status == 201
    assert _code(_create(env, plain)) == (429, "too_many_pending")
    # WHEN a migration's token with the operator scope creates more THEN nothing limits it
    operator = _token(env, "migrated-tenant", scopes=(SETTINGS.operator_scope,))
    for _ in range(3):
        assert _create(env, operator).status == 201


def test_health_dev_is_503_when_the_bucket_or_the_table_breaks(env: DevEnv) -> None:
    # GIVEN the health object removed from the bucket (every version)
    s3 = env.client("s3")
    listed = s3.list_object_versions(Bucket=env.bucket, Prefix=health.HEALTH_PREFIX)
    for entry in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]:
        s3.delete_object(Bucket=env.bucket, Key=entry["Key"], VersionId=entry["VersionId"])
    time.sleep(SETTINGS.health_cache_seconds + 0.2)
    # THEN health is 503 naming the bucket, and only its name
    broken = _call(env, "GET", "/v1/health")
    assert broken.status == 503
    assert broken.json()["checks"] == {"table": "ok", "bucket": "unavailable"}
    assert broken.json()["error"]["code"] == "unhealthy"
    assert not [name for name in _names(env) if name in broken.body.decode()]
    # WHEN the table goes too (last: nothing else in this module runs after it)
    env.client("dynamodb").delete_table(TableName=env.table)
    time.sleep(SETTINGS.health_cache_seconds + 0.2)
    both = _call(env, "GET", "/v1/health")
    assert both.status == 503
    assert both.json()["checks"] == {"table": "unavailable", "bucket": "unavailable"}
    assert not [name for name in _names(env) if name in both.body.decode()]

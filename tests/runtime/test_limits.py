"""Per-tenant limits on moto with an injected clock: presigns per minute (the boundary, the next
window), pending uploads (finished, aborted and expired ones stop counting), the storage quota and
`GET /v1/usage`, `minUploadBytes`, the operator scope, and the erase of the counters."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rt_support import Pipeline, http_event, image_bytes

from mediakit.ops import erase
from runtime import api, limits
from runtime.errors import TooManyRequests
from runtime.http import HttpResponse, handle
from runtime.records import ITEM_SORT, ITEM_TENANT

JPEG = image_bytes()
START = datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _configure(pipeline: Pipeline, **changes: Any) -> Clock:
    clock = Clock(START)
    settings = dataclasses.replace(pipeline.settings, **changes)
    pipeline.settings = settings
    pipeline.api.settings = settings
    pipeline.api.clock = clock
    return clock


def _create(
    pipeline: Pipeline,
    *,
    tenant: str = "tenant-a",
    size: int = len(JPEG),
    scopes: tuple[str, ...] = (),
) -> HttpResponse:
    claims: dict[str, Any] = {"sub": tenant, "aud": "mediakit"}
    if scopes:
        claims["scope"] = " ".join(scopes)
    body = {"filename": "x.jpg", "content_type": "image/jpeg", "size": size}
    event = http_event("POST", "/v1/uploads", body, claims=claims)
    return handle(event, lambda request: api.route(request, pipeline.api))


def _error(response: HttpResponse) -> tuple[int, str]:
    body = json.loads(response["body"])
    return response["statusCode"], body["error"]["code"] if "error" in body else ""


def test_rate_limit_refuses_the_101st_presign_of_a_minute_then_the_next_window_passes(
    pipeline: Pipeline,
) -> None:
    # GIVEN the default limit (100 a minute) and no pending limit in the way
    clock = _configure(pipeline, max_pending_uploads=0)
    assert pipeline.settings.max_presigns_per_minute == 100
    # WHEN a tenant creates 100 uploads within the minute, then one more 10 s into it
    for _ in range(100):
        assert _create(pipeline)["statusCode"] == 201
    refused = _create(pipeline)
    # THEN the 101st is our JSON 429 with the seconds left in the window
    assert _error(refused) == (429, "rate_limited")
    assert refused["headers"]["retry-after"] == "50"
    # AND another tenant is not affected
    assert _create(pipeline, tenant="tenant-b")["statusCode"] == 201
    # AND the next minute's window passes
    clock.now = START.replace(second=0) + timedelta(minutes=1)
    assert _create(pipeline)["statusCode"] == 201


def test_rate_limit_counter_is_conditional_and_expires_by_ttl(pipeline: Pipeline) -> None:
    # GIVEN a limit of 2
    now = START
    # WHEN three presigns are counted in one window
    assert limits.take_presign(pipeline.ddb, pipeline.resources.table, "t", now=now, limit=2) == 1
    assert limits.take_presign(pipeline.ddb, pipeline.resources.table, "t", now=now, limit=2) == 2
    with pytest.raises(TooManyRequests) as refused:
        limits.take_presign(pipeline.ddb, pipeline.resources.table, "t", now=now, limit=2)
    # THEN the refusal did not raise the counter, and the window item carries its TTL
    assert refused.value.retry_after == 50
    window = int(now.timestamp()) // 60 * 60
    item = pipeline.ddb.get_item(
        TableName=pipeline.resources.table,
        Key={"upload_id": {"S": limits.rate_key("t", window)}},
    )["Item"]
    assert item["count"] == {"N": "2"}
    assert int(item["ttl"]["N"]) == window + 120
    # AND it never shows up among the tenant's uploads (no tenant/created_at attributes)
    assert "tenant" not in item
    assert "created_at" not in item


def test_pending_limit_counts_only_live_pending_uploads(pipeline: Pipeline) -> None:
    # GIVEN a limit of 3 pending uploads and no rate limit
    clock = _configure(pipeline, max_pending_uploads=3, max_presigns_per_minute=0)
    created = [json.loads(_create(pipeline)["body"]) for _ in range(3)]
    # WHEN a fourth is asked for
    refused = _create(pipeline)
    # THEN it is 429 too_many_pending, retry when the soonest pending record expires
    assert _error(refused) == (429, "too_many_pending")
    soonest = pipeline.record(created[0]["upload_id"])["ttl"]
    assert refused["headers"]["retry-after"] == str(soonest - int(START.timestamp()))
    # AND another tenant still may
    assert _create(pipeline, tenant="tenant-b")["statusCode"] == 201

    # WHEN one upload's bytes arrive and are processed (it leaves pending_upload)
    assert pipeline.put(created[0], JPEG).status_code == 200
    assert pipeline.process(pipeline.event_for(created[0]["key"])) == {"batchItemFailures": []}
    record = pipeline.record(created[0]["upload_id"])
    # THEN it left the index, and a slot is free
    assert ITEM_TENANT not in record
    assert ITEM_SORT not in record
    replacement = json.loads(_create(pipeline)["body"])
    assert _error(_create(pipeline)) == (429, "too_many_pending")

    # WHEN the owner aborts one (DELETE of its pending upload)
    assert pipeline.call("DELETE", f"/v1/uploads/{replacement['upload_id']}")[0] == 200
    # THEN its slot is free too
    assert _create(pipeline)["statusCode"] == 201
    assert _error(_create(pipeline)) == (429, "too_many_pending")

    # WHEN the pending records pass their expiry, before DynamoDB's TTL has removed them
    clock.now = START + timedelta(seconds=pipeline.settings.pending_ttl_seconds + 1)
    # THEN they no longer count (records that expire run no code: nothing had to decrement)
    assert pipeline.store.get(created[1]["upload_id"]) is not None
    for _ in range(3):
        assert _create(pipeline)["statusCode"] == 201


def test_min_upload_bytes_refuses_smaller_declared_sizes(pipeline: Pipeline) -> None:
    # GIVEN the photo service's minimum of 1 KB
    _configure(pipeline, min_upload_bytes=1024)
    # WHEN a 1023-byte and a 1024-byte upload are asked for
    # THEN the first is 400 too_small, the second passes
    assert _error(_create(pipeline, size=1023)) == (400, "too_small")
    assert _create(pipeline, size=1024)["statusCode"] == 201


def test_quota_counts_stored_and_pending_bytes_and_usage_reports_them(
    pipeline: Pipeline,
) -> None:
    # GIVEN a quota of three JPEGs
    _configure(pipeline, storage_quota_bytes=3 * len(JPEG))
    status, empty = pipeline.call("GET", "/v1/usage")
    assert (status, empty["bytes"], empty["objects"]) == (200, 0, 0)
    assert empty["quota_bytes"] == 3 * len(JPEG)
    # WHEN one is uploaded and processed and another is pending
    pipeline.upload(JPEG)
    assert _create(pipeline)["statusCode"] == 201
    # THEN the usage shows one stored object and one pending upload
    status, used = pipeline.call("GET", "/v1/usage")
    assert status == 200
    assert used == {
        "bytes": len(JPEG),
        "objects": 1,
        "pending_bytes": len(JPEG),
        "pending_uploads": 1,
        "quota_bytes": 3 * len(JPEG),
    }
    # AND one more fits, a byte more than what is left does not
    assert _error(_create(pipeline, size=len(JPEG) + 1)) == (413, "quota_exceeded")
    assert _create(pipeline)["statusCode"] == 201
    # AND another tenant's usage is its own
    assert pipeline.call("GET", "/v1/usage", tenant="tenant-b")[1]["objects"] == 0


def test_usage_without_quota_reports_null_quota(pipeline: Pipeline) -> None:
    _configure(pipeline)
    assert pipeline.call("GET", "/v1/usage")[1]["quota_bytes"] is None


def test_operator_scope_lifts_every_per_tenant_limit(pipeline: Pipeline) -> None:
    # GIVEN tight limits of every kind, already reached by the tenant
    _configure(
        pipeline,
        max_presigns_per_minute=1,
        max_pending_uploads=1,
        storage_quota_bytes=len(JPEG),
    )
    assert _create(pipeline)["statusCode"] == 201
    assert _error(_create(pipeline))[0] in (413, 429)
    # WHEN a migration's token with the operator scope creates more
    # THEN nothing limits it (scopes are exact: a lookalike scope lifts nothing)
    for _ in range(3):
        assert _create(pipeline, scopes=("media:operator",))["statusCode"] == 201
    assert _error(_create(pipeline, scopes=("media:operator2",)))[0] in (413, 429)
    assert _error(_create(pipeline, scopes=("MEDIA:OPERATOR",)))[0] in (413, 429)


def test_erase_removes_the_rate_windows_of_the_tenant_only(pipeline: Pipeline) -> None:
    # GIVEN two tenants with rate windows in two minutes each
    table = pipeline.resources.table
    for tenant in ("acme", "acmex"):
        for minute in (0, 1):
            now = START + timedelta(minutes=minute)
            limits.take_presign(pipeline.ddb, table, tenant, now=now, limit=100)
    target = erase.EraseTarget(
        s3=pipeline.s3,
        ddb=pipeline.ddb,
        bucket=pipeline.resources.bucket,
        table=table,
        originals_prefix="originals/",
        derivatives_prefix="derivatives/",
        where="moto",
    )
    # WHEN acme is erased
    found = erase.inventory(target, "acme")
    assert found.counts()["rate windows"] == 2
    outcome = erase.erase(target, found)
    # THEN its counters are gone and acmex's remain
    assert outcome.complete, outcome.errors
    assert list(limits.counter_keys(pipeline.ddb, table, "acme")) == []
    assert len(list(limits.counter_keys(pipeline.ddb, table, "acmex"))) == 2


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"max_presigns_per_minute": -1}, "max_presigns_per_minute"),
        ({"max_pending_uploads": 10_001}, "max_pending_uploads"),
        ({"storage_quota_bytes": -1}, "storage_quota_bytes"),
        ({"min_upload_bytes": 0}, "min_upload_bytes"),
        ({"operator_scope": "media operator"}, "operator_scope"),
        ({"operator_scope": ""}, "operator_scope"),
        ({"health_cache_seconds": 0}, "health_cache_seconds"),
    ],
)
def test_limit_settings_are_validated(changes: dict[str, Any], key: str) -> None:
    from runtime.errors import SettingsError
    from runtime.settings import Settings, config_key

    with pytest.raises(SettingsError) as refused:
        Settings(**changes)
    assert refused.value.key == config_key(key)


def test_min_upload_bytes_cannot_exceed_max_upload_bytes() -> None:
    from runtime.errors import SettingsError
    from runtime.settings import Settings

    with pytest.raises(SettingsError):
        Settings(max_upload_bytes=1000, min_upload_bytes=1001)


def test_every_way_out_of_pending_leaves_the_pending_count(pipeline: Pipeline) -> None:
    # GIVEN three pending uploads of one tenant
    _configure(pipeline, max_presigns_per_minute=0)
    table = pipeline.resources.table
    ids = [json.loads(_create(pipeline)["body"])["upload_id"] for _ in range(3)]
    assert limits.pending_count(pipeline.ddb, table, "tenant-a", now=START, limit=10) == 3
    # WHEN one is aborted, one purged, and one fails (a threat found before it was processed)
    assert pipeline.call("DELETE", f"/v1/uploads/{ids[0]}")[0] == 200
    purge = pipeline.call(
        "DELETE", f"/v1/uploads/{ids[1]}", query={"purge": "true"}, scopes=("media:admin",)
    )
    assert purge[0] == 200, purge
    record = pipeline.record(ids[2])
    error = {"code": "malware", "message": "threat found"}
    assert pipeline.store.mark_malware(record, error, START, version_id="v1") is not None
    # THEN none of them counts any more, and none keeps its index entry
    assert limits.pending_count(pipeline.ddb, table, "tenant-a", now=START, limit=10) == 0
    for upload_id in ids:
        kept = pipeline.record(upload_id)
        assert ITEM_TENANT not in kept
        assert ITEM_SORT not in kept

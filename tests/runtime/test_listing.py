"""GET /v1/uploads filters (status, created_after, created_before, limit) and its cursors
(runtime/cursors.py: tenant- and filter-bound, HMAC-SHA256 by a named KMS key) against moto."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rt_support import Pipeline, http_event, image_bytes

from runtime import api, aws
from runtime.http import handle
from runtime.records import STATUS_INDEX, SourceRef, iso

JPEG = image_bytes()
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(pipeline: Pipeline, clock: Clock) -> api.Deps:
    return dataclasses.replace(pipeline.api, clock=clock)


def get(
    deps: api.Deps, query: dict[str, str] | None = None, tenant: str = "tenant-a"
) -> tuple[int, dict[str, Any]]:
    event = http_event("GET", "/v1/uploads", claims={"sub": tenant, "aud": "m"}, query=query)
    response = handle(event, lambda request: api.route(request, deps))
    return response["statusCode"], json.loads(response["body"])


def create(deps: api.Deps, clock: Clock, minute: int, tenant: str = "tenant-a") -> str:
    clock.now = T0 + timedelta(minutes=minute)
    body = {"filename": "x.jpg", "content_type": "image/jpeg", "size": len(JPEG)}
    event = http_event("POST", "/v1/uploads", body, claims={"sub": tenant, "aud": "m"})
    response = handle(event, lambda request: api.route(request, deps))
    assert response["statusCode"] == 201
    return str(json.loads(response["body"])["upload_id"])


def uploaded(pipeline: Pipeline, upload_id: str) -> None:
    """pending_upload -> uploaded, through the transition the processor uses."""
    record = pipeline.record(upload_id)
    ref = SourceRef(pipeline.resources.bucket, record["key"], "v1", "0A")
    assert pipeline.store.mark_uploaded(upload_id, ref, T0) is not None


def deleted(pipeline: Pipeline, upload_id: str) -> None:
    assert pipeline.store.mark_deleted(upload_id, "tenant-a", T0, by="x", window_days=30)


def pages(deps: api.Deps, query: dict[str, str]) -> list[list[str]]:
    """Every page of a listing, following next_cursor."""
    out: list[list[str]] = []
    cursor = None
    while True:
        status, page = get(deps, {**query, **({"cursor": cursor} if cursor else {})})
        assert status == 200, page
        out.append([i["upload_id"] for i in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return out


def test_list_status_filter_is_served_by_the_status_index_in_full_pages(
    pipeline: Pipeline, deps: api.Deps, clock: Clock
) -> None:
    # GIVEN 6 uploads of which 3 (not adjacent) were uploaded
    ids = [create(deps, clock, minute) for minute in range(6)]
    for upload_id in ids[::2]:
        uploaded(pipeline, upload_id)
    # WHEN listing status=uploaded two at a time
    got = pages(deps, {"status": "uploaded", "limit": "2"})
    # THEN full pages of exactly that status, newest first, and no empty page with a cursor
    assert got == [[ids[4], ids[2]], [ids[0]]]
    assert pages(deps, {"status": "pending_upload", "limit": "3"}) == [[ids[5], ids[3], ids[1]]]
    # AND the records carry their status partition, moved by the transition itself
    items = pipeline.ddb.query(
        TableName=pipeline.resources.table,
        IndexName=STATUS_INDEX,
        KeyConditionExpression="tenant_status = :p",
        ExpressionAttributeValues={":p": {"S": "tenant-a#uploaded"}},
    )["Items"]
    assert sorted(i["upload_id"]["S"] for i in items) == sorted(ids[::2])


def test_list_without_status_skips_deleted_and_still_fills_its_page(
    pipeline: Pipeline, deps: api.Deps, clock: Clock
) -> None:
    # GIVEN 2 old uploads below 5 newer deleted ones
    old = [create(deps, clock, minute) for minute in range(2)]
    for minute in range(2, 7):
        deleted(pipeline, create(deps, clock, minute))
    # WHEN listing two at a time (default filter: every status but deleted)
    got = pages(deps, {"limit": "2"})
    # THEN the first page already holds the two live uploads (more reads, not an empty page)
    assert got[0] == [old[1], old[0]]
    # AND status=deleted lists the deleted ones explicitly
    assert sum(len(p) for p in pages(deps, {"status": "deleted"})) == 5


def test_list_created_range_is_exclusive_at_both_ends(
    pipeline: Pipeline, deps: api.Deps, clock: Clock
) -> None:
    ids = [create(deps, clock, minute) for minute in range(5)]
    after, before = iso(T0 + timedelta(minutes=1)), iso(T0 + timedelta(minutes=4))
    query = {"created_after": after, "created_before": before}
    assert pages(deps, query) == [[ids[3], ids[2]]]
    assert pages(deps, {"created_after": "2026-03-01T12:02:00+00:00"}) == [[ids[4], ids[3]]]
    assert pages(deps, {"created_before": "2026-03-01T13:01:00+01:00"}) == [[ids[0]]]
    assert pages(deps, {"created_after": "2026-03-02"}) == [[]]


@pytest.mark.parametrize(
    "query",
    [
        {"status": "failedd"},
        {"status": ""},
        {"status": "completed,failed"},  # API Gateway's rendering of a repeated parameter
        {"status": "COMPLETED"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "-1"},
        {"limit": "1e2"},
        {"limit": "9" * 40},
        {"created_after": "yesterday"},
        {"created_after": "2026-13-01"},
        {"created_after": "2026-03-01T12:00:00"},  # no time zone
        {"created_before": "2026-03-01T12:00:00Z" + "0" * 100},
        {"created_before": "\uff12\uff10\uff12\uff16-03-01"},  # full-width digits
        {"created_after": "2026-03-02", "created_before": "2026-03-01"},
        {"created_after": "2026-03-01", "created_before": "2026-03-01"},
        {"created_after": "0001-01-01T00:00:00Z"},
    ],
)
def test_list_hostile_filters_are_400_invalid_field(deps: api.Deps, query: dict[str, str]) -> None:
    status, body = get(deps, query)
    assert (status, body["error"]["code"]) == (400, "invalid_field")


def test_list_unknown_parameter_is_400_not_ignored(deps: api.Deps) -> None:
    status, body = get(deps, {"stauts": "failed"})
    assert (status, body["error"]["code"]) == (400, "unknown_field")


@pytest.fixture
def cursor(deps: api.Deps, clock: Clock) -> str:
    """A real cursor of tenant-a's status=pending_upload listing, page size 1."""
    for minute in range(3):
        create(deps, clock, minute)
    status, page = get(deps, {"status": "pending_upload", "limit": "1"})
    assert status == 200
    assert page["next_cursor"]
    return str(page["next_cursor"])


def _tamper(cursor: str) -> list[str]:
    body, mac = cursor.split(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))

    def enc(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    return [
        f"{body}.{flipped}",  # a MAC bit changed
        f"{enc({**data, 'c': '2030-01-01T00:00:00.000Z'})}.{mac}",  # the position moved
        f"{enc({**data, 'k': '2'})}.{mac}",  # a key name the stack does not have
        f"{enc({**data, 'extra': 1})}.{mac}",
        f"{enc({'c': data['c'], 'u': data['u']})}",  # no MAC at all (the old format)
        cursor[: len(cursor) // 2],  # truncated
        cursor[:-1],
        cursor + ".x",
        cursor + "A" * 600,  # huge
        "",
        "not a cursor",
        f"{body}.{mac}=",
    ]


def test_list_cursor_continues_its_own_listing(deps: api.Deps, cursor: str) -> None:
    status, page = get(deps, {"status": "pending_upload", "limit": "1", "cursor": cursor})
    assert status == 200
    assert len(page["items"]) == 1


def test_list_cursor_of_another_tenant_is_400(deps: api.Deps, cursor: str) -> None:
    query = {"status": "pending_upload", "limit": "1", "cursor": cursor}
    status, body = get(deps, query, tenant="tenant-b")
    assert (status, body["error"]["code"]) == (400, "invalid_cursor")


@pytest.mark.parametrize(
    "other",
    [{}, {"status": "uploaded"}, {"status": "pending_upload", "created_after": "2026-01-01"}],
)
def test_list_cursor_with_other_filters_is_400(
    deps: api.Deps, cursor: str, other: dict[str, str]
) -> None:
    status, body = get(deps, {**other, "cursor": cursor})
    assert (status, body["error"]["code"]) == (400, "invalid_cursor")


def test_list_cursor_tampered_truncated_or_huge_is_400(deps: api.Deps, cursor: str) -> None:
    for forged in _tamper(cursor):
        status, body = get(deps, {"status": "pending_upload", "cursor": forged})
        assert (status, body["error"]["code"]) == (400, "invalid_cursor"), forged


def test_list_cursor_keys_rotate_by_name(pipeline: Pipeline, deps: api.Deps, cursor: str) -> None:
    # GIVEN a second key generation added after the cursor was handed out
    second = aws.client("kms").create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    old = deps.resources.cursor_keys
    both = f"{old},2={second['KeyMetadata']['Arn']}"
    rotated = dataclasses.replace(
        deps, resources=dataclasses.replace(deps.resources, cursor_keys=both)
    )
    query = {"status": "pending_upload", "limit": "1"}
    # THEN the old cursor still verifies, and new cursors are made by the new key
    status, page = get(rotated, {**query, "cursor": cursor})
    assert status == 200
    assert (
        json.loads(base64.urlsafe_b64decode(page["next_cursor"].split(".")[0] + "=="))["k"] == "2"
    )
    # WHEN the old generation is removed  THEN its cursors stop working, the new ones go on
    only_new = dataclasses.replace(
        deps, resources=dataclasses.replace(deps.resources, cursor_keys=both.split(",", 1)[1])
    )
    assert get(only_new, {**query, "cursor": cursor})[1]["error"]["code"] == "invalid_cursor"
    assert get(only_new, {**query, "cursor": page["next_cursor"]})[0] == 200


def test_status_partition_follows_every_transition_even_without_a_tenant(
    pipeline: Pipeline, deps: api.Deps, clock: Clock
) -> None:
    # GIVEN a transition written by a caller that does not name the tenant (the fallback path)
    upload_id = create(deps, clock, 0)
    store = pipeline.store
    updated = store._update(
        upload_id,
        condition="#status = :pending",
        values={":pending": "pending_upload"},
        set_={"status": "failed", "updated_at": iso(T0)},
    )
    assert updated is not None
    # THEN a second, conditional write still moves it to its status partition
    assert pipeline.record(upload_id)["tenant_status"] == "tenant-a#failed"
    assert pages(deps, {"status": "failed"}) == [[upload_id]]
    assert pages(deps, {"status": "pending_upload"}) == [[]]


def test_tenant_of_original_reads_the_key_layout() -> None:
    from runtime.records import tenant_of_original

    assert tenant_of_original("originals/acme~2Feu/2026/03/01/01abc.jpg") == "acme~2Feu"
    assert tenant_of_original("custom/prefix/t-1/2026/03/01/01abc.mp4") == "t-1"

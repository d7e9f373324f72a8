"""Idempotent POST /v1/uploads (runtime/idempotency.py) against moto: one upload per
(tenant, Idempotency-Key), fresh URLs only while pending, conflicts, leases, concurrency."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from rt_support import Pipeline, http_event, image_bytes

from runtime import api, idempotency
from runtime.http import handle
from runtime.records import PENDING

JPEG = image_bytes()
BODY = {"filename": "x.jpg", "content_type": "image/jpeg", "size": len(JPEG)}
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def call(
    deps: api.Deps,
    body: Any = BODY,
    *,
    key: str | None,
    tenant: str = "tenant-a",
    method: str = "POST",
    path: str = "/v1/uploads",
) -> tuple[int, dict[str, str], dict[str, Any]]:
    event = http_event(method, path, body, claims={"sub": tenant, "aud": "mediakit"})
    if key is not None:
        event["headers"]["Idempotency-Key"] = key
    response = handle(event, lambda request: api.route(request, deps))
    return response["statusCode"], response["headers"], json.loads(response["body"])


def uploads_of(pipeline: Pipeline, tenant: str = "tenant-a") -> list[dict[str, Any]]:
    items = pipeline.ddb.scan(TableName=pipeline.resources.table)["Items"]
    return [i for i in items if i.get("tenant", {}).get("S") == tenant]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(pipeline: Pipeline, clock: Clock) -> api.Deps:
    return dataclasses.replace(pipeline.api, clock=clock)


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        " ",
        "a b",
        "a,b",  # API Gateway's rendering of a repeated header
        "k" * 256,
        "key\x00",
        "key\r\nx-admin: 1",
        "clé",
        '"unterminated',
        '""',
        "a;b",
    ],
)
def test_idempotency_key_hostile_header_is_400_and_creates_nothing(
    pipeline: Pipeline, deps: api.Deps, hostile: str
) -> None:
    # GIVEN a header no client should send  WHEN creating  THEN 400, nothing is written
    status, _, body = call(deps, key=hostile)
    assert (status, body["error"]["code"]) == (400, "invalid_idempotency_key")
    assert pipeline.ddb.scan(TableName=pipeline.resources.table)["Items"] == []


def test_idempotency_key_quoted_sf_string_is_the_same_key(deps: api.Deps) -> None:
    _, _, first = call(deps, key="order-1")
    _, _, second = call(deps, key='"order-1"')
    assert first["upload_id"] == second["upload_id"]
    assert idempotency.key_from({"idempotency-key": "k" * 255}) == "k" * 255


def test_idempotent_create_same_key_same_body_is_one_upload_with_fresh_urls(
    pipeline: Pipeline, deps: api.Deps, clock: Clock
) -> None:
    # GIVEN a create with a key
    status, _, first = call(deps, key="retry-me")
    assert status == 201
    # WHEN it is retried later, with the same body spelled differently
    clock.now = T0 + timedelta(minutes=10)
    respelled = json.dumps(dict(reversed(list(BODY.items()))), indent=2)
    status, _, second = call(deps, respelled, key="retry-me")
    # THEN the same upload, with URLs signed now (they live presignTtlSeconds from the retry)
    assert status == 201
    assert second["upload_id"] == first["upload_id"]
    assert second["key"] == first["key"]
    # (botocore signs with the wall clock: the URL's own X-Amz-Date is the real now)
    assert "X-Amz-Signature=" in second["url"]
    assert second["expires_at"] > first["expires_at"]
    assert len(uploads_of(pipeline)) == 1
    # AND the fresh grant works: the bytes land and the upload completes
    assert requests.put(second["url"], data=JPEG, headers=second["headers"], timeout=10).ok
    assert pipeline.process(pipeline.event_for(second["key"])) == {"batchItemFailures": []}
    assert pipeline.record(first["upload_id"])["status"] == "completed"


def test_idempotent_create_after_validation_answers_the_record_without_upload_urls(
    pipeline: Pipeline, deps: api.Deps
) -> None:
    _, _, first = call(deps, key="done-1")
    assert requests.put(first["url"], data=JPEG, headers=first["headers"], timeout=10).ok
    pipeline.process(pipeline.event_for(first["key"]))
    # WHEN the create is retried once the upload was validated
    status, _, again = call(deps, key="done-1")
    # THEN 200 with the record: no URL, header, form field or part grants a second write
    assert status == 200
    assert again["upload_id"] == first["upload_id"]
    assert again["status"] == "completed"
    assert not {"url", "headers", "fields", "parts", "expires_at"} & set(again)
    assert again["status_url"].endswith(f"/v1/uploads/{first['upload_id']}")


def test_idempotent_create_different_body_is_409_conflict(
    pipeline: Pipeline, deps: api.Deps
) -> None:
    call(deps, key="k-1")
    status, _, body = call(deps, {**BODY, "size": len(JPEG) + 1}, key="k-1")
    assert (status, body["error"]["code"]) == (409, "idempotency_conflict")
    assert len(uploads_of(pipeline)) == 1


def test_idempotency_key_is_scoped_to_the_tenant(pipeline: Pipeline, deps: api.Deps) -> None:
    _, _, a = call(deps, key="shared", tenant="tenant-a")
    status, _, b = call(deps, key="shared", tenant="tenant-b")
    assert status == 201
    assert a["upload_id"] != b["upload_id"]
    assert b["key"].split("/")[1] == "tenant-b"


def test_idempotency_key_after_its_window_creates_a_new_upload(
    pipeline: Pipeline, deps: api.Deps, clock: Clock
) -> None:
    _, _, first = call(deps, key="k-window")
    clock.now = T0 + timedelta(seconds=deps.settings.idempotency_window_seconds - 1)
    assert call(deps, key="k-window")[2]["upload_id"] == first["upload_id"]
    clock.now = T0 + timedelta(seconds=deps.settings.idempotency_window_seconds)
    status, _, later = call(deps, key="k-window")
    assert status == 201
    assert later["upload_id"] != first["upload_id"]


def test_idempotent_create_while_first_is_in_progress_is_409_with_retry_after_then_taken_over(
    pipeline: Pipeline, deps: api.Deps, clock: Clock
) -> None:
    # GIVEN a request that claimed the key and has not written its upload (or died)
    keys = idempotency.Keys(pipeline.ddb, pipeline.resources.table)
    fingerprint = idempotency.fingerprint(
        api.validate_create(dict(BODY), deps.settings)  # the same request, validated
    )
    claim = keys.claim(
        tenant="tenant-a",
        key="slow",
        request_hash=fingerprint,
        upload_id=deps.new_id(),
        now=T0,
        window_seconds=deps.settings.idempotency_window_seconds,
    )
    # WHEN a retry arrives inside the lease  THEN 409 in progress, with Retry-After
    status, headers, body = call(deps, key="slow")
    assert (status, body["error"]["code"]) == (409, "idempotency_in_progress")
    assert headers["retry-after"] == str(idempotency.RETRY_AFTER_SECONDS)
    assert uploads_of(pipeline) == []
    # WHEN the lease ran out  THEN the retry creates the upload under the claimed id, once
    clock.now = T0 + timedelta(seconds=idempotency.LEASE_SECONDS + 1)
    status, _, created = call(deps, key="slow")
    assert status == 201
    assert created["upload_id"] == claim.upload_id
    assert call(deps, key="slow")[2]["upload_id"] == claim.upload_id
    assert len(uploads_of(pipeline)) == 1


def test_idempotent_takeover_finds_the_record_a_dead_request_wrote(
    pipeline: Pipeline, deps: api.Deps, clock: Clock
) -> None:
    # GIVEN a request that wrote its upload record, then died before marking the key created
    keys = idempotency.Keys(pipeline.ddb, pipeline.resources.table)
    wanted = api.validate_create(dict(BODY), deps.settings)
    claim = keys.claim(
        tenant="tenant-a",
        key="crashed",
        request_hash=idempotency.fingerprint(wanted),
        upload_id=deps.new_id(),
        now=T0,
        window_seconds=deps.settings.idempotency_window_seconds,
    )
    request = api.Request(method="POST", path="/v1/uploads", base_url="https://api.test")
    api.new_upload(deps, request, "tenant-a", wanted, claim.upload_id, idempotency_item=claim.item)
    clock.now = T0 + timedelta(seconds=idempotency.LEASE_SECONDS + 1)
    # WHEN the client retries  THEN it gets that upload (fresh URLs), not a second one
    status, _, again = call(deps, key="crashed")
    assert status == 201
    assert again["upload_id"] == claim.upload_id
    assert again["url"]
    assert len(uploads_of(pipeline)) == 1


def test_idempotent_create_that_fails_releases_the_key(
    pipeline: Pipeline, deps: api.Deps, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("S3 is down")

    with monkeypatch.context() as patched:
        patched.setattr(api.signing, "presign_put", broken)
        assert call(deps, key="flaky")[0] == 500
    status, _, created = call(deps, key="flaky")
    assert status == 201
    assert len(uploads_of(pipeline)) == 1
    assert pipeline.record(created["upload_id"])["status"] == PENDING


def test_idempotent_multipart_replay_signs_fresh_part_urls(
    pipeline: Pipeline, deps: api.Deps
) -> None:
    size = deps.settings.multipart_threshold_bytes + 1
    body = {"filename": "big.jpg", "content_type": "image/jpeg", "size": size}
    _, _, first = call(deps, body, key="big")
    status, _, again = call(deps, body, key="big")
    assert status == 201
    assert again["method"] == "MULTIPART"
    assert again["upload_id"] == first["upload_id"]
    assert [p["part_number"] for p in again["parts"]] == [p["part_number"] for p in first["parts"]]
    assert again["url"].endswith(f"/v1/uploads/{first['upload_id']}/complete")


def test_purge_forgets_the_idempotency_key(pipeline: Pipeline, deps: api.Deps) -> None:
    _, _, first = call(deps, key="gone")
    event = http_event(
        "DELETE",
        f"/v1/uploads/{first['upload_id']}",
        claims={"sub": "tenant-a", "aud": "mediakit", "scope": "media:admin"},
        query={"purge": "true"},
    )
    assert handle(event, lambda request: api.route(request, deps))["statusCode"] == 200
    item = idempotency.item_id("tenant-a", "gone")
    found = pipeline.ddb.get_item(
        TableName=pipeline.resources.table, Key={"upload_id": {"S": item}}
    )
    # freed: it names no upload any more, and TTL removes it
    assert "target" not in found["Item"]
    assert found["Item"]["window_ends"] == {"N": "0"}
    # A retry after the purge is a new upload, never an answer with the erased one.
    status, _, again = call(deps, key="gone")
    assert status == 201
    assert again["upload_id"] != first["upload_id"]


def test_idempotent_create_concurrent_duplicates_make_one_upload(
    pipeline: Pipeline, deps: api.Deps
) -> None:
    # GIVEN eight clients sending the same create with the same key at the same moment
    barrier = threading.Barrier(8)
    answers: list[tuple[int, dict[str, Any]]] = []

    def client() -> None:
        barrier.wait()
        status, _, body = call(deps, key="burst")
        answers.append((status, body))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN exactly one upload exists; every answer names it or says "in progress, retry"
    assert len(uploads_of(pipeline)) == 1
    ids = {body["upload_id"] for status, body in answers if status == 201}
    assert len(ids) == 1
    for status, body in answers:
        assert status == 201 or body["error"]["code"] == "idempotency_in_progress", body


@pytest.mark.parametrize(
    ("window", "pending", "ok"),
    [
        (59, 86400, False),
        (60, 86400, True),
        (86400, 86400, True),
        (86401, 86400, False),  # a key must not outlive the pending record it answers with
        (3600, 1800, False),
        (1800, 1800, True),
    ],
)
def test_idempotency_window_setting_is_validated(window: int, pending: int, ok: bool) -> None:
    from runtime.errors import SettingsError
    from runtime.settings import Settings

    environ = {
        "MEDIAKIT_IDEMPOTENCY_WINDOW_SECONDS": str(window),
        "MEDIAKIT_PENDING_TTL_SECONDS": str(pending),
    }
    if ok:
        assert Settings.from_env(environ).idempotency_window_seconds == window
    else:
        with pytest.raises(SettingsError):
            Settings.from_env(environ)


@pytest.mark.parametrize("hostile", ["abc", "-5", "1e3", ""])
def test_idempotency_window_setting_refuses_non_integers(hostile: str) -> None:
    from runtime.errors import SettingsError
    from runtime.settings import Settings

    # An empty value is refused too, not silently the default (issue 14).
    with pytest.raises(SettingsError, match=r"^MEDIAKIT_IDEMPOTENCY_WINDOW_SECONDS: "):
        Settings.from_env({"MEDIAKIT_IDEMPOTENCY_WINDOW_SECONDS": hostile})


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_idempotent_create_after_bytes_arrived_but_before_processing_signs_no_new_grant(
    pipeline: Pipeline, deps: api.Deps, method: str
) -> None:
    # GIVEN an upload whose bytes landed while its S3 event is still queued (record pending)
    _, _, first = call(deps, {**BODY, "method": method}, key=f"landed-{method}")
    if method == "PUT":
        sent = requests.put(first["url"], data=JPEG, headers=first["headers"], timeout=10)
    else:
        files = {"file": ("x.jpg", JPEG, "image/jpeg")}
        sent = requests.post(first["url"], data=first["fields"], files=files, timeout=10)
    assert sent.ok
    assert pipeline.record(first["upload_id"])["status"] == PENDING
    # WHEN the create is retried  THEN the record answers, with no URL or form to write again
    status, _, again = call(deps, {**BODY, "method": method}, key=f"landed-{method}")
    assert status == 200
    assert again["upload_id"] == first["upload_id"]
    assert again["status"] == PENDING
    assert not {"url", "headers", "fields", "parts"} & set(again)

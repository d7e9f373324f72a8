"""Through `mediakit dev`: idempotent creates (Idempotency-Key) over HTTP, concurrent duplicates,
CORS for the header, listing filters with MAC'd cursors, and the erase of the key items."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mediakit.cli import cli
from mediakit.client import ApiClient, ApiError, request
from mediakit.local.emulator import DevEnv
from runtime.records import ITEM_SORT, ITEM_TENANT, TENANT_ITEMS_INDEX
from tests.emulator.conftest import dev_client, jpeg_bytes

JPEG = jpeg_bytes((64, 48))
BODY = {"filename": "a.jpg", "content_type": "image/jpeg", "size": len(JPEG)}


def _create(client: ApiClient, key: str, **changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = client.create_upload(**{**BODY, **changes}, idempotency_key=key)
    return result


def _keys_of(env: DevEnv, tenant: str) -> list[str]:
    items = env.client("dynamodb").query(
        TableName=env.table,
        IndexName=TENANT_ITEMS_INDEX,
        KeyConditionExpression="#t = :t AND begins_with(#s, :p)",
        ExpressionAttributeNames={"#t": ITEM_TENANT, "#s": ITEM_SORT},
        ExpressionAttributeValues={":t": {"S": tenant}, ":p": {"S": "idem#"}},
    )["Items"]
    return [i["upload_id"]["S"] for i in items]


def test_idempotent_create_dev_retry_and_conflict(emulator: DevEnv) -> None:
    client = dev_client(emulator, "idem-a")
    # GIVEN a create with a key, retried  THEN one upload, both answers carry a working grant
    first = _create(client, "order-17")
    again = _create(client, "order-17")
    assert again["upload_id"] == first["upload_id"]
    sent = request("PUT", again["url"], headers=again["headers"], body=JPEG)
    assert sent.status == 200
    done = client.wait(first, timeout=30)
    assert done["status"] == "completed"
    # WHEN retried after validation  THEN the record, and no URL to write it again
    after = _create(client, "order-17")
    assert after["status"] == "completed"
    assert "url" not in after
    # AND the same key with another body is a conflict
    with pytest.raises(ApiError) as conflict:
        _create(client, "order-17", size=len(JPEG) + 1)
    assert (conflict.value.status, conflict.value.body["error"]["code"]) == (
        409,
        "idempotency_conflict",
    )
    # AND another tenant's equal key is its own upload
    other = _create(dev_client(emulator, "idem-b"), "order-17")
    assert other["upload_id"] != first["upload_id"]


def test_idempotent_create_dev_concurrent_duplicates_make_one_upload(emulator: DevEnv) -> None:
    client = dev_client(emulator, "idem-burst")
    barrier = threading.Barrier(6)
    answers: list[Any] = []

    def send() -> None:
        barrier.wait()
        try:
            answers.append(_create(client, "burst-1")["upload_id"])
        except ApiError as exc:
            answers.append(exc)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = {a for a in answers if isinstance(a, str)}
    refused = [a for a in answers if isinstance(a, ApiError)]
    assert len(ids) == 1
    for error in refused:
        assert (error.status, error.body["error"]["code"]) == (409, "idempotency_in_progress")
    listed = client.call("GET", "/v1/uploads")["items"]
    assert [i["upload_id"] for i in listed] == list(ids)


def test_idempotency_cors_dev_allows_the_header_and_exposes_retry_after(
    emulator: DevEnv,
) -> None:
    # GIVEN the page's origin (the emulator's CORS origin)  WHEN a browser preflights the header
    origin = emulator.api_url.rstrip("/")
    preflight = request(
        "OPTIONS",
        f"{emulator.api_url}/v1/uploads",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type,idempotency-key",
        },
    )
    assert preflight.status == 204
    assert "idempotency-key" in preflight.headers["access-control-allow-headers"]
    # THEN the bucket exposes Retry-After too (read back from moto, as the graph put it)
    rules = emulator.client("s3").get_bucket_cors(Bucket=emulator.bucket)["CORSRules"]
    assert all("Retry-After" in r.get("ExposeHeaders", []) for r in rules)
    # AND an answer to the page's origin exposes Retry-After
    answer = request(
        "GET", f"{emulator.api_url}/v1/uploads", headers={"origin": origin, "authorization": "x"}
    )
    assert "retry-after" in answer.headers.get("access-control-expose-headers", "")


def test_list_filters_dev_status_pages_and_cursors(emulator: DevEnv) -> None:
    client = dev_client(emulator, "list-a")
    made = [client.create_upload(**BODY)["upload_id"] for _ in range(3)]
    # status=pending_upload, one per page, through the cursors
    seen, cursor = [], None
    while True:
        query = "status=pending_upload&limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = client.call("GET", f"/v1/uploads?{query}")
        seen += [i["upload_id"] for i in page["items"]]
        assert len(page["items"]) == 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    first = client.call("GET", "/v1/uploads?status=pending_upload&limit=1")["next_cursor"]
    # another tenant's replay of the cursor, and the cursor under other filters: 400
    for who, query in (
        (dev_client(emulator, "list-b"), f"status=pending_upload&limit=1&cursor={first}"),
        (client, f"status=completed&cursor={first}"),
        (client, f"status=pending_upload&cursor={first[:-3]}"),
    ):
        with pytest.raises(ApiError) as refused:
            who.call("GET", f"/v1/uploads?{query}")
        assert refused.value.body["error"]["code"] == "invalid_cursor"
    with pytest.raises(ApiError) as unknown:
        client.call("GET", "/v1/uploads?status=done")
    assert (unknown.value.status, unknown.value.body["error"]["code"]) == (400, "invalid_field")


def test_erase_dev_removes_the_tenants_idempotency_keys(emulator: DevEnv, tmp_path: Path) -> None:
    client = dev_client(emulator, "idem-erase")
    _create(client, "erase-me")
    _create(dev_client(emulator, "idem-keep"), "erase-me")
    assert len(_keys_of(emulator, "idem-erase")) == 1
    env_file = tmp_path / "dev.json"
    emulator.write(env_file)
    result = CliRunner().invoke(
        cli, ["erase", "--tenant", "idem-erase", "--env-file", str(env_file), "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert "idempotency key" in result.output
    assert _keys_of(emulator, "idem-erase") == []
    assert len(_keys_of(emulator, "idem-keep")) == 1

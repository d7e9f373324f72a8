"""`mediakit erase --outputs FILE` against a "deployed" stack (moto in-process, normal AWS
credentials from the environment): the region comes from the outputs, every kind of item in
`ITEM_KINDS` goes, and a throttled BatchWriteItem is retried, then reported with what remains."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from mediakit.cli import cli
from mediakit.ops import erase
from runtime.records import table_spec

REGION = "eu-west-1"  # not the default: the outputs' key ARN must decide it
BUCKET, TABLE = "media-erase-test", "uploads-erase-test"


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A versioned bucket and the uploads table in REGION, two tenants in them, the outputs."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        ddb = boto3.client("dynamodb", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        ddb.create_table(**table_spec(TABLE))
        for tenant, ids in (("acme", ("a1", "a2")), ("acme.eu", ("b1",))):
            for upload_id in ids:
                key = f"originals/{tenant}/2026/12/01/{upload_id}.jpg"
                s3.put_object(Bucket=BUCKET, Key=key, Body=b"v1")
                s3.put_object(Bucket=BUCKET, Key=key, Body=b"v2")
                s3.put_object(Bucket=BUCKET, Key=f"derivatives/{tenant}/{upload_id}/thumb.jpeg")
                ddb.put_item(
                    TableName=TABLE,
                    Item={
                        "upload_id": {"S": upload_id},
                        "tenant": {"S": tenant},
                        "created_at": {"S": "2026-12-01T00:00:00Z"},
                        "status": {"S": "completed"},
                    },
                )
        s3.delete_object(Bucket=BUCKET, Key="originals/acme/2026/12/01/a1.jpg")  # a marker
        outputs = tmp_path / "outputs.json"
        outputs.write_text(
            json.dumps(
                {
                    "bucket_name": BUCKET,
                    "table_name": TABLE,
                    "kms_key_arn": f"arn:aws:kms:{REGION}:123456789012:key/k",
                }
            )
        )
        yield {"s3": s3, "ddb": ddb, "outputs": outputs}


def _left(deployed: dict[str, Any], tenant: str) -> tuple[int, int]:
    """(object versions and delete markers, records) the tenant still has."""
    objects = 0
    for prefix in (f"originals/{tenant}/", f"derivatives/{tenant}/"):
        listed = deployed["s3"].list_object_versions(Bucket=BUCKET, Prefix=prefix)
        objects += len(listed.get("Versions", [])) + len(listed.get("DeleteMarkers", []))
    records = deployed["ddb"].scan(
        TableName=TABLE,
        FilterExpression="tenant = :t",
        ExpressionAttributeValues={":t": {"S": tenant}},
    )["Count"]
    return objects, records


def _run(outputs: Path, tenant: str = "acme") -> Any:
    args = ["erase", "--tenant", tenant, "--outputs", str(outputs), "--yes"]
    return CliRunner().invoke(cli, args)


def test_erase_outputs_removes_one_tenant_in_the_outputs_region(deployed: dict[str, Any]) -> None:
    # GIVEN tenant acme: 2 originals x 2 versions + 1 delete marker + 2 derivatives, 2 records
    assert _left(deployed, "acme") == (7, 2)
    before = _left(deployed, "acme.eu")
    # WHEN it is erased through the stack outputs
    result = _run(deployed["outputs"])
    # THEN the counts were shown, all of it is gone, and acme.eu is untouched
    assert result.exit_code == 0, result.output
    assert "6 object versions, 1 delete markers, 2 upload records" in result.output
    assert _left(deployed, "acme") == (0, 0)
    assert _left(deployed, "acme.eu") == before


def test_erase_outputs_removes_every_registered_item_kind(
    deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN another kind of per-tenant item (as issue 13's idempotency keys will be)
    ddb = deployed["ddb"]
    ddb.put_item(TableName=TABLE, Item={"upload_id": {"S": "idem#acme#k1"}, "owner": {"S": "acme"}})

    def idempotency_keys(target: erase.EraseTarget, tenant: str) -> Iterator[erase.Item]:
        found = target.ddb.scan(
            TableName=target.table,
            FilterExpression="#o = :t",
            ExpressionAttributeNames={"#o": "owner"},
            ExpressionAttributeValues={":t": {"S": tenant}},
        )["Items"]
        for item in found:
            key = {"upload_id": {"S": item["upload_id"]["S"]}}
            yield erase.Item("idempotency key", target.table, key)

    kinds = (*erase.ITEM_KINDS, erase.ItemKind("idempotency key", idempotency_keys))
    monkeypatch.setattr(erase, "ITEM_KINDS", kinds)
    # WHEN the tenant is erased
    result = _run(deployed["outputs"])
    # THEN the new kind was counted and removed with the rest: one entry was all it took
    assert result.exit_code == 0, result.output
    assert "1 idempotency keys" in result.output
    assert "removed idempotency key upload_id=idem#acme#k1" in result.output
    assert "Item" not in ddb.get_item(TableName=TABLE, Key={"upload_id": {"S": "idem#acme#k1"}})


class _Throttled:
    """A DynamoDB client whose BatchWriteItem leaves the first request unprocessed `times`
    times (None: always), as DynamoDB does under throttling."""

    def __init__(self, ddb: Any, times: int | None) -> None:
        self._ddb, self.times = ddb, times

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ddb, name)

    def batch_write_item(self, RequestItems: dict[str, Any]) -> Any:
        if self.times is not None and self.times <= 0:
            return self._ddb.batch_write_item(RequestItems=RequestItems)
        if self.times is not None:
            self.times -= 1
        ((table, requests),) = RequestItems.items()
        answer = (
            self._ddb.batch_write_item(RequestItems={table: requests[1:]}) if requests[1:] else {}
        )
        return {**answer, "UnprocessedItems": {table: requests[:1]}}


@pytest.mark.parametrize(("times", "exit_code", "records_left"), [(2, 0, 0), (None, 1, 1)])
def test_erase_outputs_retries_unprocessed_items_then_reports_them(
    deployed: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    times: int | None,
    exit_code: int,
    records_left: int,
) -> None:
    # GIVEN DynamoDB throttling the erase's first delete twice, or for good
    real = erase.EraseTarget.from_outputs

    def throttled(path: Path) -> erase.EraseTarget:
        target = real(path)
        return erase.EraseTarget(**{**target.__dict__, "ddb": _Throttled(target.ddb, times)})

    monkeypatch.setattr(erase.EraseTarget, "from_outputs", staticmethod(throttled))
    # WHEN the tenant is erased
    result = _run(deployed["outputs"])
    # THEN a passing throttle is retried away; a lasting one fails the command, naming what
    # remains, while everything else went
    assert result.exit_code == exit_code, result.output
    assert _left(deployed, "acme") == (0, records_left)
    if records_left:
        assert "still unprocessed (throttled)" in result.output
        assert "remains: upload record upload_id=" in result.output
        assert "Traceback" not in result.output


class _StaleIndex:
    """A DynamoDB client whose tenant-index queries keep answering what the first one saw, as
    an eventually consistent GSI can right after a delete."""

    def __init__(self, ddb: Any) -> None:
        self._ddb = ddb
        # One stale answer per query (each item kind queries its own index or key range).
        self.pages: dict[str, list[Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ddb, name)

    def get_paginator(self, name: str) -> Any:
        real = self._ddb.get_paginator(name)
        if name != "query":
            return real
        outer = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> list[Any]:
                query = json.dumps(kwargs, sort_keys=True)
                if query not in outer.pages:
                    outer.pages[query] = list(real.paginate(**kwargs))
                return outer.pages[query]

        return Paginator()


def test_erase_outputs_stale_index_entries_are_not_reported_as_remaining(
    deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a tenant index that still lists the records after they are deleted
    real = erase.EraseTarget.from_outputs

    def stale(path: Path) -> erase.EraseTarget:
        target = real(path)
        return erase.EraseTarget(**{**target.__dict__, "ddb": _StaleIndex(target.ddb)})

    monkeypatch.setattr(erase.EraseTarget, "from_outputs", staticmethod(stale))
    # WHEN the tenant is erased
    result = _run(deployed["outputs"])
    # THEN the consistent read of the table decides: nothing remains, the command succeeds
    assert result.exit_code == 0, result.output
    assert "remains:" not in result.output
    assert _left(deployed, "acme") == (0, 0)

"""runtime.reprocessing on moto: a reprocess message re-renders a completed upload under the
current specs, never regresses or revives a record that changed meanwhile, does no work twice,
and finishes removing dropped derivatives on a retry."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from runtime import ingest
from runtime.errors import TransientFault
from runtime.records import UploadRecord
from runtime.reprocessing import ReprocessRequest, parse_request, rendered_key
from runtime.settings import DerivativeSpec
from tests.runtime.rt_support import ADMIN, Pipeline, image_bytes

NEW_SPECS = (DerivativeSpec("thumb", 32), DerivativeSpec("card", 40, "webp"))


def _changed(pipeline: Pipeline) -> ingest.Deps:
    settings = dataclasses.replace(pipeline.settings, derivatives=NEW_SPECS)
    return dataclasses.replace(pipeline.ingest, settings=settings)


def _message(record: UploadRecord, **changes: str) -> str:
    request = ReprocessRequest(record["upload_id"], record["version_id"], record["tenant"])
    return dataclasses.replace(request, **changes).body()


def _objects(pipeline: Pipeline, record: UploadRecord) -> list[str]:
    prefix = f"derivatives/{record['tenant']}/{record['upload_id']}/"
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.resources.bucket, Prefix=prefix)
    return sorted(o["Key"].rsplit("/", 1)[1] for o in listed.get("Contents", []))


@pytest.fixture
def completed(pipeline: Pipeline) -> UploadRecord:
    created = pipeline.upload(image_bytes(80, 60))
    record = pipeline.record(created["upload_id"])
    assert record["status"] == "completed"
    assert record["rendered_specs"] == rendered_key(record["version_id"], pipeline.settings)
    return record


def test_reprocess_renders_new_specs_and_drops_old(
    pipeline: Pipeline, completed: UploadRecord
) -> None:
    # GIVEN changed specs WHEN the message is handled twice
    deps = _changed(pipeline)
    outcomes = [ingest.handle_message(_message(completed), deps) for _ in range(2)]
    # THEN it re-rendered once, the record lists the new derivatives, the old objects are gone
    assert outcomes == [["reprocessed"], ["duplicate"]]
    record = pipeline.record(completed["upload_id"])
    assert record["status"] == "completed"
    assert sorted(d["name"] for d in record["derivatives"]) == ["card", "thumb"]
    assert _objects(pipeline, record) == ["card.webp", "thumb.jpeg"]
    assert record["rendered_specs"] == rendered_key(record["version_id"], deps.settings)
    assert {"stale_derivatives", "reprocess_claim", "reprocess_lease_until"}.isdisjoint(record)


def test_reprocess_under_unchanged_specs_does_nothing(
    pipeline: Pipeline, completed: UploadRecord
) -> None:
    assert ingest.handle_message(_message(completed), pipeline.ingest) == ["duplicate"]
    assert pipeline.record(completed["upload_id"]) == completed


def test_reprocess_upload_deleted_while_rendering_is_left_alone(
    pipeline: Pipeline, completed: UploadRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a DELETE that lands while the re-render runs
    deps = _changed(pipeline)
    real = deps.process

    def deleted_meanwhile(*args: Any, **kwargs: Any) -> Any:
        rendered = real(*args, **kwargs)
        path = f"/v1/uploads/{completed['upload_id']}"
        assert pipeline.call("DELETE", path, scopes=ADMIN)[0] == 200
        return rendered

    deps = dataclasses.replace(deps, process=deleted_meanwhile)
    # WHEN the message is handled
    assert ingest.handle_message(_message(completed), deps) == ["ignored:deleted"]
    # THEN the record stays deleted and no derivative of the re-render is left
    record = pipeline.record(completed["upload_id"])
    assert record["status"] == "deleted"
    assert _objects(pipeline, record) == []


def test_reprocess_live_claim_elsewhere_is_retried(
    pipeline: Pipeline, completed: UploadRecord
) -> None:
    # GIVEN another delivery holding a live claim on the record
    deps = _changed(pipeline)
    rendered = rendered_key(completed["version_id"], deps.settings)
    assert pipeline.store.claim_reprocess(completed, rendered, "other", deps.clock(), 300)
    # WHEN the message is handled THEN it is retried later, and nothing was written
    with pytest.raises(TransientFault):
        ingest.handle_message(_message(completed), deps)
    assert _objects(pipeline, completed) == ["large.jpeg", "medium.jpeg", "thumb.jpeg"]


def test_reprocess_failed_stale_removal_finishes_on_the_retry(
    pipeline: Pipeline, completed: UploadRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN S3 refusing the removal of dropped derivatives once
    deps = _changed(pipeline)
    real = pipeline.s3.delete_objects
    calls: list[int] = []

    def refuse_once(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            first = kwargs["Delete"]["Objects"][0]["Key"]
            return {"Errors": [{"Key": first, "Code": "SlowDown"}]}
        return real(**kwargs)

    monkeypatch.setattr(pipeline.s3, "delete_objects", refuse_once)
    # WHEN the message is handled and fails, then is redelivered
    with pytest.raises(TransientFault):
        ingest.handle_message(_message(completed), deps)
    assert sorted(pipeline.record(completed["upload_id"])["stale_derivatives"])
    assert ingest.handle_message(_message(completed), deps) == ["duplicate"]
    # THEN the dropped derivatives are gone and forgotten
    record = pipeline.record(completed["upload_id"])
    assert _objects(pipeline, record) == ["card.webp", "thumb.jpeg"]
    assert "stale_derivatives" not in record


@pytest.mark.parametrize(
    ("changes", "outcome"),
    [
        ({"tenant": "tenant-b"}, "ignored:tenant_mismatch"),
        ({"version_id": "another-version"}, "ignored:version_mismatch"),
        ({"upload_id": "01m8zzzzzzzzzzzzzzzzzzzzzz"}, "ignored:no_record"),
    ],
)
def test_reprocess_forged_messages_are_acknowledged_and_ignored(
    pipeline: Pipeline, completed: UploadRecord, changes: dict[str, str], outcome: str
) -> None:
    deps = _changed(pipeline)
    assert ingest.handle_message(_message(completed, **changes), deps) == [outcome]
    assert pipeline.record(completed["upload_id"]) == completed


@pytest.mark.parametrize(
    "payload",
    [
        {"mediakit": "reprocess", "upload_id": "../x", "version_id": "v", "tenant": "t"},
        {"mediakit": "reprocess", "upload_id": "01m8zzzzzzzzzzzzzzzzzzzzzz", "version_id": 3,
         "tenant": "t"},
        {"mediakit": "reprocess", "upload_id": "01m8zzzzzzzzzzzzzzzzzzzzzz", "version_id": "",
         "tenant": "t"},
        {"mediakit": "reprocess", "upload_id": "01m8zzzzzzzzzzzzzzzzzzzzzz"},
        {"mediakit": "reprocess", "upload_id": "01m8zzzzzzzzzzzzzzzzzzzzzz", "version_id": "v",
         "tenant": "t", "key": "originals/other/x.jpg"},
    ],
)  # fmt: skip
def test_reprocess_malformed_requests_are_refused(payload: dict[str, Any]) -> None:
    assert parse_request(payload) is None

"""`mediakit reprocess --outputs FILE` against a "deployed" stack (moto in-process, normal AWS
credentials from the environment): the region comes from the queue URL, only completed uploads
of the selection are queued, audio/video go to the media queue (or are reported skipped when the
stack has none), and missing credentials are one line."""

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
from runtime.records import table_spec
from runtime.reprocessing import parse_request, request_payload

REGION = "eu-west-1"
TABLE = "uploads-reprocess-test"
IDS = {  # upload id -> (tenant, status, content type)
    "01m8aaaaaaaaaaaaaaaaaaaaa1": ("acme", "completed", "image/jpeg"),
    "01m8aaaaaaaaaaaaaaaaaaaaa2": ("acme", "completed", "audio/mpeg"),
    "01m8aaaaaaaaaaaaaaaaaaaaa3": ("acme", "failed", "image/jpeg"),
    "01m8aaaaaaaaaaaaaaaaaaaaa4": ("acme", "pending_upload", "image/png"),
    "01m8aaaaaaaaaaaaaaaaaaaaa5": ("acme.eu", "completed", "image/png"),
}


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, Any]]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        ddb.create_table(**table_spec(TABLE))
        for i, (upload_id, (tenant, status, content_type)) in enumerate(sorted(IDS.items())):
            item = {
                "upload_id": {"S": upload_id},
                "tenant": {"S": tenant},
                "created_at": {"S": f"2026-12-0{i + 1}T00:00:00.000Z"},
                "status": {"S": status},
                "content_type": {"S": content_type},
            }
            if status != "pending_upload":
                item["version_id"] = {"S": f"v-{upload_id}"}
            ddb.put_item(TableName=TABLE, Item=item)
        queues = {
            name: sqs.create_queue(QueueName=f"reprocess-{name}")["QueueUrl"]
            for name in ("ingest", "media")
        }
        outputs = {
            "table_name": TABLE,
            "ingest_queue_url": queues["ingest"],
            "media_queue_url": queues["media"],
        }
        yield {"sqs": sqs, "queues": queues, "outputs": outputs, "dir": tmp_path}


def _run(deployed: dict[str, Any], outputs: dict[str, Any], *args: str) -> Any:
    path = deployed["dir"] / "outputs.json"
    path.write_text(json.dumps(outputs))
    return CliRunner().invoke(cli, ["reprocess", *args, "--outputs", str(path)])


def _received(deployed: dict[str, Any], queue: str) -> list[tuple[str, str, str]]:
    out = []
    while True:
        got = (
            deployed["sqs"]
            .receive_message(QueueUrl=deployed["queues"][queue], MaxNumberOfMessages=10)
            .get("Messages", [])
        )
        if not got:
            return sorted(out)
        for message in got:
            payload = request_payload(message["Body"])
            assert payload is not None
            request = parse_request(payload)
            assert request is not None
            out.append((request.upload_id, request.version_id, request.tenant))
            deployed["sqs"].delete_message(
                QueueUrl=deployed["queues"][queue], ReceiptHandle=message["ReceiptHandle"]
            )


def test_reprocess_outputs_queues_completed_uploads_of_the_tenant_by_kind(
    deployed: dict[str, Any],
) -> None:
    # WHEN tenant acme is reprocessed on the deployed stack
    result = _run(deployed, deployed["outputs"], "--tenant", "acme")
    # THEN its two completed uploads are queued (the image on ingest, the audio on media);
    # failed, pending and the other tenant's uploads are not
    assert result.exit_code == 0, result.output
    assert "2 completed upload(s)" in result.output
    assert _received(deployed, "ingest") == [
        ("01m8aaaaaaaaaaaaaaaaaaaaa1", "v-01m8aaaaaaaaaaaaaaaaaaaaa1", "acme")
    ]
    assert _received(deployed, "media") == [
        ("01m8aaaaaaaaaaaaaaaaaaaaa2", "v-01m8aaaaaaaaaaaaaaaaaaaaa2", "acme")
    ]


def test_reprocess_outputs_all_since_and_no_media_queue(deployed: dict[str, Any]) -> None:
    # GIVEN a stack without a media queue
    outputs = {k: v for k, v in deployed["outputs"].items() if k != "media_queue_url"}
    # WHEN every tenant is reprocessed since the audio upload's day
    result = _run(deployed, outputs, "--all", "--since", "2026-12-02")
    # THEN the other tenant's newer upload is queued, the audio one is reported skipped
    assert result.exit_code == 0, result.output
    assert "2 completed upload(s)" in result.output
    assert "skipped 1 audio/video upload(s)" in result.output
    assert _received(deployed, "ingest") == [
        ("01m8aaaaaaaaaaaaaaaaaaaaa5", "v-01m8aaaaaaaaaaaaaaaaaaaaa5", "acme.eu")
    ]


def test_reprocess_outputs_without_credentials_or_keys_is_one_line(
    deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN outputs lacking the queue, then no AWS credentials at all
    lacking = _run(deployed, {"table_name": TABLE}, "--all")
    assert lacking.exit_code == 2
    assert "lacks ingest_queue_url" in lacking.output
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # WHEN the command runs
    result = _run(deployed, deployed["outputs"], "--all")
    # THEN it says so in one line, without a traceback
    assert result.exit_code == 2, result.output
    assert "no AWS credentials" in result.output
    assert "Traceback" not in result.output


def test_reprocess_outputs_tenant_since_uses_the_index_range(deployed: dict[str, Any]) -> None:
    # WHEN tenant acme is reprocessed since the second day
    result = _run(deployed, deployed["outputs"], "--tenant", "acme", "--since", "2026-12-02")
    # THEN only its newer completed upload (the audio one) is queued
    assert result.exit_code == 0, result.output
    assert "1 completed upload(s)" in result.output
    assert _received(deployed, "ingest") == []
    assert _received(deployed, "media") == [
        ("01m8aaaaaaaaaaaaaaaaaaaaa2", "v-01m8aaaaaaaaaaaaaaaaaaaaa2", "acme")
    ]

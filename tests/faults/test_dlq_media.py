"""`mediakit dlq --media`: the media function's DLQ and queue (audio/video on), from a deployed
stack's outputs (moto in-process) or from an emulator's env file."""

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

REGION = "us-east-1"


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        urls = {
            name: sqs.create_queue(QueueName=name)["QueueUrl"]
            for name in ("ingest", "dlq", "media", "media-dlq")
        }
        yield sqs, urls


def test_dlq_media_lists_and_redrives_the_media_dead_letters(queues: Any, tmp_path: Path) -> None:
    # GIVEN a dead video notification on the media DLQ and the stack's outputs
    sqs, urls = queues
    sqs.send_message(QueueUrl=urls["media-dlq"], MessageBody=json.dumps({"Records": []}))
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "dlq_url": urls["dlq"],
                "ingest_queue_url": urls["ingest"],
                "media_dlq_url": urls["media-dlq"],
                "media_queue_url": urls["media"],
            }
        )
    )
    runner = CliRunner()
    # WHEN listed with --media THEN the media DLQ's message is there, the ingest DLQ is empty
    listed = runner.invoke(cli, ["dlq", "--outputs", str(outputs), "--media", "list"])
    assert listed.exit_code == 0, listed.output
    assert "1 dead message(s)" in listed.output
    plain = runner.invoke(cli, ["dlq", "--outputs", str(outputs), "list"])
    assert "0 dead message(s)" in plain.output
    # AND redrive sends it back to the media queue, not the ingest queue
    moved = runner.invoke(cli, ["dlq", "--outputs", str(outputs), "--media", "redrive", "--all"])
    assert moved.exit_code == 0, moved.output
    assert "1 message(s) sent back" in moved.output
    assert sqs.receive_message(QueueUrl=urls["media"]).get("Messages")
    assert not sqs.receive_message(QueueUrl=urls["ingest"]).get("Messages")


def test_dlq_media_on_an_image_only_stack_names_what_is_missing(tmp_path: Path) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps({"dlq_url": "https://x/1/d", "ingest_queue_url": "https://x/1/q"})
    )
    result = CliRunner().invoke(cli, ["dlq", "--outputs", str(outputs), "--media", "list"])
    assert result.exit_code == 2
    assert "media_dlq_url, media_queue_url" in result.output

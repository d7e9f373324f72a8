"""`mediakit dlq --outputs FILE` against a "deployed" stack (moto in-process, normal AWS
credentials from the environment): the path the platform team uses with `pulumi stack output`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hostile"))
from fault_injection import Fault, Injector
from moto_stack import MAX_RECEIVES, MotoStack

from mediakit.cli import cli
from mediakit.corpus.hostile import valid_jpeg
from mediakit.ops.outputs import queue_region as _region_of


def _outputs(stack: MotoStack, tmp_path: Path) -> Path:
    path = tmp_path / "outputs.json"
    outputs = {
        "api_url": "https://api.example",
        "bucket_name": stack.resources.bucket,
        "dlq_url": stack.dlq_url,
        "ingest_queue_url": stack.queue_url,
        "table_name": stack.resources.table,
    }
    path.write_text(json.dumps(outputs))
    return path


def test_dlq_outputs_list_then_redrive_all(
    stack: MotoStack, inject: Injector, tmp_path: Path
) -> None:
    # GIVEN two uploads dead-lettered by a DynamoDB outage, and the stack's outputs file
    outage = inject.add("dynamodb", "GetItem", Fault("InternalServerError", 500))
    created = [stack.upload(valid_jpeg(40 + i), "image/jpeg") for i in range(2)]
    stack.drain()
    assert stack.dlq_depth() == 2
    outputs = _outputs(stack, tmp_path)
    outage.times = outage.hits
    runner = CliRunner()

    # WHEN the DLQ is listed (at most one, then all) and then redriven with --all
    first = runner.invoke(cli, ["dlq", "--outputs", str(outputs), "list", "--json", "--max", "1"])
    listed = runner.invoke(cli, ["dlq", "--outputs", str(outputs), "list", "--json"])
    moved = runner.invoke(cli, ["dlq", "--outputs", str(outputs), "redrive", "--all"])
    stack.drain()

    # THEN the listing named both uploads with their receive counts, the redrive moved both,
    # and both completed; the DLQ is empty again
    assert len(json.loads(first.stdout)) == 1
    dead = json.loads(listed.stdout)
    assert {d["upload_id"] for d in dead} == {c["upload_id"] for c in created}
    # (a look is a receive too: the message the first listing saw counts one more)
    assert sorted(d["receive_count"] for d in dead) == [MAX_RECEIVES, MAX_RECEIVES + 1]
    assert moved.exit_code == 0, moved.output
    assert "2 message(s) sent back" in moved.output
    for c in created:
        assert stack.record(c["upload_id"])["status"] == "completed"
    assert stack.dlq_depth() == 0


def test_dlq_outputs_missing_queue_urls_is_an_error(tmp_path: Path) -> None:
    # GIVEN outputs without the queue URLs
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"api_url": "https://x"}))

    # WHEN any dlq command runs
    result = CliRunner().invoke(cli, ["dlq", "--outputs", str(path), "list"])

    # THEN it names what is missing
    assert result.exit_code == 2
    assert "dlq_url, ingest_queue_url" in result.output


def test_dlq_region_comes_from_the_queue_url() -> None:
    # GIVEN / WHEN / THEN the region is read from SQS queue URLs, not from other hosts
    assert _region_of("https://sqs.eu-west-1.amazonaws.com/1/q") == "eu-west-1"
    assert _region_of("https://ap-south-1.queue.amazonaws.com/1/q") == "ap-south-1"
    assert _region_of("http://127.0.0.1:5000/1/q") is None


def test_dlq_without_a_running_dev_says_how_to_start_one(tmp_path: Path) -> None:
    # GIVEN no env file / WHEN dlq list runs against it
    result = CliRunner().invoke(cli, ["dlq", "--env-file", str(tmp_path / "none.json"), "list"])

    # THEN it could not run (exit 2), with the hint to start `mediakit dev`
    assert result.exit_code == 2
    assert "mediakit dev" in result.output

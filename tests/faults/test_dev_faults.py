"""`mediakit dev` under faults, and `mediakit dlq` against it through its env file: the emulator
keeps serving and processing while S3, DynamoDB or EventBridge misbehave, dead letters are
listed with their upload and last failure, and a redrive finishes them once the fault is gone."""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fault_injection import Fault, Injector

from mediakit.cli import cli
from mediakit.client import ApiClient, request
from mediakit.corpus.hostile import valid_jpeg
from mediakit.local.emulator import DevEnv, Emulator, mint_token
from mediakit.local.event_source import queue_depth
from runtime import processor
from runtime.settings import Settings

RECEIVES = 2


@pytest.fixture(scope="module")
def dev() -> Iterator[DevEnv]:
    """The emulator with a 1 s visibility timeout and a DLQ after two receives. The processor
    is handed in as a callable, so it runs in this process (thread mode): the faults are hooked
    on this process's runtime clients, which a worker process would not share. One poller, as
    a Lambda environment runs one invocation at a time: the processor keeps one warm decoding
    child per process. Timeouts and kills in process mode: tests/emulator/test_lambda_*.py."""
    settings = Settings(dlq_max_receive_count=RECEIVES)
    with Emulator(
        settings, visibility_timeout=1, pollers=1, processor_handler=processor.handler
    ) as env:
        yield env


@pytest.fixture(scope="module")
def env_file(dev: DevEnv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dev") / "dev.json"
    dev.write(path)
    return path


@pytest.fixture(scope="module")
def sqs(dev: DevEnv) -> Any:
    return dev.client("sqs")


@pytest.fixture
def inject(dev: DevEnv) -> Iterator[Injector]:
    injector = Injector()
    yield injector
    injector.close()


def _until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def _upload(client: ApiClient, data: bytes) -> dict[str, Any]:
    created = client.create_upload(filename="p.jpg", content_type="image/jpeg", size=len(data))
    assert request("PUT", created["url"], headers=created["headers"], body=data).status == 200
    return created


def _for_key(key: str) -> Callable[[dict[str, Any]], bool]:
    return lambda req: urllib.parse.unquote(str(req.get("url_path", ""))).endswith(key)


def test_dev_s3_outage_dead_letters_then_dlq_cli_lists_shows_and_redrives(
    dev: DevEnv, env_file: Path, sqs: Any, inject: Injector
) -> None:
    # GIVEN S3 failing every GetObject of one upload with 500, and a healthy second upload
    client = ApiClient(dev.api_url, mint_token(dev, "acme"))
    doomed = client.create_upload(
        filename="a.jpg", content_type="image/jpeg", size=len(valid_jpeg(1))
    )
    outage = inject.add(
        "s3", "GetObject", Fault("InternalError", 500, when=_for_key(doomed["key"]))
    )
    assert (
        request("PUT", doomed["url"], headers=doomed["headers"], body=valid_jpeg(1)).status == 200
    )
    healthy = _upload(client, valid_jpeg(2))

    # WHEN the emulator retries until the message is dead-lettered
    _until(lambda: queue_depth(sqs, dev.dlq_url) == 1)

    # THEN dev kept serving: the healthy upload completed, the doomed one is not failed
    assert client.wait(healthy, timeout=30)["status"] == "completed"
    assert client.status(doomed)["status"] == "processing"
    # AND `dlq list` shows the upload, its key, receive count and last failure
    runner = CliRunner()
    listed = runner.invoke(cli, ["dlq", "--env-file", str(env_file), "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [dead] = json.loads(listed.stdout)
    assert (dead["upload_id"], dead["key"]) == (doomed["upload_id"], doomed["key"])
    assert dead["receive_count"] == RECEIVES
    assert dead["last_error"]["code"] == "InternalError"
    text = runner.invoke(cli, ["dlq", "--env-file", str(env_file), "list"])
    assert doomed["upload_id"] in text.stdout
    assert "InternalError" in text.stdout
    # AND `dlq show` prints it with the parsed notification
    shown = runner.invoke(cli, ["dlq", "--env-file", str(env_file), "show", dead["message_id"]])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["body"]["Records"][0]["s3"]["bucket"]["name"] == dev.bucket
    # AND once S3 recovers, `dlq redrive ID` completes the upload and empties the DLQ
    outage.times = outage.hits
    moved = runner.invoke(cli, ["dlq", "--env-file", str(env_file), "redrive", dead["message_id"]])
    assert moved.exit_code == 0, moved.output
    assert client.wait(doomed, timeout=30)["status"] == "completed"
    assert queue_depth(sqs, dev.dlq_url) == 0


def test_dev_survives_dynamodb_throttling_and_eventbridge_failures(
    dev: DevEnv, sqs: Any, inject: Injector
) -> None:
    # GIVEN DynamoDB throttling the first delivery of one upload (its claim and the note of
    # the failure), and EventBridge failing the first announcement of another
    inject.add(
        "dynamodb", "UpdateItem", Fault("ProvisionedThroughputExceededException", 400, times=2)
    )
    client = ApiClient(dev.api_url, mint_token(dev, "acme"))
    throttled = _upload(client, valid_jpeg(3))
    assert client.wait(throttled, timeout=30)["status"] == "completed"
    inject.add("events", "PutEvents", Fault("InternalException", 500, times=1))

    # WHEN the second upload goes through too
    unannounced = _upload(client, valid_jpeg(4))

    # THEN both complete after one retry each, the API answered throughout, the retries drained
    # and nothing reached the DLQ (one retry is within maxReceiveCount)
    assert client.wait(unannounced, timeout=30)["status"] == "completed"
    _until(lambda: queue_depth(sqs, dev.queue_url) == 0)
    assert inject.faults["before-call.dynamodb.UpdateItem"][0].hits == 2
    assert inject.faults["before-call.eventbridge.PutEvents"][0].hits == 1
    assert queue_depth(sqs, dev.dlq_url) == 0


def test_dev_dlq_redrive_and_purge_need_a_target_and_confirmation(
    dev: DevEnv, env_file: Path, sqs: Any
) -> None:
    # GIVEN a junk message on the DLQ (not an S3 notification)
    assert queue_depth(sqs, dev.dlq_url) == 0
    sqs.send_message(QueueUrl=dev.dlq_url, MessageBody="junk")
    runner = CliRunner()
    base = ["dlq", "--env-file", str(env_file)]

    # WHEN redrive is called without ids or --all, with an unknown id, and purge is declined
    no_target = runner.invoke(cli, [*base, "redrive"])
    unknown = runner.invoke(cli, [*base, "redrive", "no-such-id"])
    declined = runner.invoke(cli, [*base, "purge"], input="n\n")
    listed = json.loads(runner.invoke(cli, [*base, "list", "--json"]).stdout)

    # THEN each refuses, and the message is still there, listed as not an S3 notification
    assert no_target.exit_code == 2
    assert unknown.exit_code == 1
    assert "no-such-id" in unknown.output
    # (declining is the user's choice, not an error: exit 0, nothing purged)
    assert declined.exit_code == 0, declined.output
    assert "Delete 1 dead message(s) for good?" in declined.output
    assert declined.output.rstrip().endswith("nothing purged")
    assert [(m["body"], m["upload_id"]) for m in listed] == [("junk", None)]
    # AND purge --yes removes it
    purged = runner.invoke(cli, [*base, "purge", "--yes"])
    assert purged.exit_code == 0, purged.output
    assert "purged 1 message(s)" in purged.output
    assert queue_depth(sqs, dev.dlq_url) == 0


def test_dev_dlq_purge_of_an_empty_dlq_says_so_without_asking(
    dev: DevEnv, env_file: Path, sqs: Any
) -> None:
    # GIVEN an empty DLQ
    assert queue_depth(sqs, dev.dlq_url) == 0
    # WHEN purge runs without --yes and with no answer to give
    result = CliRunner().invoke(cli, ["dlq", "--env-file", str(env_file), "purge"], input="")
    # THEN it says the DLQ is empty, asks nothing and succeeds
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "the DLQ is empty: nothing to purge"
    assert "Traceback" not in result.output

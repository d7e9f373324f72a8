"""`mediakit dev --fail-rate R`: a share R of processor invocations fails before the handler
runs, so the retry/DLQ recipe can be watched locally. The real processor runs in its worker
processes (the default handler): an injected fault never reaches it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mediakit.cli import cli
from mediakit.client import ApiClient, request
from mediakit.corpus.hostile import valid_jpeg
from mediakit.local.emulator import Emulator, mint_token
from mediakit.local.event_source import queue_depth
from mediakit.local.faults import FailRate

RECEIVES = 2


def _until(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("rate", "pattern"),
    [
        (1.0, "FFFFFF"),
        (0.5, "F.F.F.F."),
        (0.3, "F..F..F...F..F..F..."),  # 6 of 20, the share rounded up at every step
        (0.1, "F........." * 2),
        (0.0, "........"),
    ],
)
def test_fail_rate_fails_exactly_that_share_starting_with_the_first(
    rate: float, pattern: str
) -> None:
    # GIVEN a fail rate WHEN invocations are counted THEN exactly ceil(n * R) of the first n
    # fail, evenly spread (reproducible: no random draw)
    faults = FailRate(rate)
    seen = "".join("F" if faults.next_fault() else "." for _ in pattern)
    assert seen == pattern
    assert faults.injected == pattern.count("F")


def test_fail_rate_fault_line_names_its_count() -> None:
    faults = FailRate(0.5)
    assert faults.next_fault() == "injected fault 1 of 1 invocations (--fail-rate 0.5)"
    assert faults.next_fault() is None


@pytest.mark.parametrize("value", ["1.5", "-0.1", "abc", "nan", "inf", ""])
def test_dev_fail_rate_typo_is_a_usage_error(value: str, tmp_path: Path) -> None:
    # GIVEN / WHEN a fail rate outside 0..1 or not a number
    result = CliRunner().invoke(
        cli, ["dev", "--fail-rate", value, "--env-file", str(tmp_path / "dev.json")]
    )
    # THEN click refuses it before anything starts: usage error, no traceback, no env file
    assert result.exit_code == 2, result.output
    assert f"'--fail-rate': {value!r} is not a share between 0 and 1" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "dev.json").exists()


def _upload(client: ApiClient, seed: int) -> dict[str, Any]:
    data = valid_jpeg(seed)
    created = client.create_upload(filename="a.jpg", content_type="image/jpeg", size=len(data))
    assert request("PUT", created["url"], headers=created["headers"], body=data).status == 200
    return created


def test_fail_rate_one_dead_letters_every_upload_and_dlq_list_shows_it(tmp_path: Path) -> None:
    # GIVEN the emulator failing every processor invocation, a DLQ after two receives and a
    # 1 s visibility timeout (as `MEDIAKIT_DLQ_MAX_RECEIVE_COUNT=2 mediakit dev
    # --visibility-timeout 1 --fail-rate 1`)
    lines: list[str] = []
    emulator = Emulator(
        None,
        config={"dlqMaxReceiveCount": RECEIVES},
        visibility_timeout=1,
        fail_rate=1.0,
        processor_log=lines.append,
    )
    with emulator as env:
        env_file = tmp_path / "dev.json"
        env.write(env_file)
        client = ApiClient(env.api_url, mint_token(env, "acme"))
        created = _upload(client, 1)
        sqs = env.client("sqs")
        # WHEN the mapping has retried it until SQS moved it
        _until(lambda: queue_depth(sqs, env.queue_url) == 0)
        # THEN `mediakit dlq list` shows it, received RECEIVES times (beside the bucket's
        # s3:TestEvent, which failed the same way)
        listed = CliRunner().invoke(cli, ["dlq", "--env-file", str(env_file), "list", "--json"])
        assert listed.exit_code == 0, listed.output
        messages = json.loads(listed.stdout)
        [dead] = [m for m in messages if m["upload_id"]]
        assert dead["upload_id"] == created["upload_id"]
        assert dead["receive_count"] == RECEIVES
        assert all("s3:TestEvent" in m["body"] for m in messages if m is not dead)
        # AND every invocation was an injected fault, each one logged; the handler never ran
        assert emulator.mapping is not None
        stats = emulator.mapping.stats
        assert stats.injected_faults == stats.invocations >= RECEIVES
        assert stats.deleted == 0
        mine = [line for line in lines if f"message {dead['message_id'][:8]}" in line]
        assert len(mine) == RECEIVES
        assert all("injected fault" in line and "all left for retry" in line for line in mine)
        assert [f"receive {n}" in line for n, line in enumerate(mine, 1)] == [True] * RECEIVES
        assert client.status(created)["status"] == "pending_upload"


def test_fail_rate_half_fails_once_then_the_retry_completes(tmp_path: Path) -> None:
    # GIVEN every other processor invocation failing, starting with the first
    emulator = Emulator(
        None, config={"dlqMaxReceiveCount": RECEIVES}, visibility_timeout=1, fail_rate=0.5
    )
    with emulator as env:
        client = ApiClient(env.api_url, mint_token(env, "acme"))
        # (the bucket's s3:TestEvent took the first two invocations: failed, then retried)
        sqs = env.client("sqs")
        _until(lambda: queue_depth(sqs, env.queue_url) == 0)
        assert emulator.mapping is not None
        assert emulator.mapping.stats.invocations == 2
        # WHEN one upload goes through
        created = _upload(client, 2)
        # THEN its first delivery failed, its retry completed it, and the DLQ stayed empty
        assert client.wait(created, timeout=60)["status"] == "completed"
        stats = emulator.mapping.stats
        assert (stats.invocations, stats.injected_faults, stats.deleted) == (4, 2, 2)
        assert queue_depth(sqs, env.dlq_url) == 0

"""The emulator runs its functions as Lambda does: each invocation in a warm worker process,
killed by the OS at the function's timeout or over its memory, its whole batch then redelivered
by SQS, its environment replaced; at most MaximumConcurrency environments at once; nothing
of the parent's environment inside. Evidence is what the OS reports (signal, exit status, the
processes left in a group), never wall-clock timings."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mediakit.client import request
from mediakit.local.emulator import DevEnv, Emulator, mint_token
from mediakit.local.event_source import MappingStats, queue_depth
from mediakit.local.lambda_pool import CODE_ROOT, LambdaPool
from runtime.settings import Settings
from tests.emulator.lambda_support import group_members, tag, until

HANDLERS = "tests.emulator.lambda_handlers:"
RECEIVES = 2
MEMORY_MB = 320
# The smallest function the settings allow that still fits a batch of two: 2 x 1 s + 10 s.
SETTINGS = Settings(
    processor_batch_size=2,
    processing_timeout_seconds=1,
    processing_cpu_seconds=1,
    processor_timeout_seconds=12,
    processor_memory_mb=MEMORY_MB,
    processing_memory_mb=64,
    max_pixels=8_000_000,
    dlq_max_receive_count=RECEIVES,
)
# What Lambda itself puts in every environment, beside the function's own variables.
LAMBDA_RESERVED = {
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_EXECUTION_ENV",
    "_HANDLER",
    "LAMBDA_TASK_ROOT",
    "PYTHONPATH",
    "PATH",
    "LANG",
    "TZ",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    # Set by Python itself at startup when it coerces a C locale to UTF-8 (PEP 538).
    "LC_CTYPE",
}
_DELIVERY = re.compile(r"delivery (\d+) of (\S+) by (\d+)")


@dataclass
class Lambdas:
    env: DevEnv
    emulator: Emulator
    sqs: Any
    logs: list[str] = field(default_factory=list)

    @property
    def stats(self) -> MappingStats:
        assert self.emulator.mapping is not None
        return self.emulator.mapping.stats

    def pool(self, which: str) -> LambdaPool:
        function = getattr(self.emulator, which)
        assert isinstance(function, LambdaPool)
        return function

    def deliveries(self, body: str) -> list[tuple[int, int]]:
        """(receive count, worker pid) of every delivery of `body` the handler logged."""
        found = [_DELIVERY.search(line) for line in list(self.logs)]
        return [(int(m[1]), int(m[3])) for m in found if m is not None and m[2] == body]

    def get(self, path: str) -> Any:
        token = mint_token(self.env, "acme")
        return request(
            "GET", f"{self.env.api_url}{path}", headers={"authorization": f"Bearer {token}"}
        )


@pytest.fixture(scope="module")
def lambdas() -> Iterator[Lambdas]:
    """Stand-in handlers by dotted name (so in worker processes), one poller, quick retries."""
    logs: list[str] = []
    emulator = Emulator(
        SETTINGS,
        visibility_timeout=1,
        pollers=1,
        processor_handler=HANDLERS + "behave",
        presign_handler=HANDLERS + "api",
        presign_timeout_seconds=1,
        presign_concurrency=2,
        function_log=logs.append,
    )
    with emulator as env:
        sqs = env.client("sqs")
        # S3's test event from the bucket notification goes first, so the counts start clean.
        until(lambda: queue_depth(sqs, env.queue_url) == 0)
        yield Lambdas(env, emulator, sqs, logs)


def test_processor_past_its_timeout_is_killed_and_its_whole_batch_redelivered(
    lambdas: Lambdas,
) -> None:
    # GIVEN a batch of two messages whose handler sleeps past the timeout on a first delivery
    kills_before, deleted_before = len(lambdas.stats.killed), lambdas.stats.deleted
    a, b = tag("hang-first"), tag("hang-first")
    lambdas.sqs.send_message_batch(
        QueueUrl=lambdas.env.queue_url,
        Entries=[{"Id": "a", "MessageBody": a}, {"Id": "b", "MessageBody": b}],
    )
    # WHEN the mapping works until the queue is empty
    until(lambda: queue_depth(lambdas.sqs, lambdas.env.queue_url) == 0)
    # THEN the first invocation (both messages, one worker) was SIGKILLed at the timeout
    [kill] = lambdas.stats.killed[kills_before:]
    assert (kill.reason, kill.returncode) == ("timeout", -signal.SIGKILL)
    (first_a, second_a), (first_b, second_b) = lambdas.deliveries(a), lambdas.deliveries(b)
    assert first_a == first_b == (1, kill.pid)
    assert group_members(kill.pid) == []
    # AND the whole batch came back (receive count 2) to a fresh environment and succeeded
    assert second_a[0] == second_b[0] == 2
    assert kill.pid not in (second_a[1], second_b[1])
    assert lambdas.stats.deleted - deleted_before == 2
    assert queue_depth(lambdas.sqs, lambdas.env.dlq_url) == 0


def test_processor_over_its_memory_is_killed_each_delivery_then_dead_lettered(
    lambdas: Lambdas,
) -> None:
    # GIVEN a message whose handler allocates without end
    kills_before = len(lambdas.stats.killed)
    body = tag("hog")
    lambdas.sqs.send_message(QueueUrl=lambdas.env.queue_url, MessageBody=body)
    # WHEN the mapping works until SQS dead-letters it
    until(lambda: queue_depth(lambdas.sqs, lambdas.env.dlq_url) == 1)
    # THEN each of its RECEIVES deliveries was SIGKILLed over the function's memory
    kills = lambdas.stats.killed[kills_before:]
    assert [(k.reason, k.returncode) for k in kills] == [("memory", -signal.SIGKILL)] * RECEIVES
    assert all(f"of its {MEMORY_MB} MB" in k.detail for k in kills)
    assert [count for count, _ in lambdas.deliveries(body)] == [1, 2]
    # AND the message on the DLQ is that one, received RECEIVES times
    dead = lambdas.sqs.receive_message(
        QueueUrl=lambdas.env.dlq_url, MessageSystemAttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert [m["Body"] for m in dead] == [body]
    lambdas.sqs.delete_message(QueueUrl=lambdas.env.dlq_url, ReceiptHandle=dead[0]["ReceiptHandle"])


def test_processor_crash_returns_the_batch_and_replaces_the_environment(
    lambdas: Lambdas,
) -> None:
    # GIVEN a message whose handler ends its process (exit status 3) on a first delivery
    kills_before = len(lambdas.stats.killed)
    body = tag("exit-first")
    lambdas.sqs.send_message(QueueUrl=lambdas.env.queue_url, MessageBody=body)
    # WHEN the mapping works until the queue is empty
    until(lambda: queue_depth(lambdas.sqs, lambdas.env.queue_url) == 0)
    # THEN the crash is recorded with the exit status, and the retry ran in a new process
    [kill] = lambdas.stats.killed[kills_before:]
    assert (kill.reason, kill.returncode) == ("crash", 3)
    (first, crashed_pid), (second, retry_pid) = lambdas.deliveries(body)
    assert (first, second) == (1, 2)
    assert crashed_pid == kill.pid != retry_pid


def test_warm_processor_environment_is_reused_between_invocations(lambdas: Lambdas) -> None:
    # GIVEN two messages sent one after the other (two invocations)
    bodies = [tag("ok"), tag("ok")]
    for body in bodies:
        lambdas.sqs.send_message(QueueUrl=lambdas.env.queue_url, MessageBody=body)
        until(lambda: queue_depth(lambdas.sqs, lambdas.env.queue_url) == 0)
    # WHEN / THEN both ran in the same worker process, which the pool counts twice
    [(_, first_pid)], [(_, second_pid)] = (lambdas.deliveries(b) for b in bodies)
    assert first_pid == second_pid
    assert lambdas.pool("processor").stats.invocations_by_pid[first_pid] >= 2


def test_api_function_runs_with_only_the_lambda_environment_and_a_lambda_context(
    lambdas: Lambdas,
) -> None:
    # GIVEN the emulator's Lambda environment, and a variable only this process has
    assert "PYTEST_CURRENT_TEST" in os.environ
    assert lambdas.emulator.resources is not None
    expected = lambdas.emulator.lambda_environ(
        lambdas.env.aws_endpoint_url, lambdas.emulator.resources
    )
    # WHEN the API's function describes where it runs
    resp = lambdas.get("/v1/uploads")
    assert resp.status == 200, resp.body
    seen = json.loads(resp.body)
    # THEN it is another process, whose environment is the function's plus Lambda's own
    assert seen["pid"] != os.getpid()
    environ = seen["environ"]
    assert {k: environ.get(k) for k in expected} == expected
    assert set(environ) - set(expected) <= LAMBDA_RESERVED
    assert "PYTEST_CURRENT_TEST" not in environ
    assert environ["AWS_ENDPOINT_URL"] == lambdas.env.aws_endpoint_url
    # AND its context has the function's name, memory, a request id and a deadline
    assert seen["function_name"] == "mediakit-presign"
    assert seen["memory_limit_in_mb"] == 256
    assert seen["aws_request_id"]
    assert 0 < seen["remaining_ms"] <= 1000
    assert seen["invoked_function_arn"].endswith(":function:mediakit-presign")


def test_api_function_past_its_timeout_is_killed_and_answered_like_api_gateway(
    lambdas: Lambdas,
) -> None:
    # GIVEN the API's function sleeping past its 1 s timeout on one route
    ended_before = len(lambdas.pool("presign").stats.ended)
    # WHEN that route is called, then another one
    slow = lambdas.get("/v1/uploads/sleep")
    after = lambdas.get("/v1/uploads")
    # THEN the client got the HTTP API's own 500 body, the worker was SIGKILLed with its group
    assert slow.status == 500
    assert json.loads(slow.body) == {"message": "Internal Server Error"}
    [ended] = lambdas.pool("presign").stats.ended[ended_before:]
    assert (ended.status, ended.returncode) == ("timeout", -signal.SIGKILL)
    assert ended.pid is not None
    assert group_members(ended.pid) == []
    # AND the next request was served by a live environment
    assert after.status == 200
    assert json.loads(after.body)["pid"] != ended.pid


def test_api_function_runs_at_most_its_concurrency_at_once(lambdas: Lambdas) -> None:
    # GIVEN an API function limited to two environments, each request taking 0.3 s
    pool = lambdas.pool("presign")
    # WHEN six requests arrive at once
    with ThreadPoolExecutor(6) as clients:
        responses = list(clients.map(lambda _: lambdas.get("/v1/uploads/nap"), range(6)))
    # THEN all were answered, by at most two processes, never more than two busy at once
    assert [r.status for r in responses] == [200] * 6
    assert len({json.loads(r.body)["pid"] for r in responses}) <= 2
    assert pool.stats.max_busy <= 2


def _host(handler: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediakit.local.lambda_host", handler],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=CODE_ROOT,
        env={"PYTHONPATH": str(CODE_ROOT)},
        start_new_session=True,
    )
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline())["type"] == "ready"
    return proc


@pytest.mark.parametrize(("busy", "returncode"), [(False, 0), (True, -signal.SIGKILL)])
def test_worker_process_ends_when_its_stdin_closes(
    busy: bool, returncode: int, tmp_path: Path
) -> None:
    # GIVEN a worker, idle or in the middle of a long invocation
    proc = _host(HANDLERS + "sleep")
    assert proc.stdin is not None
    try:
        if busy:
            started = tmp_path / "started"
            event = {"seconds": 3600, "started": str(started)}
            invoke = {"type": "invoke", "id": "r1", "deadline_ms": 0, "event": event}
            proc.stdin.write(json.dumps(invoke).encode() + b"\n")
            proc.stdin.flush()
            until(started.exists)
        # WHEN its parent goes away (its stdin closes)
        proc.stdin.close()
        # THEN it exits on its own: cleanly when idle, SIGKILLed with its group when busy
        assert proc.wait(timeout=30) == returncode
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

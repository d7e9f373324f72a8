"""The processor's environments are bounded by the mapping's MaximumConcurrency, reused while
warm, and gone once the emulator stops (its own emulator: one runs per process at a time)."""

from __future__ import annotations

from mediakit.local.emulator import Emulator
from mediakit.local.event_source import queue_depth
from mediakit.local.lambda_pool import LambdaPool
from runtime.settings import Settings
from tests.emulator.lambda_support import group_members, tag, until

HANDLERS = "tests.emulator.lambda_handlers:"


def test_processor_environments_bounded_by_max_concurrency_and_gone_after_stop() -> None:
    # GIVEN MaximumConcurrency 2 and more pollers asked for, batches of one message
    settings = Settings(processor_max_concurrency=2, processor_batch_size=1)
    emulator = Emulator(settings, pollers=8, processor_handler=HANDLERS + "behave")
    with emulator as env:
        sqs = env.client("sqs")
        pool = emulator.processor
        assert isinstance(pool, LambdaPool)
        # (S3's test event from the bucket notification goes first)
        until(lambda: queue_depth(sqs, env.queue_url) == 0)
        before = sum(pool.stats.invocations_by_pid.values())
        # WHEN eight slow messages arrive at once
        sqs.send_message_batch(
            QueueUrl=env.queue_url,
            Entries=[{"Id": str(i), "MessageBody": tag("nap")} for i in range(8)],
        )
        until(lambda: queue_depth(sqs, env.queue_url) == 0)
        # THEN two pollers fed at most two warm processes, reused for all eight invocations
        assert emulator.pollers == pool.max_concurrency == 2
        assert pool.stats.max_busy <= 2
        assert len(pool.stats.spawned) <= 2
        assert sum(pool.stats.invocations_by_pid.values()) - before == 8
    # AND once the emulator stopped, no process of any worker's group is left
    assert all(group_members(pid) == [] for pid in pool.stats.spawned)

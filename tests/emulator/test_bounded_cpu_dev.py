"""The CPU budget through `mediakit dev`: with the structural limit out of the way, the decode of a
scan bomb runs until the kernel ends the processing child (its own emulator: other settings)."""

from __future__ import annotations

from pathlib import Path

from mediakit.corpus.hostile import scan_bomb_jpeg
from mediakit.local.emulator import Emulator
from runtime.settings import Settings
from tests.emulator.conftest import dev_client


def test_dev_cpu_budget_kills_a_decode_the_structure_limit_would_have_refused(
    tmp_path: Path,
) -> None:
    # GIVEN the scan limit raised out of the way and a 1 s CPU budget: the decode itself runs
    settings = Settings(
        max_jpeg_scans=1000,
        processing_cpu_seconds=1,
        processing_timeout_seconds=10,
        processor_batch_size=1,
        processor_timeout_seconds=20,
    )
    with Emulator(settings) as env:
        client = dev_client(env, "tenant-evil")
        path = tmp_path / "bomb.jpg"
        path.write_bytes(scan_bomb_jpeg(repeats=900))
        created = client.upload(path, content_type="image/jpeg")
        # WHEN processed
        record = client.wait(created, timeout=60)
        # THEN the kernel ended the child (SIGXCPU at the CPU limit) and the upload failed
        assert record["status"] == "failed"
        assert record["error"]["code"] == "processing_limit"
        assert "SIGXCPU" in record["error"]["message"] or "SIGKILL" in record["error"]["message"]
        dlq = env.client("sqs").get_queue_attributes(
            QueueUrl=env.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        assert dlq["ApproximateNumberOfMessages"] == "0"

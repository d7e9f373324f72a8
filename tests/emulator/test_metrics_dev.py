"""The functions' EMF metrics through `mediakit dev`, extracted from their logs as CloudWatch Logs
does, and matched against what the stack's alarms name."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from mediakit.corpus.hostile import valid_jpeg
from mediakit.local.emulator import DevEnv, Emulator
from policies.synth import synth
from runtime import telemetry
from runtime.settings import Settings
from tests.emulator.conftest import dev_client


@pytest.fixture(scope="module")
def dev() -> Iterator[tuple[Emulator, DevEnv]]:
    emulator = Emulator(Settings(dlq_max_receive_count=2), visibility_timeout=1)
    with emulator as env:
        yield emulator, env


def _total(emulator: Emulator, ref: telemetry.MetricRef) -> float:
    return sum(
        v
        for ns, name, dims, v in emulator.emitted_metrics()
        if (ns, name, dims) == (ref.namespace, ref.name, ref.dimensions(emulator.prefix))
    )


def _eventually(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.2)


def test_dev_outcomes_are_emitted_under_the_alarms_metric_names(
    dev: tuple[Emulator, DevEnv], tmp_path: Path
) -> None:
    # GIVEN a valid photo and a file that is not an image, uploaded through the real path
    emulator, env = dev
    client = dev_client(env, "tenant-m")
    good, bad = tmp_path / "good.jpg", tmp_path / "bad.jpg"
    good.write_bytes(valid_jpeg(5))
    bad.write_bytes(b"certainly not a JPEG, whatever its name says")
    records = [client.wait(client.upload(p, content_type="image/jpeg")) for p in (good, bad)]
    assert [r["status"] for r in records] == ["completed", "failed"]
    # THEN the processor's logs carried one completion and one failure, with the exact
    # namespace, name and dimension set the alarms use
    completed = telemetry.MetricRef(telemetry.UPLOADS_COMPLETED, telemetry.PROCESSOR)
    _eventually(lambda: _total(emulator, telemetry.FAILURES) >= 1)
    assert _total(emulator, completed) >= 1
    assert _total(emulator, telemetry.FAILURES) >= 1
    presigns = [m for m in emulator.emitted_metrics() if m[1] == telemetry.PRESIGNS]
    assert {m[2]["method"] for m in presigns} == {"PUT"}


def test_dev_transient_fault_is_emitted_as_a_retry(dev: tuple[Emulator, DevEnv]) -> None:
    # GIVEN an upload whose record table disappears before its bytes are processed (every
    # delivery then fails transiently: DynamoDB answers ResourceNotFoundException). This test
    # runs last in the module: the table stays gone.
    emulator, env = dev
    client = dev_client(env, "tenant-m")
    data = valid_jpeg(6)
    created = client.create_upload(filename="a.jpg", content_type="image/jpeg", size=len(data))
    before = _total(emulator, telemetry.RETRIES)
    env.client("dynamodb").delete_table(TableName=env.table)
    sent = requests.put(created["url"], data=data, headers=created["headers"], timeout=10)
    assert sent.ok
    # THEN the retry metric the retry alarm watches goes up
    _eventually(lambda: _total(emulator, telemetry.RETRIES) > before)
    assert _total(emulator, telemetry.RETRIES) > before
    # AND what the emulator's processor emitted is exactly what the synthesized dev stack's
    # alarm names: namespace, metric and the whole dimension set (CloudWatch matches nothing
    # else). The emulator names its pipeline as the dev stack does (`mediakit-dev`).
    graph = synth("dev")
    (alarm,) = [
        r["inputs"]
        for r in graph["resources"]
        if r["type"] == "aws:cloudwatch/metricAlarm:MetricAlarm"
        and r["inputs"].get("metricName") == telemetry.PROCESSING_RETRIES
    ]
    emitted = {
        (ns, name, tuple(sorted(d.items()))) for ns, name, d, _ in emulator.emitted_metrics()
    }
    wanted = (alarm["namespace"], alarm["metricName"], tuple(sorted(alarm["dimensions"].items())))
    assert wanted in emitted

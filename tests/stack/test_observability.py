"""Alarms that can fire and a dashboard that shows the pipeline: the EMF alarms name exactly the
namespace, metric and dimension set the functions emit (CloudWatch matches nothing else)."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

from runtime import telemetry
from tests.stack.conftest import StackGraph

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
PROCESSOR = "media-compute-processor"


def _pipeline(stack: StackGraph) -> str:
    variables: dict[str, str] = stack.inputs(PROCESSOR)["environment"]["variables"]
    return variables["MEDIAKIT_PIPELINE"]


def _emitted(stack: StackGraph) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """What the processor logs for one failure and one retry, with the graph's environment."""
    recorder = telemetry.Recorder(telemetry.PROCESSOR, _pipeline(stack), out=io.StringIO())
    recorder.add(telemetry.UPLOADS_FAILED)
    recorder.add(telemetry.PROCESSING_RETRIES)
    out: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    for document in recorder.lines():
        for ns, name, dims, _ in telemetry.emf_metrics(json.dumps(document)):
            out.add((ns, name, tuple(sorted(dims.items()))))
    return out


def _matches(alarm: dict[str, Any], emitted: set[Any]) -> bool:
    key = (
        alarm["namespace"],
        alarm["metricName"],
        tuple(sorted((alarm.get("dimensions") or {}).items())),
    )
    return key in emitted


def _emf_alarms(stack: StackGraph) -> list[dict[str, Any]]:
    return [
        r["inputs"] for r in stack.of_type(ALARM) if r["inputs"]["namespace"] == telemetry.NAMESPACE
    ]


def test_emf_alarms_match_what_the_processor_emits(stack: StackGraph) -> None:
    # GIVEN the alarms on the kit's own metrics and what the processor emits in this stack
    alarms = {a["metricName"]: a for a in _emf_alarms(stack)}
    emitted = _emitted(stack)
    # THEN there is one for retries and one for failures, each matching an emitted metric
    assert set(alarms) == {telemetry.PROCESSING_RETRIES, telemetry.UPLOADS_FAILED}
    for alarm in alarms.values():
        assert _matches(alarm, emitted), alarm
        assert alarm["statistic"] == "Sum"
        assert alarm["alarmActions"]
    assert _pipeline(stack) == f"mediakit-{stack.raw['stack']}"


def test_emf_alarm_without_the_exact_dimension_set_matches_nothing(stack: StackGraph) -> None:
    # GIVEN an alarm that forgot the pipeline dimension (or names another stack)
    emitted = _emitted(stack)
    for alarm in _emf_alarms(stack):
        weakened = copy.deepcopy(alarm)
        weakened["dimensions"].pop("pipeline")
        other = copy.deepcopy(alarm)
        other["dimensions"]["pipeline"] = "mediakit-other"
        # THEN it would never fire: nothing emitted carries its dimension set
        assert not _matches(weakened, emitted)
        assert not _matches(other, emitted)


def test_dashboard_shows_the_pipelines_metrics(stack: StackGraph) -> None:
    (dashboard,) = stack.of_type("aws:cloudwatch/dashboard:Dashboard")
    inputs = dashboard["inputs"]
    assert inputs["dashboardName"] == _pipeline(stack)
    body = json.loads(inputs["dashboardBody"])
    text = json.dumps(body)
    for name in (
        telemetry.UPLOADS_COMPLETED,
        telemetry.UPLOADS_FAILED,
        telemetry.PROCESSING_RETRIES,
        telemetry.PROCESSING_TIME,
        telemetry.PRESIGNS,
        telemetry.CLIENT_ERRORS,
    ):
        assert name in text
    metrics = [m for w in body["widgets"] for m in w["properties"]["metrics"]]
    emf = [m for m in metrics if isinstance(m[0], str) and m[0] == telemetry.NAMESPACE]
    assert emf
    for metric in emf:
        assert metric[metric.index("pipeline") + 1] == _pipeline(stack)

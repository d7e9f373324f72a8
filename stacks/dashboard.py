"""The pipeline's CloudWatch dashboard: what on-call looks at first, on one page.

Uploads by outcome, retries and failures by code (the processor's EMF metrics, runtime.telemetry),
processing time, the ingest queue and the DLQ, presigns by method and client errors by code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from runtime import telemetry

PERIOD = 300


@dataclass(frozen=True)
class DashboardArgs:
    pipeline: str  # `<project>-<stack>`: the metrics' `pipeline` dimension and the name
    region: str
    queue_name: pulumi.Input[str]
    dlq_name: pulumi.Input[str]


def body(pipeline: str, region: str, queue: str, dlq: str) -> dict[str, Any]:
    """The dashboard JSON (pure, so a test can read it without Pulumi)."""

    def emf(name: str, service: str, stat: str = "Sum") -> list[Any]:
        dims = telemetry.MetricRef(name, service).dimensions(pipeline)
        flat: list[Any] = [telemetry.NAMESPACE, name]
        for key, value in dims.items():
            flat += [key, value]
        return [*flat, {"stat": stat}]

    def by(name: str, service: str, dimension: str) -> list[Any]:
        search = (
            f"SEARCH('{{{telemetry.NAMESPACE},pipeline,service,{dimension}}} "
            f'MetricName="{name}" pipeline="{pipeline}" service="{service}"\', '
            f"'Sum', {PERIOD})"
        )
        return [{"expression": search, "label": f"{name} by {dimension}"}]

    def widget(title: str, metrics: list[list[Any]], x: int, y: int) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": x,
            "y": y,
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "period": PERIOD,
                "stat": "Sum",
                "view": "timeSeries",
                "metrics": metrics,
            },
        }

    p, a = telemetry.PROCESSOR, telemetry.PRESIGN
    return {
        "widgets": [
            widget(
                "Uploads: completed, failed, retried",
                [
                    emf(telemetry.UPLOADS_COMPLETED, p),
                    emf(telemetry.UPLOADS_FAILED, p),
                    emf(telemetry.PROCESSING_RETRIES, p),
                ],
                0,
                0,
            ),
            widget("Failures by code", [by(telemetry.UPLOADS_FAILED, p, "code")], 12, 0),
            widget(
                "Processing time (ms): p50, p95, max",
                [
                    emf(telemetry.PROCESSING_TIME, p, "p50"),
                    emf(telemetry.PROCESSING_TIME, p, "p95"),
                    emf(telemetry.PROCESSING_TIME, p, "Maximum"),
                ],
                0,
                6,
            ),
            widget(
                "Ingest queue and DLQ",
                [
                    ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue],
                    ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue],
                    ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dlq],
                ],
                12,
                6,
            ),
            widget("Presigns by method", [by(telemetry.PRESIGNS, a, "method")], 0, 12),
            widget("API client errors by code", [by(telemetry.CLIENT_ERRORS, a, "code")], 12, 12),
            widget(
                "Originals removed (orphans, replays)",
                [by(telemetry.ORIGINALS_REMOVED, p, "reason")],
                0,
                18,
            ),
        ]
    }


class Dashboard(pulumi.ComponentResource):
    """One CloudWatch dashboard named after the pipeline."""

    def __init__(
        self, name: str, args: DashboardArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:Dashboard", name, None, opts)
        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=args.pipeline,
            dashboard_body=pulumi.Output.all(args.queue_name, args.dlq_name).apply(
                lambda names: json.dumps(body(args.pipeline, args.region, names[0], names[1]))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"dashboard_name": self.dashboard.dashboard_name})

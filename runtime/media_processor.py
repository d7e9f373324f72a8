"""Lambda entry point of the media queue consumer (`runtime.media_processor.handler`): audio and
video uploads, through the same record/claim/complete/fail flow as images (`runtime.ingest`),
with the media budgets, the probe and derivative in the processing child over ranged GETs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runtime import config, ingest, processor, telemetry
from runtime.errors import PermanentFault
from runtime.events import BatchResponse
from runtime.records import Store
from runtime.settings import Settings, media_seconds_per_message

if TYPE_CHECKING:
    from runtime.imaging import ProcessedImage


def refuse_images(
    data: bytes, declared_type: str, settings: Settings, *, include_gps: bool
) -> ProcessedImage:
    """Images belong to the processor function: one reaching this queue was misrouted."""
    raise PermanentFault(
        f"{declared_type} is processed by the image processor, not the media function",
        code="unsupported_type",
    )


def default_deps() -> ingest.Deps:
    """Deps from the environment and the process-wide clients; PyAV loads here, not earlier,
    so the warm processing child forked later has it imported already."""
    from runtime import aws
    from runtime.media import job as _job  # noqa: F401 - imports PyAV before the fork

    resources = config.resources()
    settings = config.settings()
    return ingest.Deps(
        settings=settings,
        resources=resources,
        s3=aws.s3(),
        store=Store(aws.dynamodb(), resources.table),
        events=aws.events(),
        process=refuse_images,
        media=ingest.isolated_media(settings),
    )


def handler(event: Mapping[str, Any], context: Any) -> BatchResponse:
    """SQS batch of S3 notifications for audio/video originals -> partial batch response."""
    telemetry.configure_logging(telemetry.MEDIA)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    metrics = telemetry.Recorder(telemetry.MEDIA, config.resources().pipeline)
    deps = dataclasses.replace(default_deps(), metrics=metrics)
    try:
        return processor.process_batch(
            event,
            deps,
            remaining if callable(remaining) else None,
            seconds_per_message=media_seconds_per_message(deps.settings),
        )
    finally:
        metrics.flush()

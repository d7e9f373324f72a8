"""Events: the custom EventBridge bus the processor publishes upload outcomes to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# detail-types the runtime publishes; subscribers match on these.
DETAIL_TYPES = ("media.upload.completed", "media.upload.failed")


@dataclass(frozen=True)
class EventsArgs:
    archive_days: int  # 0: no archive
    tags: Mapping[str, str]


class Events(pulumi.ComponentResource):
    """Custom bus, plus an archive (replayable history) when archive_days > 0."""

    def __init__(
        self, name: str, args: EventsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:Events", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bus = aws.cloudwatch.EventBus(
            f"{name}-bus", description="mediakit upload outcomes", tags=dict(args.tags), opts=child
        )
        if args.archive_days > 0:
            aws.cloudwatch.EventArchive(
                f"{name}-archive",
                event_source_arn=self.bus.arn,
                retention_days=args.archive_days,
                description="Replayable history of upload outcomes",
                opts=child,
            )
        self.register_outputs({"bus_name": self.bus.name, "bus_arn": self.bus.arn})

"""Events: the custom EventBridge bus the processor publishes upload outcomes to."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from runtime.events import DETAIL_TYPES as RUNTIME_DETAIL_TYPES

# detail-types the runtime publishes; subscribers match on these. Their details are thin (ids,
# status, keys, codes, the acting subject): the archive below holds no personal data.
DETAIL_TYPES = RUNTIME_DETAIL_TYPES


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
                # Only the kit's own events (ids, status, keys, codes; never personal data).
                event_pattern=json.dumps(
                    {"source": ["mediakit"], "detail-type": list(DETAIL_TYPES)}
                ),
                description="Replayable history of upload outcomes and lifecycle",
                opts=child,
            )
        self.register_outputs({"bus_name": self.bus.name, "bus_arn": self.bus.arn})

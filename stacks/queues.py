"""Queues: the ingest queue fed by the bucket's ObjectCreated notifications, and its DLQ."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from policies import documents
from runtime.settings import KNOWN_TYPES, Settings, kind_of

DLQ_RETENTION_SECONDS = 14 * 86400  # the SQS maximum: time to inspect and redrive
QUEUE_RETENTION_SECONDS = 4 * 86400
# What the bucket tells the ingest queue about originals/.
NOTIFIED_EVENTS = ["s3:ObjectCreated:*", "s3:LifecycleExpiration:DeleteMarkerCreated"]
# Lambda's guidance for SQS sources: visibility >= 6x the function timeout, so a message is not
# redelivered while a (retried) invocation still holds it.
VISIBILITY_FACTOR = 6


@dataclass(frozen=True)
class QueuesArgs:
    bucket_id: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    account_id: str
    originals_prefix: str
    processor_timeout_seconds: int
    max_receive_count: int
    tags: Mapping[str, str]
    # prod: the notification is one of the retained bucket's guards (see stacks/storage.py).
    retain_notification: bool = False
    # Malware scanning on: the rule that delivers GuardDuty's scan results here, and the bucket's
    # EventBridge notifications (GuardDuty turns them on to hear new objects; declaring them
    # keeps `pulumi up` from turning them off again).
    scan_rule_arn: pulumi.Input[str] | None = None
    # Audio/video on: the media function's timeout (its queue's visibility) and the key
    # suffixes of each side (`routing_suffixes`); empty: one notification on the prefix.
    media_timeout_seconds: int = 0
    image_suffixes: tuple[str, ...] = ()
    media_suffixes: tuple[str, ...] = ()


def routing_suffixes(settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`(image suffixes, media suffixes)` of originals keys, from the keys' extensions.

    S3 notification filters are a prefix and a suffix only, and two configurations for the same
    events may not overlap, so "audio/video to the media queue" is spelled as one configuration
    per extension: an original's key ends in the extension of its canonical type
    (`runtime.keys.original_key`), each type has its own, and the kind decides the queue. The
    key layout is unchanged (a per-kind prefix segment would have moved every image key and the
    prefix the lifecycle, scanning and IAM grants name). Empty media suffixes: images keep the
    single prefix-only configuration they always had.
    """
    if not settings.media_enabled:
        return (), ()
    # Documents (runtime/documents.py) are checked by the image processor: never rendered.
    image = tuple(f".{e}" for t, e in KNOWN_TYPES.items() if kind_of(t) in ("image", "document"))
    media = tuple(
        f".{e}"
        for t, e in KNOWN_TYPES.items()
        if kind_of(t) in ("audio", "video") and settings.kind_enabled(kind_of(t))
    )
    suffixes = [*image, *media]
    for a in suffixes:
        for b in suffixes:
            if a != b and b.endswith(a):
                raise ValueError(f"key suffixes {a} and {b} would overlap in S3 notifications")
    return tuple(dict.fromkeys(image)), tuple(dict.fromkeys(media))


class Queues(pulumi.ComponentResource):
    """Ingest queue + DLQ (SSE-SQS: S3 cannot publish to queues under alias/aws/sqs), the
    queue policy that admits only this bucket, and the bucket notification."""

    def __init__(
        self, name: str, args: QueuesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:Queues", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.dlq = aws.sqs.Queue(
            f"{name}-dlq",
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            tags=dict(args.tags),
            opts=child,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-ingest",
            visibility_timeout_seconds=VISIBILITY_FACTOR * args.processor_timeout_seconds,
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            receive_wait_time_seconds=20,
            sqs_managed_sse_enabled=True,
            redrive_policy=self.dlq.arn.apply(
                lambda arn: json.dumps(
                    {"deadLetterTargetArn": arn, "maxReceiveCount": args.max_receive_count}
                )
            ),
            tags=dict(args.tags),
            opts=child,
        )
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            queue_url=self.dlq.url,
            redrive_allow_policy=self.queue.arn.apply(
                lambda arn: json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})
            ),
            opts=child,
        )
        queue_policy = aws.sqs.QueuePolicy(
            f"{name}-ingest-policy",
            queue_url=self.queue.url,
            policy=pulumi.Output.all(
                self.queue.arn,
                args.bucket_arn,
                args.scan_rule_arn if args.scan_rule_arn is not None else "",
            ).apply(
                lambda a: json.dumps(
                    documents.ingest_queue_policy(
                        queue_arn=a[0],
                        bucket_arn=a[1],
                        account_id=args.account_id,
                        scan_rule_arn=a[2],
                    )
                )
            ),
            opts=child,
        )
        if args.scan_rule_arn is not None:
            # A scan result EventBridge cannot deliver to the ingest queue (after its own 24 h of
            # retries) lands on the DLQ instead of being dropped: `mediakit dlq` shows it.
            aws.sqs.QueuePolicy(
                f"{name}-dlq-policy",
                queue_url=self.dlq.url,
                policy=pulumi.Output.all(self.dlq.arn, args.scan_rule_arn).apply(
                    lambda a: json.dumps(documents.dlq_policy(dlq_arn=a[0], scan_rule_arn=a[1]))
                ),
                opts=child,
            )
        # A retention rule expiring a current original writes a delete marker: the processor
        # marks the record expired. (Not s3:LifecycleExpiration:*: its `Delete` half fires for
        # every noncurrent version expiring, which needs nothing and would only be acknowledged.)
        routes: list[aws.s3.BucketNotificationQueueArgsDict] = [
            {
                "queue_arn": self.queue.arn,
                "events": NOTIFIED_EVENTS,
                "filter_prefix": args.originals_prefix,
            }
        ]
        policies = [queue_policy]
        self.media_queue: aws.sqs.Queue | None = None
        self.media_dlq: aws.sqs.Queue | None = None
        if args.media_suffixes:
            self.media_dlq, self.media_queue, media_policy = self._media_queues(name, args)
            policies.append(media_policy)
            # One configuration per extension (see routing_suffixes): images on the ingest
            # queue, audio/video on the media queue.
            routes = [
                {
                    "queue_arn": queue.arn,
                    "events": NOTIFIED_EVENTS,
                    "filter_prefix": args.originals_prefix,
                    "filter_suffix": suffix,
                }
                for queue, suffixes in (
                    (self.queue, args.image_suffixes),
                    (self.media_queue, args.media_suffixes),
                )
                for suffix in suffixes
            ]
        self.notification = aws.s3.BucketNotification(
            f"{name}-bucket-notification",
            bucket=args.bucket_id,
            queues=routes,
            # Only when on (None: unset): with scanning off the notification is as it always was.
            eventbridge=True if args.scan_rule_arn is not None else None,
            # S3 test-publishes on create: the queue must already accept the bucket.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=policies, retain_on_delete=args.retain_notification
            ),
        )

        outputs: dict[str, pulumi.Output[str]] = {}
        if self.media_queue is not None and self.media_dlq is not None:
            outputs = {
                "media_queue_url": self.media_queue.url,
                "media_dlq_url": self.media_dlq.url,
            }
        self.register_outputs(
            {
                **outputs,
                "queue_url": self.queue.url,
                "queue_arn": self.queue.arn,
                "dlq_url": self.dlq.url,
                "dlq_arn": self.dlq.arn,
            }
        )

    def _media_queues(
        self, name: str, args: QueuesArgs
    ) -> tuple[aws.sqs.Queue, aws.sqs.Queue, aws.sqs.QueuePolicy]:
        """The media queue and its DLQ, as the ingest queue's: SSE-SQS, redrive, bucket-only."""
        child = pulumi.ResourceOptions(parent=self)
        dlq = aws.sqs.Queue(
            f"{name}-media-dlq",
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            sqs_managed_sse_enabled=True,
            tags=dict(args.tags),
            opts=child,
        )
        queue = aws.sqs.Queue(
            f"{name}-media",
            visibility_timeout_seconds=VISIBILITY_FACTOR * args.media_timeout_seconds,
            message_retention_seconds=QUEUE_RETENTION_SECONDS,
            receive_wait_time_seconds=20,
            sqs_managed_sse_enabled=True,
            redrive_policy=dlq.arn.apply(
                lambda arn: json.dumps(
                    {"deadLetterTargetArn": arn, "maxReceiveCount": args.max_receive_count}
                )
            ),
            tags=dict(args.tags),
            opts=child,
        )
        aws.sqs.RedriveAllowPolicy(
            f"{name}-media-dlq-redrive-allow",
            queue_url=dlq.url,
            redrive_allow_policy=queue.arn.apply(
                lambda arn: json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})
            ),
            opts=child,
        )
        policy = aws.sqs.QueuePolicy(
            f"{name}-media-policy",
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, args.bucket_arn).apply(
                lambda a: json.dumps(
                    documents.ingest_queue_policy(
                        queue_arn=a[0], bucket_arn=a[1], account_id=args.account_id
                    )
                )
            ),
            opts=child,
        )
        return dlq, queue, policy

"""Queues: the ingest queue fed by the bucket's ObjectCreated notifications, and its DLQ."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from policies import documents

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
        self.notification = aws.s3.BucketNotification(
            f"{name}-bucket-notification",
            bucket=args.bucket_id,
            queues=[
                {
                    "queue_arn": self.queue.arn,
                    # A retention rule expiring a current original writes a delete marker: the
                    # processor marks the record expired. (Not s3:LifecycleExpiration:*: its
                    # `Delete` half fires for every noncurrent version expiring, which needs
                    # nothing and would only be acknowledged.)
                    "events": NOTIFIED_EVENTS,
                    "filter_prefix": args.originals_prefix,
                }
            ],
            # Only when on (None: unset): with scanning off the notification is as it always was.
            eventbridge=True if args.scan_rule_arn is not None else None,
            # S3 test-publishes on create: the queue must already accept the bucket.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[queue_policy], retain_on_delete=args.retain_notification
            ),
        )

        self.register_outputs(
            {
                "queue_url": self.queue.url,
                "queue_arn": self.queue.arn,
                "dlq_url": self.dlq.url,
                "dlq_arn": self.dlq.arn,
            }
        )

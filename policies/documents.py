"""Every IAM, key, bucket and queue policy document of the stack, built from ARNs.

Pure functions, one concern each, returning plain dicts; the stack serialises them with
`json.dumps` at the Pulumi boundary only (`.apply`). The action lists below are the single source
of truth for what each Lambda role may do: tests import them, and every action in them must be
one the runtime (or the Lambda service acting with the role) actually calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Statement = dict[str, Any]
PolicyDocument = dict[str, Any]

VERSION = "2012-10-17"

# --- actions: one tuple per concern, each sorted ------------------------------------------------

# Presign role. Multipart create/upload-part/complete all authorise as s3:PutObject; the client
# sends the part ETags, so no ListMultipartUploadParts.
PRESIGN_UPLOAD_ACTIONS = ("s3:AbortMultipartUpload", "s3:PutObject")
# DELETE /v1/uploads/{id} removes the original and every derivative (DeleteObjects).
PRESIGN_DELETE_ACTIONS = ("s3:DeleteObject",)
# Records are read and written by key on the table; listing queries the tenant index only.
PRESIGN_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
PRESIGN_INDEX_ACTIONS = ("dynamodb:Query",)
# Presigned PUTs run as this role against an SSE-KMS bucket: S3 needs GenerateDataKey to write
# and Decrypt to assemble multipart parts. Derivatives are served by CloudFront: no GetObject.
PRESIGN_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")

# Processor role. It reads exactly the version the event names (HeadObject/GetObject with
# VersionId), which S3 authorises as s3:GetObjectVersion.
PROCESSOR_READ_ORIGINALS_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
PROCESSOR_WRITE_DERIVATIVES_ACTIONS = ("s3:PutObject",)
# Derivatives written for an upload deleted meanwhile are removed again.
PROCESSOR_CLEANUP_DERIVATIVES_ACTIONS = ("s3:DeleteObject",)
# An original PUT with a presigned URL after its pending upload was deleted is removed by key, as
# the DELETE route does (a delete marker; the lifecycle expires the noncurrent version), so no
# s3:DeleteObjectVersion, which would destroy versions for good.
PROCESSOR_REMOVE_LATE_ORIGINALS_ACTIONS = ("s3:DeleteObject",)
# Write once: a version written after validation (a replayed POST form) is removed by version,
# which fires no ObjectCreated event; restoring the validated bytes by copy would loop.
PROCESSOR_REMOVE_REPLAYS_ACTIONS = ("s3:DeleteObjectVersion",)
PROCESSOR_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
# The event source mapping polls with the function's role and needs exactly these three; it never
# changes visibility (failed messages reappear when the visibility timeout runs out).
PROCESSOR_QUEUE_ACTIONS = ("sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage")
PROCESSOR_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
PROCESSOR_EVENTS_ACTIONS = ("events:PutEvents",)

# Both roles. The log group is created by the stack, so no logs:CreateLogGroup.
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
# Active tracing: the Lambda service sends segments with the role; X-Ray has no resource ARNs.
TRACING_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")

# Key policy grants to services (decrypt/encrypt on their behalf).
CLOUDFRONT_KEY_ACTIONS = ("kms:Decrypt",)
LOGS_SERVICE_KEY_ACTIONS = (
    "kms:Decrypt",
    "kms:Describe*",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
)
CLOUDWATCH_ALARMS_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey*")


def statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[str] | str | None,
    *,
    effect: str = "Allow",
    principal: dict[str, Any] | str | None = None,
    condition: dict[str, dict[str, Any]] | None = None,
) -> Statement:
    """One policy statement; every statement the kit writes carries a Sid."""
    if not sid.isalnum():
        raise ValueError(f"Sid must be alphanumeric, got {sid!r}")
    out: Statement = {"Sid": sid, "Effect": effect}
    if principal is not None:
        out["Principal"] = principal
    out["Action"] = list(actions)
    if resources is not None:
        # Trust policies have no Resource; everything else names its ARNs.
        out["Resource"] = resources if isinstance(resources, str) else list(resources)
    if condition:
        out["Condition"] = condition
    return out


def document(*parts: Iterable[Statement]) -> PolicyDocument:
    """Compose statement groups into one document; Sids must be unique."""
    statements = [s for part in parts for s in part]
    sids = [s["Sid"] for s in statements]
    duplicates = sorted({s for s in sids if sids.count(s) > 1})
    if duplicates:
        raise ValueError(f"duplicate Sids {duplicates}")
    return {"Version": VERSION, "Statement": statements}


def objects(bucket_arn: str, prefix: str) -> str:
    """ARN of every object under `prefix` (which ends in '/')."""
    return f"{bucket_arn}/{prefix}*"


def _service(name: str) -> dict[str, str]:
    return {"Service": name}


# --- trust ----------------------------------------------------------------------------------------


def lambda_assume_role() -> PolicyDocument:
    """Trust policy: only the Lambda service may assume the role."""
    return document(
        [
            statement(
                "LambdaAssumeRole",
                ["sts:AssumeRole"],
                None,
                principal=_service("lambda.amazonaws.com"),
            )
        ]
    )


# --- role policies --------------------------------------------------------------------------------


def write_logs(log_group_arn: str) -> list[Statement]:
    """Write to the function's own log group only."""
    return [statement("WriteOwnLogGroup", LOG_ACTIONS, [f"{log_group_arn}:*"])]


def send_traces() -> list[Statement]:
    """X-Ray segments for active tracing (the API has no resource-level permissions)."""
    return [statement("SendTraces", TRACING_ACTIONS, "*")]


def use_key(key_arn: str, actions: Sequence[str]) -> list[Statement]:
    return [statement("UseStackKey", actions, [key_arn])]


def presign_role_policy(
    *,
    bucket_arn: str,
    table_arn: str,
    key_arn: str,
    log_group_arn: str,
    originals_prefix: str,
    derivatives_prefix: str,
) -> PolicyDocument:
    """Presign Lambda: upload originals, delete an upload's objects, its table items, the key."""
    originals = objects(bucket_arn, originals_prefix)
    derivatives = objects(bucket_arn, derivatives_prefix)
    return document(
        [statement("UploadOriginals", PRESIGN_UPLOAD_ACTIONS, [originals])],
        [statement("DeleteUploadObjects", PRESIGN_DELETE_ACTIONS, [originals, derivatives])],
        [statement("ReadWriteUploadRecords", PRESIGN_TABLE_ACTIONS, [table_arn])],
        [statement("ListTenantUploads", PRESIGN_INDEX_ACTIONS, [f"{table_arn}/index/by_tenant"])],
        use_key(key_arn, PRESIGN_KEY_ACTIONS),
        write_logs(log_group_arn),
        send_traces(),
    )


def processor_role_policy(
    *,
    bucket_arn: str,
    table_arn: str,
    key_arn: str,
    queue_arn: str,
    event_bus_arn: str,
    log_group_arn: str,
    originals_prefix: str,
    derivatives_prefix: str,
) -> PolicyDocument:
    """Processor Lambda: read originals (and remove late ones of deleted uploads, orphans and
    versions written after validation), write derivatives, consume the queue, update, publish."""
    return document(
        [
            statement(
                "ReadOriginals",
                PROCESSOR_READ_ORIGINALS_ACTIONS,
                [objects(bucket_arn, originals_prefix)],
            )
        ],
        [
            statement(
                "RemoveLateOriginals",
                PROCESSOR_REMOVE_LATE_ORIGINALS_ACTIONS,
                [objects(bucket_arn, originals_prefix)],
            )
        ],
        [
            statement(
                "RemoveReplayedOriginals",
                PROCESSOR_REMOVE_REPLAYS_ACTIONS,
                [objects(bucket_arn, originals_prefix)],
            )
        ],
        [
            statement(
                "WriteDerivatives",
                PROCESSOR_WRITE_DERIVATIVES_ACTIONS,
                [objects(bucket_arn, derivatives_prefix)],
            )
        ],
        [
            statement(
                "CleanUpDerivatives",
                PROCESSOR_CLEANUP_DERIVATIVES_ACTIONS,
                [objects(bucket_arn, derivatives_prefix)],
            )
        ],
        use_key(key_arn, PROCESSOR_KEY_ACTIONS),
        [statement("ConsumeIngestQueue", PROCESSOR_QUEUE_ACTIONS, [queue_arn])],
        [statement("UpdateUploadRecords", PROCESSOR_TABLE_ACTIONS, [table_arn])],
        [statement("PublishUploadEvents", PROCESSOR_EVENTS_ACTIONS, [event_bus_arn])],
        write_logs(log_group_arn),
        send_traces(),
    )


# --- key policy -----------------------------------------------------------------------------------


def key_admin_by_account(account_id: str, partition: str = "aws") -> list[Statement]:
    """The account root keeps full control, so IAM can manage the key and it is never orphaned."""
    return [
        statement(
            "AccountRootFullAccess",
            ["kms:*"],
            "*",
            principal={"AWS": f"arn:{partition}:iam::{account_id}:root"},
        )
    ]


def key_use_by_role(sid: str, role_arn: str, actions: Sequence[str]) -> list[Statement]:
    return [statement(sid, actions, "*", principal={"AWS": role_arn})]


def key_use_by_cloudfront(distribution_arn: str) -> list[Statement]:
    """OAC reads SSE-KMS derivatives; only for requests coming from this distribution."""
    return [
        statement(
            "CloudFrontDecryptForDistribution",
            CLOUDFRONT_KEY_ACTIONS,
            "*",
            principal=_service("cloudfront.amazonaws.com"),
            condition={"StringEquals": {"AWS:SourceArn": distribution_arn}},
        )
    ]


def key_use_by_logs(region: str, account_id: str, partition: str = "aws") -> list[Statement]:
    """CloudWatch Logs encrypts this account's log groups with the key (Lambda + API logs)."""
    return [
        statement(
            "CloudWatchLogsEncryptLogGroups",
            LOGS_SERVICE_KEY_ACTIONS,
            "*",
            principal=_service(f"logs.{region}.amazonaws.com"),
            condition={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:{partition}:logs:{region}:{account_id}:log-group:*"
                    )
                }
            },
        )
    ]


def key_use_by_alarms(account_id: str) -> list[Statement]:
    """CloudWatch alarms publish to the KMS-encrypted alarm topic."""
    return [
        statement(
            "CloudWatchAlarmsPublishEncrypted",
            CLOUDWATCH_ALARMS_KEY_ACTIONS,
            "*",
            principal=_service("cloudwatch.amazonaws.com"),
            condition={"StringEquals": {"aws:SourceAccount": account_id}},
        )
    ]


def key_policy(
    *,
    account_id: str,
    region: str,
    partition: str,
    presign_role_arn: str,
    processor_role_arn: str,
    distribution_arn: str,
) -> PolicyDocument:
    """The stack key: the account, the two Lambda roles, CloudFront for this distribution, and
    the log and alarm services that encrypt with it — nothing else."""
    return document(
        key_admin_by_account(account_id, partition),
        key_use_by_role("PresignRoleUseKey", presign_role_arn, PRESIGN_KEY_ACTIONS),
        key_use_by_role("ProcessorRoleUseKey", processor_role_arn, PROCESSOR_KEY_ACTIONS),
        key_use_by_cloudfront(distribution_arn),
        key_use_by_logs(region, account_id, partition),
        key_use_by_alarms(account_id),
    )


# --- bucket policies ------------------------------------------------------------------------------


def deny_insecure_transport(resource_arns: Sequence[str], principal: str = "*") -> list[Statement]:
    """Deny every request not made over TLS."""
    return [
        statement(
            "DenyInsecureTransport",
            ["s3:*"],
            list(resource_arns),
            effect="Deny",
            principal=principal,
            condition={"Bool": {"aws:SecureTransport": "false"}},
        )
    ]


def deny_wrong_kms_key(bucket_arn: str, key_arn: str) -> list[Statement]:
    """Deny PutObject naming another key or another encryption type.

    `IfExists`: requests without the headers (UploadPart, or PUTs relying on the bucket default,
    which is the stack key) stay allowed; only an explicit different choice is refused.
    """
    target = [f"{bucket_arn}/*"]
    return [
        statement(
            "DenyNonKmsEncryption",
            ["s3:PutObject"],
            target,
            effect="Deny",
            principal="*",
            condition={"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}},
        ),
        statement(
            "DenyOtherKmsKey",
            ["s3:PutObject"],
            target,
            effect="Deny",
            principal="*",
            condition={
                "StringNotEqualsIfExists": {
                    "s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn
                }
            },
        ),
        # `aws:kms` without a key id makes S3 use the AWS managed aws/s3 key, not the bucket
        # default: neither IfExists statement above catches it, and CloudFront cannot read it.
        statement(
            "DenyKmsWithoutKeyId",
            ["s3:PutObject"],
            target,
            effect="Deny",
            principal="*",
            condition={
                "StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "true"},
            },
        ),
    ]


def allow_cloudfront_read(
    bucket_arn: str, derivatives_prefix: str, distribution_arn: str
) -> list[Statement]:
    """OAC may read derivatives only, and only for this distribution."""
    return [
        statement(
            "CloudFrontReadDerivatives",
            ["s3:GetObject"],
            [objects(bucket_arn, derivatives_prefix)],
            principal=_service("cloudfront.amazonaws.com"),
            condition={"StringEquals": {"AWS:SourceArn": distribution_arn}},
        )
    ]


def media_bucket_policy(
    *, bucket_arn: str, key_arn: str, distribution_arn: str, derivatives_prefix: str
) -> PolicyDocument:
    """Media bucket: TLS only, the stack key only, CloudFront reads derivatives."""
    return document(
        deny_insecure_transport([bucket_arn, f"{bucket_arn}/*"]),
        deny_wrong_kms_key(bucket_arn, key_arn),
        allow_cloudfront_read(bucket_arn, derivatives_prefix, distribution_arn),
    )


def allow_access_log_delivery(
    log_bucket_arn: str, log_prefix: str, source_bucket_arn: str, account_id: str
) -> list[Statement]:
    """S3 server access logging writes here for the media bucket of this account only."""
    return [
        statement(
            "S3ServerAccessLogsDelivery",
            ["s3:PutObject"],
            [f"{log_bucket_arn}/{log_prefix}*"],
            principal=_service("logging.s3.amazonaws.com"),
            condition={
                "ArnLike": {"aws:SourceArn": source_bucket_arn},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        )
    ]


def log_bucket_policy(
    *, log_bucket_arn: str, log_prefix: str, source_bucket_arn: str, account_id: str
) -> PolicyDocument:
    """Access-log bucket: TLS only; log delivery for the media bucket."""
    return document(
        deny_insecure_transport([log_bucket_arn, f"{log_bucket_arn}/*"]),
        allow_access_log_delivery(log_bucket_arn, log_prefix, source_bucket_arn, account_id),
    )


# --- queue policy ---------------------------------------------------------------------------------


def ingest_queue_policy(*, queue_arn: str, bucket_arn: str, account_id: str) -> PolicyDocument:
    """Only this bucket (in this account) may send S3 notifications; TLS only."""
    return document(
        [
            statement(
                "MediaBucketNotifications",
                ["sqs:SendMessage"],
                [queue_arn],
                principal=_service("s3.amazonaws.com"),
                condition={
                    "ArnEquals": {"aws:SourceArn": bucket_arn},
                    "StringEquals": {"aws:SourceAccount": account_id},
                },
            )
        ],
        [
            statement(
                "DenyInsecureTransport",
                ["sqs:*"],
                [queue_arn],
                effect="Deny",
                principal="*",
                condition={"Bool": {"aws:SecureTransport": "false"}},
            )
        ],
    )


def actions_of(doc: PolicyDocument, effect: str = "Allow") -> set[str]:
    """Every action a document grants (or denies), flattened; used by tests and reviews."""
    return {
        action
        for s in doc["Statement"]
        if s["Effect"] == effect
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }

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

# Presign role. Multipart create/upload-part/complete all authorise as s3:PutObject; resuming
# (GET /v1/uploads/{id}/parts) lists the parts S3 holds (ListParts).
PRESIGN_UPLOAD_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)
# DELETE /v1/uploads/{id} removes the original and every derivative (DeleteObjects).
PRESIGN_DELETE_ACTIONS = ("s3:DeleteObject",)
# DELETE lists the upload's derivative prefix (every derivative whatever spec wrote it); the
# grant carries an s3:prefix condition, so the role lists derivatives/ and nothing else.
PRESIGN_LIST_DERIVATIVES_ACTIONS = ("s3:ListBucket",)
# DELETE ?purge=true lists every version and delete marker of the original and the derivatives
# (ListObjectVersions, s3:prefix-conditioned) and removes them by version.
PRESIGN_LIST_VERSIONS_ACTIONS = ("s3:ListBucketVersions",)
PRESIGN_PURGE_ACTIONS = ("s3:DeleteObjectVersion",)
# The download URL and the restore's copy source name the validated version (GetObject with
# VersionId authorises as s3:GetObjectVersion); the copy writes with s3:PutObject (granted above).
PRESIGN_READ_VERSIONS_ACTIONS = ("s3:GetObjectVersion",)
# deleted / restored / purged events go on the stack's bus.
PRESIGN_EVENTS_ACTIONS = ("events:PutEvents",)
# Records are read and written by key on the table; listing queries the tenant index only.
PRESIGN_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
PRESIGN_INDEX_ACTIONS = ("dynamodb:Query",)
# Per-tenant limits count pending uploads on the sparse tenant_items index (runtime/limits.py).
PRESIGN_TENANT_ITEMS_INDEX = "tenant_items"
# GET /v1/uploads?status= reads the tenant's records of one status (runtime/records.py).
PRESIGN_STATUS_INDEX = "by_tenant_status"
# GET /v1/health reads the stack's small object under health/ (decrypted with the stack key,
# already granted): the bucket answers to this role (runtime/health.py).
PRESIGN_HEALTH_ACTIONS = ("s3:GetObject",)
PRESIGN_HEALTH_PREFIX = "health/"
# Presigned PUTs run as this role against an SSE-KMS bucket: S3 needs GenerateDataKey to write
# and Decrypt to assemble multipart parts. Derivatives are served by CloudFront: no GetObject.
PRESIGN_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
# Private delivery: the record view signs one CloudFront policy per upload with the delivery key
# (KMS Sign; the public key reaches CloudFront through the stack, so no kms:GetPublicKey).
PRESIGN_SIGN_URLS_ACTIONS = ("kms:Sign",)
# Listing cursors: a MAC made and checked by recomputing it (runtime/cursors.py).
PRESIGN_CURSOR_MAC_ACTIONS = ("kms:GenerateMac",)
# Public delivery: DELETE invalidates the upload's derivative paths on the distribution.
PRESIGN_INVALIDATE_ACTIONS = ("cloudfront:CreateInvalidation",)

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

# Malware scanning on (runtime/malware.py): a download reads the scan tag of the exact version it
# would hand out (GetObjectTagging with VersionId), which S3 authorises as GetObjectVersionTagging.
PRESIGN_SCAN_STATUS_ACTIONS = ("s3:GetObjectVersionTagging",)
# ... and the processor checks a THREATS_FOUND result against the scanned version's own tag
# before it fails the upload (a queue message alone is not proof).
PROCESSOR_SCAN_STATUS_ACTIONS = ("s3:GetObjectVersionTagging",)

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
    malware_scanning: bool = False,
    delivery_key_arn: str = "",
    invalidated_distribution_arn: str = "",
    event_bus_arn: str = "",
    cursor_key_arns: Sequence[str] = (),
) -> PolicyDocument:
    """Presign Lambda: upload originals, delete an upload's objects, its table items, the key
    (and, with malware scanning on, read an original's scan tag before a download); in private
    delivery mode sign URLs with the delivery key, in public mode invalidate deleted paths."""
    originals = objects(bucket_arn, originals_prefix)
    derivatives = objects(bucket_arn, derivatives_prefix)
    scan_status = (
        [statement("ReadOriginalScanStatus", PRESIGN_SCAN_STATUS_ACTIONS, [originals])]
        if malware_scanning
        else []
    )
    return document(
        [statement("UploadOriginals", PRESIGN_UPLOAD_ACTIONS, [originals])],
        scan_status,
        [statement("DeleteUploadObjects", PRESIGN_DELETE_ACTIONS, [originals, derivatives])],
        lifecycle_grants(
            bucket_arn=bucket_arn,
            originals_prefix=originals_prefix,
            derivatives_prefix=derivatives_prefix,
            event_bus_arn=event_bus_arn,
        ),
        [statement("ReadWriteUploadRecords", PRESIGN_TABLE_ACTIONS, [table_arn])],
        [
            statement(
                "ListTenantUploads",
                PRESIGN_INDEX_ACTIONS,
                [f"{table_arn}/index/by_tenant", f"{table_arn}/index/{PRESIGN_STATUS_INDEX}"],
            )
        ],
        (
            [statement("MacListCursors", PRESIGN_CURSOR_MAC_ACTIONS, list(cursor_key_arns))]
            if cursor_key_arns
            else []
        ),
        [
            statement(
                "CountTenantItems",
                PRESIGN_INDEX_ACTIONS,
                [f"{table_arn}/index/{PRESIGN_TENANT_ITEMS_INDEX}"],
            )
        ],
        [
            statement(
                "ReadHealthObject",
                PRESIGN_HEALTH_ACTIONS,
                [objects(bucket_arn, PRESIGN_HEALTH_PREFIX)],
            )
        ],
        use_key(key_arn, PRESIGN_KEY_ACTIONS),
        delivery_grants(delivery_key_arn, invalidated_distribution_arn),
        write_logs(log_group_arn),
        send_traces(),
    )


def lifecycle_grants(
    *, bucket_arn: str, originals_prefix: str, derivatives_prefix: str, event_bus_arn: str
) -> list[Statement]:
    """Delete (list the derivative prefix), purge (list and remove versions), download and
    restore (read the validated version), and their events. The list grants name the bucket,
    so an s3:prefix condition keeps them to the media prefixes."""
    originals = objects(bucket_arn, originals_prefix)
    derivatives = objects(bucket_arn, derivatives_prefix)
    out = [
        statement(
            "ListUploadDerivatives",
            PRESIGN_LIST_DERIVATIVES_ACTIONS,
            [bucket_arn],
            condition={"StringLike": {"s3:prefix": [f"{derivatives_prefix}*"]}},
        ),
        statement(
            "ListUploadVersions",
            PRESIGN_LIST_VERSIONS_ACTIONS,
            [bucket_arn],
            condition={
                "StringLike": {"s3:prefix": [f"{originals_prefix}*", f"{derivatives_prefix}*"]}
            },
        ),
        statement("PurgeUploadVersions", PRESIGN_PURGE_ACTIONS, [originals, derivatives]),
        statement("ReadValidatedOriginals", PRESIGN_READ_VERSIONS_ACTIONS, [originals]),
    ]
    if event_bus_arn:
        out.append(statement("PublishLifecycleEvents", PRESIGN_EVENTS_ACTIONS, [event_bus_arn]))
    return out


def delivery_grants(delivery_key_arn: str, invalidated_distribution_arn: str) -> list[Statement]:
    """Private mode: Sign with the delivery key; public mode: invalidate on the distribution."""
    out = []
    if delivery_key_arn:
        out.append(statement("SignDeliveryUrls", PRESIGN_SIGN_URLS_ACTIONS, [delivery_key_arn]))
    if invalidated_distribution_arn:
        out.append(
            statement(
                "InvalidateDeletedDerivatives",
                PRESIGN_INVALIDATE_ACTIONS,
                [invalidated_distribution_arn],
            )
        )
    return out


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
    malware_scanning: bool = False,
) -> PolicyDocument:
    """Processor Lambda: read originals (and remove late ones of deleted uploads, orphans and
    versions written after validation), write derivatives, consume the queue, update, publish
    (and, with malware scanning on, read the scan tag a threat result names)."""
    return document(
        (
            [
                statement(
                    "ReadScannedOriginalStatus",
                    PROCESSOR_SCAN_STATUS_ACTIONS,
                    [objects(bucket_arn, originals_prefix)],
                )
            ]
            if malware_scanning
            else []
        ),
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


def media_role_policy(
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
    """Media Lambda (audio/video): the processor's calls on its own queue, through the same
    ingest flow (read originals, ranged and streamed; write and clean derivatives; remove late,
    orphaned and replayed originals; update records; publish). No scan-status read: GuardDuty's
    results go to the image ingest queue, whose function handles them for every kind."""
    return processor_role_policy(
        bucket_arn=bucket_arn,
        table_arn=table_arn,
        key_arn=key_arn,
        queue_arn=queue_arn,
        event_bus_arn=event_bus_arn,
        log_group_arn=log_group_arn,
        originals_prefix=originals_prefix,
        derivatives_prefix=derivatives_prefix,
        malware_scanning=False,
    )


def artifacts_bucket_policy(*, bucket_arn: str, key_arn: str) -> PolicyDocument:
    """Artifacts bucket (the media function's zip): TLS only, the stack key only. Nothing is
    granted: the deployer writes the zip and Lambda reads it with the deployer's credentials."""
    return document(
        deny_insecure_transport([bucket_arn, f"{bucket_arn}/*"]),
        deny_wrong_kms_key(bucket_arn, key_arn),
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
    media_role_arn: str = "",
) -> PolicyDocument:
    """The stack key: the account, the Lambda roles (the media function's with audio/video on),
    CloudFront for this distribution, and the log and alarm services that encrypt with it —
    nothing else."""
    return document(
        key_admin_by_account(account_id, partition),
        key_use_by_role("PresignRoleUseKey", presign_role_arn, PRESIGN_KEY_ACTIONS),
        key_use_by_role("ProcessorRoleUseKey", processor_role_arn, PROCESSOR_KEY_ACTIONS),
        (
            key_use_by_role("MediaRoleUseKey", media_role_arn, PROCESSOR_KEY_ACTIONS)
            if media_role_arn
            else []
        ),
        key_use_by_cloudfront(distribution_arn),
        key_use_by_logs(region, account_id, partition),
        key_use_by_alarms(account_id),
    )


def cursor_key_policy(*, account_id: str, partition: str, role_arn: str) -> PolicyDocument:
    """A listing-cursor MAC key: the account administers it; the presign role may only
    GenerateMac with it (runtime/cursors.py)."""
    return document(
        key_admin_by_account(account_id, partition),
        key_use_by_role("PresignRoleMacCursors", role_arn, PRESIGN_CURSOR_MAC_ACTIONS),
    )


def delivery_key_policy(
    *, account_id: str, partition: str, signer_role_arn: str = ""
) -> PolicyDocument:
    """A delivery signing key: the account administers it; the presign role may only Sign, and
    only with the generation that signs now (older ones stay trusted by CloudFront, unused)."""
    signer = (
        key_use_by_role("PresignRoleSignUrls", signer_role_arn, PRESIGN_SIGN_URLS_ACTIONS)
        if signer_role_arn
        else []
    )
    return document(key_admin_by_account(account_id, partition), signer)


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
    *,
    bucket_arn: str,
    key_arn: str,
    distribution_arn: str,
    derivatives_prefix: str,
    unscanned_reads: Sequence[Statement] = (),
) -> PolicyDocument:
    """Media bucket: TLS only, the stack key only, CloudFront reads derivatives (and, with
    malware scanning on, `deny_unscanned_reads`)."""
    return document(
        deny_insecure_transport([bucket_arn, f"{bucket_arn}/*"]),
        deny_wrong_kms_key(bucket_arn, key_arn),
        allow_cloudfront_read(bucket_arn, derivatives_prefix, distribution_arn),
        unscanned_reads,
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
    *,
    log_bucket_arn: str,
    log_prefix: str,
    source_bucket_arn: str,
    account_id: str,
    artifacts_bucket_arn: str = "",
    artifacts_log_prefix: str = "artifacts/",
) -> PolicyDocument:
    """Access-log bucket: TLS only; log delivery for the media bucket (and the artifacts bucket
    when audio/video are on)."""
    return document(
        deny_insecure_transport([log_bucket_arn, f"{log_bucket_arn}/*"]),
        allow_access_log_delivery(log_bucket_arn, log_prefix, source_bucket_arn, account_id),
        (
            [
                {
                    **allow_access_log_delivery(
                        log_bucket_arn, artifacts_log_prefix, artifacts_bucket_arn, account_id
                    )[0],
                    "Sid": "S3ServerAccessLogsDeliveryArtifacts",
                }
            ]
            if artifacts_bucket_arn
            else []
        ),
    )


# --- queue policy ---------------------------------------------------------------------------------


def ingest_queue_policy(
    *, queue_arn: str, bucket_arn: str, account_id: str, scan_rule_arn: str = ""
) -> PolicyDocument:
    """Only this bucket (in this account) may send S3 notifications, and with malware scanning
    on the stack's scan-result rule may send GuardDuty's results; TLS only."""
    return document(
        allow_scan_results(queue_arn, scan_rule_arn) if scan_rule_arn else [],
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


# --- malware scanning (GuardDuty Malware Protection for S3) -------------------------------------

GUARDDUTY_MALWARE_PRINCIPAL = "malware-protection-plan.guardduty.amazonaws.com"
# The managed rule GuardDuty creates on the default bus to hear the bucket's S3 events.
GUARDDUTY_MANAGED_RULE = "DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*"
# The object GuardDuty writes at the bucket's root to validate the plan.
GUARDDUTY_VALIDATION_OBJECT = "malware-protection-resource-validation-object"
# The tag GuardDuty writes on every scanned object, and the one value that lets a read through.
SCAN_STATUS_TAG = "GuardDutyMalwareScanStatus"
SCAN_CLEAN = "NO_THREATS_FOUND"

# The plan's role, exactly as AWS documents it ("Create or update IAM role policy", GuardDuty
# User Guide), one tuple per documented statement; objects scoped to the protected prefix.
MALWARE_MANAGED_RULE_ACTIONS = (
    "events:DeleteRule",
    "events:PutRule",
    "events:PutTargets",
    "events:RemoveTargets",
)
MALWARE_MONITOR_RULE_ACTIONS = ("events:DescribeRule", "events:ListTargetsByRule")
MALWARE_TAG_ACTIONS = (
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
)
MALWARE_BUCKET_NOTIFICATION_ACTIONS = ("s3:GetBucketNotification", "s3:PutBucketNotification")
MALWARE_VALIDATION_ACTIONS = ("s3:PutObject",)
MALWARE_OWNERSHIP_ACTIONS = ("s3:ListBucket",)
MALWARE_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
MALWARE_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
# Reads of originals that the scan gates (GetObject with VersionId is GetObjectVersion).
GATED_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")


def malware_protection_assume_role() -> PolicyDocument:
    """Trust policy: only GuardDuty's Malware Protection plan service may assume the role."""
    return document(
        [
            statement(
                "GuardDutyMalwareProtectionAssumeRole",
                ["sts:AssumeRole"],
                None,
                principal=_service(GUARDDUTY_MALWARE_PRINCIPAL),
            )
        ]
    )


def malware_protection_role_policy(
    *,
    bucket_arn: str,
    key_arn: str,
    originals_prefix: str,
    region: str,
    account_id: str,
    partition: str = "aws",
) -> PolicyDocument:
    """The plan's role: manage its own EventBridge rule, enable the bucket's EventBridge
    notifications, validate the bucket, read and tag originals, decrypt them through S3."""
    rule = f"arn:{partition}:events:{region}:{account_id}:rule/{GUARDDUTY_MANAGED_RULE}"
    originals = objects(bucket_arn, originals_prefix)
    return document(
        [
            statement(
                "AllowManagedRuleToSendS3EventsToGuardDuty",
                MALWARE_MANAGED_RULE_ACTIONS,
                [rule],
                condition={"StringLike": {"events:ManagedBy": GUARDDUTY_MALWARE_PRINCIPAL}},
            ),
            statement(
                "AllowGuardDutyToMonitorEventBridgeManagedRule",
                MALWARE_MONITOR_RULE_ACTIONS,
                [rule],
            ),
            statement("AllowPostScanTag", MALWARE_TAG_ACTIONS, [originals]),
            statement(
                "AllowEnableS3EventBridgeEvents", MALWARE_BUCKET_NOTIFICATION_ACTIONS, [bucket_arn]
            ),
            statement(
                "AllowPutValidationObject",
                MALWARE_VALIDATION_ACTIONS,
                [f"{bucket_arn}/{GUARDDUTY_VALIDATION_OBJECT}"],
            ),
            statement("AllowCheckBucketOwnership", MALWARE_OWNERSHIP_ACTIONS, [bucket_arn]),
            statement("AllowMalwareScan", MALWARE_READ_ACTIONS, [originals]),
            statement(
                "AllowDecryptForMalwareScan",
                MALWARE_KEY_ACTIONS,
                [key_arn],
                condition={"StringLike": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            ),
        ]
    )


def deny_unscanned_reads(
    bucket_arn: str, originals_prefix: str, exempt_role_arns: Sequence[str]
) -> list[Statement]:
    """Defence in depth behind the download gate: nobody reads an original whose scan tag is
    not NO_THREATS_FOUND (untagged, pending or a threat) except the roles that must read it
    before the scan ends (the processor validates at once; GuardDuty scans it; with audio/video
    on, the media function probes it at once, and an UNSUPPORTED or FAILED scan never clears)."""
    return [
        statement(
            "DenyReadingUnscannedOriginals",
            GATED_READ_ACTIONS,
            [objects(bucket_arn, originals_prefix)],
            effect="Deny",
            principal="*",
            condition={
                # A missing tag makes StringNotEquals true: untagged objects are denied too.
                "StringNotEquals": {f"s3:ExistingObjectTag/{SCAN_STATUS_TAG}": SCAN_CLEAN},
                "ArnNotEquals": {"aws:PrincipalArn": sorted(exempt_role_arns)},
            },
        )
    ]


def allow_scan_results(queue_arn: str, rule_arn: str) -> list[Statement]:
    """EventBridge may deliver GuardDuty's scan results to the ingest queue, from this rule only."""
    return [
        statement(
            "MalwareScanResults",
            ["sqs:SendMessage"],
            [queue_arn],
            principal=_service("events.amazonaws.com"),
            condition={"ArnEquals": {"aws:SourceArn": rule_arn}},
        )
    ]


def dlq_policy(*, dlq_arn: str, scan_rule_arn: str) -> PolicyDocument:
    """The DLQ keeps what EventBridge could not deliver from the scan-result rule (its target's
    dead-letter queue), from that rule only; TLS only."""
    return document(
        [
            statement(
                "UndeliveredScanResults",
                ["sqs:SendMessage"],
                [dlq_arn],
                principal=_service("events.amazonaws.com"),
                condition={"ArnEquals": {"aws:SourceArn": scan_rule_arn}},
            )
        ],
        [
            statement(
                "DenyInsecureTransport",
                ["sqs:*"],
                [dlq_arn],
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

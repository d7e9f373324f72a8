"""Storage: the stack's KMS key, the media bucket with its access-log bucket, and the uploads
table.

In prod the data (key, bucket, table) is protected and retained, and so is everything that guards
it (public access block, ownership controls, policies, encryption, versioning, lifecycle,
logging, CORS, the key policy) and the access-log bucket: deleting a guard resets what it set on
the retained resource (the provider suspends versioning and removes encryption and the policy when
those resources are deleted), and a non-empty log bucket that is neither retained nor
force-destroyed makes `pulumi destroy` fail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from policies import documents
from runtime import health
from runtime.records import (
    ITEM_SORT,
    ITEM_TENANT,
    STATUS_INDEX,
    TENANT_ITEMS_INDEX,
    TENANT_STATUS,
)
from runtime.settings import Settings, original_transitions

# DynamoDB TTL attribute (epoch seconds) the runtime writes on pending_upload records.
TTL_ATTRIBUTE = "ttl"
TENANT_INDEX = "by_tenant"
ACCESS_LOG_PREFIX = "media/"
ARTIFACTS_LOG_PREFIX = "artifacts/"
CORS_METHODS = ("GET", "HEAD", "POST", "PUT")


@dataclass(frozen=True)
class StorageArgs:
    """Inputs of `Storage`. Role and distribution ARNs arrive later (deferred outputs): the key
    and bucket policies name them, while those resources need the key and bucket first."""

    settings: Settings
    account_id: str
    region: str
    partition: str
    alias_prefix: str  # the alias gets a unique suffix: see Storage
    cors_origins: tuple[str, ...]
    protect_data: bool
    force_destroy: bool
    deletion_protection: bool
    presign_role_arn: pulumi.Input[str]
    processor_role_arn: pulumi.Input[str]
    distribution_arn: pulumi.Input[str]
    tags: Mapping[str, str]
    existing_key_arn: str = ""  # use this key; its policy is then not the stack's to manage
    # Malware scanning on: GuardDuty's scan role, which (with the processor) may read originals
    # before their scan tag says NO_THREATS_FOUND (see documents.deny_unscanned_reads).
    malware_scan_role_arn: pulumi.Input[str] | None = None
    # Audio/video on: the artifacts bucket (stacks/media.py) logs here too, under its own prefix.
    artifacts_bucket_arn: pulumi.Input[str] | None = None
    # Audio/video on: the media function's role, which the key policy admits like the others.
    media_role_arn: pulumi.Input[str] | None = None


def media_retention_rules(s: Settings) -> list[aws.s3.BucketLifecycleConfigurationRuleArgsDict]:
    """Originals tier to STANDARD_IA then GLACIER_IR and, with retention, expire after
    `originalExpirationDays` (transitions at or after the expiry are left out: S3 refuses them;
    the settings refuse an expiry inside a class's minimum storage duration); derivatives expire
    after `derivativeExpirationDays`. On this versioned bucket an expiry writes a delete marker:
    the bytes stay noncurrent for `noncurrentExpirationDays` more (the housekeeping rule)."""
    originals: aws.s3.BucketLifecycleConfigurationRuleArgsDict = {
        "id": "tier-originals",
        "status": "Enabled",
        "filter": {"prefix": s.originals_prefix},
    }
    transitions: list[aws.s3.BucketLifecycleConfigurationRuleTransitionArgsDict] = [
        {"days": d, "storage_class": c} for d, c in original_transitions(s)
    ]
    if transitions:
        originals["transitions"] = transitions
    if s.original_expiration_days:
        originals["expiration"] = {"days": s.original_expiration_days}
    rules = [originals]
    if s.derivative_expiration_days:
        rules.append(
            {
                "id": "expire-derivatives",
                "status": "Enabled",
                "filter": {"prefix": s.derivatives_prefix},
                "expiration": {"days": s.derivative_expiration_days},
            }
        )
    return rules


class Storage(pulumi.ComponentResource):
    """KMS key + alias + policy, media bucket, access-log bucket, uploads table."""

    def __init__(
        self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:Storage", name, None, opts)
        s = args.settings
        tags = dict(args.tags)
        # Losing the key, bucket or table loses data: protected and retained in prod.
        kept = pulumi.ResourceOptions(
            parent=self, protect=args.protect_data, retain_on_delete=args.protect_data
        )
        guard = pulumi.ResourceOptions(parent=self, retain_on_delete=args.protect_data)

        self.key: aws.kms.Key | None = None
        self.key_policy: aws.kms.KeyPolicy | None = None
        # The policy the key needs, with this stack's principals (for an existing key, to apply).
        policy_document = pulumi.Output.all(
            args.presign_role_arn,
            args.processor_role_arn,
            args.distribution_arn,
            *([args.media_role_arn] if args.media_role_arn is not None else []),
        ).apply(
            lambda a: documents.key_policy(
                account_id=args.account_id,
                region=args.region,
                partition=args.partition,
                presign_role_arn=a[0],
                processor_role_arn=a[1],
                distribution_arn=a[2],
                media_role_arn=a[3] if len(a) > 3 else "",
            )
        )
        self.required_key_policy: pulumi.Output[str] = policy_document.apply(
            lambda doc: json.dumps(doc, indent=2)
        )
        if args.existing_key_arn:
            self.key_arn: pulumi.Output[str] = pulumi.Output.from_input(args.existing_key_arn)
        else:
            self.key = aws.kms.Key(
                f"{name}-key",
                description=f"mediakit {pulumi.get_stack()}: media, logs, table and alarm topic",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                tags=tags,
                opts=kept,
            )
            self.key_arn = self.key.arn
            # A unique suffix: the same project and stack names deployed twice in one account
            # (two teams, two backends) must not collide on alias/<project>-<stack>. Retained with
            # the key in prod, so a retained key stays findable by name.
            aws.kms.Alias(
                f"{name}-key-alias",
                name_prefix=args.alias_prefix,
                target_key_id=self.key.key_id,
                opts=guard,
            )
            self.key_policy = aws.kms.KeyPolicy(
                f"{name}-key-policy",
                key_id=self.key.key_id,
                policy=policy_document.apply(json.dumps),
                opts=guard,
            )

        # Retained with the data in prod (the access trail of a retained bucket), force-destroyed
        # with it in dev: either way `pulumi destroy` never stops on a non-empty log bucket.
        self.log_bucket = aws.s3.Bucket(
            f"{name}-log-bucket", force_destroy=args.force_destroy, tags=tags, opts=guard
        )
        log_guards = self._private(f"{name}-log-bucket", self.log_bucket, guard)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-log-bucket-sse",
            bucket=self.log_bucket.id,
            # S3 server access logging can only deliver to SSE-S3 buckets.
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}],
            opts=guard,
        )
        log_versioning = aws.s3.BucketVersioning(
            f"{name}-log-bucket-versioning",
            bucket=self.log_bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=guard,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-log-bucket-lifecycle",
            bucket=self.log_bucket.id,
            rules=[
                {
                    "id": "expire-access-logs",
                    "status": "Enabled",
                    "filter": {},
                    "expiration": {"days": s.log_retention_days},
                    "noncurrent_version_expiration": {"noncurrent_days": 1},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                }
            ],
            opts=guard.merge(pulumi.ResourceOptions(depends_on=[log_versioning])),
        )

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket", force_destroy=args.force_destroy, tags=tags, opts=kept
        )
        guards = self._private(f"{name}-bucket", self.bucket, guard)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-bucket-sse",
            bucket=self.bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": self.key_arn,
                    },
                    # One data key per bucket instead of per object: fewer KMS calls.
                    "bucket_key_enabled": True,
                }
            ],
            opts=guard,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-bucket-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=guard,
        )
        if args.cors_origins:
            aws.s3.BucketCorsConfiguration(
                f"{name}-bucket-cors",
                bucket=self.bucket.id,
                cors_rules=[
                    {
                        "allowed_origins": list(args.cors_origins),
                        "allowed_methods": list(CORS_METHODS),
                        # Presigned requests sign their own headers; the origin list is the guard.
                        "allowed_headers": ["*"],
                        # Multipart clients read each part's ETag to complete the upload;
                        # Retry-After tells a browser when to come back after a 503 SlowDown.
                        "expose_headers": ["ETag", "Retry-After"],
                        "max_age_seconds": 3000,
                    }
                ],
                opts=guard,
            )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket-lifecycle",
            bucket=self.bucket.id,
            rules=[
                *media_retention_rules(s),
                {
                    # Empty filter: applies bucket-wide (checkov CKV_AWS_300 looks for this).
                    "id": "housekeeping",
                    "status": "Enabled",
                    "filter": {},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                    "noncurrent_version_expiration": {
                        "noncurrent_days": s.noncurrent_expiration_days
                    },
                    "expiration": {"expired_object_delete_marker": True},
                },
            ],
            opts=guard.merge(pulumi.ResourceOptions(depends_on=[versioning])),
        )
        # Scanning on: the roles the tag-based deny exempts (the processor, GuardDuty's and, with
        # audio/video on, the media function's, which probes every new original before its scan
        # ends); off: none, and the policy depends on nothing more than before.
        exempt = (
            [
                args.processor_role_arn,
                args.malware_scan_role_arn,
                *([args.media_role_arn] if args.media_role_arn is not None else []),
            ]
            if args.malware_scan_role_arn is not None
            else []
        )
        self.bucket_policy = aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=self.bucket.id,
            policy=pulumi.Output.all(
                self.bucket.arn, self.key_arn, args.distribution_arn, *exempt
            ).apply(
                lambda a: json.dumps(
                    documents.media_bucket_policy(
                        bucket_arn=a[0],
                        key_arn=a[1],
                        distribution_arn=a[2],
                        derivatives_prefix=s.derivatives_prefix,
                        unscanned_reads=(
                            documents.deny_unscanned_reads(a[0], s.originals_prefix, a[3:])
                            if len(a) > 3
                            else ()
                        ),
                    )
                )
            ),
            # Attach only once public access is blocked, so the policy is never briefly public.
            opts=guard.merge(pulumi.ResourceOptions(depends_on=guards)),
        )
        # What GET /v1/health reads (runtime/health.py): a few bytes under health/, encrypted
        # with the stack key like every object (the bucket policy's key deny holds for it too).
        self.health_object = aws.s3.BucketObjectv2(
            f"{name}-health-object",
            bucket=self.bucket.id,
            key=health.HEALTH_OBJECT_KEY,
            content=health.HEALTH_OBJECT_BODY,
            content_type="text/plain",
            server_side_encryption="aws:kms",
            kms_key_id=self.key_arn,
            bucket_key_enabled=True,
            tags=tags,
            opts=guard.merge(pulumi.ResourceOptions(depends_on=[self.bucket_policy])),
        )
        self.log_policy = log_policy = aws.s3.BucketPolicy(
            f"{name}-log-bucket-policy",
            bucket=self.log_bucket.id,
            policy=pulumi.Output.all(
                self.log_bucket.arn,
                self.bucket.arn,
                *([args.artifacts_bucket_arn] if args.artifacts_bucket_arn is not None else []),
            ).apply(
                lambda a: json.dumps(
                    documents.log_bucket_policy(
                        log_bucket_arn=a[0],
                        log_prefix=ACCESS_LOG_PREFIX,
                        source_bucket_arn=a[1],
                        account_id=args.account_id,
                        artifacts_bucket_arn=a[2] if len(a) > 2 else "",
                        artifacts_log_prefix=ARTIFACTS_LOG_PREFIX,
                    )
                )
            ),
            opts=guard.merge(pulumi.ResourceOptions(depends_on=log_guards)),
        )
        aws.s3.BucketLogging(
            f"{name}-bucket-logging",
            bucket=self.bucket.id,
            target_bucket=self.log_bucket.id,
            target_prefix=ACCESS_LOG_PREFIX,
            # With BucketOwnerEnforced, S3 delivers logs only as the log bucket's policy allows:
            # logging enabled before that policy exists drops the first logs.
            opts=guard.merge(pulumi.ResourceOptions(depends_on=[log_policy])),
        )

        self.table = aws.dynamodb.Table(
            f"{name}-uploads",
            billing_mode="PAY_PER_REQUEST",
            hash_key="upload_id",
            attributes=[
                {"name": "upload_id", "type": "S"},
                {"name": "tenant", "type": "S"},
                {"name": "created_at", "type": "S"},
                {"name": ITEM_TENANT, "type": "S"},
                {"name": ITEM_SORT, "type": "S"},
                {"name": TENANT_STATUS, "type": "S"},
            ],
            global_secondary_indexes=[
                {
                    "name": TENANT_INDEX,
                    "key_schemas": [
                        {"attribute_name": "tenant", "key_type": "HASH"},
                        {"attribute_name": "created_at", "key_type": "RANGE"},
                    ],
                    "projection_type": "ALL",
                },
                {
                    # Sparse: only pending records and per-minute rate windows carry its keys
                    # (runtime/limits.py counts pending uploads on it); keys only, so counting
                    # reads ~100 bytes per entry.
                    "name": TENANT_ITEMS_INDEX,
                    "key_schemas": [
                        {"attribute_name": ITEM_TENANT, "key_type": "HASH"},
                        {"attribute_name": ITEM_SORT, "key_type": "RANGE"},
                    ],
                    "projection_type": "KEYS_ONLY",
                },
                {
                    # GET /v1/uploads?status=: the tenant's records of one status, newest first
                    # (`tenant_status` = tenant#status, set by every status write), so a status
                    # filter reads full pages instead of filtering the tenant index.
                    "name": STATUS_INDEX,
                    "key_schemas": [
                        {"attribute_name": TENANT_STATUS, "key_type": "HASH"},
                        {"attribute_name": "created_at", "key_type": "RANGE"},
                    ],
                    "projection_type": "ALL",
                },
            ],
            # The window a purged or erased record can still be recovered from (a setting).
            point_in_time_recovery={
                "enabled": True,
                "recovery_period_in_days": s.pitr_recovery_days,
            },
            server_side_encryption={"enabled": True, "kms_key_arn": self.key_arn},
            ttl={"attribute_name": TTL_ATTRIBUTE, "enabled": True},
            deletion_protection_enabled=args.deletion_protection,
            tags=tags,
            opts=kept,
        )

        self.register_outputs(
            {
                "key_arn": self.key_arn,
                "bucket_name": self.bucket.bucket,
                "bucket_arn": self.bucket.arn,
                "log_bucket_name": self.log_bucket.bucket,
                "table_name": self.table.name,
                "table_arn": self.table.arn,
            }
        )

    def _private(
        self, name: str, bucket: aws.s3.Bucket, opts: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """Owner-enforced, fully public-blocked: no ACLs, no public policy, ever."""
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=opts,
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        )
        return [ownership, public_block]

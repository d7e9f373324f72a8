"""Media: the audio/video function (opt-in, `mediaKinds`), its role, log group, event source
mapping on the media queue (stacks/queues.py), and the artifacts bucket its zip is uploaded to.

Why an artifacts bucket: PyAV's wheel bundles FFmpeg with x264/x265 (about 34-36 MB zipped per
architecture), so the media function's zip is past Lambda's 50 MB direct-upload limit; Lambda
takes larger zips (up to 250 MB unzipped) only from S3. The bucket is private like every bucket
of the stack (owner-enforced, public access blocked, SSE-KMS with the stack key, TLS only,
versioned, access-logged, noncurrent versions expired): `mediakit check` scans it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from policies import documents
from runtime.settings import Settings
from stacks.artifact import Artifact

MEDIA_HANDLER = "runtime.media_processor.handler"
# Old artifact versions are kept this long for a rollback, then expire.
ARTIFACT_NONCURRENT_DAYS = 30


@dataclass(frozen=True)
class MediaArgs:
    settings: Settings
    code: Artifact  # the media function's zip (stacks.artifact, function "media")
    architecture: str
    runtime: str
    variables: pulumi.Input[Mapping[str, str]]
    bucket_arn: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    event_bus_arn: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    log_bucket_id: pulumi.Input[str]
    log_prefix: str
    # The log bucket's policy must admit this bucket's log delivery before logging is on.
    log_policy: pulumi.Resource
    key_policy: pulumi.Resource | None
    force_destroy: bool
    tags: Mapping[str, str]


class Media(pulumi.ComponentResource):
    """The media function and what it needs; created only with audio or video on."""

    def __init__(
        self, name: str, args: MediaArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:Media", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = args.settings
        tags = dict(args.tags)
        key_policy = [args.key_policy] if args.key_policy is not None else []
        after_key_policy = pulumi.ResourceOptions(parent=self, depends_on=key_policy)

        # --- the artifacts bucket ----------------------------------------------------------------
        self.artifacts_bucket = aws.s3.Bucket(
            f"{name}-artifacts", force_destroy=args.force_destroy, tags=tags, opts=child
        )
        bucket = self.artifacts_bucket
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-artifacts-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        public_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-artifacts-public-access-block",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-artifacts-sse",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": args.key_arn,
                    },
                    "bucket_key_enabled": True,
                }
            ],
            opts=after_key_policy,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-artifacts-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-artifacts-lifecycle",
            bucket=bucket.id,
            rules=[
                {
                    # Empty filter: bucket-wide (checkov CKV_AWS_300).
                    "id": "housekeeping",
                    "status": "Enabled",
                    "filter": {},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1},
                    "noncurrent_version_expiration": {"noncurrent_days": ARTIFACT_NONCURRENT_DAYS},
                    "expiration": {"expired_object_delete_marker": True},
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        bucket_policy = aws.s3.BucketPolicy(
            f"{name}-artifacts-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, args.key_arn).apply(
                lambda a: json.dumps(
                    documents.artifacts_bucket_policy(bucket_arn=a[0], key_arn=a[1])
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ownership, public_block]),
        )
        aws.s3.BucketLogging(
            f"{name}-artifacts-logging",
            bucket=bucket.id,
            target_bucket=args.log_bucket_id,
            target_prefix=args.log_prefix,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.log_policy]),
        )
        # Content-addressed key: a new build is a new object, so Lambda sees the change.
        self.code_object = aws.s3.BucketObjectv2(
            f"{name}-code",
            bucket=bucket.id,
            key=f"functions/{args.code.path.stem}-{args.code.sha256[:16]}.zip",
            source=pulumi.FileAsset(str(args.code.path)),
            content_type="application/zip",
            server_side_encryption="aws:kms",
            kms_key_id=args.key_arn,
            bucket_key_enabled=True,
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[encryption, versioning, bucket_policy]
            ),
        )

        # --- the function ------------------------------------------------------------------------
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=json.dumps(documents.lambda_assume_role()),
            tags=tags,
            opts=child,
        )
        self.logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            retention_in_days=s.log_retention_days,
            kms_key_id=args.key_arn,
            tags=tags,
            opts=after_key_policy,
        )
        self.policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=pulumi.Output.all(
                args.bucket_arn,
                args.table_arn,
                args.key_arn,
                args.queue_arn,
                args.event_bus_arn,
                self.logs.arn,
            ).apply(
                lambda a: json.dumps(
                    documents.media_role_policy(
                        bucket_arn=a[0],
                        table_arn=a[1],
                        key_arn=a[2],
                        queue_arn=a[3],
                        event_bus_arn=a[4],
                        log_group_arn=a[5],
                        originals_prefix=s.originals_prefix,
                        derivatives_prefix=s.derivatives_prefix,
                    )
                )
            ),
            opts=child,
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            role=self.role.arn,
            handler=MEDIA_HANDLER,
            runtime=args.runtime,
            architectures=[args.architecture],
            s3_bucket=bucket.bucket,
            s3_key=self.code_object.key,
            s3_object_version=self.code_object.version_id,
            source_code_hash=base64.b64encode(bytes.fromhex(args.code.sha256)).decode(),
            memory_size=s.media_processor_memory_mb,
            timeout=s.media_processor_timeout_seconds,
            # Unreserved, as the processor: the mapping's MaximumConcurrency bounds it.
            reserved_concurrent_executions=-1,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=args.variables),
            kms_key_arn=args.key_arn,
            logging_config={"log_format": "JSON", "log_group": self.logs.name},
            tracing_config={"mode": "Active"},
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.policy, self.logs, *key_policy]
            ),
        )
        self.mapping = aws.lambda_.EventSourceMapping(
            f"{name}-mapping",
            event_source_arn=args.queue_arn,
            function_name=self.function.arn,
            batch_size=s.media_processor_batch_size,
            maximum_batching_window_in_seconds=0,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": s.media_processor_max_concurrency},
            metrics_config={"metrics": ["EventCount"]},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.policy]),
        )
        self.register_outputs(
            {
                "media_function_name": self.function.name,
                "media_role_arn": self.role.arn,
                "artifacts_bucket_name": bucket.bucket,
            }
        )

"""Compute: the presign and processor Lambdas, their roles, log groups and the SQS mapping."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from policies import documents
from runtime import cursors
from runtime.settings import Resources, Settings
from stacks.artifact import Artifact

PRESIGN_HANDLER = "runtime.presign.handler"
PROCESSOR_HANDLER = "runtime.processor.handler"


@dataclass(frozen=True)
class ComputeArgs:
    settings: Settings
    presign_code: Artifact  # each function's own zip (stacks.artifact)
    processor_code: Artifact
    architecture: str
    runtime: str
    presign_memory_mb: int
    presign_timeout_seconds: int
    presign_reserved_concurrency: int  # -1: unreserved
    processor_memory_mb: int
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    table_name: pulumi.Input[str]
    table_arn: pulumi.Input[str]
    key_arn: pulumi.Input[str]
    event_bus_name: pulumi.Input[str]
    event_bus_arn: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    cdn_domain: pulumi.Input[str]
    # Delivery (runtime/delivery.py): the distribution a public-mode DELETE invalidates, and
    # in private mode the KMS key that signs URLs and its CloudFront public key id ("" if none).
    cdn_distribution_id: pulumi.Input[str]
    cdn_distribution_arn: pulumi.Input[str]
    delivery_key_arn: pulumi.Input[str]
    delivery_key_pair_id: pulumi.Input[str]
    # The listing cursors' MAC keys, `name=arn,...` (stacks/cursor_keys.py).
    cursor_keys: pulumi.Input[str]
    # `<project>-<stack>`: the functions' metrics carry it as their `pipeline` dimension.
    pipeline: str
    # Log groups and function environments are encrypted with the key: its policy must admit
    # CloudWatch Logs and the roles first. None for an existing key (not the stack's to order).
    key_policy: pulumi.Resource | None
    tags: Mapping[str, str]


class Compute(pulumi.ComponentResource):
    """Roles are created first and exposed, so the key policy can name them."""

    def __init__(
        self, name: str, args: ComputeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:Compute", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        s = args.settings
        trust = json.dumps(documents.lambda_assume_role())
        tags = dict(args.tags)
        key_policy = [args.key_policy] if args.key_policy is not None else []

        self.presign_role = aws.iam.Role(
            f"{name}-presign-role", assume_role_policy=trust, tags=tags, opts=child
        )
        self.processor_role = aws.iam.Role(
            f"{name}-processor-role", assume_role_policy=trust, tags=tags, opts=child
        )
        after_key_policy = pulumi.ResourceOptions(parent=self, depends_on=key_policy)
        self.presign_logs = aws.cloudwatch.LogGroup(
            f"{name}-presign-logs",
            retention_in_days=s.log_retention_days,
            kms_key_id=args.key_arn,
            tags=tags,
            opts=after_key_policy,
        )
        self.processor_logs = aws.cloudwatch.LogGroup(
            f"{name}-processor-logs",
            retention_in_days=s.log_retention_days,
            kms_key_id=args.key_arn,
            tags=tags,
            opts=after_key_policy,
        )

        self.presign_policy = aws.iam.RolePolicy(
            f"{name}-presign-policy",
            role=self.presign_role.id,
            policy=pulumi.Output.all(
                args.bucket_arn,
                args.table_arn,
                args.key_arn,
                self.presign_logs.arn,
                args.delivery_key_arn,
                args.cdn_distribution_arn,
                args.event_bus_arn,
                args.cursor_keys,
            ).apply(
                lambda a: json.dumps(
                    documents.presign_role_policy(
                        bucket_arn=a[0],
                        table_arn=a[1],
                        key_arn=a[2],
                        log_group_arn=a[3],
                        originals_prefix=s.originals_prefix,
                        derivatives_prefix=s.derivatives_prefix,
                        malware_scanning=s.malware_scanning,
                        delivery_key_arn=a[4] if s.delivery_mode == "private" else "",
                        invalidated_distribution_arn=a[5] if s.delivery_mode == "public" else "",
                        event_bus_arn=a[6],
                        cursor_key_arns=list(cursors.parse_keys(a[7]).values()),
                    )
                )
            ),
            opts=child,
        )
        self.processor_policy = aws.iam.RolePolicy(
            f"{name}-processor-policy",
            role=self.processor_role.id,
            policy=pulumi.Output.all(
                args.bucket_arn,
                args.table_arn,
                args.key_arn,
                args.queue_arn,
                args.event_bus_arn,
                self.processor_logs.arn,
            ).apply(
                lambda a: json.dumps(
                    documents.processor_role_policy(
                        bucket_arn=a[0],
                        table_arn=a[1],
                        key_arn=a[2],
                        queue_arn=a[3],
                        event_bus_arn=a[4],
                        log_group_arn=a[5],
                        originals_prefix=s.originals_prefix,
                        derivatives_prefix=s.derivatives_prefix,
                        malware_scanning=s.malware_scanning,
                    )
                )
            ),
            opts=child,
        )

        variables = pulumi.Output.all(
            args.bucket_name,
            args.table_name,
            args.event_bus_name,
            args.key_arn,
            args.cdn_domain,
            args.cdn_distribution_id,
            args.delivery_key_arn,
            args.delivery_key_pair_id,
            args.cursor_keys,
        ).apply(
            lambda a: (
                s.to_env()
                | Resources(
                    bucket=a[0],
                    table=a[1],
                    event_bus=a[2],
                    kms_key_arn=a[3],
                    cdn_domain=a[4],
                    pipeline=args.pipeline,
                    cdn_distribution_id=a[5],
                    delivery_key_arn=a[6],
                    delivery_key_pair_id=a[7],
                    cursor_keys=a[8],
                ).to_env()
            )
        )

        # The functions' environment (settings + resource names): the media function's too.
        self.variables = variables

        def function(
            role_name: str,
            artifact: Artifact,
            handler: str,
            role: aws.iam.Role,
            policy: aws.iam.RolePolicy,
            logs: aws.cloudwatch.LogGroup,
            memory: int,
            timeout: int,
            reserved: int,
        ) -> aws.lambda_.Function:
            logging: aws.lambda_.FunctionLoggingConfigArgsDict = {
                "log_format": "JSON",
                "log_group": logs.name,
            }
            return aws.lambda_.Function(
                f"{name}-{role_name}",
                role=role.arn,
                handler=handler,
                runtime=args.runtime,
                architectures=[args.architecture],
                code=pulumi.FileArchive(str(artifact.path)),
                # Lambda compares this to decide whether the code changed: same sources, same
                # hash.
                source_code_hash=base64.b64encode(bytes.fromhex(artifact.sha256)).decode(),
                memory_size=memory,
                timeout=timeout,
                reserved_concurrent_executions=reserved,
                environment=aws.lambda_.FunctionEnvironmentArgs(variables=variables),
                kms_key_arn=args.key_arn,
                logging_config=logging,
                tracing_config={"mode": "Active"},
                tags=tags,
                # The role must be able to write logs before the first invocation, and the key
                # policy must admit the role before Lambda encrypts the environment with it.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, logs, *key_policy]),
            )

        self.presign = function(
            "presign",
            args.presign_code,
            PRESIGN_HANDLER,
            self.presign_role,
            self.presign_policy,
            self.presign_logs,
            args.presign_memory_mb,
            args.presign_timeout_seconds,
            args.presign_reserved_concurrency,
        )
        self.processor = function(
            "processor",
            args.processor_code,
            PROCESSOR_HANDLER,
            self.processor_role,
            self.processor_policy,
            self.processor_logs,
            args.processor_memory_mb,
            s.processor_timeout_seconds,
            -1,
        )
        self.ingest_mapping = aws.lambda_.EventSourceMapping(
            f"{name}-ingest-mapping",
            event_source_arn=args.queue_arn,
            function_name=self.processor.arn,
            batch_size=s.processor_batch_size,
            # Above 10 messages SQS requires a batching window.
            maximum_batching_window_in_seconds=1 if s.processor_batch_size > 10 else 0,
            function_response_types=["ReportBatchItemFailures"],
            scaling_config={"maximum_concurrency": s.processor_max_concurrency},
            # FailedInvokeEventCount & co. (AWS/Lambda, per EventSourceMappingUUID): the only
            # platform metric that counts messages returned in batchItemFailures, which Lambda's
            # Errors does not (the invocation succeeded). stacks/alarms.py alarms on it.
            metrics_config={"metrics": ["EventCount"]},
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.processor_policy]),
        )

        self.register_outputs(
            {
                "presign_function_name": self.presign.name,
                "processor_function_name": self.processor.name,
                "presign_role_arn": self.presign_role.arn,
                "processor_role_arn": self.processor_role.arn,
            }
        )

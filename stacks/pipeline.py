"""MediaPipeline: composes storage, events, queues, CDN, compute, API and alarms."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from runtime.telemetry import MEDIA as MEDIA_SERVICE
from stacks.alarms import Alarms, AlarmsArgs
from stacks.api import VENDED_LOGS_PREFIX, Api, ApiArgs, route_scopes
from stacks.artifact import Artifact
from stacks.cdn import Cdn, CdnArgs
from stacks.compute import Compute, ComputeArgs
from stacks.config import StackConfig
from stacks.cursor_keys import CursorKeys, CursorKeysArgs
from stacks.dashboard import Dashboard, DashboardArgs
from stacks.delivery_keys import DeliveryKeys, DeliveryKeysArgs
from stacks.events import Events, EventsArgs
from stacks.malware import Malware, MalwareArgs
from stacks.media import Media, MediaArgs
from stacks.queues import Queues, QueuesArgs, routing_suffixes
from stacks.storage import ARTIFACTS_LOG_PREFIX, Storage, StorageArgs
from stacks.tagging import stack_tags


@dataclass(frozen=True)
class MediaPipelineArgs:
    config: StackConfig
    # One Lambda zip per function, by function name (stacks.artifact.ensure_artifact).
    artifacts: Mapping[str, Artifact]


class MediaPipeline(pulumi.ComponentResource):
    """The whole pipeline of one environment; its outputs are the stack outputs."""

    def __init__(
        self, name: str, args: MediaPipelineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:MediaPipeline", name, None, opts)
        cfg = args.config
        s = cfg.settings
        child = pulumi.ResourceOptions(parent=self)
        identity = aws.get_caller_identity()
        region = aws.get_region().region
        partition = aws.get_partition().partition
        cfg.check_region(region)
        project, stack = pulumi.get_project(), pulumi.get_stack()
        tags = stack_tags(project, stack, cfg.tags)
        # Names this deployment in the functions' metrics: two stacks' alarms never mix.
        pipeline_name = f"{project}-{stack}"

        # The key and bucket policies name the roles and the distribution, which themselves
        # need the key and bucket: resolved below, once those exist.
        presign_role_arn, set_presign_role_arn = _deferred()
        processor_role_arn, set_processor_role_arn = _deferred()
        distribution_arn, set_distribution_arn = _deferred()
        # Malware scanning (opt-in): the bucket policy exempts the scan role from the scan gate and
        # the queue policy admits the scan-result rule, both created once the queue exists.
        scanning = s.malware_scanning
        scan_role_arn, set_scan_role_arn = _deferred() if scanning else (None, None)
        scan_rule_arn, set_scan_rule_arn = _deferred() if scanning else (None, None)
        # Audio/video on: the artifacts bucket logs to the log bucket, whose policy names it.
        artifacts_arn, set_artifacts_arn = _deferred() if s.media_enabled else (None, None)
        media_role_arn, set_media_role_arn = _deferred() if s.media_enabled else (None, None)

        self.storage = Storage(
            f"{name}-storage",
            StorageArgs(
                settings=s,
                account_id=identity.account_id,
                region=region,
                partition=partition,
                alias_prefix=f"alias/{project}-{stack}-",
                cors_origins=cfg.cors_origins,
                protect_data=cfg.protect_data,
                force_destroy=cfg.force_destroy,
                deletion_protection=cfg.protect_data,
                presign_role_arn=presign_role_arn,
                processor_role_arn=processor_role_arn,
                distribution_arn=distribution_arn,
                tags=tags,
                existing_key_arn=cfg.kms_key_arn,
                malware_scan_role_arn=scan_role_arn,
                artifacts_bucket_arn=artifacts_arn,
                media_role_arn=media_role_arn,
            ),
            child,
        )
        key_arn, key_policy = self.storage.key_arn, self.storage.key_policy
        image_suffixes, media_suffixes = routing_suffixes(s)
        self.events = Events(f"{name}-events", EventsArgs(cfg.event_archive_days, tags), child)
        self.queues = Queues(
            f"{name}-queues",
            QueuesArgs(
                bucket_id=self.storage.bucket.id,
                bucket_arn=self.storage.bucket.arn,
                account_id=identity.account_id,
                originals_prefix=s.originals_prefix,
                processor_timeout_seconds=s.processor_timeout_seconds,
                max_receive_count=s.dlq_max_receive_count,
                tags=tags,
                retain_notification=cfg.protect_data,
                scan_rule_arn=scan_rule_arn,
                media_timeout_seconds=s.media_processor_timeout_seconds,
                image_suffixes=image_suffixes,
                media_suffixes=media_suffixes,
            ),
            child,
        )
        self.malware: Malware | None = None
        if set_scan_role_arn is not None and set_scan_rule_arn is not None:
            self.malware = Malware(
                f"{name}-malware",
                MalwareArgs(
                    bucket_name=self.storage.bucket.bucket,
                    bucket_arn=self.storage.bucket.arn,
                    key_arn=key_arn,
                    queue_arn=self.queues.queue.arn,
                    dlq_arn=self.queues.dlq.arn,
                    originals_prefix=s.originals_prefix,
                    region=region,
                    account_id=identity.account_id,
                    partition=partition,
                    tags=tags,
                    notification=self.queues.notification,
                ),
                child,
            )
            set_scan_role_arn(self.malware.role.arn)
            set_scan_rule_arn(self.malware.rule.arn)
        # Private delivery: the keys that sign URLs and the key group the CDN trusts.
        self.delivery_keys = (
            DeliveryKeys(
                f"{name}-delivery-key",
                DeliveryKeysArgs(
                    generations=cfg.delivery_key_generations,
                    signing_generation=cfg.delivery_signing_generation,
                    account_id=identity.account_id,
                    partition=partition,
                    signer_role_arn=presign_role_arn,
                    tags=tags,
                ),
                child,
            )
            if s.delivery_mode == "private"
            else None
        )
        self.cdn = Cdn(
            f"{name}-cdn",
            CdnArgs(
                bucket_regional_domain_name=self.storage.bucket.bucket_regional_domain_name,
                derivatives_prefix=s.derivatives_prefix,
                price_class=cfg.cdn_price_class,
                tags=tags,
                delivery_mode=s.delivery_mode,
                url_ttl_seconds=s.delivery_url_ttl_seconds,
                cache_seconds=s.delivery_cache_seconds,
                key_group_id=self.delivery_keys.key_group.id if self.delivery_keys else None,
                domain_name=cfg.cdn_domain_name,
                certificate_arn=cfg.cdn_certificate_arn,
                web_acl_arn=cfg.cdn_web_acl_arn,
            ),
            child,
        )
        set_distribution_arn(self.cdn.distribution.arn)
        # The MAC keys of the listing cursors (the presign role's GenerateMac only).
        self.cursor_keys = CursorKeys(
            f"{name}-cursor-key",
            CursorKeysArgs(
                generations=cfg.cursor_key_generations,
                account_id=identity.account_id,
                partition=partition,
                role_arn=presign_role_arn,
                tags=tags,
            ),
            child,
        )
        self.compute = Compute(
            f"{name}-compute",
            ComputeArgs(
                settings=s,
                presign_code=args.artifacts["presign"],
                processor_code=args.artifacts["processor"],
                architecture=cfg.lambda_architecture,
                runtime=cfg.lambda_runtime,
                presign_memory_mb=cfg.presign_memory_mb,
                presign_timeout_seconds=cfg.presign_timeout_seconds,
                presign_reserved_concurrency=cfg.presign_reserved_concurrency,
                processor_memory_mb=cfg.settings.processor_memory_mb,
                bucket_name=self.storage.bucket.bucket,
                bucket_arn=self.storage.bucket.arn,
                table_name=self.storage.table.name,
                table_arn=self.storage.table.arn,
                key_arn=key_arn,
                event_bus_name=self.events.bus.name,
                event_bus_arn=self.events.bus.arn,
                queue_arn=self.queues.queue.arn,
                cdn_domain=self.cdn.domain,
                cdn_distribution_id=self.cdn.distribution.id,
                cdn_distribution_arn=self.cdn.distribution.arn,
                delivery_key_arn=self.delivery_keys.signing_key_arn if self.delivery_keys else "",
                delivery_key_pair_id=(
                    self.delivery_keys.signing_key_pair_id if self.delivery_keys else ""
                ),
                cursor_keys=self.cursor_keys.env,
                pipeline=pipeline_name,
                key_policy=key_policy,
                tags=tags,
            ),
            child,
        )
        set_presign_role_arn(self.compute.presign_role.arn)
        set_processor_role_arn(self.compute.processor_role.arn)
        self.media: Media | None = None
        if set_artifacts_arn is not None and self.queues.media_queue is not None:
            self.media = Media(
                f"{name}-media",
                MediaArgs(
                    settings=s,
                    code=args.artifacts["media"],
                    architecture=cfg.lambda_architecture,
                    runtime=cfg.lambda_runtime,
                    variables=self.compute.variables,
                    bucket_arn=self.storage.bucket.arn,
                    table_arn=self.storage.table.arn,
                    key_arn=key_arn,
                    event_bus_arn=self.events.bus.arn,
                    queue_arn=self.queues.media_queue.arn,
                    log_bucket_id=self.storage.log_bucket.id,
                    log_prefix=ARTIFACTS_LOG_PREFIX,
                    log_policy=self.storage.log_policy,
                    key_policy=key_policy,
                    force_destroy=cfg.force_destroy,
                    tags=tags,
                ),
                child,
            )
            set_artifacts_arn(self.media.artifacts_bucket.arn)
            assert set_media_role_arn is not None
            set_media_role_arn(self.media.role.arn)
        self.api = Api(
            f"{name}-api",
            ApiArgs(
                function_arn=self.compute.presign.arn,
                function_name=self.compute.presign.name,
                jwt_issuer=cfg.jwt_issuer,
                jwt_audience=cfg.jwt_audience,
                cors_origins=cfg.cors_origins,
                throttle_rate_limit=cfg.api_throttle_rate_limit,
                throttle_burst_limit=cfg.api_throttle_burst_limit,
                log_retention_days=s.log_retention_days,
                key_arn=key_arn,
                key_policy=key_policy,
                tags=tags,
                log_group_prefix=f"{VENDED_LOGS_PREFIX}apigateway/{project}-{stack}-access-",
                domain_name=cfg.api_domain_name,
                certificate_arn=cfg.api_certificate_arn,
                route_scopes=route_scopes(s),
            ),
            child,
        )
        self.alarms = Alarms(
            f"{name}-alarms",
            AlarmsArgs(
                dlq_name=self.queues.dlq.name,
                queue_name=self.queues.queue.name,
                ingest_mapping_uuid=self.compute.ingest_mapping.uuid,
                key_arn=key_arn,
                key_policy=key_policy,
                queue_age_seconds=cfg.alarm_queue_age_seconds,
                processor_errors=cfg.alarm_processor_errors,
                upload_failures=cfg.alarm_upload_failures,
                pipeline=pipeline_name,
                email=cfg.alarm_email,
                tags=tags,
            ),
            child,
        )
        if self.media is not None and self.queues.media_dlq is not None:
            assert self.queues.media_queue is not None
            Alarms(
                f"{name}-media-alarms",
                AlarmsArgs(
                    dlq_name=self.queues.media_dlq.name,
                    queue_name=self.queues.media_queue.name,
                    ingest_mapping_uuid=self.media.mapping.uuid,
                    key_arn=key_arn,
                    key_policy=key_policy,
                    # A video waits behind others longer than an image: its budget is minutes.
                    queue_age_seconds=max(
                        cfg.alarm_queue_age_seconds, 2 * s.media_processor_timeout_seconds
                    ),
                    processor_errors=cfg.alarm_processor_errors,
                    upload_failures=cfg.alarm_upload_failures,
                    pipeline=pipeline_name,
                    email=cfg.alarm_email,
                    tags=tags,
                    service=MEDIA_SERVICE,
                ),
                child,
            )
        self.dashboard = Dashboard(
            f"{name}-dashboard",
            DashboardArgs(
                pipeline=pipeline_name,
                region=region,
                queue_name=self.queues.queue.name,
                dlq_name=self.queues.dlq.name,
            ),
            child,
        )

        self.outputs: dict[str, pulumi.Output[str]] = {
            "api_url": self.api.url,
            "bucket_name": self.storage.bucket.bucket,
            "cdn_domain": self.cdn.domain,
            "events_bus_name": self.events.bus.name,
            "table_name": self.storage.table.name,
            "ingest_queue_url": self.queues.queue.url,
            "dlq_url": self.queues.dlq.url,
            "kms_key_arn": key_arn,
        }
        # Only with the options that need them: where the user's DNS records point, and the
        # policy an existing key must carry (the stack does not manage it).
        if cfg.cdn_domain_name:
            self.outputs["cdn_dns_target"] = self.cdn.distribution.domain_name
        if self.api.dns_target is not None:
            self.outputs["api_dns_target"] = self.api.dns_target
        if self.queues.media_queue is not None and self.queues.media_dlq is not None:
            self.outputs["media_queue_url"] = self.queues.media_queue.url
            self.outputs["media_dlq_url"] = self.queues.media_dlq.url
        if cfg.kms_key_arn:
            self.outputs["kms_key_policy"] = self.storage.required_key_policy
        self.register_outputs(dict(self.outputs))


def _deferred() -> tuple[pulumi.Output[str], Callable[[pulumi.Output[str]], None]]:
    return pulumi.deferred_output()

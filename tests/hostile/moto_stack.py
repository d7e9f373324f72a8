"""A moto-backed stack for the hostile, fault and property tests: the real handlers read their
settings and resources from the environment, S3 notifies the ingest queue itself, and an event
source mapping (the emulator's) feeds `runtime.processor.handler` with DLQ redrive on.

Imported by the conftest files of tests/hostile, tests/faults and tests/properties.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws

from mediakit.local import moto_fidelity
from mediakit.local.emulator import create_queue
from mediakit.local.event_source import SqsEventSourceMapping, queue_depth
from mediakit.local.gateway import claims_for_event
from runtime import aws, presign, processor
from runtime.records import Store, UploadRecord, table_spec
from runtime.settings import KNOWN_TYPES, DerivativeSpec, Resources, Settings
from tests.runtime.rt_support import bearer_token

REGION = "us-east-1"
MAX_RECEIVES = 3
TENANT = "tenant-a"
GPS_TENANT = "tenant-gps"

# Every known type enabled (animated GIF, TIFF) and one small derivative per output format.
HOSTILE_SETTINGS = Settings(
    allowed_types=tuple(KNOWN_TYPES),
    derivatives=(
        DerivativeSpec("thumb", 64, "jpeg", 80),
        DerivativeSpec("alpha-png", 48, "png"),
        DerivativeSpec("alpha-webp", 32, "webp", 75),
    ),
    gps_allowed_tenants=(GPS_TENANT,),
    dlq_max_receive_count=MAX_RECEIVES,
    processor_batch_size=5,
)


def api_event(
    method: str, path: str, body: Any = None, *, claims: dict[str, Any] | None
) -> dict[str, Any]:
    """An API Gateway HTTP API v2 event as the JWT authorizer hands it over."""
    context: dict[str, Any] = {
        "http": {"method": method, "path": path},
        "domainName": "api.test",
        "stage": "$default",
    }
    headers = {"content-type": "application/json"}
    if claims is not None:
        # As API Gateway does: the verified token is forwarded, its claims stringified.
        context["authorizer"] = {"jwt": {"claims": claims_for_event(claims)}}
        headers["authorization"] = f"Bearer {bearer_token(claims)}"
    return {
        "version": "2.0",
        "rawPath": path,
        "headers": headers,
        "requestContext": context,
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


@dataclass
class MotoStack:
    settings: Settings
    resources: Resources
    s3: Any
    ddb: Any
    sqs: Any
    queue_url: str
    queue_arn: str
    dlq_url: str
    responses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def store(self) -> Store:
        return Store(self.ddb, self.resources.table)

    def call(
        self, method: str, path: str, body: Any = None, *, tenant: str = TENANT
    ) -> tuple[int, dict[str, Any]]:
        """Call the real presign handler (`runtime.presign.handler`)."""
        response = presign.handler(api_event(method, path, body, claims={"sub": tenant}), None)
        return response["statusCode"], json.loads(response["body"])

    def create(
        self, content_type: str, size: int, *, tenant: str = TENANT, **extra: Any
    ) -> dict[str, Any]:
        body = {"filename": "upload.bin", "content_type": content_type, "size": size, **extra}
        status, created = self.call("POST", "/v1/uploads", body, tenant=tenant)
        assert status == 201, created
        return created

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """What a client's presigned PUT amounts to: S3 then notifies the ingest queue."""
        self.s3.put_object(
            Bucket=self.resources.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.resources.kms_key_arn,
        )

    def upload(
        self, data: bytes, content_type: str, *, size: int | None = None, tenant: str = TENANT
    ) -> dict[str, Any]:
        created = self.create(content_type, len(data) if size is None else size, tenant=tenant)
        self.put(created["key"], data, content_type)
        return created

    def mapping(self, timeout_seconds: float = 30) -> SqsEventSourceMapping:
        def handler(event: dict[str, Any], context: Any) -> Any:
            response = processor.handler(event, context)
            self.responses.append(response)
            return response

        return SqsEventSourceMapping(
            sqs=self.sqs,
            queue_url=self.queue_url,
            queue_arn=self.queue_arn,
            handler=handler,
            region=REGION,
            batch_size=self.settings.processor_batch_size,
            timeout_seconds=timeout_seconds,
            pollers=1,
            wait_seconds=0,
        )

    def poll(self, mapping: SqsEventSourceMapping) -> int:
        """One receive and one invocation (with a visibility timeout of 0 a second receive in
        the same poll would hand out the same message again)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.settings.processor_batch_size,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if messages:
            mapping.invoke(messages)
        return len(messages)

    def drain(self, *, timeout_seconds: float = 30, max_polls: int = 200) -> SqsEventSourceMapping:
        """Poll the ingest queue (visibility timeout 0: a retry is the next poll) until empty."""
        mapping = self.mapping(timeout_seconds)
        for _ in range(max_polls):
            if self.poll(mapping) == 0 and self.visible(self.queue_url) == 0:
                break
        return mapping

    def visible(self, url: str) -> int:
        return queue_depth(self.sqs, url)

    def dlq_depth(self) -> int:
        """What the DLQ alarm watches: ApproximateNumberOfMessages (visible) on the DLQ."""
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])

    def record(self, upload_id: str) -> UploadRecord:
        record = self.store.get(upload_id)
        assert record is not None
        return record

    def body(self, key: str) -> bytes:
        data: bytes = self.s3.get_object(Bucket=self.resources.bucket, Key=key)["Body"].read()
        return data

    def derivative_keys(self, tenant: str = TENANT) -> list[str]:
        prefix = f"{self.settings.derivatives_prefix}{tenant}/"
        listing = self.s3.list_object_versions(Bucket=self.resources.bucket, Prefix=prefix)
        return [v["Key"] for v in listing.get("Versions", [])]


@contextmanager
def moto_stack(settings: Settings, environ: Any) -> Iterator[MotoStack]:
    """Provision under mock_aws; `environ` is pytest's monkeypatch (env vars are restored)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        environ.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        environ.setenv(name, value)
    aws.reset()
    # S3's notifications name the version and a sequencer; the emulator's patch adds them to
    # moto's, so the processor runs its versioned, idempotent path here too (in any test order).
    moto_fidelity.install()
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        kms = boto3.client("kms", region_name=REGION)
        s3, ddb, events = aws.s3(), aws.dynamodb(), aws.events()
        key_arn = kms.create_key()["KeyMetadata"]["Arn"]
        bucket, table, bus = "hostile-media", "hostile-uploads", "hostile-bus"
        dlq_url, dlq_arn = create_queue(sqs, "hostile-dlq")
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES}
        queue_url, queue_arn = create_queue(
            sqs, "hostile-ingest", {"VisibilityTimeout": "0", "RedrivePolicy": json.dumps(redrive)}
        )
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {
                                "FilterRules": [
                                    {"Name": "prefix", "Value": settings.originals_prefix}
                                ]
                            }
                        },
                    }
                ]
            },
        )
        # S3 announces a new notification configuration with an s3:TestEvent; start empty.
        sqs.purge_queue(QueueUrl=queue_url)
        ddb.create_table(**table_spec(table))
        events.create_event_bus(Name=bus)
        # The listing cursors' MAC key (runtime/cursors.py), as the stack makes it.
        cursor_key = aws.client("kms").create_key(
            KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC"
        )["KeyMetadata"]["Arn"]
        resources = Resources(
            bucket=bucket,
            table=table,
            event_bus=bus,
            kms_key_arn=key_arn,
            cursor_keys=f"1={cursor_key}",
        )
        for name, value in {**settings.to_env(), **resources.to_env()}.items():
            environ.setenv(name, value)
        aws.reset()  # clients and cached settings re-read the environment just set
        yield MotoStack(
            settings=settings,
            resources=resources,
            s3=aws.s3(),
            ddb=aws.dynamodb(),
            sqs=sqs,
            queue_url=queue_url,
            queue_arn=queue_arn,
            dlq_url=dlq_url,
        )
    aws.reset()

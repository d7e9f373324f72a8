"""Fixtures for runtime tests: a moto-backed pipeline (bucket, table, bus, key, event tap)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

# The suite runs in importlib mode, where a test folder is not on sys.path: put this one there
# so the tests can share rt_support.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from rt_support import REGION, Pipeline

from runtime import api, aws, ingest
from runtime.imaging import process_image
from runtime.records import Store, table_spec
from runtime.settings import Resources, Settings


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials, no endpoint override, no cached clients."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    aws.reset()
    yield
    aws.reset()


@pytest.fixture
def settings() -> Settings:
    mib = 1024 * 1024
    return Settings(
        list_page_size=2,
        gps_allowed_tenants=("tenant-gps",),
        multipart_threshold_bytes=5 * mib,
        multipart_part_bytes=5 * mib,
    )


@pytest.fixture
def pipeline(aws_env: None, settings: Settings) -> Iterator[Pipeline]:
    with mock_aws():
        s3 = aws.s3()
        ddb = aws.dynamodb()
        events = aws.events()
        sqs = aws.client("sqs")
        key_arn = aws.client("kms").create_key()["KeyMetadata"]["Arn"]
        bucket, table, bus = "media-test-bucket", "uploads-test", "media-test-bus"
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        ddb.create_table(**table_spec(table))
        events.create_event_bus(Name=bus)
        tap_url = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
        tap_arn = sqs.get_queue_attributes(QueueUrl=tap_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events.put_rule(
            Name="tap", EventBusName=bus, EventPattern=json.dumps({"source": ["mediakit"]})
        )
        events.put_targets(Rule="tap", EventBusName=bus, Targets=[{"Id": "q", "Arn": tap_arn}])
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
        store = Store(ddb, table)
        yield Pipeline(
            settings=settings,
            resources=resources,
            s3=s3,
            ddb=ddb,
            sqs=sqs,
            tap_url=tap_url,
            api=api.Deps(settings=settings, resources=resources, s3=s3, store=store),
            ingest=ingest.Deps(
                settings=settings,
                resources=resources,
                s3=s3,
                store=store,
                events=events,
                process=process_image,
            ),
        )

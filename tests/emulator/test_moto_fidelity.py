"""The emulator's S3 notifications carry what S3's do: versionId and an increasing sequencer."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
from botocore.config import Config
from moto import mock_aws

from mediakit.local import moto_fidelity
from mediakit.local.emulator import create_queue


def _notifications_for_two_puts() -> list[dict[str, Any]]:
    s3 = boto3.client("s3", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue_url, queue_arn = create_queue(sqs, "fidelity")
    s3.create_bucket(Bucket="fidelity")
    s3.put_bucket_versioning(Bucket="fidelity", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket="fidelity",
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    s3.put_object(Bucket="fidelity", Key="k", Body=b"one")
    s3.put_object(Bucket="fidelity", Key="k", Body=b"two")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    records = [json.loads(m["Body"]) for m in messages]
    return [r["Records"][0]["s3"]["object"] for r in records if "Records" in r]


@mock_aws
def test_moto_fidelity_adds_version_id_and_increasing_sequencer() -> None:
    # GIVEN the patch the emulator installs at start
    moto_fidelity.install()
    moto_fidelity.install()  # idempotent: a second call must not wrap twice

    # WHEN the same key is written twice in a versioned bucket
    objects = _notifications_for_two_puts()

    # THEN each record names its own version and the sequencers increase
    assert len(objects) == 2
    assert all(o.get("versionId") for o in objects)
    assert objects[0]["versionId"] != objects[1]["versionId"]
    assert int(objects[0]["sequencer"], 16) < int(objects[1]["sequencer"], 16)


def test_moto_server_answers_a_form_encoded_put_instead_of_hanging() -> None:
    # GIVEN the emulator's moto server with a bucket, and a presigned PUT URL for a key in it
    server = moto_fidelity.moto_server("127.0.0.1", keys={"testing": "secret"}, region="us-east-1")
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="secret",
            config=Config(signature_version="s3v4"),
        )
        s3.create_bucket(Bucket="fidelity-form")
        url = s3.generate_presigned_url(
            "put_object", Params={"Bucket": "fidelity-form", "Key": "k"}, ExpiresIn=60
        )
        # WHEN bytes are PUT as curl --data-binary sends them (form content type)
        request = urllib.request.Request(  # noqa: S310 (http to loopback)
            url,
            data=b"\xff\xd8a=1&b=2" * 64,
            method="PUT",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        # THEN an answer comes back (moto's own server blocked until the client timed out)
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 200
    finally:
        server.stop()

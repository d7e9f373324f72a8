"""CDN, queues and events: derivatives only through OAC; ingest queue, DLQ and bus."""

from __future__ import annotations

import json

from tests.stack.conftest import StackGraph

DIST = "media-cdn-distribution"
QUEUE = "media-queues-ingest"
DLQ = "media-queues-dlq"
BUCKET = "media-storage-bucket"


def test_oac_signs_every_request_with_sigv4_for_s3(stack: StackGraph) -> None:
    oac = stack.inputs("media-cdn-oac")
    assert oac["signingBehavior"] == "always"
    assert oac["signingProtocol"] == "sigv4"
    assert oac["originAccessControlOriginType"] == "s3"


def test_distribution_serves_derivatives_only_over_https(stack: StackGraph) -> None:
    dist = stack.inputs(DIST)
    (origin,) = dist["origins"]
    assert origin["domainName"] == stack.state(BUCKET)["bucketRegionalDomainName"]
    assert origin["originAccessControlId"] == stack.state("media-cdn-oac")["id"]
    assert "s3OriginConfig" not in origin  # no legacy OAI
    (derivatives,) = dist["orderedCacheBehaviors"]
    assert derivatives["pathPattern"] == "derivatives/*"
    for behaviour in (derivatives, dist["defaultCacheBehavior"]):
        assert behaviour["viewerProtocolPolicy"] == "https-only"
        assert behaviour["cachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"
        assert behaviour["responseHeadersPolicyId"] == "67f7725c-6f97-4210-82d7-5512b31e9d03"
        assert behaviour["allowedMethods"] == ["GET", "HEAD"]
    # Everything outside derivatives/ (originals included) answers 404 at the edge.
    (association,) = dist["defaultCacheBehavior"]["functionAssociations"]
    assert association["eventType"] == "viewer-request"
    assert association["functionArn"] == stack.state("media-cdn-not-found")["arn"]
    assert "statusCode: 404" in stack.inputs("media-cdn-not-found")["code"]


def test_default_certificate_sets_no_tls_minimum(stack: StackGraph) -> None:
    # GIVEN no custom domain: CloudFront's *.cloudfront.net certificate, whose TLS policy AWS
    # fixes at TLSv1 whatever is asked (a TLSv1.2 minimum there is a diff on every `up`)
    assert stack.config["cdnDomainName"] == ""
    # THEN the viewer certificate is the default one and nothing else
    assert stack.inputs(DIST)["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
    assert "aliases" not in stack.inputs(DIST)


def test_ingest_queue_sse_redrive_and_visibility(stack: StackGraph) -> None:
    queue, dlq = stack.inputs(QUEUE), stack.inputs(DLQ)
    for q in (queue, dlq):
        assert q["sqsManagedSseEnabled"] is True
        assert "kmsMasterKeyId" not in q  # never alias/aws/sqs: S3 could not publish
    redrive = json.loads(queue["redrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": stack.state(DLQ)["arn"],
        "maxReceiveCount": stack.config["dlqMaxReceiveCount"],
    }
    assert dlq["messageRetentionSeconds"] == 14 * 86400
    assert dlq["messageRetentionSeconds"] > queue["messageRetentionSeconds"]
    allow = json.loads(stack.inputs("media-queues-dlq-redrive-allow")["redriveAllowPolicy"])
    assert allow == {"redrivePermission": "byQueue", "sourceQueueArns": [stack.state(QUEUE)["arn"]]}


def test_visibility_timeout_is_at_least_six_processor_timeouts(stack: StackGraph) -> None:
    timeout = stack.inputs("media-compute-processor")["timeout"]
    assert timeout == stack.config["processorTimeoutSeconds"]
    assert stack.inputs(QUEUE)["visibilityTimeoutSeconds"] >= 6 * timeout


def test_queue_policy_admits_only_this_bucket_in_this_account(stack: StackGraph) -> None:
    policy = stack.inputs("media-queues-ingest-policy")
    assert policy["queueUrl"] == stack.state(QUEUE)["url"]
    statements = stack.statements("media-queues-ingest-policy")
    assert set(statements) == {"MediaBucketNotifications", "DenyInsecureTransport"}
    send = statements["MediaBucketNotifications"]
    assert send["Principal"] == {"Service": "s3.amazonaws.com"}
    assert send["Action"] == ["sqs:SendMessage"]
    assert send["Resource"] == [stack.state(QUEUE)["arn"]]
    assert send["Condition"] == {
        "ArnEquals": {"aws:SourceArn": stack.state(BUCKET)["arn"]},
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }


def test_bucket_notification_originals_created_to_ingest_queue(stack: StackGraph) -> None:
    notification = stack.get("media-queues-bucket-notification")
    (target,) = notification["inputs"]["queues"]
    assert target == {
        "queueArn": stack.state(QUEUE)["arn"],
        "events": ["s3:ObjectCreated:*"],
        "filterPrefix": "originals/",
    }
    assert notification["inputs"]["bucket"] == stack.state(BUCKET)["id"]
    # Created only once the queue accepts the bucket (S3 test-publishes on create).
    assert stack.urn("media-queues-ingest-policy") in notification["depends_on"]


def test_event_bus_and_archive(stack: StackGraph) -> None:
    (bus,) = stack.of_type("aws:cloudwatch/eventBus:EventBus")
    (archive,) = stack.of_type("aws:cloudwatch/eventArchive:EventArchive")
    assert archive["inputs"]["eventSourceArn"] == bus["state"]["arn"]
    assert archive["inputs"]["retentionDays"] == stack.config["eventArchiveDays"]

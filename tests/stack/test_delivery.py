"""CDN, queues and events: derivatives only through OAC; ingest queue, DLQ and bus."""

from __future__ import annotations

import json

import pytest

from policies.synth import MOCK_PUBLIC_KEY_PEM, load_stack_config, synth
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
        assert behaviour["allowedMethods"] == ["GET", "HEAD"]
    # derivatives: the delivery mode's own cache and headers policies (tests below); the rest
    # (404 only) keeps AWS's managed CachingOptimized and SecurityHeadersPolicy
    assert derivatives["cachePolicyId"] == stack.state("media-cdn-derivatives-cache")["id"]
    assert (
        derivatives["responseHeadersPolicyId"] == stack.state("media-cdn-derivatives-headers")["id"]
    )
    default = dist["defaultCacheBehavior"]
    assert default["cachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"
    assert default["responseHeadersPolicyId"] == "67f7725c-6f97-4210-82d7-5512b31e9d03"
    assert "trustedKeyGroups" not in default
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
        # created objects, and the delete markers retention writes (test_retention.py)
        "events": ["s3:ObjectCreated:*", "s3:LifecycleExpiration:DeleteMarkerCreated"],
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


# --- delivery modes (issue 11.1) ------------------------------------------------------------------

PRESIGN_POLICY = "media-compute-presign-policy"
PRESIGN_ROLE = "media-compute-presign-role"
PRESIGN_FN = "media-compute-presign"


def _with(stack: str, **config: object) -> StackGraph:
    return StackGraph(synth(stack, {**load_stack_config(stack), **config}))


@pytest.fixture(scope="module")
def public() -> StackGraph:
    return _with("dev", deliveryMode="public", deliveryCacheSeconds=120)


@pytest.fixture(scope="module")
def rotating() -> StackGraph:
    # Step 1 of a rotation: generation 2 trusted, 1 still signing.
    return _with("prod", deliveryKeyGenerations=["1", "2"], deliverySigningGeneration="1")


def _variables(graph: StackGraph) -> dict[str, str]:
    variables: dict[str, str] = graph.inputs(PRESIGN_FN)["environment"]["variables"]
    return variables


def test_private_mode_derivatives_require_the_key_group_of_kms_public_keys(
    stack: StackGraph,
) -> None:
    # GIVEN the default (private) delivery mode
    assert stack.config["deliveryMode"] == "private"
    (derivatives,) = stack.inputs(DIST)["orderedCacheBehaviors"]
    # THEN only requests signed by a key of the stack's key group are served
    assert derivatives["trustedKeyGroups"] == [stack.state("media-delivery-key-group")["id"]]
    assert "trustedSigners" not in derivatives
    assert stack.inputs("media-delivery-key-group")["items"] == [
        stack.state("media-delivery-key-1-public")["id"]
    ]
    # the key: asymmetric RSA 2048 in KMS; CloudFront gets its public half, read from KMS
    key = stack.inputs("media-delivery-key-1")
    assert (key["keyUsage"], key["customerMasterKeySpec"]) == ("SIGN_VERIFY", "RSA_2048")
    assert "enableKeyRotation" not in key  # KMS cannot rotate asymmetric keys
    public_key = stack.inputs("media-delivery-key-1-public")
    assert public_key["encodedKey"] == MOCK_PUBLIC_KEY_PEM
    assert "PRIVATE" not in json.dumps(stack.raw)


def test_private_mode_signing_key_policy_admits_the_account_and_the_signer_only(
    stack: StackGraph,
) -> None:
    statements = stack.statements("media-delivery-key-1")
    assert set(statements) == {"AccountRootFullAccess", "PresignRoleSignUrls"}
    sign = statements["PresignRoleSignUrls"]
    assert sign["Principal"] == {"AWS": stack.state(PRESIGN_ROLE)["arn"]}
    assert sign["Action"] == ["kms:Sign"]
    assert statements["AccountRootFullAccess"]["Principal"] == {
        "AWS": "arn:aws:iam::123456789012:root"
    }
    # KMS refuses a key policy naming a principal that does not exist yet
    assert stack.created_after("media-delivery-key-1", PRESIGN_ROLE)


def test_private_mode_presign_role_signs_with_the_key_and_invalidates_nothing(
    stack: StackGraph,
) -> None:
    statements = stack.statements(PRESIGN_POLICY)
    assert statements["SignDeliveryUrls"]["Action"] == ["kms:Sign"]
    assert statements["SignDeliveryUrls"]["Resource"] == [
        stack.state("media-delivery-key-1")["arn"]
    ]
    assert "InvalidateDeletedDerivatives" not in statements
    actions = {a for s in statements.values() for a in s["Action"]}
    assert not {"kms:GetPublicKey", "cloudfront:CreateInvalidation"} & actions
    # the processor never signs
    processor = stack.statements("media-compute-processor-policy")
    assert "kms:Sign" not in {a for s in processor.values() for a in s["Action"]}


def test_private_mode_function_gets_the_signing_key_and_its_key_pair_id(stack: StackGraph) -> None:
    variables = _variables(stack)
    assert variables["MEDIAKIT_DELIVERY_MODE"] == "private"
    assert variables["MEDIAKIT_DELIVERY_KEY_ARN"] == stack.state("media-delivery-key-1")["arn"]
    assert (
        variables["MEDIAKIT_DELIVERY_KEY_PAIR_ID"]
        == stack.state("media-delivery-key-1-public")["id"]
    )
    # It starts signing with a key only once the key group trusts that key.
    assert stack.created_after(PRESIGN_FN, "media-delivery-key-group")


def test_private_mode_caching_never_outlives_a_url(stack: StackGraph) -> None:
    ttl, cache = stack.config["deliveryUrlTtlSeconds"], stack.config["deliveryCacheSeconds"]
    policy = stack.inputs("media-cdn-derivatives-cache")
    assert (policy["minTtl"], policy["defaultTtl"], policy["maxTtl"]) == (0, ttl, ttl)
    keyed = policy["parametersInCacheKeyAndForwardedToOrigin"]
    assert keyed["queryStringsConfig"] == {"queryStringBehavior": "none"}
    headers = stack.inputs("media-cdn-derivatives-headers")
    (cache_control,) = headers["customHeadersConfig"]["items"]
    assert cache_control == {
        "header": "Cache-Control",
        "value": f"private, max-age={cache}",
        "override": True,  # also for derivatives written before
    }
    assert cache <= ttl
    security = headers["securityHeadersConfig"]
    assert security["strictTransportSecurity"]["accessControlMaxAgeSec"] == 31536000
    assert security["contentTypeOptions"] == {"override": True}


def test_public_mode_has_no_key_group_and_a_short_edge_lifetime(public: StackGraph) -> None:
    # GIVEN deliveryMode public with deliveryCacheSeconds 120
    (derivatives,) = public.inputs(DIST)["orderedCacheBehaviors"]
    # THEN plain URLs are served, no signing key exists, and everything caches at most 120 s
    assert "trustedKeyGroups" not in derivatives
    assert not public.of_type("aws:cloudfront/keyGroup:KeyGroup")
    assert not public.of_type("aws:cloudfront/publicKey:PublicKey")
    # (the other KMS keys: the stack key and the listing cursors' HMAC key, never a signer)
    keys = public.of_type("aws:kms/key:Key")
    assert sorted(r["name"] for r in keys) == ["media-cursor-key-1", "media-storage-key"]
    assert not [r for r in keys if r["inputs"].get("keyUsage") == "SIGN_VERIFY"]
    policy = public.inputs("media-cdn-derivatives-cache")
    assert (policy["defaultTtl"], policy["maxTtl"]) == (120, 120)
    (cache_control,) = public.inputs("media-cdn-derivatives-headers")["customHeadersConfig"][
        "items"
    ]
    assert cache_control["value"] == "public, max-age=120"


def test_public_mode_presign_role_invalidates_only_this_distribution(public: StackGraph) -> None:
    statements = public.statements(PRESIGN_POLICY)
    invalidate = statements["InvalidateDeletedDerivatives"]
    assert invalidate["Action"] == ["cloudfront:CreateInvalidation"]
    assert invalidate["Resource"] == [public.state(DIST)["arn"]]
    assert "SignDeliveryUrls" not in statements
    variables = _variables(public)
    assert variables["MEDIAKIT_CDN_DISTRIBUTION_ID"] == public.state(DIST)["id"]
    assert variables["MEDIAKIT_DELIVERY_KEY_ARN"] == ""


def test_rotation_trusts_both_generations_and_signs_with_the_chosen_one(
    rotating: StackGraph,
) -> None:
    # GIVEN generations 1 and 2, generation 1 still signing
    group = rotating.inputs("media-delivery-key-group")["items"]
    # THEN CloudFront trusts both, and only generation 1 may sign (key policy and IAM alike)
    assert group == [
        rotating.state("media-delivery-key-1-public")["id"],
        rotating.state("media-delivery-key-2-public")["id"],
    ]
    assert "PresignRoleSignUrls" in rotating.statements("media-delivery-key-1")
    assert set(rotating.statements("media-delivery-key-2")) == {"AccountRootFullAccess"}
    sign = rotating.statements(PRESIGN_POLICY)["SignDeliveryUrls"]
    assert sign["Resource"] == [rotating.state("media-delivery-key-1")["arn"]]
    variables = _variables(rotating)
    assert (
        variables["MEDIAKIT_DELIVERY_KEY_PAIR_ID"]
        == rotating.state("media-delivery-key-1-public")["id"]
    )


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"deliveryKeyGenerations": []}, "deliveryKeyGenerations"),
        ({"deliveryKeyGenerations": ["1", "1"]}, "deliveryKeyGenerations"),
        ({"deliveryKeyGenerations": ["A"]}, "deliveryKeyGenerations"),
        ({"deliveryKeyGenerations": [str(i) for i in range(6)]}, "deliveryKeyGenerations"),
        ({"deliverySigningGeneration": "9"}, "deliverySigningGeneration"),
    ],
)
def test_key_generations_refuse_bad_config(config: dict[str, object], key: str) -> None:
    from runtime.errors import SettingsError
    from stacks.config import StackConfig

    values = {**load_stack_config("dev"), **config}

    def get(k: str) -> object:
        v = values.get(k)
        return json.dumps(v) if isinstance(v, list) else v

    with pytest.raises(SettingsError, match=f"^mediakit:{key}: "):
        StackConfig.from_config(get, "dev")


def test_public_mode_without_caching_caches_nothing_and_compresses_no_key() -> None:
    # GIVEN public mode with deliveryCacheSeconds 0 (a deleted derivative is gone at once)
    graph = _with("dev", deliveryMode="public", deliveryCacheSeconds=0)
    policy = graph.inputs("media-cdn-derivatives-cache")
    # THEN nothing is cached, and the policy leaves compression out of the cache key, which
    # CloudFront refuses for a policy whose TTLs are all 0
    assert (policy["minTtl"], policy["defaultTtl"], policy["maxTtl"]) == (0, 0, 0)
    keyed = policy["parametersInCacheKeyAndForwardedToOrigin"]
    assert keyed["enableAcceptEncodingGzip"] is False
    assert keyed["enableAcceptEncodingBrotli"] is False
    (cache_control,) = graph.inputs("media-cdn-derivatives-headers")["customHeadersConfig"]["items"]
    assert cache_control["value"] == "public, max-age=0"

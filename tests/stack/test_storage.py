"""Storage: key, media bucket, access-log bucket and table, per environment."""

from __future__ import annotations

import json
from typing import Any

from tests.stack.conftest import StackGraph

BUCKET = "media-storage-bucket"
LOG_BUCKET = "media-storage-log-bucket"
KEY = "media-storage-key"
TABLE = "media-storage-uploads"
DIST = "media-cdn-distribution"


def test_key_rotates_and_has_an_alias(stack: StackGraph) -> None:
    assert stack.inputs(KEY)["enableKeyRotation"] is True
    alias = stack.inputs("media-storage-key-alias")
    assert alias["targetKeyId"] == stack.state(KEY)["keyId"]


def test_key_alias_is_unique_per_deployment_not_just_per_stack_name(stack: StackGraph) -> None:
    # GIVEN two deployments of the kit with the same project and stack names in one account
    # (two teams, two Pulumi backends) THEN their aliases still differ: the name is a prefix
    # naming project and stack, and the provider appends a unique suffix
    alias = stack.inputs("media-storage-key-alias")
    assert "name" not in alias
    assert alias["namePrefix"] == f"alias/mediakit-{stack.raw['stack']}-"
    assert stack.state("media-storage-key-alias")["name"].startswith(alias["namePrefix"])


def test_key_policy_admits_account_roles_cloudfront_for_this_distribution_only(
    stack: StackGraph,
) -> None:
    statements = stack.statements("media-storage-key-policy")
    assert stack.inputs("media-storage-key-policy")["keyId"] == stack.state(KEY)["keyId"]
    assert set(statements) == {
        "AccountRootFullAccess",
        "PresignRoleUseKey",
        "ProcessorRoleUseKey",
        "CloudFrontDecryptForDistribution",
        "CloudWatchLogsEncryptLogGroups",
        "CloudWatchAlarmsPublishEncrypted",
    }
    assert statements["AccountRootFullAccess"]["Principal"] == {
        "AWS": "arn:aws:iam::123456789012:root"
    }
    assert statements["PresignRoleUseKey"]["Principal"] == {
        "AWS": stack.state("media-compute-presign-role")["arn"]
    }
    assert statements["ProcessorRoleUseKey"]["Principal"] == {
        "AWS": stack.state("media-compute-processor-role")["arn"]
    }
    cloudfront = statements["CloudFrontDecryptForDistribution"]
    assert cloudfront["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert cloudfront["Action"] == ["kms:Decrypt"]
    assert cloudfront["Condition"] == {"StringEquals": {"AWS:SourceArn": stack.state(DIST)["arn"]}}
    logs = statements["CloudWatchLogsEncryptLogGroups"]
    assert logs["Principal"] == {"Service": "logs.us-east-1.amazonaws.com"}
    assert "ArnLike" in logs["Condition"]
    # Nobody else: no wildcard principal anywhere.
    assert all(s["Principal"] != "*" and s["Effect"] == "Allow" for s in statements.values())


def test_both_buckets_are_owner_enforced_and_fully_public_blocked(stack: StackGraph) -> None:
    for bucket in (BUCKET, LOG_BUCKET):
        bucket_id = stack.state(bucket)["id"]
        ownership = stack.inputs(f"{bucket}-ownership")
        assert ownership["bucket"] == bucket_id
        assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        block = stack.inputs(f"{bucket}-public-access-block")
        assert block == {
            "bucket": bucket_id,
            "blockPublicAcls": True,
            "blockPublicPolicy": True,
            "ignorePublicAcls": True,
            "restrictPublicBuckets": True,
        }


def test_media_bucket_sse_kms_with_bucket_key_on_the_stack_key(stack: StackGraph) -> None:
    sse = stack.inputs(f"{BUCKET}-sse")
    assert sse["bucket"] == stack.state(BUCKET)["id"]
    (rule,) = sse["rules"]
    assert rule["bucketKeyEnabled"] is True
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": stack.state(KEY)["arn"],
    }


def test_both_buckets_are_versioned(stack: StackGraph) -> None:
    for bucket in (BUCKET, LOG_BUCKET):
        versioning = stack.inputs(f"{bucket}-versioning")
        assert versioning["versioningConfiguration"] == {"status": "Enabled"}
        assert versioning["bucket"] == stack.state(bucket)["id"]


def test_media_bucket_policy_tls_only_stack_key_only_cloudfront_derivatives(
    stack: StackGraph,
) -> None:
    bucket_arn = stack.state(BUCKET)["arn"]
    statements = stack.statements(f"{BUCKET}-policy")
    assert set(statements) == {
        "DenyInsecureTransport",
        "DenyNonKmsEncryption",
        "DenyOtherKmsKey",
        "DenyKmsWithoutKeyId",
        "CloudFrontReadDerivatives",
    }
    tls = statements["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny"
    assert tls["Principal"] == "*"
    assert tls["Action"] == ["s3:*"]
    assert tls["Resource"] == [bucket_arn, f"{bucket_arn}/*"]
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    kms = statements["DenyOtherKmsKey"]
    assert (kms["Effect"], kms["Action"]) == ("Deny", ["s3:PutObject"])
    assert kms["Condition"] == {
        "StringNotEqualsIfExists": {
            "s3:x-amz-server-side-encryption-aws-kms-key-id": stack.state(KEY)["arn"]
        }
    }
    assert statements["DenyNonKmsEncryption"]["Condition"] == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}
    }
    # aws:kms without a key id would land under aws/s3, which CloudFront cannot decrypt
    assert statements["DenyKmsWithoutKeyId"]["Condition"] == {
        "StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
        "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "true"},
    }

    read = statements["CloudFrontReadDerivatives"]
    assert read["Effect"] == "Allow"
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert read["Action"] == ["s3:GetObject"]
    assert read["Resource"] == [f"{bucket_arn}/derivatives/*"]
    assert read["Condition"] == {"StringEquals": {"AWS:SourceArn": stack.state(DIST)["arn"]}}


def test_media_bucket_lifecycle_tiers_originals_and_cleans_up(stack: StackGraph) -> None:
    rules = {r["id"]: r for r in stack.inputs(f"{BUCKET}-lifecycle")["rules"]}
    tier = rules["tier-originals"]
    assert tier["status"] == "Enabled"
    assert tier["filter"] == {"prefix": "originals/"}
    assert tier["transitions"] == [
        {"storageClass": "STANDARD_IA", "days": 30.0},
        {"storageClass": "GLACIER_IR", "days": 365.0},
    ]
    house = rules["housekeeping"]
    assert house["filter"] == {}  # bucket-wide (CKV_AWS_300)
    assert house["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1.0}
    assert house["noncurrentVersionExpiration"] == {"noncurrentDays": 30.0}
    assert house["expiration"] == {"expiredObjectDeleteMarker": True}


def test_media_bucket_cors_only_configured_origins(stack: StackGraph) -> None:
    (rule,) = stack.inputs(f"{BUCKET}-cors")["corsRules"]
    assert rule["allowedOrigins"] == stack.config["corsOrigins"]
    assert sorted(rule["allowedMethods"]) == ["GET", "HEAD", "POST", "PUT"]
    assert rule["exposeHeaders"] == ["ETag", "Retry-After"]
    assert "*" not in rule["allowedOrigins"]


def test_prod_cors_has_no_localhost(prod: StackGraph) -> None:
    (rule,) = prod.inputs(f"{BUCKET}-cors")["corsRules"]
    assert rule["allowedOrigins"] == ["https://app.example.com"]


def test_media_bucket_access_logs_go_to_the_log_bucket(stack: StackGraph) -> None:
    logging = stack.inputs(f"{BUCKET}-logging")
    assert logging == {
        "bucket": stack.state(BUCKET)["id"],
        "targetBucket": stack.state(LOG_BUCKET)["id"],
        "targetPrefix": "media/",
    }


def test_log_bucket_encrypted_expiring_tls_only_and_admits_log_delivery(
    stack: StackGraph,
) -> None:
    (rule,) = stack.inputs(f"{LOG_BUCKET}-sse")["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    (expire,) = stack.inputs(f"{LOG_BUCKET}-lifecycle")["rules"]
    assert expire["filter"] == {}
    assert expire["expiration"] == {"days": float(stack.config["logRetentionDays"])}
    assert expire["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1.0}

    log_arn = stack.state(LOG_BUCKET)["arn"]
    statements = stack.statements(f"{LOG_BUCKET}-policy")
    assert set(statements) == {"DenyInsecureTransport", "S3ServerAccessLogsDelivery"}
    assert statements["DenyInsecureTransport"]["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    delivery = statements["S3ServerAccessLogsDelivery"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Action"] == ["s3:PutObject"]
    assert delivery["Resource"] == [f"{log_arn}/media/*"]
    assert delivery["Condition"] == {
        "ArnLike": {"aws:SourceArn": stack.state(BUCKET)["arn"]},
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }


def test_table_keys_index_pitr_sse_ttl_billing(stack: StackGraph) -> None:
    table = stack.inputs(TABLE)
    assert table["hashKey"] == "upload_id"
    assert {"name": "upload_id", "type": "S"} in table["attributes"]
    indexes = {i["name"]: i for i in table["globalSecondaryIndexes"]}
    index = indexes["by_tenant"]
    assert index["projectionType"] == "ALL"
    assert index["keySchemas"] == [
        {"keyType": "HASH", "attributeName": "tenant"},
        {"keyType": "RANGE", "attributeName": "created_at"},
    ]
    # The per-tenant limits' sparse index (runtime/limits.py): keys only.
    items = indexes["tenant_items"]
    assert items["projectionType"] == "KEYS_ONLY"
    assert items["keySchemas"] == [
        {"keyType": "HASH", "attributeName": "item_tenant"},
        {"keyType": "RANGE", "attributeName": "item_sort"},
    ]
    types = {a["name"]: a["type"] for a in table["attributes"]}
    assert {k: types[k] for k in ("upload_id", "tenant", "created_at")} == {
        "upload_id": "S",
        "tenant": "S",
        "created_at": "S",
    }
    assert types["item_tenant"] == types["item_sort"] == "S"
    assert table["pointInTimeRecovery"] == {"enabled": True, "recoveryPeriodInDays": 35}
    assert table["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": stack.state(KEY)["arn"]}
    assert table["ttl"] == {"enabled": True, "attributeName": "ttl"}
    assert table["billingMode"] == "PAY_PER_REQUEST"


def test_ttl_attribute_is_the_one_the_runtime_writes() -> None:
    from runtime.records import TTL_ATTRIBUTE as RUNTIME_TTL
    from stacks.storage import TTL_ATTRIBUTE

    assert TTL_ATTRIBUTE == RUNTIME_TTL


def test_prod_protects_and_retains_data_dev_does_not(dev: StackGraph, prod: StackGraph) -> None:
    for name in (BUCKET, TABLE, KEY):
        assert prod.protected(name)
        assert not dev.protected(name)
    for graph in (dev, prod):
        for name in (f"{BUCKET}-sse", LOG_BUCKET, "media-storage-key-policy"):
            assert not graph.protected(name)  # retained, but destroy need not be unlocked for it
    assert prod.inputs(TABLE)["deletionProtectionEnabled"] is True
    assert dev.inputs(TABLE)["deletionProtectionEnabled"] is False
    assert prod.inputs(BUCKET)["forceDestroy"] is False
    assert dev.inputs(BUCKET)["forceDestroy"] is True
    assert dev.inputs(LOG_BUCKET)["forceDestroy"] is True


def _guards(graph: StackGraph) -> list[str]:
    """Every resource that configures a bucket or the key: what a destroy would reset."""
    buckets = {graph.state(BUCKET)["id"], graph.state(LOG_BUCKET)["id"]}
    key_id = graph.state(KEY)["keyId"]
    refs = ("bucket", "targetBucket", "keyId", "targetKeyId")
    return [
        r["name"]
        for r in graph
        if r["custom"] and {r["inputs"].get(ref) for ref in refs} & (buckets | {key_id})
    ]


def test_prod_retains_every_guard_of_the_retained_data(prod: StackGraph) -> None:
    # GIVEN the prod graph: the data is retained on destroy
    guards = _guards(prod)
    assert {
        f"{BUCKET}-public-access-block",
        f"{BUCKET}-ownership",
        f"{BUCKET}-policy",
        f"{BUCKET}-sse",
        f"{BUCKET}-versioning",
        f"{BUCKET}-lifecycle",
        f"{BUCKET}-logging",
        f"{BUCKET}-cors",
        "media-queues-bucket-notification",
        "media-storage-key-policy",
        f"{LOG_BUCKET}-policy",
    } <= set(guards)
    # THEN so is everything that guards it: deleting a guard would reset encryption, suspend
    # versioning or drop the policy on a bucket that stays
    assert [g for g in guards if not prod.retained(g)] == []


def test_prod_log_bucket_is_retained_dev_log_bucket_is_force_destroyed(
    dev: StackGraph, prod: StackGraph
) -> None:
    # A non-empty log bucket neither retained nor force-destroyed fails `pulumi destroy`.
    assert prod.retained(LOG_BUCKET)
    assert prod.inputs(LOG_BUCKET)["forceDestroy"] is False
    assert not dev.retained(LOG_BUCKET)
    assert dev.inputs(LOG_BUCKET)["forceDestroy"] is True
    assert [g for g in _guards(dev) if dev.retained(g)] == []


def test_health_object_is_encrypted_with_the_stack_key_under_health(stack: StackGraph) -> None:
    # GIVEN the object GET /v1/health reads (runtime/health.py)
    from policies import documents
    from runtime import health

    (probe,) = stack.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
    inputs = probe["inputs"]
    # THEN it sits under health/ in the media bucket, with the stack key (the bucket policy's
    # key deny holds for it too: it names the stack key explicitly)
    assert inputs["key"] == health.HEALTH_OBJECT_KEY
    assert inputs["key"].startswith(documents.PRESIGN_HEALTH_PREFIX)
    assert inputs["bucket"] == stack.state(BUCKET)["bucket"]
    assert inputs["serverSideEncryption"] == "aws:kms"
    assert inputs["kmsKeyId"] == stack.state(KEY)["arn"]
    assert inputs["content"] == health.HEALTH_OBJECT_BODY
    # AND it is written once the bucket policy is in place
    assert stack.created_after(probe["name"], f"{BUCKET}-policy")


def _denies(statement: dict[str, Any], context: dict[str, str]) -> bool:
    """Whether a Deny statement's conditions hold for a request with `context` (the condition
    keys the media bucket policy uses; an absent key is what IfExists and Null look at)."""
    for operator, tests in statement.get("Condition", {}).items():
        for key, expected in tests.items():
            values = expected if isinstance(expected, list) else [expected]
            present = key in context
            if operator == "StringNotEqualsIfExists":
                holds = not present or context[key] not in values
            elif operator == "StringEquals":
                holds = present and context[key] in values
            elif operator == "Null":
                holds = (not present) == (str(values[0]).lower() == "true")
            elif operator == "Bool":
                holds = present and context[key] in [str(v).lower() for v in values]
            else:
                raise AssertionError(f"unexpected operator {operator}")
            if not holds:
                return False
    return True


def test_bucket_policy_denies_nothing_of_the_health_object_write_and_still_the_rest(
    stack: StackGraph,
) -> None:
    # GIVEN the bucket policy's PutObject denies and the health object's write, as the provider
    # sends it (SSE-KMS naming the object's key, over TLS)
    inputs = stack.of_type("aws:s3/bucketObjectv2:BucketObjectv2")[0]["inputs"]
    denies = [
        s
        for s in stack.statements(f"{BUCKET}-policy").values()
        if s["Effect"] == "Deny" and "s3:PutObject" in s["Action"]
    ]
    assert denies
    health_write = {
        "aws:SecureTransport": "true",
        "s3:x-amz-server-side-encryption": inputs["serverSideEncryption"],
        "s3:x-amz-server-side-encryption-aws-kms-key-id": inputs["kmsKeyId"],
    }
    # THEN no deny applies to it: it is encrypted with the stack key like everything else
    assert [s["Sid"] for s in denies if _denies(s, health_write)] == []
    # AND the same write with another key, or aws:kms without a key id, is still denied
    other_key = {**health_write, "s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:other"}
    no_key = {k: v for k, v in health_write.items() if not k.endswith("key-id")}
    assert any(_denies(s, other_key) for s in denies)
    assert any(_denies(s, no_key) for s in denies)
    # AND the policy carries no exemption for the health prefix
    assert "health/" not in json.dumps(stack.policy(f"{BUCKET}-policy"))

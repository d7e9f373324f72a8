"""The call -> IAM map and the grant comparison as pure functions: no AWS, no Pulumi."""

from __future__ import annotations

import datetime
import json

import pytest

from policies import least_privilege as lp
from policies.callmap import (
    PRESIGNED_POST,
    Call,
    Environment,
    FunctionFacts,
    Need,
    UnmappedCall,
    lambda_service_calls,
    needs,
)

KEY = "arn:aws:kms:us-east-1:123456789012:key/k-1"
QUEUE_KEY = "arn:aws:kms:us-east-1:123456789012:key/q-1"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/ingest"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:ingest"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/uploads"
ENV = Environment(
    "aws",
    "us-east-1",
    "123456789012",
    bucket_keys={"media": KEY},
    queue_keys={QUEUE_ARN: QUEUE_KEY},
)
ORIGINALS = "arn:aws:s3:::media/originals/*"
DERIVATIVES = "arn:aws:s3:::media/derivatives/*"


def actions(call: Call) -> set[tuple[str, str]]:
    return {(n.action, n.scope) for n in needs(call, ENV)}


def test_callmap_multipart_authorises_as_put_object_with_the_key() -> None:
    # GIVEN the three multipart steps on an SSE-KMS bucket
    obj = {"Bucket": "media", "Key": "originals/t/1.jpg"}
    sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KEY}
    create = Call("s3", "CreateMultipartUpload", {**obj, **sse})
    part = Call("s3", "UploadPart", {**obj, "UploadId": "u", "PartNumber": 1}, "url")
    complete = Call("s3", "CompleteMultipartUpload", {**obj, "UploadId": "u"})
    # WHEN / THEN creating needs a data key, parts and completion decrypt it
    assert actions(create) == {("s3:PutObject", ORIGINALS), ("kms:GenerateDataKey", KEY)}
    assert actions(part) == {("s3:PutObject", ORIGINALS), ("kms:Decrypt", KEY)}
    assert actions(complete) == {("s3:PutObject", ORIGINALS), ("kms:Decrypt", KEY)}
    abort = Call("s3", "AbortMultipartUpload", {**obj, "UploadId": "u"})
    assert actions(abort) == {("s3:AbortMultipartUpload", ORIGINALS)}
    assert actions(Call("s3", "ListParts", {**obj, "UploadId": "u"})) == {
        ("s3:ListMultipartUploadParts", ORIGINALS)
    }


def test_callmap_reads_distinguish_versions_and_only_get_decrypts() -> None:
    # GIVEN a HEAD of the current object and a GET of one version
    obj = {"Bucket": "media", "Key": "originals/t/1.jpg"}
    head = Call("s3", "HeadObject", obj)
    get = Call("s3", "GetObject", {**obj, "VersionId": "v1"})
    # WHEN / THEN HEAD needs s3:GetObject only; the versioned GET needs the version action + key
    assert actions(head) == {("s3:GetObject", ORIGINALS)}
    assert actions(get) == {("s3:GetObjectVersion", ORIGINALS), ("kms:Decrypt", KEY)}


def test_callmap_put_object_key_follows_the_request_then_the_bucket_default() -> None:
    # GIVEN puts with the bucket default, SSE-S3, and aws:kms without a key id
    obj = {"Bucket": "media", "Key": "derivatives/t/u/thumb.jpg", "Body": b"x"}
    default = Call("s3", "PutObject", obj)
    sse_s3 = Call("s3", "PutObject", {**obj, "ServerSideEncryption": "AES256"})
    managed = Call("s3", "PutObject", {**obj, "ServerSideEncryption": "aws:kms"})
    # WHEN / THEN the data key comes from the bucket's key, none, or the AWS managed aws/s3 key
    assert ("kms:GenerateDataKey", KEY) in actions(default)
    assert actions(sse_s3) == {("s3:PutObject", DERIVATIVES)}
    managed_key = "arn:aws:kms:us-east-1:123456789012:alias/aws/s3"
    assert ("kms:GenerateDataKey", managed_key) in actions(managed)


def test_callmap_presigned_post_is_a_put_object() -> None:
    # GIVEN a presigned POST form pinned to the stack key
    fields = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KEY}
    post = Call(
        "s3", "PutObject", {"Bucket": "media", "Key": "originals/t/1.jpg", **fields}, PRESIGNED_POST
    )
    # WHEN / THEN it needs what a PUT of the same object needs
    assert actions(post) == {("s3:PutObject", ORIGINALS), ("kms:GenerateDataKey", KEY)}


def test_callmap_delete_objects_needs_delete_per_key_and_version() -> None:
    # GIVEN a batch delete across two prefixes, one entry naming a version
    objects = [
        {"Key": "originals/t/1.jpg"},
        {"Key": "derivatives/t/1/thumb.jpg"},
        {"Key": "derivatives/t/1/large.jpg", "VersionId": "v"},
    ]
    call = Call("s3", "DeleteObjects", {"Bucket": "media", "Delete": {"Objects": objects}})
    # WHEN / THEN each key is authorised on its own
    assert actions(call) == {
        ("s3:DeleteObject", ORIGINALS),
        ("s3:DeleteObject", DERIVATIVES),
        ("s3:DeleteObjectVersion", DERIVATIVES),
    }


def test_callmap_query_on_an_index_is_authorised_on_the_index() -> None:
    # GIVEN a query of the tenant index and a get by key
    query = Call("dynamodb", "Query", {"TableName": "uploads", "IndexName": "by_tenant"})
    get = Call("dynamodb", "GetItem", {"TableName": "uploads", "Key": {}})
    # WHEN / THEN the index ARN, respectively the table ARN
    assert actions(query) == {("dynamodb:Query", f"{TABLE}/index/by_tenant")}
    assert actions(get) == {("dynamodb:GetItem", TABLE)}


def test_callmap_queue_calls_decrypt_with_the_queue_key() -> None:
    # GIVEN a KMS-encrypted queue
    receive = Call("sqs", "ReceiveMessage", {"QueueUrl": QUEUE_URL})
    delete = Call("sqs", "DeleteMessageBatch", {"QueueUrl": QUEUE_URL, "Entries": []})
    # WHEN / THEN receiving decrypts with the receiver's permission; batch delete is DeleteMessage
    assert actions(receive) == {("sqs:ReceiveMessage", QUEUE_ARN), ("kms:Decrypt", QUEUE_KEY)}
    assert actions(delete) == {("sqs:DeleteMessage", QUEUE_ARN)}


def test_callmap_put_events_names_each_bus_by_arn() -> None:
    # GIVEN entries for a named bus and for the default bus
    call = Call("events", "PutEvents", {"Entries": [{"EventBusName": "media"}, {}]})
    # WHEN / THEN both bus ARNs
    assert actions(call) == {
        ("events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/media"),
        ("events:PutEvents", "arn:aws:events:us-east-1:123456789012:event-bus/default"),
    }


def test_callmap_delivery_sign_and_invalidation_name_their_key_and_distribution() -> None:
    # GIVEN a private-mode URL signature and a public-mode DELETE's invalidation
    sign = Call("kms", "Sign", {"KeyId": "s-1", "SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"})
    invalidation = Call("cloudfront", "CreateInvalidation", {"DistributionId": "E2QWRUHAPOMQZL"})
    # WHEN / THEN Sign on that key; CreateInvalidation on the (global, region-less) distribution
    assert actions(sign) == {("kms:Sign", "arn:aws:kms:us-east-1:123456789012:key/s-1")}
    assert actions(invalidation) == {
        (
            "cloudfront:CreateInvalidation",
            "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL",
        )
    }


def test_callmap_unknown_operation_fails_closed() -> None:
    # GIVEN an operation the map has never seen / WHEN mapped / THEN it raises, never guesses
    with pytest.raises(UnmappedCall, match="s3:PutBucketPolicy"):
        needs(Call("s3", "PutBucketPolicy", {"Bucket": "media"}), ENV)


def test_lambda_service_calls_follow_tracing_and_the_event_source() -> None:
    # GIVEN a function without tracing, mapped to one queue, invoked from that queue and another
    fn = FunctionFacts(
        "proc", "runtime.processor.handler", "role", "proc-logs", False, (QUEUE_ARN,)
    )
    event = {
        "Records": [
            {"eventSource": "aws:sqs", "eventSourceARN": QUEUE_ARN},
            {"eventSource": "aws:sqs", "eventSourceARN": QUEUE_ARN.replace("ingest", "other")},
        ]
    }
    # WHEN the implicit calls are expanded
    calls = lambda_service_calls(fn, event, now=datetime.date(2026, 11, 21))
    # THEN logs and the mapped queue's polling, no X-Ray, nothing for the unmapped queue
    ops = {(c.service, c.operation, c.params.get("QueueUrl", "")) for _, c in calls}
    assert ops == {
        ("logs", "CreateLogStream", ""),
        ("logs", "PutLogEvents", ""),
        ("sqs", "GetQueueAttributes", QUEUE_URL),
        ("sqs", "ReceiveMessage", QUEUE_URL),
        ("sqs", "DeleteMessageBatch", QUEUE_URL),
    }
    log_needs = {n.scope for _, c in calls if c.service == "logs" for n in needs(c, ENV)}
    assert log_needs == {"arn:aws:logs:us-east-1:123456789012:log-group:proc-logs:*"}


# --- comparison -------------------------------------------------------------------------------


def _grants(*statements: dict[str, object]) -> lp.RoleGrants:
    graph = {
        "resources": [
            {"custom": True, "type": "aws:iam/role:Role", "name": "r", "id": "r", "inputs": {},
             "state": {"name": "r", "arn": "arn:aws:iam::123456789012:role/r"}},
            {"custom": True, "type": "aws:iam/rolePolicy:RolePolicy", "name": "p", "id": "p",
             "inputs": {"role": "r", "policy": json.dumps({"Statement": list(statements)})},
             "state": {}},
        ]
    }  # fmt: skip
    return lp.role_grants(graph)["r"]


def _allow(action: str, resource: str, sid: str = "S") -> dict[str, object]:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}


PUT = Need("s3:PutObject", "arn:aws:s3:::media/originals/t/1.jpg", ORIGINALS)


def test_compare_exact_grant_passes() -> None:
    # GIVEN a grant on exactly the needed scope / WHEN compared / THEN nothing to report
    diff = lp.compare_role("r", _grants(_allow("s3:PutObject", ORIGINALS)), [PUT])
    assert diff.ok


def test_compare_reports_missing_unused_and_too_broad() -> None:
    # GIVEN a wildcard action on the bucket, and an unused read
    grants = _grants(_allow("s3:Put*", "arn:aws:s3:::media/*"), _allow("s3:GetObject", DERIVATIVES))
    get = Need("s3:GetObject", "arn:aws:s3:::media/originals/t/1.jpg", ORIGINALS)
    # WHEN compared with a put and a get of an original
    diff = lp.compare_role("r", grants, [PUT, get])
    # THEN the get is missing, the derivatives read unused, the wildcard too broad
    assert diff.missing == [get]
    assert [(g.action, g.resource) for g in diff.unused] == [("s3:GetObject", DERIVATIVES)]
    assert [(g.action, g.resource) for g, _ in diff.too_broad] == [
        ("s3:Put*", "arn:aws:s3:::media/*")
    ]
    report = lp.format_diffs([diff])
    assert "MISSING   s3:GetObject" in report
    assert "TOO BROAD s3:Put* on arn:aws:s3:::media/*" in report


def test_compare_deny_removes_an_allowed_need() -> None:
    # GIVEN an allow and an explicit deny for the same object
    deny = {"Sid": "D", "Effect": "Deny", "Action": "s3:PutObject", "Resource": ORIGINALS}
    # WHEN compared / THEN the need is missing
    diff = lp.compare_role("r", _grants(_allow("s3:PutObject", ORIGINALS), deny), [PUT])
    assert diff.missing == [PUT]


def test_role_grants_refuse_not_action() -> None:
    # GIVEN a NotAction statement / WHEN read / THEN it cannot be proven exactly
    statement = {"Sid": "N", "Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}
    with pytest.raises(lp.UnprovablePolicy, match="Not"):
        _grants(statement)


def test_callmap_listings_need_their_prefix_and_grants_are_compared_by_it() -> None:
    # GIVEN a listing of one upload's derivatives and one of the whole bucket
    scoped = Call("s3", "ListObjectsV2", {"Bucket": "media", "Prefix": "derivatives/t/u1/"})
    (need,) = needs(scoped, ENV)
    (whole,) = needs(Call("s3", "ListObjectVersions", {"Bucket": "media"}), ENV)
    # WHEN / THEN the need names the prefix, grantable on its top segment; no prefix is ""
    assert need == Need(
        "s3:ListBucket", "arn:aws:s3:::media", "arn:aws:s3:::media", "derivatives/t/u1/",
        "derivatives/*",
    )  # fmt: skip
    assert (whole.action, whole.prefix, whole.prefix_scope) == ("s3:ListBucketVersions", "", "")
    bucket = "arn:aws:s3:::media"

    def grants(condition: dict[str, object] | None) -> lp.RoleGrants:
        statement: dict[str, object] = {
            "Sid": "L", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket,
        }  # fmt: skip
        if condition:
            statement["Condition"] = condition
        return lp._grants({"Statement": [statement]}, "p")

    exact = grants({"StringLike": {"s3:prefix": ["derivatives/*"]}})
    assert lp.compare_role("r", exact, [need]).ok
    # a grant without the condition, or with a wider one, is too broad; a wrong one misses
    unconditioned = lp.compare_role("r", grants(None), [need])
    assert [g.prefix for g, _ in unconditioned.too_broad] == [""]
    wide = lp.compare_role("r", grants({"StringLike": {"s3:prefix": ["*"]}}), [need])
    assert [g.prefix for g, _ in wide.too_broad] == ["*"]
    wrong = lp.compare_role("r", grants({"StringLike": {"s3:prefix": ["originals/*"]}}), [need])
    assert wrong.missing == [need]
    assert [g.prefix for g in wrong.unused] == ["originals/*"]

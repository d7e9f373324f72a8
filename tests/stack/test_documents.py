"""Policy documents as pure functions: no Pulumi, just ARNs in and dicts out."""

from __future__ import annotations

import pytest

from policies import documents as d

BUCKET = "arn:aws:s3:::media"
KEY = "arn:aws:kms:us-east-1:123456789012:key/k"
DIST = "arn:aws:cloudfront::123456789012:distribution/E1"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/uploads"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:ingest"
BUS = "arn:aws:events:us-east-1:123456789012:event-bus/media"
LOGS = "arn:aws:logs:us-east-1:123456789012:log-group:presign"
ACCOUNT = "123456789012"


def _all_documents() -> list[d.PolicyDocument]:
    return [
        d.lambda_assume_role(),
        d.presign_role_policy(
            bucket_arn=BUCKET,
            table_arn=TABLE,
            key_arn=KEY,
            log_group_arn=LOGS,
            originals_prefix="originals/",
            derivatives_prefix="derivatives/",
        ),
        d.processor_role_policy(
            bucket_arn=BUCKET,
            table_arn=TABLE,
            key_arn=KEY,
            queue_arn=QUEUE,
            event_bus_arn=BUS,
            log_group_arn=LOGS,
            originals_prefix="originals/",
            derivatives_prefix="derivatives/",
        ),
        d.key_policy(
            account_id=ACCOUNT,
            region="us-east-1",
            partition="aws",
            presign_role_arn="arn:aws:iam::123456789012:role/p",
            processor_role_arn="arn:aws:iam::123456789012:role/q",
            distribution_arn=DIST,
        ),
        d.media_bucket_policy(
            bucket_arn=BUCKET, key_arn=KEY, distribution_arn=DIST, derivatives_prefix="derivatives/"
        ),
        d.log_bucket_policy(
            log_bucket_arn="arn:aws:s3:::logs",
            log_prefix="media/",
            source_bucket_arn=BUCKET,
            account_id=ACCOUNT,
        ),
        d.ingest_queue_policy(queue_arn=QUEUE, bucket_arn=BUCKET, account_id=ACCOUNT),
    ]


@pytest.mark.parametrize("doc", _all_documents())
def test_documents_every_statement_has_a_unique_sid(doc: d.PolicyDocument) -> None:
    # GIVEN any document the stack builds / THEN each statement is named, once
    sids = [s["Sid"] for s in doc["Statement"]]
    assert all(sids)
    assert len(sids) == len(set(sids))
    assert doc["Version"] == "2012-10-17"


def test_document_rejects_duplicate_sids() -> None:
    s = d.statement("Same", ["s3:GetObject"], [BUCKET])
    with pytest.raises(ValueError, match="duplicate Sids"):
        d.document([s], [s])


def test_statement_rejects_non_alphanumeric_sid() -> None:
    with pytest.raises(ValueError, match="alphanumeric"):
        d.statement("not ok", ["s3:GetObject"], [BUCKET])


def test_action_lists_are_sorted_and_unique() -> None:
    tuples = [v for k, v in vars(d).items() if k.endswith("_ACTIONS") and isinstance(v, tuple)]
    assert tuples
    for actions in tuples:
        assert list(actions) == sorted(set(actions))


def test_role_policies_grant_no_wildcard_actions_or_bucket_wide_objects() -> None:
    for doc in _all_documents()[1:3]:
        for s in doc["Statement"]:
            assert all("*" not in a for a in s["Action"])
            if s["Sid"] != "SendTraces":
                assert s["Resource"] != "*"
                assert f"{BUCKET}/*" not in s["Resource"]


def test_media_bucket_policy_put_denies_use_if_exists() -> None:
    # WHEN multipart UploadPart carries no SSE headers / THEN it must not be denied
    statements = {s["Sid"]: s for s in d.deny_wrong_kms_key(BUCKET, KEY)}
    cond = statements["DenyOtherKmsKey"]["Condition"]
    assert cond == {
        "StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY}
    }


def test_media_bucket_policy_denies_kms_without_a_key_id() -> None:
    # GIVEN a PutObject naming aws:kms but no key, which S3 would encrypt under aws/s3
    statements = {s["Sid"]: s for s in d.deny_wrong_kms_key(BUCKET, KEY)}
    # WHEN / THEN one Deny matches exactly that request (UploadPart, with no SSE header, does not)
    deny = statements["DenyKmsWithoutKeyId"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", ["s3:PutObject"])
    assert deny["Resource"] == [f"{BUCKET}/*"]
    assert deny["Condition"] == {
        "StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
        "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "true"},
    }


def test_actions_of_flattens_allow_and_deny() -> None:
    doc = d.media_bucket_policy(
        bucket_arn=BUCKET, key_arn=KEY, distribution_arn=DIST, derivatives_prefix="derivatives/"
    )
    assert d.actions_of(doc) == {"s3:GetObject"}
    assert d.actions_of(doc, "Deny") == {"s3:*", "s3:PutObject"}

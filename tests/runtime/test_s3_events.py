"""Parsing SQS batches of S3 notifications."""

from __future__ import annotations

import json

import pytest
from rt_support import load_event, s3_body

from runtime.events import MalformedEvent, decode_key, parse_s3_notification, sqs_messages


def test_parse_s3_notification_reads_the_stored_sample() -> None:
    # GIVEN the stored SQS batch WHEN its body is parsed
    message = sqs_messages(load_event("sqs_s3_object_created.json"))[0]
    (created,) = parse_s3_notification(message.body)
    # THEN bucket, key, version and sequencer are there
    assert message.message_id == "059f36b4-87a3-44ab-83d2-661975830a7d"
    assert created.bucket == "example-bucket"
    assert created.key == "originals/tenant-a/2026/11/21/01jd0000000000000000000000.jpg"
    assert (created.version_id, created.sequencer) == (
        "096fKKXTRTtl3on89fVO.nfljtsv6qko",
        "0055AED6DCD90281E5",
    )


@pytest.mark.parametrize(
    ("raw", "key"),
    [("a+b.jpg", "a b.jpg"), ("a%2Bb.jpg", "a+b.jpg"), ("t%7E7C/x", "t~7C/x"), ("%C3%A9", "é")],
)
def test_decode_key_is_form_decoding(raw: str, key: str) -> None:
    assert decode_key(raw) == key


def test_parse_s3_notification_test_event_is_empty() -> None:
    assert parse_s3_notification(json.dumps(load_event("s3_test_event.json"))) == []


def test_parse_s3_notification_skips_non_create_events() -> None:
    body = s3_body("b", "k", version_id="v", sequencer="01")
    body["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert parse_s3_notification(json.dumps(body)) == []


def test_parse_s3_notification_missing_version_is_null() -> None:
    body = s3_body("b", "k", version_id="v", sequencer="01")
    del body["Records"][0]["s3"]["object"]["versionId"]
    (created,) = parse_s3_notification(json.dumps(body))
    assert created.version_id == "null"


@pytest.mark.parametrize(
    "raw", ["{", "[]", '{"Records": 3}', '{"Records": [{"eventName": "ObjectCreated:Put"}]}']
)
def test_parse_s3_notification_malformed_raises(raw: str) -> None:
    with pytest.raises(MalformedEvent):
        parse_s3_notification(raw)


def test_sqs_messages_requires_records() -> None:
    with pytest.raises(MalformedEvent):
        sqs_messages({"detail": {}})

"""Properties of S3 notification parsing: keys come back exactly as written whatever S3's form
encoding did to them (`+`, `%2B`, spaces, unicode), and arbitrary JSON is either a list of
events or a MalformedEvent, never another exception (which would retry a poison message)."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from runtime.events import MalformedEvent, decode_key, parse_s3_notification

# S3 keys are any UTF-8 (no surrogates); S3 form-encodes them in notifications.
s3_keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200)


def _notification(encoded_key: str, **obj: Any) -> str:
    return json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "eventTime": "2026-11-21T04:31:05.123Z",
                    "s3": {
                        "bucket": {"name": "media"},
                        "object": {"key": encoded_key, "size": 10, **obj},
                    },
                }
            ]
        }
    )


@settings(max_examples=300)
@given(key=s3_keys, safe=st.sampled_from(["", "/"]))
def test_decode_key_inverts_s3_form_encoding(key: str, safe: str) -> None:
    # GIVEN any key, form-encoded as S3 does (with or without '/' left alone)
    encoded = urllib.parse.quote_plus(key, safe=safe)

    # WHEN decoded / THEN it is the key the client wrote, `+` and `%2B` told apart
    assert decode_key(encoded) == key


@given(key=s3_keys, version=st.text(max_size=40), sequencer=st.from_regex(r"[0-9A-F]{0,20}"))
def test_parse_s3_notification_round_trips_object_fields(
    key: str, version: str, sequencer: str
) -> None:
    # GIVEN a notification for any key, version id and sequencer
    body = _notification(urllib.parse.quote_plus(key), versionId=version, sequencer=sequencer)

    # WHEN parsed
    [event] = parse_s3_notification(body)

    # THEN every field comes back; an absent version is the literal "null" S3 uses
    assert event.key == key
    assert event.version_id == (version or "null")
    assert event.sequencer == sequencer
    assert event.ref.id == f"media/{key}#{version or 'null'}#{sequencer}"


def test_parse_s3_notification_deeply_nested_body_is_malformed() -> None:
    # GIVEN a message body nesting 50,000 arrays (well within SQS's 256 KB)
    # WHEN parsed / THEN it is malformed (acknowledged), not a RecursionError (retried to DLQ)
    with pytest.raises(MalformedEvent):
        parse_s3_notification("[" * 50_000)


def test_parse_s3_notification_plus_and_percent_2b() -> None:
    # GIVEN the key "a+b c/ü.jpg" as S3 writes it in a notification
    body = _notification("a%2Bb+c%2F%C3%BC.jpg")

    # WHEN parsed / THEN '+' was a space and '%2B' a plus
    assert parse_s3_notification(body)[0].key == "a+b c/ü.jpg"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
object_fields = st.fixed_dictionaries(
    {},
    optional={
        "key": json_values,
        "size": json_values | st.sampled_from([float("inf"), -float("inf"), float("nan")]),
        "versionId": json_values,
        "sequencer": json_values,
    },
)
records = st.fixed_dictionaries(
    {"eventName": st.sampled_from(["ObjectCreated:Put", "ObjectRemoved:Delete"]) | json_values},
    optional={
        "s3": st.fixed_dictionaries(
            {}, optional={"bucket": json_values | st.just({"name": "b"}), "object": object_fields}
        )
        | json_values
    },
)


@settings(max_examples=400)
@given(
    payload=json_values
    | st.fixed_dictionaries({"Records": st.lists(records | json_values, max_size=3)})
)
@example(  # JSON allows Infinity: a size S3 never sends, but a poison message may carry
    payload={
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "b"}, "object": {"key": "k", "size": float("inf")}},
            }
        ]
    }
)
def test_parse_s3_notification_total_on_any_json(payload: Any) -> None:
    # GIVEN any JSON document, including near-miss notifications with odd field types
    body = json.dumps(payload)

    # WHEN parsed
    try:
        events = parse_s3_notification(body)
    except MalformedEvent:
        return

    # THEN it is a list of well-typed events (only ObjectCreated ones)
    for event in events:
        assert event.event_name.startswith("ObjectCreated:")
        assert isinstance(event.size, int)
        assert isinstance(event.key, str)

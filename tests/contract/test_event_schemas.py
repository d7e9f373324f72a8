"""The events' JSON Schemas (`api/events/*.schema.json`) against `runtime/events.py`: one versioned
schema per detail-type the kit publishes, the details `events.detail` builds conform, and the
schemas refuse what a thin event must never carry (so the check can fail)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mediakit import apispec
from runtime import events
from runtime.records import tombstone

UPLOAD = "01JD0000000000000000000000"
BASE: dict[str, Any] = {
    "upload_id": UPLOAD,
    "tenant": "acme",
    "key": f"originals/acme/2026/12/01/{UPLOAD}.jpg",
    "filename": "holiday.jpg",
    "metadata": {"album": "x"},
    "exif": {"make": "Cam"},
    "version_id": "v1",
    "correlation_id": "req-1",
    "created_at": "2026-12-01T12:00:00.000Z",
    "updated_at": "2026-12-01T12:00:05.000Z",
}
DERIVATIVE = {
    "name": "thumb",
    "key": f"derivatives/acme/{UPLOAD}/thumb.webp",
    "format": "webp",
    "content_type": "image/webp",
    "width": 320,
    "height": 240,
    "bytes": 2048,
}


def envelope(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """What an EventBridge target receives (the emulator's tap queue holds the same shape)."""
    return {
        "version": "0",
        "id": "6f1c2e9a-0000-0000-0000-000000000000",
        "detail-type": detail_type,
        "source": events.SOURCE,
        "account": "123456789012",
        "time": "2026-12-01T12:00:05Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def records() -> dict[str, list[tuple[dict[str, Any], str | None]]]:
    """Per detail-type, records as they are when the event goes out (and the acting subject)."""
    completed = {**BASE, "status": "completed", "derivatives": [DERIVATIVE]}
    video = {
        **completed,
        "media": {
            "kind": "video",
            "content_type": "video/mp4",
            "container": "mp4",
            "duration_seconds": 2.5,
            "bit_rate": 800000,
            "streams": 2,
            "video_codec": "h264",
            "width": 640,
            "height": 360,
            "rotation": 0,
            "frame_rate": 25.0,
            "audio_codec": "aac",
            "sample_rate": 48000,
            "channels": 2,
        },
    }
    failed = {**BASE, "status": "failed", "error": {"code": "not_an_image", "message": "JPEG?"}}
    deleted = {**BASE, "status": "deleted", "deleted_at": BASE["updated_at"]}
    restoring = {**BASE, "status": "restoring", "restore_version_id": "v2"}
    purged = tombstone({**deleted, "purged_at": BASE["updated_at"]})  # type: ignore[typeddict-item]
    expired = tombstone({**BASE, "status": "expired"})  # type: ignore[typeddict-item]
    return {
        events.COMPLETED: [(completed, None), (video, None)],
        events.FAILED: [(failed, None)],
        events.DELETED: [(deleted, "user-1"), ({**failed, "status": "deleted"}, "user-1")],
        events.RESTORED: [(restoring, "admin-1")],
        events.PURGED: [(dict(purged), "admin-1")],
        events.EXPIRED: [(dict(expired), None)],
    }


def test_one_schema_per_detail_type_and_no_other() -> None:
    found = sorted(p.name for p in apispec.EVENTS_DIR.glob("*.schema.json"))
    assert found == sorted(f"{t}.schema.json" for t in events.DETAIL_TYPES)


@pytest.mark.parametrize("detail_type", events.DETAIL_TYPES)
def test_event_schema_is_valid_and_versioned(detail_type: str) -> None:
    # GIVEN the schema THEN it is a valid 2020-12 schema naming this version of the detail
    schema = apispec.event_schema(detail_type)
    Draft202012Validator.check_schema(schema)
    assert schema["$id"] == f"urn:mediakit:events:{detail_type}:v{events.DETAIL_VERSION}"
    properties = schema["properties"]
    assert properties["detail-type"] == {"const": detail_type}
    assert properties["source"] == {"const": events.SOURCE}
    assert properties["detail"]["properties"]["version"]["const"] == events.DETAIL_VERSION
    assert "version" in properties["detail"]["required"]


@pytest.mark.parametrize("detail_type", events.DETAIL_TYPES)
def test_runtime_details_conform_to_their_schema(detail_type: str) -> None:
    # GIVEN the records each event is made from WHEN runtime.events.detail builds the detail
    for record, by in records()[detail_type]:
        event = envelope(detail_type, json.loads(json.dumps(events.detail(record, by=by))))
        # THEN it conforms
        assert apispec.event_errors(event) == [], (detail_type, event["detail"])


def _completed() -> dict[str, Any]:
    record, _ = records()[events.COMPLETED][0]
    return envelope(events.COMPLETED, events.detail(record))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda e: e["detail"].update(filename="holiday.jpg"), "Additional properties"),
        (lambda e: e["detail"]["derivatives"][0].update(url="https://x"), "Additional properties"),
        (lambda e: e["detail"].pop("version"), "'version' is a required property"),
        (lambda e: e["detail"].update(version=2), "1 was expected"),
        (lambda e: e["detail"].update(status="failed"), "'completed' was expected"),
        (lambda e: e.update(source="someone-else"), "'mediakit' was expected"),
        (lambda e: e["detail"].pop("derivatives"), "'derivatives' is a required property"),
    ],
    ids=[
        "file-name",
        "signed-url",
        "no-version",
        "unknown-version",
        "wrong-status",
        "source",
        "no-derivatives",
    ],
)
def test_event_schema_refuses_what_the_event_must_not_be(change: Any, problem: str) -> None:
    # GIVEN a conforming completed event weakened one way THEN its schema refuses it
    event = copy.deepcopy(_completed())
    assert apispec.event_errors(event) == []
    change(event)
    problems = apispec.event_errors(event)
    assert any(problem in p for p in problems), problems


def test_event_of_an_unknown_detail_type_is_refused() -> None:
    event = envelope("media.upload.renamed", {"version": 1})
    assert apispec.event_errors(event) == ["no schema for detail-type 'media.upload.renamed'"]
    with pytest.raises(apispec.ContractError):
        apispec.validate_event(event)

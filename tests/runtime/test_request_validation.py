"""Request-body validation for the HTTP API."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from runtime.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from runtime.settings import Settings
from runtime.validation import parse_json_body, validate_complete, validate_create

MIB = 1024 * 1024
SETTINGS = Settings(multipart_threshold_bytes=8 * MIB, max_upload_bytes=20 * MIB)


def _body(**overrides: Any) -> dict[str, Any]:
    return {"filename": "a.jpg", "content_type": "image/jpeg", "size": 100, **overrides}


def test_validate_create_normalises_type_and_sha256() -> None:
    # GIVEN a body with a parameterised, mixed-case type and an upper-case digest
    body = _body(content_type="Image/JPEG; charset=binary", sha256="AB" * 32)
    # WHEN validated
    request = validate_create(body, SETTINGS)
    # THEN the canonical type and lower-case digest are kept, method defaults to PUT
    assert (request.content_type, request.sha256, request.method) == (
        "image/jpeg",
        "ab" * 32,
        "PUT",
    )


@pytest.mark.parametrize(
    ("size", "asked", "method"),
    [
        (100, "post", "POST"),
        (100, "MULTIPART", "MULTIPART"),
        (8 * MIB, "PUT", "MULTIPART"),
        (8 * MIB, "POST", "MULTIPART"),
    ],
)
def test_validate_create_picks_method(size: int, asked: str, method: str) -> None:
    # GIVEN a requested method and a size WHEN validated THEN big files always go multipart
    assert validate_create(_body(size=size, method=asked), SETTINGS).method == method


@pytest.mark.parametrize(
    ("overrides", "error", "code"),
    [
        ({"size": 0}, BadRequest, "invalid_field"),
        ({"size": True}, BadRequest, "invalid_field"),
        ({"size": "100"}, BadRequest, "invalid_field"),
        ({"filename": ""}, BadRequest, "invalid_field"),
        ({"filename": "a\nb"}, BadRequest, "invalid_field"),
        ({"filename": "x" * 256}, BadRequest, "invalid_field"),
        ({"sha256": "xyz"}, BadRequest, "invalid_field"),
        ({"method": "GET"}, BadRequest, "invalid_field"),
        ({"content_type": "image/tiff"}, UnsupportedMediaType, "unsupported_media_type"),
        ({"content_type": "text/html"}, UnsupportedMediaType, "unsupported_media_type"),
        ({"size": 20 * MIB + 1}, PayloadTooLarge, "too_large"),
        ({"metadata": {"k": 1}}, BadRequest, "invalid_field"),
        ({"metadata": {f"k{i}": "v" for i in range(11)}}, BadRequest, "invalid_field"),
        ({"metadata": {"k": "v" * 257}}, BadRequest, "invalid_field"),
        ({"metadata": {f"k{i}": "v" * 250 for i in range(9)}}, BadRequest, "invalid_field"),
        ({"metadata": ["a"]}, BadRequest, "invalid_field"),
        ({"owner": "me"}, BadRequest, "unknown_field"),
    ],
)
def test_validate_create_rejects(
    overrides: dict[str, Any], error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as caught:
        validate_create(_body(**overrides), SETTINGS)
    assert getattr(caught.value, "code", None) == code


def test_validate_create_keeps_bounded_metadata() -> None:
    request = validate_create(_body(metadata={"album": "summer", "chat-id": "42"}), SETTINGS)
    assert request.metadata == {"album": "summer", "chat-id": "42"}


def test_parse_json_body_decodes_base64_bodies() -> None:
    # GIVEN API Gateway's base64 encoding of a JSON body WHEN parsed THEN the object comes back
    raw = base64.b64encode(json.dumps({"a": 1}).encode()).decode()
    assert parse_json_body(raw, is_base64=True) == {"a": 1}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (None, "invalid_json"),
        ("", "invalid_json"),
        ("{", "invalid_json"),
        ("[]", "invalid_body"),
    ],
)
def test_parse_json_body_rejects(raw: str | None, code: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_json_body(raw)
    assert caught.value.code == code


def test_parse_json_body_too_large_is_413() -> None:
    with pytest.raises(PayloadTooLarge):
        parse_json_body(json.dumps({"a": "x" * 70_000}))


def test_validate_complete_accepts_ascending_parts() -> None:
    parts = validate_complete(
        {"parts": [{"part_number": 1, "etag": '"a"'}, {"part_number": 2, "etag": "b"}]}
    )
    assert [(p.part_number, p.etag) for p in parts] == [(1, '"a"'), (2, "b")]


@pytest.mark.parametrize(
    "parts",
    [
        None,
        [],
        [{"part_number": 2, "etag": "a"}, {"part_number": 1, "etag": "b"}],
        [{"part_number": 1, "etag": "a"}, {"part_number": 1, "etag": "b"}],
        [{"part_number": 10_001, "etag": "a"}],
        [{"part_number": 1}],
        ["x"],
    ],
)
def test_validate_complete_rejects(parts: Any) -> None:
    with pytest.raises(BadRequest):
        validate_complete({"parts": parts})

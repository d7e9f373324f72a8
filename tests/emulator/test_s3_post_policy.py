"""POST Object forms checked as S3 checks them, on the pure functions: a form botocore presigned
verifies; a changed field, a wrong size, a late post or a tampered policy are refused with S3's
code; each refusal is its own check's."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from mediakit.local.s3 import post as s3post
from mediakit.local.s3.errors import S3Error
from mediakit.local.s3.post import Form, Upload, parse_form, verify_post

KEYS = {"mediakit-dev": "mediakit-dev"}
SIGNED_AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BUCKET = "media"


@pytest.fixture
def fields(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What the kit's presign function hands a browser: key, type, exact size and SSE-KMS key
    pinned by the policy, signed by botocore at SIGNED_AT for 10 minutes."""
    frozen = SIGNED_AT.replace(tzinfo=None)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: frozen)
    monkeypatch.setattr("botocore.signers.get_current_datetime", lambda: frozen)
    s3 = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="mediakit-dev",
        aws_secret_access_key="mediakit-dev",
        config=Config(signature_version="s3v4"),
    )
    post = s3.generate_presigned_post(
        Bucket=BUCKET,
        Key="originals/acme/a.jpg",
        Fields={"Content-Type": "image/jpeg", "x-amz-server-side-encryption": "aws:kms"},
        Conditions=[
            {"Content-Type": "image/jpeg"},
            ["content-length-range", 100, 100],
            {"x-amz-server-side-encryption": "aws:kms"},
        ],
        ExpiresIn=600,
    )
    return {k: str(v) for k, v in post["fields"].items()}


def form(fields: dict[str, str], size: int = 100, filename: str = "a.jpg") -> Form:
    return Form(tuple(fields.items()), Upload(filename, size))


def check(f: Form, now: datetime = SIGNED_AT + timedelta(minutes=1)) -> None:
    verify_post(f, bucket=BUCKET, keys=KEYS, region="us-east-1", now=lambda: now)


def refusal(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(S3Error) as caught:
        call()
    return caught.value.status, caught.value.code, caught.value.message


def test_verify_post_accepts_the_form_as_presigned(fields: dict[str, str]) -> None:
    check(form(fields))


def test_verify_post_accepts_an_ignored_field_and_fields_after_the_file(
    fields: dict[str, str],
) -> None:
    # x-ignore-* needs no condition; anything after the file is not part of the form for S3
    check(form({**fields, "x-ignore-note": "hi"}))
    body = _multipart([*fields.items()], b"x" * 100, after=(("x-amz-meta-late", "1"),))
    check(parse_form("multipart/form-data; boundary=BOUNDARY", body))


@pytest.mark.parametrize(
    ("change", "size", "now", "expected"),
    [
        pytest.param({}, 101, None, (400, "EntityTooLarge"), id="over-content-length-range"),
        pytest.param({}, 99, None, (400, "EntityTooSmall"), id="under-content-length-range"),
        pytest.param({}, 100, timedelta(minutes=11), (403, "AccessDenied"), id="after-expiration"),
        pytest.param(
            {"Content-Type": "text/html"}, 100, None, (403, "AccessDenied"), id="type-changed"
        ),
        pytest.param(
            {"key": "originals/globex/a.jpg"}, 100, None, (403, "AccessDenied"), id="key-changed"
        ),
        pytest.param({"x-amz-meta-a": "1"}, 100, None, (403, "AccessDenied"), id="extra-field"),
        pytest.param(
            {"x-amz-server-side-encryption": "AES256"},
            100,
            None,
            (403, "AccessDenied"),
            id="sse-changed",
        ),
        pytest.param(
            {"x-amz-signature": "0" * 64}, 100, None, (403, "SignatureDoesNotMatch"), id="signature"
        ),
        pytest.param(
            {"x-amz-credential": "nobody/20260301/us-east-1/s3/aws4_request"},
            100,
            None,
            (403, "InvalidAccessKeyId"),
            id="unknown-key",
        ),
        pytest.param(
            {"x-amz-credential": "mediakit-dev/20260301/eu-west-1/s3/aws4_request"},
            100,
            None,
            (400, "AuthorizationQueryParametersError"),
            id="other-region",
        ),
        pytest.param(
            {"x-amz-algorithm": "AWS4-HMAC-SHA1"},
            100,
            None,
            (400, "InvalidRequest"),
            id="algorithm",
        ),
        pytest.param({"key": None}, 100, None, (400, "InvalidArgument"), id="no-key"),
        pytest.param({"policy": None}, 100, None, (400, "InvalidArgument"), id="no-policy"),
        pytest.param(
            {
                "x-amz-signature": None,
                "x-amz-algorithm": None,
                "x-amz-credential": None,
                "x-amz-date": None,
                "policy": None,
            },
            100,
            None,
            (403, "AccessDenied"),
            id="anonymous",
        ),
    ],
)
def test_verify_post_refuses_with_s3s_code(
    fields: dict[str, str],
    change: dict[str, str | None],
    size: int,
    now: timedelta | None,
    expected: tuple[int, str],
) -> None:
    changed = {k: v for k, v in {**fields, **change}.items() if v is not None}
    when = SIGNED_AT + (now or timedelta(minutes=1))
    assert refusal(lambda: check(form(changed, size), when))[:2] == expected


def test_verify_post_names_the_failed_condition_and_the_limits(fields: dict[str, str]) -> None:
    assert refusal(lambda: check(form({**fields, "Content-Type": "image/png"}))) == (
        403,
        "AccessDenied",
        'Invalid according to Policy: Policy Condition failed: {"Content-Type": "image/jpeg"}',
    )
    assert refusal(lambda: check(form(fields), SIGNED_AT + timedelta(hours=1)))[2] == (
        "Invalid according to Policy: Policy expired."
    )
    assert refusal(lambda: check(form({**fields, "x-amz-meta-a": "1"})))[2] == (
        "Invalid according to Policy: Extra input fields: x-amz-meta-a"
    )


def test_verify_post_refuses_a_tampered_policy(fields: dict[str, str]) -> None:
    # GIVEN the policy re-encoded with a wider size range (signature unchanged)
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"][1] = ["content-length-range", 0, 10**9]
    wider = base64.b64encode(json.dumps(policy).encode()).decode()
    # WHEN a larger file comes with it THEN the signature over the policy gives it away
    error = refusal(lambda: check(form({**fields, "policy": wider}, size=5000)))
    assert error[:2] == (403, "SignatureDoesNotMatch")


def test_parse_form_keeps_field_order_up_to_the_file() -> None:
    body = _multipart(
        [("key", "k"), ("Content-Type", "image/jpeg")], b"\r\n--x", after=(("z", "1"),)
    )
    parsed = parse_form("multipart/form-data; boundary=BOUNDARY", body)
    assert parsed.fields == (("key", "k"), ("Content-Type", "image/jpeg"))
    assert parsed.file == Upload("a.jpg", 5)


def test_parse_form_refuses_a_broken_body() -> None:
    error = refusal(
        lambda: parse_form("multipart/form-data; boundary=BOUNDARY", b"--BOUNDARY\r\nxx")
    )
    assert error[:2] == (400, "MalformedPOSTRequest")


@pytest.mark.parametrize(
    ("check_name", "change", "size", "late"),
    [
        ("check_content_length_range", {}, 101, False),
        ("check_expiration", {}, 100, True),
        ("matches", {"Content-Type": "text/html"}, 100, False),
        ("check_post_signature", {"x-amz-signature": "0" * 64}, 100, False),
    ],
)
def test_verify_post_with_a_check_disabled_accepts_what_it_refused(
    fields: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    check_name: str,
    change: dict[str, str],
    size: int,
    late: bool,
) -> None:
    # GIVEN a form the verifier refuses
    changed = form({**fields, **change}, size)
    when = SIGNED_AT + (timedelta(hours=1) if late else timedelta(minutes=1))
    refusal(lambda: check(changed, when))
    # WHEN that check is a no-op (a disabled condition match always matches)
    disabled = (lambda *args: True) if check_name == "matches" else (lambda *args, **kwargs: None)
    monkeypatch.setattr(s3post, check_name, disabled)
    # THEN the same form goes through
    check(changed, when)


def _multipart(
    fields: list[tuple[str, str]], data: bytes, after: tuple[tuple[str, str], ...] = ()
) -> bytes:
    part = 'Content-Disposition: form-data; name="{}"'
    chunks = [f"--BOUNDARY\r\n{part.format(k)}\r\n\r\n{v}\r\n".encode() for k, v in fields]
    chunks.append(
        f'--BOUNDARY\r\n{part.format("file")}; filename="a.jpg"\r\n\r\n'.encode() + data + b"\r\n"
    )
    chunks += [f"--BOUNDARY\r\n{part.format(k)}\r\n\r\n{v}\r\n".encode() for k, v in after]
    return b"".join([*chunks, b"--BOUNDARY--\r\n"])

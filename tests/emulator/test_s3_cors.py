"""CORS on the emulator's S3 endpoint as S3 applies a bucket's CORS configuration: preflight
OPTIONS allowed or refused with 403, and Access-Control-* headers (ETag exposed, and Retry-After on
the stack's bucket) only on answers to an allowed origin."""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest
from botocore.config import Config

from mediakit.client import Response, request
from mediakit.local.s3 import cors as s3cors
from mediakit.local.s3.cors import CorsRule, actual_request_headers, preflight
from mediakit.local.s3.errors import S3Error
from tests.emulator.conftest import FakeEmulator

ALLOWED = "https://app.example"  # the fake emulator's configured origin
RULE = CorsRule(
    allowed_origins=(ALLOWED,),
    allowed_methods=("GET", "HEAD", "POST", "PUT"),
    allowed_headers=("*",),
    expose_headers=("ETag",),
    max_age_seconds=3000,
)


def options(
    url: str, origin: str | None, method: str | None, headers: str | None = None
) -> Response:
    sent = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }
    return request("OPTIONS", url, headers={k: v for k, v in sent.items() if v is not None})


def code(response: Response) -> str:
    found = re.search(r"<Code>([^<]*)</Code>", response.body.decode())
    return found.group(1) if found else ""


def s3(fake: FakeEmulator) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=fake.env.aws_endpoint_url,
        region_name=fake.env.region,
        aws_access_key_id="mediakit-dev",
        aws_secret_access_key="mediakit-dev",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


# -- the rules, on the pure functions ------------------------------------------------------


def test_preflight_answers_from_the_first_matching_rule() -> None:
    # GIVEN a narrow rule first and a wildcard GET rule second
    narrow = CorsRule(("https://*.example",), ("PUT",), ("content-type", "x-amz-*"), ("ETag",), 60)
    anyone = CorsRule(("*",), ("GET",))
    # WHEN a subdomain preflights a PUT with a type and an S3 header, and anyone a GET
    put = preflight(
        (narrow, anyone),
        bucket_exists=True,
        origin="https://app.example",
        method="PUT",
        request_headers="Content-Type, x-amz-checksum-sha256",
        resource_type="OBJECT",
    )
    get = preflight(
        (narrow, anyone),
        bucket_exists=True,
        origin="http://x",
        method="GET",
        request_headers=None,
        resource_type="OBJECT",
    )
    # THEN the first answer echoes the origin (credentials allowed) and the requested headers;
    # the wildcard rule answers `*`, without credentials
    assert dict(put) == {
        "Access-Control-Allow-Origin": "https://app.example",
        "Access-Control-Allow-Credentials": "true",
        "Vary": s3cors.VARY,
        "Access-Control-Allow-Methods": "PUT",
        "Access-Control-Allow-Headers": "content-type, x-amz-checksum-sha256",
        "Access-Control-Expose-Headers": "ETag",
        "Access-Control-Max-Age": "60",
    }
    assert dict(get)["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in dict(get)


@pytest.mark.parametrize(
    ("origin", "method", "headers", "rules", "exists", "expected"),
    [
        ("https://evil.example", "PUT", None, (RULE,), True, (403, "AccessForbidden")),
        (ALLOWED, "DELETE", None, (RULE,), True, (403, "AccessForbidden")),
        (
            ALLOWED,
            "PUT",
            "x-custom",
            (CorsRule((ALLOWED,), ("PUT",), ("content-type",)),),
            True,
            (403, "AccessForbidden"),
        ),
        (ALLOWED, "PUT", None, None, True, (403, "AccessForbidden")),
        (ALLOWED, "PUT", None, None, False, (403, "AccessForbidden")),
        (None, "PUT", None, (RULE,), True, (400, "BadRequest")),
        (ALLOWED, None, None, (RULE,), True, (400, "BadRequest")),
        ("http://app.example", "PUT", None, (RULE,), True, (403, "AccessForbidden")),
    ],
    ids=["origin", "method", "header", "no-cors", "no-bucket", "no-origin", "no-method", "scheme"],
)
def test_preflight_refuses_what_no_rule_allows(
    origin: str | None,
    method: str | None,
    headers: str | None,
    rules: tuple[CorsRule, ...] | None,
    exists: bool,
    expected: tuple[int, str],
) -> None:
    with pytest.raises(S3Error) as caught:
        preflight(
            rules,
            bucket_exists=exists,
            origin=origin,
            method=method,
            request_headers=headers,
            resource_type="OBJECT",
        )
    assert (caught.value.status, caught.value.code) == expected


def test_preflight_with_origin_matching_disabled_allows_any_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a preflight from an origin no rule allows, refused
    def ask() -> Any:
        return preflight(
            (RULE,),
            bucket_exists=True,
            origin="https://evil.example",
            method="PUT",
            request_headers=None,
            resource_type="OBJECT",
        )

    with pytest.raises(S3Error):
        ask()
    # WHEN origin matching is turned off THEN it is allowed: the refusal is that check's
    monkeypatch.setattr(s3cors, "origin_allowed", lambda rule, origin: True)
    assert dict(ask())["Access-Control-Allow-Origin"] == "https://evil.example"


def test_actual_request_gets_cors_headers_only_for_an_allowed_origin_and_method() -> None:
    assert (
        dict(actual_request_headers((RULE,), ALLOWED, "PUT"))["Access-Control-Expose-Headers"]
        == "ETag"
    )
    assert actual_request_headers((RULE,), "https://evil.example", "PUT") == []
    assert actual_request_headers((RULE,), ALLOWED, "DELETE") == []
    assert actual_request_headers((RULE,), None, "PUT") == []


# -- through the emulator ------------------------------------------------------------------


def test_s3_cors_preflight_allowed_from_the_configured_origin(fake_emulator: FakeEmulator) -> None:
    # GIVEN the bucket's CORS rule for the configured origin
    url = f"{fake_emulator.env.aws_endpoint_url}/{fake_emulator.env.bucket}/originals/a.jpg"
    # WHEN a page there preflights the PUT a presigned upload makes
    response = options(
        url, ALLOWED, "PUT", "content-type,x-amz-checksum-sha256,x-amz-server-side-encryption"
    )
    # THEN S3's answer: the origin, the rule's methods, the requested headers, ETag exposed (and
    # Retry-After, the stack's bucket rule: a page reads when to come back after a 503 SlowDown)
    assert response.status == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-methods"] == "GET, HEAD, POST, PUT"
    assert response.headers["access-control-allow-headers"] == (
        "content-type, x-amz-checksum-sha256, x-amz-server-side-encryption"
    )
    assert response.headers["access-control-expose-headers"] == "ETag, Retry-After"
    assert response.headers["access-control-max-age"] == "3000"


@pytest.mark.parametrize(
    ("origin", "method", "expected"),
    [
        ("https://evil.example", "PUT", (403, "AccessForbidden")),
        (ALLOWED, "DELETE", (403, "AccessForbidden")),
        (None, "PUT", (400, "BadRequest")),
    ],
    ids=["origin", "method", "no-origin"],
)
def test_s3_cors_preflight_refused(
    fake_emulator: FakeEmulator, origin: str | None, method: str, expected: tuple[int, str]
) -> None:
    url = f"{fake_emulator.env.aws_endpoint_url}/{fake_emulator.env.bucket}/originals/a.jpg"
    response = options(url, origin, method)
    assert (response.status, code(response)) == expected
    # the browser gets nothing that would let the page go on
    assert "access-control-allow-origin" not in response.headers


def test_s3_cors_preflight_refused_for_a_header_the_rule_does_not_allow(
    fake_emulator: FakeEmulator,
) -> None:
    # GIVEN a bucket whose rule allows only content-type
    client = s3(fake_emulator)
    client.create_bucket(Bucket="cors-narrow")
    client.put_bucket_cors(
        Bucket="cors-narrow",
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [ALLOWED],
                    "AllowedMethods": ["PUT"],
                    "AllowedHeaders": ["content-type"],
                }
            ]
        },
    )
    url = f"{fake_emulator.env.aws_endpoint_url}/cors-narrow/k"
    # WHEN a page asks to send another header THEN S3 refuses; content-type alone is fine
    assert options(url, ALLOWED, "PUT", "content-type,x-amz-meta-a").status == 403
    assert options(url, ALLOWED, "PUT", "content-type").status == 200
    # AND a bucket without CORS refuses every preflight
    client.create_bucket(Bucket="cors-none")
    refused = options(f"{fake_emulator.env.aws_endpoint_url}/cors-none/k", ALLOWED, "PUT")
    assert (refused.status, code(refused)) == (403, "AccessForbidden")


def test_s3_cors_actual_request_headers_follow_the_origin(fake_emulator: FakeEmulator) -> None:
    # GIVEN an object and a presigned GET for it
    client = s3(fake_emulator)
    client.put_object(Bucket=fake_emulator.env.bucket, Key="cors/k", Body=b"x")
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": fake_emulator.env.bucket, "Key": "cors/k"}
    )
    # WHEN a page from the allowed origin, one from another origin, and no page fetch it
    allowed = request("GET", url, headers={"Origin": ALLOWED})
    other = request("GET", url, headers={"Origin": "https://evil.example"})
    plain = request("GET", url)
    # THEN only the allowed origin's answer carries CORS headers (ETag and Retry-After readable
    # by the page); moto's allow-every-origin headers are gone; S3 served all three
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert allowed.headers["access-control-expose-headers"] == "ETag, Retry-After"
    assert allowed.headers["etag"]
    assert not any(h.startswith("access-control-") for h in other.headers)
    assert not any(h.startswith("access-control-") for h in plain.headers)
    assert allowed.status == other.status == plain.status == 200


def test_s3_cors_headers_are_on_refusals_too(fake_emulator: FakeEmulator) -> None:
    # GIVEN a presigned GET with a tampered signature, from the allowed origin
    client = s3(fake_emulator)
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": fake_emulator.env.bucket, "Key": "cors/k"}
    )
    tampered = re.sub(r"X-Amz-Signature=.", "X-Amz-Signature=f", url)
    if tampered == url:
        tampered = re.sub(r"X-Amz-Signature=.", "X-Amz-Signature=0", url)
    # WHEN it is refused THEN the page can read why, as on S3
    response = request("GET", tampered, headers={"Origin": ALLOWED})
    assert (response.status, code(response)) == (403, "SignatureDoesNotMatch")
    assert response.headers["access-control-allow-origin"] == ALLOWED

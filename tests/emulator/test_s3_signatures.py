"""SigV4 verification as S3 does it, on the pure functions: AWS's published examples verify, and
each way a request can differ from what was signed is refused with S3's code. The examples are
the ones in the S3 API reference (credentials AKIAIOSFODNN7EXAMPLE, 24 May 2013):
sigv4-header-based-auth.html (GET Object), sigv4-query-string-auth.html (presigned GET) and
sigv4-streaming.html (chunked PUT)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mediakit.local.s3 import auth as s3auth
from mediakit.local.s3 import payload as s3payload
from mediakit.local.s3.auth import Received, verify_request
from mediakit.local.s3.errors import S3Error, error_response
from mediakit.local.s3.payload import check_body

KEYS = {"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
SIGNED_AT = datetime(2013, 5, 24, tzinfo=UTC)
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SCOPE = "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request"


def at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


AUTHORIZATION = (
    f"AWS4-HMAC-SHA256 Credential={SCOPE},SignedHeaders=host;range;x-amz-content-sha256;"
    "x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
)


def header_get(**changes: str) -> Received:
    """AWS's header-signed GET Object example (Range: bytes=0-9); a change of "-" drops it."""
    headers = {
        "host": "examplebucket.s3.amazonaws.com",
        "range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY,
        "x-amz-date": "20130524T000000Z",
        "authorization": AUTHORIZATION,
        **changes,
    }
    return Received("GET", "/test.txt", "", tuple(headers.items()))


PRESIGNED_QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
    "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
    "X-Amz-SignedHeaders=host&X-Amz-Signature="
    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)


def presigned_get(query: str = PRESIGNED_QUERY, **headers: str) -> Received:
    """AWS's presigned GET Object example (valid 86400 s)."""
    return Received(
        "GET",
        "/test.txt",
        query,
        (("host", "examplebucket.s3.amazonaws.com"), *headers.items()),
    )


def chunked_put(body: bytes | None = None, **changes: str) -> Received:
    """AWS's signed-chunk PUT example: 64 KiB + 1 KiB of 'a', seed signature 4f232c..."""
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "authorization": f"AWS4-HMAC-SHA256 Credential={SCOPE},SignedHeaders=content-encoding;"
        "content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
        "x-amz-storage-class,"
        "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
        **changes,
    }
    return Received(
        "PUT",
        "/examplebucket/chunkObject.txt",
        "",
        tuple(headers.items()),
        CHUNKED_BODY if body is None else body,
    )


CHUNKED_BODY = (
    b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
    + b"a" * 65536
    + b"\r\n"
    + b"400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
    + b"a" * 1024
    + b"\r\n"
    + b"0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n"
    + b"\r\n"
)


def refusal(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(S3Error) as caught:
        call()
    return caught.value.status, caught.value.code, caught.value.message


def verify(received: Received, now: datetime = SIGNED_AT + timedelta(seconds=5)) -> Any:
    signed = verify_request(received, KEYS, "us-east-1", at(now))
    check_body(received, signed, checksummed=True)
    return signed


# -- AWS's examples verify -----------------------------------------------------------------


def test_verify_header_signed_get_from_the_aws_example() -> None:
    signed = verify(header_get())
    assert signed.scope.access_key == "AKIAIOSFODNN7EXAMPLE"
    assert not signed.presigned


def test_verify_presigned_get_from_the_aws_example() -> None:
    # a presigned URL is good until the end of its X-Amz-Expires
    assert verify(presigned_get(), now=SIGNED_AT + timedelta(seconds=86400)).presigned


def test_verify_signed_chunks_from_the_aws_example() -> None:
    # the seed signature verifies, then every chunk signature along the chain
    verify(chunked_put())


# -- each difference from what was signed is refused with S3's code --------------------------


@pytest.mark.parametrize(
    ("received", "now", "expected"),
    [
        pytest.param(
            header_get(range="bytes=0-10"),
            SIGNED_AT,
            (403, "SignatureDoesNotMatch"),
            id="signed-header-altered",
        ),
        pytest.param(
            header_get(range="-"),
            SIGNED_AT,
            (403, "SignatureDoesNotMatch"),
            id="signed-header-missing",
        ),
        pytest.param(
            header_get(host="other.s3.amazonaws.com"),
            SIGNED_AT,
            (403, "SignatureDoesNotMatch"),
            id="host-altered",
        ),
        pytest.param(
            header_get(**{"x-amz-meta-a": "1"}),
            SIGNED_AT,
            (403, "AccessDenied"),
            id="unsigned-amz-header",
        ),
        pytest.param(
            header_get(authorization=AUTHORIZATION.replace("f0e8", "f0e9")),
            SIGNED_AT,
            (403, "SignatureDoesNotMatch"),
            id="signature-tampered",
        ),
        pytest.param(
            header_get(authorization=AUTHORIZATION.replace("AKIAIOSFODNN7", "AKIAOTHER")),
            SIGNED_AT,
            (403, "InvalidAccessKeyId"),
            id="unknown-key",
        ),
        pytest.param(
            header_get(authorization=AUTHORIZATION.replace("us-east-1", "eu-west-1")),
            SIGNED_AT,
            (400, "AuthorizationHeaderMalformed"),
            id="wrong-region",
        ),
        pytest.param(
            header_get(authorization="AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="),
            SIGNED_AT,
            (400, "InvalidRequest"),
            id="sigv2",
        ),
        pytest.param(
            header_get(authorization=f"AWS4-HMAC-SHA256 Credential={SCOPE}"),
            SIGNED_AT,
            (400, "AuthorizationHeaderMalformed"),
            id="incomplete-authorization",
        ),
        pytest.param(
            header_get(**{"x-amz-date": "-"}), SIGNED_AT, (403, "AccessDenied"), id="no-date"
        ),
        pytest.param(
            header_get(**{"x-amz-date": "20130525T000000Z"}),
            SIGNED_AT,
            (400, "AuthorizationHeaderMalformed"),
            id="date-not-the-scope-date",
        ),
        pytest.param(
            header_get(),
            SIGNED_AT + timedelta(minutes=16),
            (403, "RequestTimeTooSkewed"),
            id="late",
        ),
        pytest.param(
            header_get(),
            SIGNED_AT - timedelta(minutes=16),
            (403, "RequestTimeTooSkewed"),
            id="early",
        ),
        pytest.param(
            header_get(**{"x-amz-content-sha256": "-"}),
            SIGNED_AT,
            (400, "InvalidRequest"),
            id="no-payload-hash",
        ),
        pytest.param(
            header_get(**{"x-amz-content-sha256": "whatever"}),
            SIGNED_AT,
            (400, "InvalidArgument"),
            id="bad-payload",
        ),
        pytest.param(
            header_get(**{"x-amz-security-token": "t"}),
            SIGNED_AT,
            (400, "InvalidToken"),
            id="session-token",
        ),
        pytest.param(
            presigned_get(),
            SIGNED_AT + timedelta(seconds=86401),
            (403, "AccessDenied"),
            id="presigned-expired",
        ),
        pytest.param(
            presigned_get(),
            SIGNED_AT - timedelta(minutes=16),
            (403, "AccessDenied"),
            id="presigned-not-yet-valid",
        ),
        pytest.param(
            presigned_get(PRESIGNED_QUERY.replace("aeeed9", "aeeed8")),
            SIGNED_AT,
            (403, "SignatureDoesNotMatch"),
            id="presigned-tampered",
        ),
        pytest.param(
            presigned_get(PRESIGNED_QUERY + "&response-content-type=text%2Fhtml"),
            SIGNED_AT,
            (403, "SignatureDoesNotMatch"),
            id="presigned-parameter-added",
        ),
        pytest.param(
            presigned_get(PRESIGNED_QUERY.replace("86400", "604801")),
            SIGNED_AT,
            (400, "AuthorizationQueryParametersError"),
            id="presigned-longer-than-a-week",
        ),
        pytest.param(
            presigned_get(PRESIGNED_QUERY.replace("X-Amz-Expires=86400&", "")),
            SIGNED_AT,
            (400, "AuthorizationQueryParametersError"),
            id="presigned-parameter-missing",
        ),
        pytest.param(
            presigned_get(PRESIGNED_QUERY.replace("%2Fs3%2F", "%2Fsqs%2F")),
            SIGNED_AT,
            (400, "AuthorizationQueryParametersError"),
            id="presigned-other-service",
        ),
        pytest.param(
            presigned_get(**{"x-amz-server-side-encryption": "AES256"}),
            SIGNED_AT,
            (403, "AccessDenied"),
            id="presigned-unsigned-amz-header",
        ),
        pytest.param(
            presigned_get(authorization="AWS4-HMAC-SHA256 Credential=x"),
            SIGNED_AT,
            (400, "InvalidArgument"),
            id="two-mechanisms",
        ),
        pytest.param(
            chunked_put(CHUNKED_BODY.replace(b"a\r\n400", b"b\r\n400")),
            SIGNED_AT,
            (403, "SignatureDoesNotMatch"),
            id="chunk-altered",
        ),
        pytest.param(
            chunked_put(CHUNKED_BODY.replace(b"b6c6ea8a", b"b6c6ea8b")),
            SIGNED_AT,
            (403, "SignatureDoesNotMatch"),
            id="final-chunk-signature-tampered",
        ),
        pytest.param(
            chunked_put(CHUNKED_BODY[:-200]),
            SIGNED_AT,
            (400, "IncompleteBody"),
            id="chunked-body-truncated",
        ),
        pytest.param(
            chunked_put(**{"x-amz-decoded-content-length": "-"}),
            SIGNED_AT,
            (403, "SignatureDoesNotMatch"),
            id="decoded-length-missing",
        ),
    ],
)
def test_verify_refuses_with_s3s_code(
    received: Received, now: datetime, expected: tuple[int, str]
) -> None:
    received = dataclasses.replace(
        received, headers=tuple((k, v) for k, v in received.headers if v != "-")
    )
    assert refusal(lambda: verify(received, now))[:2] == expected


def test_verify_refuses_an_expired_url_with_s3s_message() -> None:
    late = SIGNED_AT + timedelta(days=2)
    error = refusal(lambda: verify(presigned_get(), late))
    assert error == (403, "AccessDenied", "Request has expired")


def test_verify_sends_nothing_unsigned_through_as_anonymous() -> None:
    # GIVEN a request with no signature at all WHEN verified THEN it is anonymous (None)
    assert verify_request(Received("GET", "/b/k", "", (("host", "h"),)), KEYS, "us-east-1") is None


def test_verify_canonicalises_the_path_as_s3_does() -> None:
    # an encoded character arrives encoded once; a literal '(' is encoded as botocore signs it
    assert s3auth.canonical_path("/b/a%20b/(x)") == "/b/a%20b/%28x%29"
    # an encoded slash stays in its segment
    assert s3auth.canonical_path("/b/a%2Fb") == "/b/a%2Fb"


# -- the checks are what refuse ------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "check", "received", "now"),
    [
        (s3auth, "check_signature", header_get(range="bytes=0-10"), SIGNED_AT),
        (s3auth, "check_skew", header_get(), SIGNED_AT + timedelta(hours=1)),
        (s3auth, "check_validity_window", presigned_get(), SIGNED_AT + timedelta(days=2)),
        (s3auth, "check_signed_headers", header_get(**{"x-amz-meta-a": "1"}), SIGNED_AT),
        (
            s3payload,
            "check_signature",
            chunked_put(CHUNKED_BODY.replace(b"a\r\n400", b"b\r\n400")),
            SIGNED_AT,
        ),
    ],
)
def test_verify_with_a_check_disabled_accepts_what_it_refused(
    monkeypatch: pytest.MonkeyPatch, module: Any, check: str, received: Received, now: datetime
) -> None:
    # GIVEN a request refused by the verifier
    refusal(lambda: verify(received, now))
    # WHEN that one check is turned into a no-op
    monkeypatch.setattr(module, check, lambda *args, **kwargs: None)
    # THEN the same request verifies: each refusal above is that check's doing
    verify(received, now)


def test_verify_with_key_lookup_disabled_accepts_an_unknown_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a request signed with the example secret under a key id nobody issued
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest("GET", "https://examplebucket.s3.amazonaws.com/test.txt")
    request.headers["x-amz-content-sha256"] = EMPTY
    monkeypatch.setattr(
        "botocore.auth.get_current_datetime", lambda: SIGNED_AT.replace(tzinfo=None)
    )
    S3SigV4Auth(
        Credentials("AKIANOBODY", KEYS["AKIAIOSFODNN7EXAMPLE"]), "s3", "us-east-1"
    ).add_auth(request)
    received = Received(
        "GET",
        "/test.txt",
        "",
        (
            ("host", "examplebucket.s3.amazonaws.com"),
            *((k.lower(), v) for k, v in request.headers.items()),
        ),
    )
    assert refusal(lambda: verify(received, SIGNED_AT))[1] == "InvalidAccessKeyId"
    # WHEN the key lookup answers any key with that secret THEN it verifies
    monkeypatch.setattr(s3auth, "secret_for", lambda scope, keys: KEYS["AKIAIOSFODNN7EXAMPLE"])
    verify(received, SIGNED_AT)


def test_error_response_is_s3s_xml_document() -> None:
    # GIVEN an S3 error with details WHEN rendered
    error = S3Error(403, "AccessDenied", "Request has expired", (("X-Amz-Expires", "60"),))
    response = error_response(error)
    head = error_response(error, head=True)
    # THEN it is S3's REST error document, and HEAD gets the status without a body
    body = response.body.decode()
    assert response.status == "403 Forbidden"
    assert body.startswith(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    )
    assert (
        "<Message>Request has expired</Message><X-Amz-Expires>60</X-Amz-Expires><RequestId>" in body
    )
    assert ("Content-Type", "application/xml") in response.headers
    assert head.status == "403 Forbidden"
    assert head.body == b""

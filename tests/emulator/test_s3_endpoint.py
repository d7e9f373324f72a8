"""The emulator's S3 endpoint checks requests as S3 does: through a running `mediakit dev`, the
kit's own uploads (PUT, POST, multipart) and a default boto3 client succeed, and requests S3
would refuse are refused with S3's error code and status."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from PIL import Image

from mediakit.client import ApiClient, Response, request
from mediakit.local.emulator import DevEnv, Emulator, mint_token
from mediakit.local.s3 import auth as s3auth
from mediakit.local.s3 import payload as s3payload
from mediakit.local.s3 import post as s3post
from runtime.settings import MIB, Settings
from tests.emulator.conftest import jpeg_bytes

DEV_KEY = ("mediakit-dev", "mediakit-dev")


@pytest.fixture(scope="module")
def dev() -> Iterator[DevEnv]:
    """`mediakit dev` with the smallest multipart threshold, so all three methods are cheap."""
    settings = Settings(multipart_threshold_bytes=5 * MIB, multipart_part_bytes=5 * MIB)
    with Emulator(settings) as env:
        yield env


@pytest.fixture(scope="module")
def api(dev: DevEnv) -> ApiClient:
    return ApiClient(dev.api_url, mint_token(dev, "acme"))


def default_client(
    env: DevEnv, *, secret: str = DEV_KEY[1], key: str = DEV_KEY[0], **config: Any
) -> Any:
    """boto3 as an app would create it: default config (botocore's CRC32 checksums, retries)."""
    return boto3.client(
        "s3",
        endpoint_url=env.aws_endpoint_url,
        region_name=env.region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(**config) if config else None,
    )


def s3_error(response: Response) -> tuple[int, str, str]:
    """(status, Code, Message) of an S3 XML error document."""
    text = response.body.decode()
    code = re.search(r"<Code>([^<]*)</Code>", text)
    message = re.search(r"<Message>([^<]*)</Message>", text)
    assert response.headers.get("content-type") == "application/xml", text
    return response.status, code.group(1) if code else "", message.group(1) if message else ""


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture
def put_grant(api: ApiClient) -> tuple[dict[str, Any], bytes]:
    """A presigned PUT from the kit's API for a JPEG, with its bytes."""
    body = jpeg_bytes((64, 48))
    created = api.create_upload(
        filename="p.jpg",
        content_type="image/jpeg",
        size=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        method="PUT",
    )
    assert created["method"] == "PUT"
    return created, body


# -- what must keep working -----------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_s3_endpoint_accepts_the_cli_upload(api: ApiClient, tmp_path: Path, method: str) -> None:
    # GIVEN a JPEG and the CLI's client
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes())
    # WHEN it is uploaded with the method asked for, then processed
    created = api.upload(path, method=method)
    record = api.wait(created, timeout=30)
    # THEN the signed upload was accepted and the processor (header-signed reads) completed it
    assert created["method"] == method
    assert record["status"] == "completed", record


def test_s3_endpoint_accepts_the_cli_multipart_upload(api: ApiClient, tmp_path: Path) -> None:
    # GIVEN a PNG above the 5 MiB multipart threshold
    path = tmp_path / "noise.png"
    Image.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3)).save(path)
    assert path.stat().st_size > 5 * MIB
    # WHEN the CLI's client uploads it part by part and completes it
    created = api.upload(path)
    record = api.wait(created, timeout=60)
    # THEN every presigned part and the completion were accepted
    assert created["method"] == "MULTIPART"
    assert record["status"] == "completed", record


def test_s3_endpoint_accepts_a_default_boto3_client(dev: DevEnv) -> None:
    # GIVEN boto3 with its defaults (CRC32 checksum headers since botocore 1.36, signed
    # payloads over http) and the dev key
    s3 = default_client(dev)
    # WHEN it puts, uploads a file in parts, copies, reads with checksum mode, lists and
    # deletes in bulk (a POST whose body carries a checksum)
    s3.put_object(Bucket=dev.bucket, Key="sdk/put", Body=b"hello", ContentType="text/plain")
    big = os.urandom(9 * MIB)
    s3.upload_fileobj(io.BytesIO(big), dev.bucket, "sdk/big")
    upload = s3.create_multipart_upload(
        Bucket=dev.bucket, Key="sdk/parts", ChecksumAlgorithm="SHA256"
    )
    part = s3.upload_part(
        Bucket=dev.bucket,
        Key="sdk/parts",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"p" * 1024,
        ChecksumAlgorithm="SHA256",
    )
    s3.complete_multipart_upload(
        Bucket=dev.bucket,
        Key="sdk/parts",
        UploadId=upload["UploadId"],
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]}
            ]
        },
    )
    s3.copy_object(
        Bucket=dev.bucket, Key="sdk/copy", CopySource={"Bucket": dev.bucket, "Key": "sdk/put"}
    )
    got = s3.get_object(Bucket=dev.bucket, Key="sdk/big", ChecksumMode="ENABLED")["Body"].read()
    listed = s3.list_objects_v2(Bucket=dev.bucket, Prefix="sdk/")["KeyCount"]
    deleted = s3.delete_objects(
        Bucket=dev.bucket, Delete={"Objects": [{"Key": "sdk/put"}, {"Key": "sdk/copy"}]}
    )
    # THEN every call verified and did what it says
    assert got == big
    assert listed == 4
    assert len(deleted["Deleted"]) == 2
    assert s3.get_object(Bucket=dev.bucket, Key="sdk/parts")["Body"].read() == b"p" * 1024


def test_s3_endpoint_leaves_other_services_to_moto(dev: DevEnv) -> None:
    # GIVEN credentials the S3 endpoint does not know
    sqs = boto3.client(
        "sqs",
        endpoint_url=dev.aws_endpoint_url,
        region_name=dev.region,
        aws_access_key_id="someone-else",
        aws_secret_access_key="x",
    )
    # WHEN they call SQS on the same port
    urls = sqs.list_queues()["QueueUrls"]
    # THEN moto answers: only requests routed to S3 are verified
    assert dev.queue_url in urls


# -- presigned PUT: what the browser sends must be what was signed ---------------------------


def test_s3_endpoint_accepts_the_put_exactly_as_signed(
    put_grant: tuple[dict[str, Any], bytes],
) -> None:
    created, body = put_grant
    # WHEN the bytes go with exactly the signed headers
    response = request("PUT", created["url"], headers=created["headers"], body=body)
    # THEN S3 takes them
    assert response.status == 200, response.body


def _tamper_signature(url: str) -> str:
    signature = re.search(r"X-Amz-Signature=([0-9a-f]+)", url)
    assert signature
    flipped = ("0" if signature.group(1)[0] != "0" else "1") + signature.group(1)[1:]
    return url.replace(signature.group(1), flipped)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("tampered signature", (403, "SignatureDoesNotMatch")),
        ("content-type missing", (403, "SignatureDoesNotMatch")),
        ("content-type altered", (403, "SignatureDoesNotMatch")),
        ("checksum altered", (403, "SignatureDoesNotMatch")),
        ("checksum missing", (403, "SignatureDoesNotMatch")),
        ("SSE key id altered", (403, "SignatureDoesNotMatch")),
        ("SSE key id missing", (403, "SignatureDoesNotMatch")),
        ("if-none-match missing", (403, "SignatureDoesNotMatch")),
        ("unsigned x-amz header added", (403, "AccessDenied")),
        ("other bytes with the signed checksum", (400, "BadDigest")),
        ("signed for another key", (403, "SignatureDoesNotMatch")),
    ],
)
def test_s3_endpoint_refuses_a_put_that_is_not_what_was_signed(
    put_grant: tuple[dict[str, Any], bytes], case: str, expected: tuple[int, str]
) -> None:
    # GIVEN a presigned PUT and its signed headers
    created, body = put_grant
    url, headers = created["url"], dict(created["headers"])
    # WHEN the request differs from what was signed in one way
    if case == "tampered signature":
        url = _tamper_signature(url)
    elif case == "content-type missing":
        del headers["content-type"]
    elif case == "content-type altered":
        headers["content-type"] = "image/png"
    elif case == "checksum altered":
        headers["x-amz-checksum-sha256"] = sha256_b64(b"other")
    elif case == "checksum missing":
        del headers["x-amz-checksum-sha256"]
    elif case == "SSE key id altered":
        headers["x-amz-server-side-encryption-aws-kms-key-id"] += "0"
    elif case == "SSE key id missing":
        del headers["x-amz-server-side-encryption-aws-kms-key-id"]
    elif case == "if-none-match missing":
        del headers["if-none-match"]
    elif case == "unsigned x-amz header added":
        headers["x-amz-meta-origin"] = "page"
    elif case == "other bytes with the signed checksum":
        body = body[:-1] + bytes([body[-1] ^ 1])
    elif case == "signed for another key":
        url = url.replace("/originals/", "/originals/x", 1)
    response = request("PUT", url, headers=headers, body=body)
    # THEN S3's error, and nothing was stored
    assert s3_error(response)[:2] == expected


def test_s3_endpoint_refuses_an_expired_presigned_url(dev: DevEnv) -> None:
    # GIVEN a GET URL valid for one second
    s3 = default_client(dev, signature_version="s3v4")
    s3.put_object(Bucket=dev.bucket, Key="expiry/k", Body=b"x")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": dev.bucket, "Key": "expiry/k"}, ExpiresIn=1
    )
    assert request("GET", url).status == 200
    # WHEN it is used after that second
    time.sleep(2.1)
    response = request("GET", url)
    # THEN S3 says it expired
    assert s3_error(response) == (403, "AccessDenied", "Request has expired")


def test_s3_endpoint_error_document_is_s3s(put_grant: tuple[dict[str, Any], bytes]) -> None:
    created, body = put_grant
    # WHEN a tampered URL is used
    response = request(
        "PUT", _tamper_signature(created["url"]), headers=created["headers"], body=body
    )
    # THEN the body is S3's XML error with the material S3 returns to debug a signature
    text = response.body.decode()
    assert text.startswith(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch'
    )
    for element in ("StringToSign", "CanonicalRequest", "SignatureProvided", "RequestId", "HostId"):
        assert f"<{element}>" in text
    assert response.headers["x-amz-request-id"]


# -- header-signed requests ----------------------------------------------------------------


def _code(call: Any) -> tuple[int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]


def test_s3_endpoint_refuses_a_wrong_secret_and_an_unknown_key(dev: DevEnv) -> None:
    # GIVEN clients signing with the wrong secret, and with a key the endpoint never issued
    wrong = default_client(dev, secret="not-the-secret")
    unknown = default_client(dev, key="AKIAUNKNOWN")
    # WHEN they read
    # THEN S3's refusals
    assert _code(lambda: wrong.list_objects_v2(Bucket=dev.bucket)) == (403, "SignatureDoesNotMatch")
    assert _code(lambda: unknown.list_objects_v2(Bucket=dev.bucket)) == (403, "InvalidAccessKeyId")


def test_s3_endpoint_refuses_a_request_signed_twenty_minutes_ago(
    dev: DevEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a client whose clock is 20 minutes slow (S3 allows 15)
    s3 = default_client(dev, retries={"max_attempts": 1})
    slow = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: slow)
    # WHEN it signs a request THEN S3 refuses the time
    assert _code(lambda: s3.list_objects_v2(Bucket=dev.bucket)) == (403, "RequestTimeTooSkewed")


def test_s3_endpoint_refuses_a_body_other_than_the_signed_one(dev: DevEnv) -> None:
    # GIVEN a signed PutObject whose body is swapped (same length) after signing
    s3 = default_client(dev, retries={"max_attempts": 1})

    def swap_body(request: Any, **kwargs: Any) -> None:
        request.body = b"SIGNED"

    s3.meta.events.register_first("before-send.s3.PutObject", swap_body)
    # WHEN it is sent THEN the declared payload hash gives it away
    assert _code(lambda: s3.put_object(Bucket=dev.bucket, Key="body/k", Body=b"signed")) == (
        400,
        "XAmzContentSHA256Mismatch",
    )
    s3.meta.events.unregister("before-send.s3.PutObject", swap_body)
    # AND a CRC32 that is not the body's is refused as S3 refuses it
    zero = base64.b64encode(b"\0\0\0\0").decode()
    put = lambda: s3.put_object(Bucket=dev.bucket, Key="body/k", Body=b"signed", ChecksumCRC32=zero)  # noqa: E731
    assert _code(put) == (400, "BadDigest")


def test_s3_endpoint_refuses_anonymous_requests(dev: DevEnv) -> None:
    # GIVEN an object in the private bucket
    dev.client("s3").put_object(Bucket=dev.bucket, Key="anon/k", Body=b"x")
    # WHEN it is read with no signature at all
    response = request("GET", f"{dev.aws_endpoint_url}/{dev.bucket}/anon/k")
    # THEN access is denied, as for a bucket blocking public access
    assert s3_error(response) == (403, "AccessDenied", "Access Denied")


# -- POST policy ---------------------------------------------------------------------------


def _form(
    fields: dict[str, str], data: bytes, content_type: str = "image/jpeg"
) -> tuple[dict[str, str], bytes]:
    boundary = "s3test" + os.urandom(6).hex()
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )
    body = b"".join([*parts, data, f"\r\n--{boundary}--\r\n".encode()])
    return {"content-type": f"multipart/form-data; boundary={boundary}"}, body


@pytest.fixture
def post_grant(api: ApiClient) -> tuple[dict[str, Any], bytes]:
    body = jpeg_bytes((64, 48))
    created = api.create_upload(
        filename="p.jpg", content_type="image/jpeg", size=len(body), method="POST"
    )
    assert created["method"] == "POST"
    return created, body


def test_s3_endpoint_accepts_the_post_as_signed(post_grant: tuple[dict[str, Any], bytes]) -> None:
    created, body = post_grant
    headers, form = _form(created["fields"], body)
    assert request("POST", created["url"], headers=headers, body=form).status == 204


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("one byte over content-length-range", (400, "EntityTooLarge")),
        ("one byte under content-length-range", (400, "EntityTooSmall")),
        ("Content-Type changed", (403, "AccessDenied")),
        ("SSE key id changed", (403, "AccessDenied")),
        ("key changed", (403, "AccessDenied")),
        ("extra field", (403, "AccessDenied")),
        ("policy changed", (403, "SignatureDoesNotMatch")),
        ("signature missing", (400, "InvalidArgument")),
    ],
)
def test_s3_endpoint_refuses_a_post_that_breaks_its_policy(
    post_grant: tuple[dict[str, Any], bytes], case: str, expected: tuple[int, str]
) -> None:
    # GIVEN a presigned POST form whose policy pins key, type, exact length and SSE key
    created, body = post_grant
    fields = dict(created["fields"])
    # WHEN the form differs from the policy in one way
    if case == "one byte over content-length-range":
        body += b"\0"
    elif case == "one byte under content-length-range":
        body = body[:-1]
    elif case == "Content-Type changed":
        fields["Content-Type"] = "image/png"
    elif case == "SSE key id changed":
        fields["x-amz-server-side-encryption-aws-kms-key-id"] += "0"
    elif case == "key changed":
        fields["key"] += "x"
    elif case == "extra field":
        fields["x-amz-meta-note"] = "hi"
    elif case == "policy changed":
        fields["policy"] = base64.b64encode(base64.b64decode(fields["policy"]) + b" ").decode()
    elif case == "signature missing":
        del fields["x-amz-signature"]
    headers, form = _form(fields, body)
    response = request("POST", created["url"], headers=headers, body=form)
    # THEN S3's refusal
    assert s3_error(response)[:2] == expected


def test_s3_endpoint_refuses_a_post_after_its_policy_expired(dev: DevEnv) -> None:
    # GIVEN a POST policy valid for one second
    post = default_client(dev, signature_version="s3v4").generate_presigned_post(
        Bucket=dev.bucket, Key="post/expired", ExpiresIn=1
    )
    headers, form = _form(post["fields"], b"data")
    # WHEN the form is sent after it
    time.sleep(2.1)
    response = request("POST", post["url"], headers=headers, body=form)
    # THEN S3 says the policy expired
    assert s3_error(response) == (
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy expired.",
    )


# -- the checks are what refuse ------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "check", "case"),
    [
        (s3auth, "check_signature", "tampered signature"),
        (s3auth, "check_signed_headers", "unsigned x-amz header added"),
        (s3payload, "check_checksums", "other bytes with the signed checksum"),
    ],
)
def test_s3_endpoint_with_a_check_disabled_accepts_what_it_refused(
    put_grant: tuple[dict[str, Any], bytes],
    monkeypatch: pytest.MonkeyPatch,
    module: Any,
    check: str,
    case: str,
) -> None:
    # GIVEN the running endpoint with one check turned into a no-op
    monkeypatch.setattr(module, check, lambda *args, **kwargs: None)
    created, body = put_grant
    url, headers = created["url"], dict(created["headers"])
    if case == "tampered signature":
        url = _tamper_signature(url)
    elif case == "unsigned x-amz header added":
        headers["x-amz-meta-origin"] = "page"
    else:
        body = body[:-1] + bytes([body[-1] ^ 1])
    # WHEN the request that check refuses is sent
    response = request("PUT", url, headers=headers, body=body)
    # THEN it goes through: the refusal above came from that check and nothing else
    assert response.status == 200, response.body


def test_s3_endpoint_post_with_policy_checks_disabled_accepts_an_oversized_file(
    post_grant: tuple[dict[str, Any], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the endpoint without its content-length-range check
    monkeypatch.setattr(s3post, "check_content_length_range", lambda *args: None)
    created, body = post_grant
    headers, form = _form(created["fields"], body + b"\0")
    # WHEN a file one byte over the range is posted THEN moto stores it
    assert request("POST", created["url"], headers=headers, body=form).status == 204


def test_s3_endpoint_host_is_signed(put_grant: tuple[dict[str, Any], bytes]) -> None:
    # GIVEN a presigned PUT for the endpoint's address
    created, body = put_grant
    parts = urlsplit(created["url"])
    # WHEN it reaches the same server under another name for the host
    other = created["url"].replace(parts.netloc, f"localhost:{parts.port}")
    response = request("PUT", other, headers=created["headers"], body=body)
    # THEN the signature (which covers Host) no longer matches
    assert s3_error(response)[:2] == (403, "SignatureDoesNotMatch")

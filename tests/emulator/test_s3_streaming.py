"""aws-chunked bodies on the emulator's S3 endpoint: what a default boto3 client sends over TLS
(STREAMING-UNSIGNED-PAYLOAD-TRAILER with a trailing CRC32, Transfer-Encoding: chunked), and
signed chunks with a signed trailer (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, what the Java,
Go and JS SDKs send), accepted when right and refused with S3's code when not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import ssl
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from mediakit.client import request
from mediakit.local import moto_fidelity
from mediakit.local.s3.auth import Received, Scope, Signed
from mediakit.local.s3.errors import S3Error
from mediakit.local.s3.payload import check_body
from tests.emulator.conftest import FakeEmulator, self_signed_certificate

KEY, SECRET = "mediakit-dev", "mediakit-dev"


@pytest.fixture(scope="module")
def tls_s3(fake_emulator: FakeEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A default boto3 client over https to the emulator's gated S3 app (the same moto backend
    and the same gate as `mediakit dev`'s port, served with TLS)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    cert, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    app = moto_fidelity.gated_app({KEY: SECRET}, fake_emulator.env.region)
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler, ssl_context=context
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield boto3.client(
            "s3",
            endpoint_url=f"https://127.0.0.1:{server.port}",
            region_name=fake_emulator.env.region,
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            verify=str(cert),
        )
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_s3_streaming_default_boto3_over_tls_sends_trailers_and_they_verify(
    tls_s3: Any, fake_emulator: FakeEmulator
) -> None:
    # GIVEN a default boto3 client over TLS, recording what it sends
    sent: list[dict[str, str]] = []

    def record(request: Any, **kwargs: Any) -> None:
        sent.append(
            {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        )

    tls_s3.meta.events.register("before-send.s3", record)
    bucket = fake_emulator.env.bucket
    data, big = os.urandom(3000), os.urandom(9 * 1024 * 1024)
    # WHEN it puts an object and uploads a file in parts
    tls_s3.put_object(Bucket=bucket, Key="tls/put", Body=data)
    tls_s3.upload_fileobj(io.BytesIO(big), bucket, "tls/big")
    # THEN it sent aws-chunked bodies with a trailing CRC32, and each was accepted whole
    put = next(h for h in sent if h.get("X-Amz-Trailer"))
    assert put["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert put["Transfer-Encoding"] == "chunked"
    assert put["X-Amz-Trailer"] == "x-amz-checksum-crc32"
    assert tls_s3.get_object(Bucket=bucket, Key="tls/put")["Body"].read() == data
    assert tls_s3.get_object(Bucket=bucket, Key="tls/big")["Body"].read() == big


# -- signed chunks with a signed trailer, built the way the SDKs that send them do -----------


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_streaming_put(
    url: str, data: bytes, *, chunk: int = 8192
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER PUT, signed here with
    hmac/hashlib (independently of the endpoint's code): the seed by botocore's SigV4Auth, then
    each chunk and the trailer chained from it (sigv4-streaming-trailers.html)."""
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    sizes = [data[i : i + chunk] for i in range(0, len(data), chunk)] + [b""]
    overhead = sum(
        len(f"{len(c):x};chunk-signature={'0' * 64}\r\n") + len(c) + (2 if c else 0) for c in sizes
    )
    trailer = f"x-amz-checksum-crc32:{crc}\r\nx-amz-trailer-signature:{'0' * 64}\r\n\r\n"
    headers = {
        "content-encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "x-amz-decoded-content-length": str(len(data)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "content-length": str(overhead + len(trailer)),
    }
    seed = AWSRequest("PUT", url, headers=dict(headers))
    SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(seed)
    timestamp = seed.context["timestamp"]
    scope = f"{timestamp[:8]}/us-east-1/s3/aws4_request"
    key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{SECRET}".encode(), timestamp[:8]), "us-east-1"), "s3"),
        "aws4_request",
    )
    previous = str(seed.headers["Authorization"]).rsplit("Signature=", 1)[1]
    empty = hashlib.sha256(b"").hexdigest()
    body = b""
    for piece in sizes:
        digest = hashlib.sha256(piece).hexdigest()
        to_sign = f"AWS4-HMAC-SHA256-PAYLOAD\n{timestamp}\n{scope}\n{previous}\n{empty}\n{digest}"
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        body += (
            f"{len(piece):x};chunk-signature={previous}\r\n".encode()
            + piece
            + (b"\r\n" if piece else b"")
        )
    trailing = f"x-amz-checksum-crc32:{crc}\n"
    digest = hashlib.sha256(trailing.encode()).hexdigest()
    to_sign = f"AWS4-HMAC-SHA256-TRAILER\n{timestamp}\n{scope}\n{previous}\n{digest}"
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    body += f"x-amz-checksum-crc32:{crc}\r\nx-amz-trailer-signature:{signature}\r\n\r\n".encode()
    assert len(body) == int(headers["content-length"])
    return {k: str(v) for k, v in seed.headers.items()}, body


def test_s3_streaming_signed_chunks_and_trailer_verify(fake_emulator: FakeEmulator) -> None:
    # GIVEN a PUT of 20 000 bytes in signed 8 KiB chunks with a signed CRC32 trailer
    url = f"{fake_emulator.env.aws_endpoint_url}/{fake_emulator.env.bucket}/stream/ok"
    data = os.urandom(20000)
    headers, body = signed_streaming_put(url, data)
    # WHEN it is sent THEN it is accepted and the object is the decoded bytes
    response = request("PUT", url, headers=headers, body=body)
    assert response.status == 200, response.body
    stored = fake_emulator.env.client("s3").get_object(
        Bucket=fake_emulator.env.bucket, Key="stream/ok"
    )
    assert stored["Body"].read() == data


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda b: _flip_chunk_byte(b), (403, "SignatureDoesNotMatch")),
        (lambda b: _swap_trailer_signature(b), (403, "SignatureDoesNotMatch")),
    ],
    ids=["chunk-byte", "trailer-signature"],
)
def test_s3_streaming_refuses_a_tampered_signed_body(
    fake_emulator: FakeEmulator, tamper: Any, expected: tuple[int, str]
) -> None:
    url = f"{fake_emulator.env.aws_endpoint_url}/{fake_emulator.env.bucket}/stream/bad"
    headers, body = signed_streaming_put(url, os.urandom(20000))
    changed = tamper(body)
    headers["content-length"] = str(len(changed))
    response = request("PUT", url, headers=headers, body=changed)
    assert response.status == expected[0], response.body
    assert f"<Code>{expected[1]}</Code>".encode() in response.body


def _flip_chunk_byte(body: bytes) -> bytes:
    at = body.index(b"\r\n") + 2 + 10
    return body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :]


def _swap_trailer_signature(body: bytes) -> bytes:
    head, _, tail = body.rpartition(b"x-amz-trailer-signature:")
    return head + b"x-amz-trailer-signature:" + (b"0" if tail[:1] != b"0" else b"1") + tail[1:]


def test_s3_streaming_refuses_a_trailer_checksum_that_is_not_the_bodys() -> None:
    # GIVEN an unsigned-trailer body whose trailing CRC32 is of other bytes
    data = b"hello world"
    wrong = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()
    body = (
        f"{len(data):x}\r\n".encode()
        + data
        + f"\r\n0\r\nx-amz-checksum-crc32:{wrong}\r\n\r\n".encode()
    )
    received = Received(
        "PUT",
        "/b/k",
        "",
        (
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("x-amz-decoded-content-length", str(len(data))),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ),
        body,
    )
    signed = Signed(
        Scope(KEY, "20260101", "us-east-1", "s3"), SECRET, "20260101T000000Z", "0" * 64, False
    )
    # WHEN its body is checked THEN S3's BadDigest; with the right CRC32 it passes
    with pytest.raises(S3Error) as caught:
        check_body(received, signed, checksummed=True)
    assert (caught.value.status, caught.value.code) == (400, "BadDigest")
    right = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    check_body(
        Received(
            received.method,
            received.path,
            "",
            received.headers,
            body.replace(wrong.encode(), right.encode()),
        ),
        signed,
        checksummed=True,
    )

"""Fixtures for the local emulator tests: an emulator on free ports, in this process."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mediakit.client import ApiClient
from mediakit.local import oidc as jwt
from mediakit.local.emulator import DevEnv, Emulator
from runtime.settings import Settings


@dataclass
class FakeHandlers:
    """Recording stand-ins for the Lambda handlers, so the front and the worker are tested alone."""

    api_events: list[dict[str, Any]] = field(default_factory=list)
    processor_events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def presign(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self.lock:
            self.api_events.append(event)
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": json.dumps(
                {"route": event["routeKey"], "ms": context.get_remaining_time_in_millis()}
            ),
        }

    def processor(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self.lock:
            self.processor_events.append(event)
        return {"batchItemFailures": []}


@dataclass
class FakeEmulator:
    env: DevEnv
    emulator: Emulator
    handlers: FakeHandlers


@pytest.fixture(scope="module")
def fake_emulator() -> Iterator[FakeEmulator]:
    """The emulator with recording handlers (no runtime code involved)."""
    handlers = FakeHandlers()
    emulator = Emulator(
        Settings(),
        cors_origins=("https://app.example",),
        presign_handler=handlers.presign,
        processor_handler=handlers.processor,
    )
    with emulator as env:
        yield FakeEmulator(env, emulator, handlers)


# Settings under which the stack puts authorization scopes on a real route: every DELETE needs a
# scope (abort mediakit/ops, delete and purge mediakit/admin), so DELETE asks for either.
SCOPED_SETTINGS = Settings(
    operation_scopes=("abort=mediakit/ops", "delete=mediakit/admin", "purge=mediakit/admin")
)
SCOPED_ROUTE = "DELETE /v1/uploads/{id}"


@pytest.fixture(scope="module")
def scoped_emulator() -> Iterator[FakeEmulator]:
    """The emulator with recording handlers, provisioned from a stack whose DELETE route carries
    authorization scopes (`SCOPED_SETTINGS`)."""
    handlers = FakeHandlers()
    emulator = Emulator(
        SCOPED_SETTINGS, presign_handler=handlers.presign, processor_handler=handlers.processor
    )
    with emulator as env:
        yield FakeEmulator(env, emulator, handlers)


@pytest.fixture(scope="module")
def emulator() -> Iterator[DevEnv]:
    """The emulator running the real presign and processor handlers."""
    with Emulator(Settings()) as env:
        yield env


@pytest.fixture
def aws(fake_emulator: FakeEmulator) -> Any:
    """A boto3 session pointed at the fake emulator's moto server."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=fake_emulator.env.region
    )


def jpeg_bytes(
    size: tuple[int, int] = (800, 600), *, make: str = "Mediakit", model: str = "Test"
) -> bytes:
    """A real JPEG with camera EXIF, small enough to be quick."""
    from PIL import Image

    image = Image.new("RGB", size, (200, 80, 40))
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85, exif=exif)
    return buf.getvalue()


@pytest.fixture
def jpeg_file(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes())
    return path


def dev_client(env: DevEnv, tenant: str) -> ApiClient:
    """The upload API of a running emulator, as `tenant`, with a token from its dev issuer."""
    token = jwt.issue(
        signing_key=env.jwt_signing_key,
        issuer=env.jwt_issuer,
        audience=env.jwt_audience,
        tenant_claim=env.tenant_claim,
        tenant=tenant,
    )
    return ApiClient(env.api_url, token)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 (PEM files in `directory`), for the TLS
    servers tests stand up: a fake identity provider, an S3 endpoint botocore sends trailers to."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path

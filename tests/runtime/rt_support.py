"""Helpers for runtime tests: a moto-backed pipeline object and builders of raw API Gateway,
SQS and S3 events from the samples under tests/events/ (imported by conftest and tests)."""

from __future__ import annotations

import base64
import copy
import io
import itertools
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from mediakit.local.gateway import claims_for_event
from runtime import api, ingest
from runtime.events import BatchResponse
from runtime.http import handle
from runtime.processor import process_batch
from runtime.records import Store, UploadRecord
from runtime.settings import Resources, Settings

EVENTS = Path(__file__).resolve().parent.parent / "events"
REGION = "us-east-1"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def image_bytes(width: int = 64, height: int = 48, fmt: str = "JPEG") -> bytes:
    """A small real image, so the real imaging code runs end to end."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(buffer, fmt)
    return buffer.getvalue()


# The scope DELETE of a processed upload, restore and purge need by default (runtime.scopes).
ADMIN = ("media:admin",)


def http_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    claims: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API v2 event shaped like the stored sample."""
    event = copy.deepcopy(load_event("apigw_v2_create_upload.json"))
    event["rawPath"] = path
    event["routeKey"] = f"{method} {path}"
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["body"] = None if body is None else body if isinstance(body, str) else json.dumps(body)
    if query:
        event["queryStringParameters"] = query
        event["rawQueryString"] = urllib.parse.urlencode(query)
    if claims is None:
        event["requestContext"].pop("authorizer")
    else:
        # As API Gateway does: the verified token is forwarded, its claims stringified.
        event["headers"]["authorization"] = f"Bearer {bearer_token(claims)}"
        event["requestContext"]["authorizer"]["jwt"]["claims"] = claims_for_event(claims)
    return event


def bearer_token(claims: dict[str, Any]) -> str:
    """A JWT-shaped token carrying `claims` (the handler trusts the authorizer's signature)."""

    def segment(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'RS256', 'typ': 'JWT'})}.{segment(claims)}.c2ln"


def s3_body(
    bucket: str, key: str, *, version_id: str, sequencer: str, size: int = 1
) -> dict[str, Any]:
    """An S3 notification body; the key is form-encoded the way S3 sends it."""
    sample = json.loads(load_event("sqs_s3_object_created.json")["Records"][0]["body"])
    record = sample["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    record["s3"]["object"].update(
        key=urllib.parse.quote_plus(key, safe="/"),
        versionId=version_id,
        sequencer=sequencer,
        size=size,
    )
    return sample


def sqs_event(*bodies: dict[str, Any] | str) -> dict[str, Any]:
    """An SQS batch with one message per body; message ids are m0, m1, ..."""
    template = load_event("sqs_s3_object_created.json")["Records"][0]
    records = []
    for i, body in enumerate(bodies):
        message = copy.deepcopy(template)
        message["messageId"] = f"m{i}"
        message["body"] = body if isinstance(body, str) else json.dumps(body)
        records.append(message)
    return {"Records": records}


@dataclass
class Pipeline:
    """The runtime wired to moto, with shortcuts tests read like sentences."""

    settings: Settings
    resources: Resources
    s3: Any
    ddb: Any
    sqs: Any
    tap_url: str
    api: api.Deps
    ingest: ingest.Deps
    sequencers: Iterator[int] = field(default_factory=lambda: itertools.count(0x10))

    @property
    def store(self) -> Store:
        return self.api.store

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        tenant: str | None = "tenant-a",
        query: dict[str, str] | None = None,
        scopes: tuple[str, ...] = (),
    ) -> tuple[int, dict[str, Any]]:
        claims: dict[str, Any] | None = None
        if tenant is not None:
            claims = {"sub": tenant, "aud": "mediakit"}
            if scopes:
                claims["scope"] = " ".join(scopes)
        event = http_event(method, path, body, claims=claims, query=query)
        response = handle(event, lambda request: api.route(request, self.api))
        return response["statusCode"], json.loads(response["body"])

    def create(self, data: bytes, tenant: str = "tenant-a", **extra: Any) -> dict[str, Any]:
        body = {"filename": "x.jpg", "content_type": "image/jpeg", "size": len(data), **extra}
        status, created = self.call("POST", "/v1/uploads", body, tenant=tenant)
        assert status == 201, created
        return created

    def put(self, created: dict[str, Any], data: bytes) -> requests.Response:
        return requests.put(created["url"], data=data, headers=created["headers"], timeout=10)

    def event_for(self, key: str, *, version_id: str | None = None) -> dict[str, Any]:
        """The S3 notification for the current version of `key`, with a fresh, later sequencer."""
        head = self.s3.head_object(Bucket=self.resources.bucket, Key=key)
        return s3_body(
            self.resources.bucket,
            key,
            version_id=head["VersionId"] if version_id is None else version_id,
            sequencer=f"{next(self.sequencers):018X}",
            size=head["ContentLength"],
        )

    def process(self, *bodies: dict[str, Any] | str) -> BatchResponse:
        return process_batch(sqs_event(*bodies), self.ingest)

    def record(self, upload_id: str) -> UploadRecord:
        record = self.store.get(upload_id)
        assert record is not None
        return record

    def published(self) -> list[dict[str, Any]]:
        """Events that reached the bus, via a rule that copies them into a queue."""
        out = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.tap_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                out.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.tap_url, ReceiptHandle=message["ReceiptHandle"]
                )

    def upload(self, data: bytes, tenant: str = "tenant-a") -> dict[str, Any]:
        """Create, PUT and process one upload; returns the create response."""
        created = self.create(data, tenant)
        assert self.put(created, data).status_code == 200
        assert self.process(self.event_for(created["key"])) == {"batchItemFailures": []}
        return created

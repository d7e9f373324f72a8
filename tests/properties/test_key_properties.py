"""Properties of key derivation through the create-upload route: whatever the claim, file name
and type, the key is derived from (tenant, id, type, date) alone, stays under the tenant's
prefix as one segment, parses back, and never carries the client's file name."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import boto3
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import api, keys
from runtime.claims import tenant_claim
from runtime.errors import MediakitError
from runtime.http import Request
from runtime.records import UploadRecord
from runtime.settings import Resources, Settings
from tests.runtime.rt_support import bearer_token

# Per-tenant limits off (tested in tests/runtime/test_limits.py): the record stays the route's
# only store write, so no DynamoDB client is needed for a key property.
SETTINGS = Settings(
    allowed_types=("image/jpeg", "image/png", "image/webp", "image/gif"),
    max_presigns_per_minute=0,
    max_pending_uploads=0,
)
RESOURCES = Resources(
    bucket="b", table="t", event_bus="e", kms_key_arn="arn:aws:kms:us-east-1:1:key/k"
)
# Presigning is local signing: a client with dummy credentials never touches the network.
S3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
claims = st.text(min_size=1, max_size=60).filter(
    lambda s: s.strip() and not any(ord(c) < 32 or ord(c) == 127 for c in s)
)
filenames = st.text(min_size=1, max_size=255).filter(
    lambda s: s.strip() and not any(ord(c) < 32 or ord(c) == 127 for c in s)
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)
)


class RecordingStore:
    """Holds created records in memory: the route's only write, observed instead of stored."""

    # What the route hands the (here disabled) per-tenant limits; never called with them off.
    ddb = None
    table = RESOURCES.table

    def __init__(self) -> None:
        self.created: list[UploadRecord] = []

    def create(self, record: UploadRecord) -> None:
        self.created.append(record)


def _headers(claim: str) -> dict[str, str]:
    return {"authorization": f"Bearer {bearer_token({'sub': claim})}"}


def _create(claim: str, filename: str, content_type: str, when: datetime, upload_id: str) -> Any:
    store = RecordingStore()
    deps = api.Deps(
        settings=SETTINGS,
        resources=RESOURCES,
        s3=S3,
        store=store,  # type: ignore[arg-type]
        clock=lambda: when,
        new_id=lambda: upload_id,
    )
    body = {"filename": filename, "content_type": content_type, "size": 1234}
    request = Request(
        "POST",
        "/v1/uploads",
        headers=_headers(claim),
        body=json.dumps(body),
        claims={"sub": claim},
    )
    status, created = api.route(request, deps)
    assert status == 201
    return created, store.created[0]


@settings(max_examples=150, deadline=None)
@given(
    claim=claims,
    filename=filenames,
    other_name=filenames,
    content_type=st.sampled_from(SETTINGS.allowed_types),
    when=moments,
    ms=st.integers(min_value=0, max_value=2**48 - 1),
)
def test_create_upload_key_derivation_ignores_filename_and_stays_in_tenant(
    claim: str, filename: str, other_name: str, content_type: str, when: datetime, ms: int
) -> None:
    # GIVEN any tenant claim, two client file names, a type, a moment and an upload id
    upload_id = keys.new_upload_id(ms)
    try:
        tenant = keys.sanitise_tenant(tenant_claim(_headers(claim), {"sub": claim}, "sub"))
    except MediakitError:
        return  # unusable or too long once escaped: refused before any key exists

    # WHEN the route creates the upload twice with different file names
    first, record = _create(claim, filename, content_type, when, upload_id)
    second, _ = _create(claim, other_name, content_type, when, upload_id)

    # THEN the key is the same (deterministic, no file name), in the documented layout under
    # the tenant's prefix, one segment per part, and it parses back to tenant and id
    key = first["key"]
    assert key == second["key"]
    assert key == keys.original_key(SETTINGS, tenant, upload_id, content_type, when)
    assert key.startswith(f"originals/{tenant}/")
    segments = key.split("/")
    assert len(segments) == 6
    assert not {"", ".", ".."} & set(segments)
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}", "/".join(segments[2:5]))
    parsed = keys.parse_original_key(SETTINGS, key)
    assert parsed is not None
    assert (parsed.tenant, parsed.upload_id) == (tenant, upload_id)
    assert record["filename"] == filename
    assert record["key"] == key
    # the signed URL names exactly that key in that bucket
    assert f"/{key.replace('@', '%40')}?" in first["url"] or f"/b/{key}" in first["url"]


@settings(max_examples=150, deadline=None)
@given(claim=claims, name=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,31}", fullmatch=True))
def test_derivative_key_stays_under_the_uploads_prefix(claim: str, name: str) -> None:
    # GIVEN any tenant and derivative name
    try:
        tenant = keys.sanitise_tenant(claim)
    except MediakitError:
        return
    upload_id = keys.new_upload_id()

    # WHEN a derivative key is built
    key = keys.derivative_key(SETTINGS, tenant, upload_id, name, "webp")

    # THEN it lives under derivatives/{tenant}/{upload_id}/ and cannot be parsed as an original
    assert key == f"derivatives/{tenant}/{upload_id}/{name}.webp"
    assert keys.parse_original_key(SETTINGS, key) is None

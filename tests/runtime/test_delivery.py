"""Delivery modes: CloudFront signed URLs in private mode (one KMS signature per upload, verified
here with the key's public half), plain URLs in public mode, presigned GETs without a CDN, the
Cache-Control a derivative carries, and the invalidation a public-mode DELETE makes."""

from __future__ import annotations

import base64
import dataclasses
import fnmatch
import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from rt_support import ADMIN, Pipeline, image_bytes

from runtime import aws, delivery
from runtime.errors import SettingsError, TransientFault
from runtime.records import UploadRecord
from runtime.settings import Resources, Settings

CDN = "d111111abcdef8.cloudfront.net"
KEY_PAIR_ID = "K2JCJMDEHXQW5F"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
UPLOAD_ID = "01jf3z9x7q2w4e6r8t0y1u3i5o"
JPEG = image_bytes()


def cloudfront_b64decode(text: str) -> bytes:
    """CloudFront's URL-safe base64 (+ -> -, = -> _, / -> ~), decoded."""
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"))


def completed_record(tenant: str = "tenant-a", upload_id: str = UPLOAD_ID) -> UploadRecord:
    derivatives = [
        {
            "name": name,
            "key": f"derivatives/{tenant}/{upload_id}/{name}.jpeg",
            "width": 10,
            "height": 10,
            "bytes": 100,
            "format": "jpeg",
        }
        for name in ("thumb", "medium", "large")
    ]
    record: dict[str, Any] = {
        "upload_id": upload_id,
        "tenant": tenant,
        "status": "completed",
        "key": f"originals/{tenant}/2026/12/01/{upload_id}.jpg",
        "derivatives": derivatives,
    }
    return record  # type: ignore[return-value]


class CountingKms:
    """A real (moto) KMS client that counts Sign calls."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.signs = 0

    def sign(self, **kwargs: Any) -> Any:
        self.signs += 1
        return self.client.sign(**kwargs)


@pytest.fixture
def signing_key(pipeline: Pipeline) -> tuple[str, rsa.RSAPublicKey]:
    """An asymmetric KMS key as the stack creates it, and its public key as CloudFront gets it."""
    kms = aws.client("kms")
    arn = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="RSA_2048")["KeyMetadata"]["Arn"]
    der = kms.get_public_key(KeyId=arn)["PublicKey"]
    public = serialization.load_der_public_key(der)
    assert isinstance(public, rsa.RSAPublicKey)
    return arn, public


def private_resources(pipeline: Pipeline, key_arn: str) -> Resources:
    return dataclasses.replace(
        pipeline.resources,
        cdn_domain=CDN,
        delivery_key_arn=key_arn,
        delivery_key_pair_id=KEY_PAIR_ID,
    )


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


# --- private mode: signed URLs ---


def test_private_mode_without_signing_key_refuses_to_issue_urls(pipeline: Pipeline) -> None:
    # GIVEN a CDN in private mode but no signing key handed to the function
    resources = dataclasses.replace(pipeline.resources, cdn_domain=CDN)
    # WHEN the record's URLs are made
    # THEN it is a settings error naming the missing variable, never an unsigned URL
    with pytest.raises(SettingsError, match="MEDIAKIT_DELIVERY_KEY_ARN"):
        delivery.record_urls(
            completed_record(),
            settings=Settings(),
            resources=resources,
            s3=pipeline.s3,
            kms=aws.kms,
            now=NOW,
        )


def test_private_urls_share_one_policy_verified_with_the_public_key(
    pipeline: Pipeline, signing_key: tuple[str, rsa.RSAPublicKey]
) -> None:
    # GIVEN private mode with a CDN, the stack's signing key and a completed record
    key_arn, public_key = signing_key
    settings = Settings(delivery_url_ttl_seconds=1800, delivery_cache_seconds=600)
    counting = CountingKms(aws.kms())
    record = completed_record()
    # WHEN the URLs of its three derivatives are made
    urls = delivery.record_urls(
        record,
        settings=settings,
        resources=private_resources(pipeline, key_arn),
        s3=pipeline.s3,
        kms=lambda: counting,  # type: ignore[arg-type,return-value]
        now=NOW,
    )
    made = [urls.url_for(d["key"]) for d in record["derivatives"]]
    # THEN KMS signed once, and every URL carries the same signed custom policy
    assert counting.signs == 1
    queries = [query_of(u) for u in made]
    assert all(q == queries[0] for q in queries)
    query = queries[0]
    assert set(query) == {"Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"}
    assert query["Key-Pair-Id"] == KEY_PAIR_ID
    assert query["Hash-Algorithm"] == "SHA256"
    for url, derivative in zip(made, record["derivatives"], strict=True):
        assert url.split("?")[0] == f"https://{CDN}/{derivative['key']}"
    # the policy: a wildcard over this upload's prefix, expiring after the TTL
    policy_bytes = cloudfront_b64decode(query["Policy"])
    (statement,) = json.loads(policy_bytes)["Statement"]
    assert statement["Resource"] == f"https://{CDN}/derivatives/tenant-a/{UPLOAD_ID}/*"
    expires = NOW + timedelta(seconds=1800)
    assert statement["Condition"] == {"DateLessThan": {"AWS:EpochTime": int(expires.timestamp())}}
    assert urls.expires_at == expires
    # the signature: RSASSA-PKCS1-v1_5 over SHA-256 of the policy, by the key's private half
    public_key.verify(
        cloudfront_b64decode(query["Signature"]),
        policy_bytes,
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_private_url_policy_covers_only_its_own_upload(
    pipeline: Pipeline, signing_key: tuple[str, rsa.RSAPublicKey]
) -> None:
    # GIVEN the signed policy of one upload
    key_arn, _ = signing_key
    urls = delivery.record_urls(
        completed_record(),
        settings=Settings(),
        resources=private_resources(pipeline, key_arn),
        s3=pipeline.s3,
        kms=aws.kms,
        now=NOW,
    )
    url = urls.url_for(f"derivatives/tenant-a/{UPLOAD_ID}/thumb.jpeg")
    (statement,) = json.loads(cloudfront_b64decode(query_of(url)["Policy"]))["Statement"]
    resource = statement["Resource"]
    # WHEN its Resource is matched as CloudFront does (* = any characters)
    other_upload = "01jf3z9x7q2w4e6r8t0y1u3i5p"

    def covers(key: str) -> bool:
        return fnmatch.fnmatchcase(f"https://{CDN}/{key}", resource)

    # THEN it covers every derivative of that upload, and nothing of another upload or tenant
    assert covers(f"derivatives/tenant-a/{UPLOAD_ID}/thumb.jpeg")
    assert covers(f"derivatives/tenant-a/{UPLOAD_ID}/poster.webp")
    assert not covers(f"derivatives/tenant-a/{other_upload}/thumb.jpeg")
    assert not covers(f"derivatives/tenant-b/{UPLOAD_ID}/thumb.jpeg")
    assert not covers(f"originals/tenant-a/2026/12/01/{UPLOAD_ID}.jpg")


def test_private_view_through_the_api_signs_once_per_record(
    pipeline: Pipeline, signing_key: tuple[str, rsa.RSAPublicKey]
) -> None:
    # GIVEN a processed upload read through the API in private mode with a CDN
    key_arn, public_key = signing_key
    created = pipeline.upload(JPEG)
    counting = CountingKms(aws.kms())
    pipeline.api.resources = private_resources(pipeline, key_arn)
    pipeline.api.kms = lambda: counting  # type: ignore[assignment,return-value]
    # WHEN the record is read
    status, record = pipeline.call("GET", f"/v1/uploads/{created['upload_id']}")
    # THEN its derivative URLs are signed with one signature, and the view says until when
    assert status == 200
    assert counting.signs == 1
    queries = [query_of(d["url"]) for d in record["derivatives"]]
    assert len({q["Signature"] for q in queries}) == 1
    expires = datetime.fromisoformat(record["urls_expire_at"])
    (statement,) = json.loads(cloudfront_b64decode(queries[0]["Policy"]))["Statement"]
    assert statement["Condition"]["DateLessThan"]["AWS:EpochTime"] == int(expires.timestamp())
    public_key.verify(
        cloudfront_b64decode(queries[0]["Signature"]),
        cloudfront_b64decode(queries[0]["Policy"]),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )


def test_record_without_derivatives_is_never_signed(pipeline: Pipeline) -> None:
    # GIVEN private mode and a pending upload (no derivatives yet)
    created = pipeline.create(JPEG)
    pipeline.api.resources = dataclasses.replace(
        pipeline.resources,
        cdn_domain=CDN,
        delivery_key_arn="arn:aws:kms:x",
        delivery_key_pair_id="K",
    )
    counting = CountingKms(aws.kms())
    pipeline.api.kms = lambda: counting  # type: ignore[assignment,return-value]
    # WHEN it is read
    status, record = pipeline.call("GET", f"/v1/uploads/{created['upload_id']}")
    # THEN nothing was signed and no expiry is shown
    assert status == 200
    assert counting.signs == 0
    assert "urls_expire_at" not in record


# --- public mode, and no CDN (mediakit dev) ---


def test_public_mode_urls_are_plain_cdn_urls(pipeline: Pipeline) -> None:
    # GIVEN public mode with a CDN, and a tenant whose key segment needs escaping
    record = completed_record(tenant="a~2Fb@c")
    urls = delivery.record_urls(
        record,
        settings=Settings(delivery_mode="public"),
        resources=dataclasses.replace(pipeline.resources, cdn_domain=CDN),
        s3=pipeline.s3,
        kms=aws.kms,
        now=NOW,
    )
    # WHEN / THEN each URL is the quoted key on the CDN, unsigned and without expiry
    url = urls.url_for(record["derivatives"][0]["key"])
    assert url == f"https://{CDN}/derivatives/a~2Fb%40c/{UPLOAD_ID}/thumb.jpeg"
    assert urls.expires_at is None


@pytest.mark.parametrize("mode", ["private", "public"])
def test_without_cdn_urls_are_presigned_gets_with_the_delivery_ttl(
    pipeline: Pipeline, mode: str
) -> None:
    # GIVEN no CDN (the emulator) in either mode
    settings = Settings(delivery_mode=mode, delivery_url_ttl_seconds=120, delivery_cache_seconds=60)
    urls = delivery.record_urls(
        completed_record(),
        settings=settings,
        resources=pipeline.resources,
        s3=pipeline.s3,
        kms=aws.kms,
        now=NOW,
    )
    # WHEN / THEN the URL is an S3 presigned GET living exactly the delivery TTL
    query = query_of(urls.url_for(f"derivatives/tenant-a/{UPLOAD_ID}/thumb.jpeg"))
    assert query["X-Amz-Expires"] == "120"
    assert urls.expires_at == NOW + timedelta(seconds=120)


# --- caching ---


def test_cache_control_follows_the_mode_never_a_year() -> None:
    assert delivery.cache_control(Settings()) == "private, max-age=300"
    public = Settings(delivery_mode="public", delivery_cache_seconds=60)
    assert delivery.cache_control(public) == "public, max-age=60"


def test_processor_writes_derivatives_with_the_modes_cache_control(pipeline: Pipeline) -> None:
    # GIVEN a processed upload (default: private mode)
    created = pipeline.upload(JPEG)
    record = pipeline.record(created["upload_id"])
    # WHEN its derivative objects are read
    heads = [
        pipeline.s3.head_object(Bucket=pipeline.resources.bucket, Key=d["key"])
        for d in record["derivatives"]
    ]
    # THEN each says private, max-age of the setting, not a year of immutable
    assert {h["CacheControl"] for h in heads} == {"private, max-age=300"}


@pytest.mark.parametrize(
    "values",
    [
        {"deliveryMode": "signed"},
        {"deliveryUrlTtlSeconds": 59},
        {"deliveryUrlTtlSeconds": 86401},
        {"deliveryCacheSeconds": -1},
        # a browser would keep showing a private derivative after its URL expired
        {"deliveryUrlTtlSeconds": 600, "deliveryCacheSeconds": 601},
    ],
)
def test_delivery_settings_refuse_out_of_bound_values(values: dict[str, Any]) -> None:
    # GIVEN a config with one delivery value out of bounds; WHEN read; THEN refused by its key
    key = list(values)[-1]
    with pytest.raises(SettingsError, match=f"^mediakit:{key}: "):
        Settings.from_config(values.get)


def test_public_mode_may_cache_longer_than_the_url_ttl() -> None:
    # The TTL does not bound public URLs; deliveryCacheSeconds alone bounds a deleted one.
    settings = Settings(
        delivery_mode="public", delivery_url_ttl_seconds=60, delivery_cache_seconds=900
    )
    assert settings.delivery_cache_seconds == 900


# --- public-mode DELETE: invalidation ---


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "CreateInvalidation",
    )


class StubCloudFront:
    """CreateInvalidation answering with the given errors first, then an invalidation."""

    def __init__(self, *failures: ClientError) -> None:
        self.failures = list(failures)
        self.calls: list[dict[str, Any]] = []

    def create_invalidation(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if self.failures:
            raise self.failures.pop(0)
        return {"Invalidation": {"Id": "I2J0I21PCUYOIK", "Status": "InProgress"}}


PUBLIC = Settings(delivery_mode="public")
DOOMED = [
    f"originals/a~2Fb@c/2026/12/01/{UPLOAD_ID}.jpg",
    f"derivatives/a~2Fb@c/{UPLOAD_ID}/thumb.jpeg",
    f"derivatives/a~2Fb@c/{UPLOAD_ID}/medium.jpeg",
]


def public_resources() -> Resources:
    return Resources(
        bucket="b", table="t", event_bus="e", kms_key_arn="k",
        cdn_domain=CDN, cdn_distribution_id="E2QWRUHAPOMQZL",
    )  # fmt: skip


def test_invalidation_names_explicit_derivative_paths_after_retries() -> None:
    # GIVEN CloudFront refusing twice (too many invalidations in progress, then throttling)
    stub = StubCloudFront(
        client_error("TooManyInvalidationsInProgress"), client_error("Throttling")
    )
    slept: list[float] = []
    # WHEN a public-mode DELETE invalidates what it removed
    invalidation = delivery.invalidate(
        PUBLIC, public_resources(), DOOMED, lambda: stub, sleep=slept.append
    )
    # THEN the third attempt went through, after two growing waits
    assert invalidation == "I2J0I21PCUYOIK"
    assert len(stub.calls) == 3
    assert len(slept) == 2
    assert slept[0] < slept[1]
    # and it named exactly the derivative paths, quoted, no wildcard, never the original
    batch = stub.calls[0]["InvalidationBatch"]
    assert stub.calls[0]["DistributionId"] == "E2QWRUHAPOMQZL"
    assert batch["Paths"] == {
        "Quantity": 2,
        "Items": [
            f"/derivatives/a~2Fb%40c/{UPLOAD_ID}/medium.jpeg",
            f"/derivatives/a~2Fb%40c/{UPLOAD_ID}/thumb.jpeg",
        ],
    }
    assert not any("*" in p for p in batch["Paths"]["Items"])


def test_invalidation_still_refused_is_a_transient_fault_the_delete_reports() -> None:
    # GIVEN CloudFront refusing every attempt
    stub = StubCloudFront(*[client_error("TooManyInvalidationsInProgress")] * 10)
    # WHEN / THEN the DELETE fails with a retryable 503, never silently
    with pytest.raises(TransientFault) as raised:
        delivery.invalidate(PUBLIC, public_resources(), DOOMED, lambda: stub, sleep=lambda s: None)
    assert raised.value.http_status == 503
    assert len(stub.calls) == delivery.INVALIDATION_ATTEMPTS
    # the retries of one DELETE reuse its CallerReference: CloudFront deduplicates them
    assert len({c["InvalidationBatch"]["CallerReference"] for c in stub.calls}) == 1


def test_repeated_delete_invalidates_again() -> None:
    stub = StubCloudFront()
    for _ in range(2):
        delivery.invalidate(PUBLIC, public_resources(), DOOMED, lambda: stub)
    references = {c["InvalidationBatch"]["CallerReference"] for c in stub.calls}
    assert len(stub.calls) == 2
    assert len(references) == 2


def test_invalidation_access_denied_is_not_retried() -> None:
    stub = StubCloudFront(client_error("AccessDenied", 403))
    with pytest.raises(ClientError):
        delivery.invalidate(PUBLIC, public_resources(), DOOMED, lambda: stub, sleep=lambda s: None)
    assert len(stub.calls) == 1


@pytest.mark.parametrize(
    ("settings", "resources"),
    [
        (Settings(), public_resources()),  # private mode: expiry bounds, nothing to invalidate
        (PUBLIC, dataclasses.replace(public_resources(), cdn_domain="")),  # no CDN (emulator)
    ],
)
def test_no_invalidation_without_a_public_cdn(settings: Settings, resources: Resources) -> None:
    stub = StubCloudFront()
    assert delivery.invalidate(settings, resources, DOOMED, lambda: stub) is None
    assert stub.calls == []


def test_public_mode_without_distribution_id_is_a_settings_error() -> None:
    resources = dataclasses.replace(public_resources(), cdn_distribution_id="")
    with pytest.raises(SettingsError, match="MEDIAKIT_CDN_DISTRIBUTION_ID"):
        delivery.invalidate(PUBLIC, resources, DOOMED, StubCloudFront)


def public_pipeline(pipeline: Pipeline, stub: StubCloudFront) -> None:
    pipeline.api.settings = dataclasses.replace(pipeline.api.settings, delivery_mode="public")
    pipeline.api.resources = dataclasses.replace(
        pipeline.resources, cdn_domain=CDN, cdn_distribution_id="E2QWRUHAPOMQZL"
    )
    pipeline.api.cloudfront = lambda: stub


def test_public_delete_invalidates_every_derivative_path(pipeline: Pipeline) -> None:
    # GIVEN a processed upload on a public-mode stack
    created = pipeline.upload(JPEG)
    derivatives = pipeline.record(created["upload_id"])["derivatives"]
    stub = StubCloudFront()
    public_pipeline(pipeline, stub)
    # WHEN it is deleted
    status, _ = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}", scopes=ADMIN)
    # THEN one invalidation named each derivative's path explicitly, and not the original
    assert status == 200
    (call,) = stub.calls
    assert call["InvalidationBatch"]["Paths"]["Items"] == sorted(
        "/" + d["key"] for d in derivatives
    )


def test_public_delete_refused_by_the_cdn_answers_503_and_a_retry_invalidates(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a processed upload, and CloudFront refusing every invalidation for now
    created = pipeline.upload(JPEG)
    path = f"/v1/uploads/{created['upload_id']}"
    monkeypatch.setattr(delivery.time, "sleep", lambda seconds: None)
    refusing = StubCloudFront(*[client_error("TooManyInvalidationsInProgress")] * 10)
    public_pipeline(pipeline, refusing)
    # WHEN it is deleted
    status, body = pipeline.call("DELETE", path, scopes=ADMIN)
    # THEN the client is told to retry, with our JSON error, and the record is deleted already
    assert status == 503
    assert set(body["error"]) == {"code", "message"}
    assert pipeline.record(created["upload_id"])["status"] == "deleted"
    # WHEN the client retries once CloudFront accepts again
    accepting = StubCloudFront()
    pipeline.api.cloudfront = lambda: accepting
    status, body = pipeline.call("DELETE", path, scopes=ADMIN)
    # THEN the retry invalidated the same paths before saying the upload was deleted already
    assert (status, body["error"]["code"]) == (409, "already_deleted")
    (call,) = accepting.calls
    assert call["InvalidationBatch"]["Paths"] == refusing.calls[0]["InvalidationBatch"]["Paths"]


def test_public_purge_invalidates_the_derivative_paths_too(pipeline: Pipeline) -> None:
    # GIVEN a processed upload on a public-mode stack
    created = pipeline.upload(JPEG)
    derivatives = pipeline.record(created["upload_id"])["derivatives"]
    stub = StubCloudFront()
    public_pipeline(pipeline, stub)
    # WHEN it is purged
    path = f"/v1/uploads/{created['upload_id']}"
    status, _ = pipeline.call("DELETE", path, scopes=ADMIN, query={"purge": "true"})
    # THEN its derivative paths were invalidated (the record's are erased by the purge)
    assert status == 200
    assert stub.calls
    invalidated = {p for c in stub.calls for p in c["InvalidationBatch"]["Paths"]["Items"]}
    assert {"/" + d["key"] for d in derivatives} <= invalidated


@pytest.mark.parametrize("raw_tenant", ["a*b", "a?b", "*", "x/../*"])
def test_policy_wildcard_is_only_the_trailing_one_whatever_the_tenant(
    pipeline: Pipeline, signing_key: tuple[str, rsa.RSAPublicKey], raw_tenant: str
) -> None:
    # GIVEN a tenant claim full of CloudFront policy wildcards
    from runtime.keys import sanitise_tenant

    tenant = sanitise_tenant(raw_tenant)
    key_arn, _ = signing_key
    urls = delivery.record_urls(
        completed_record(tenant=tenant),
        settings=Settings(),
        resources=private_resources(pipeline, key_arn),
        s3=pipeline.s3,
        kms=aws.kms,
        now=NOW,
    )
    url = urls.url_for(f"derivatives/{tenant}/{UPLOAD_ID}/thumb.jpeg")
    (statement,) = json.loads(cloudfront_b64decode(query_of(url)["Policy"]))["Statement"]
    # WHEN / THEN its Resource has no wildcard but the final one: it cannot cover other tenants
    resource = statement["Resource"]
    assert resource.endswith(f"/{UPLOAD_ID}/*")
    assert "*" not in resource[:-1]
    assert "?" not in resource


def test_reads_within_one_expiry_step_reuse_the_urls_and_the_signature(
    pipeline: Pipeline, signing_key: tuple[str, rsa.RSAPublicKey]
) -> None:
    # GIVEN one upload read three times: twice within one step of the expiry grid, once later
    key_arn, _ = signing_key
    counting = CountingKms(aws.kms())
    step = Settings().delivery_url_ttl_seconds // delivery.EXPIRY_STEPS_PER_TTL

    def url_at(now: datetime) -> str:
        urls = delivery.record_urls(
            completed_record(),
            settings=Settings(),
            resources=private_resources(pipeline, key_arn),
            s3=pipeline.s3,
            kms=lambda: counting,  # type: ignore[arg-type,return-value]
            now=now,
        )
        return urls.url_for(f"derivatives/tenant-a/{UPLOAD_ID}/thumb.jpeg")

    first, again, later = (
        url_at(NOW),
        url_at(NOW + timedelta(seconds=10)),
        url_at(NOW + timedelta(seconds=step)),
    )
    # THEN the first two are the same URL (a browser keeps its copy) from one KMS signature,
    # and the read a step later gets a new one
    assert first == again
    assert later != first
    assert counting.signs == 2


@pytest.mark.parametrize("offset", [0, 1, 149, 150, 151, 3599, 86399])
def test_signed_expiry_lives_between_eleven_twelfths_of_the_ttl_and_the_ttl(offset: int) -> None:
    now = NOW + timedelta(seconds=offset, microseconds=123)
    ttl = 1800
    expires = delivery.signed_expiry(now, ttl)
    lifetime = (expires - now).total_seconds()
    assert ttl - ttl / delivery.EXPIRY_STEPS_PER_TTL < lifetime <= ttl
    assert int(expires.timestamp()) % (ttl // delivery.EXPIRY_STEPS_PER_TTL) == 0


def test_invalidation_request_is_valid_for_the_cloudfront_api(aws_env: None) -> None:
    # GIVEN a real boto3 CloudFront client whose answers are stubbed (botocore's Stubber checks
    # every request against the service model), refusing once, then accepting
    from botocore.stub import ANY, Stubber

    client = aws.cloudfront()
    stubber = Stubber(client)
    expected = {
        "DistributionId": "E2QWRUHAPOMQZL",
        "InvalidationBatch": {
            "Paths": {
                "Quantity": 2,
                "Items": [
                    f"/derivatives/a~2Fb%40c/{UPLOAD_ID}/medium.jpeg",
                    f"/derivatives/a~2Fb%40c/{UPLOAD_ID}/thumb.jpeg",
                ],
            },
            "CallerReference": ANY,
        },
    }
    stubber.add_client_error(
        "create_invalidation", "TooManyInvalidationsInProgress", http_status_code=400,
        expected_params=expected,
    )  # fmt: skip
    stubber.add_response(
        "create_invalidation",
        {
            "Location": "https://cloudfront.amazonaws.com/2020-05-31/distribution/E2QWRUHAPOMQZL/invalidation/I1",
            "Invalidation": {
                "Id": "I1",
                "Status": "InProgress",
                "CreateTime": NOW,
                "InvalidationBatch": {
                    "Paths": expected["InvalidationBatch"]["Paths"],
                    "CallerReference": "x",
                },
            },
        },
        expected,
    )
    # WHEN a public-mode DELETE invalidates
    with stubber:
        invalidation = delivery.invalidate(
            PUBLIC, public_resources(), DOOMED, lambda: client, sleep=lambda s: None
        )
    # THEN both requests were valid CreateInvalidation calls and the retry got the id
    assert invalidation == "I1"
    stubber.assert_no_pending_responses()


def test_resources_read_the_delivery_variables_and_need_none_of_them() -> None:
    # GIVEN the required names only (the emulator, a public stack) and then the stack's full set
    base = {
        "MEDIAKIT_BUCKET": "b",
        "MEDIAKIT_TABLE": "t",
        "MEDIAKIT_EVENT_BUS": "e",
        "MEDIAKIT_KMS_KEY_ARN": "k",
    }
    bare = Resources.from_env(base)
    full = Resources.from_env(
        base
        | {
            "MEDIAKIT_CDN_DISTRIBUTION_ID": " E2QWRUHAPOMQZL ",
            "MEDIAKIT_DELIVERY_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/s-1",
            "MEDIAKIT_DELIVERY_KEY_PAIR_ID": KEY_PAIR_ID,
        }
    )
    # THEN absent ones are empty (record_urls refuses to sign without them), present ones read
    assert (bare.cdn_distribution_id, bare.delivery_key_arn, bare.delivery_key_pair_id) == (
        "",
        "",
        "",
    )
    assert full.cdn_distribution_id == "E2QWRUHAPOMQZL"
    assert full.delivery_key_pair_id == KEY_PAIR_ID
    assert Resources.from_env(full.to_env()) == full

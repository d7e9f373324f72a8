"""API abuse through the emulator's HTTP front with real JWTs over real HTTP: every misuse gets
the right status and a JSON error code, and nothing escapes a tenant.

Decisions: content types are normalised (`Image/JPEG; charset=x` -> `image/jpeg`, the same rule
the processor applies), never rejected for case or parameters. A concurrent burst of presigns for
one tenant up to its per-minute limit (`maxPresignsPerMinute`, default 100) all succeed, each with
its own upload id and key; the atomic counter lets exactly that many through, and the next one is
our JSON 429 `rate_limited` with Retry-After.
"""

from __future__ import annotations

import json
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

from mediakit.client import ApiClient, ApiError, request
from mediakit.corpus.hostile import valid_jpeg
from mediakit.local import oidc as jwt
from mediakit.local.emulator import DevEnv, mint_token
from runtime.keys import sanitise_tenant
from runtime.settings import Settings

JPEG = valid_jpeg(1)
GOOD = {"filename": "photo.jpg", "content_type": "image/jpeg", "size": len(JPEG)}


def _post(dev: DevEnv, body: bytes | str, token: str | None, path: str = "/v1/uploads") -> Any:
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    raw = body.encode() if isinstance(body, str) else body
    return request("POST", dev.api_url + path, headers=headers, body=raw)


def _error_code(resp: Any) -> str:
    assert resp.headers["content-type"].startswith("application/json")
    return str(json.loads(resp.body)["error"]["code"])


def _gateway_message(resp: Any) -> str:
    """The body of a refusal by API Gateway itself (its authorizer): `{"message": ...}`."""
    assert resp.headers["content-type"].startswith("application/json")
    return str(json.loads(resp.body)["message"])


def _token(dev: DevEnv, **claims: Any) -> str:
    now = int(time.time())
    base = {"iss": dev.jwt_issuer, "aud": dev.jwt_audience, "sub": "acme", "iat": now}
    base["exp"] = now + 600
    base.update(claims)
    return jwt.sign({k: v for k, v in base.items() if v is not None}, dev.jwt_signing_key)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_json"),
        ("", 400, "invalid_json"),
        ("[1, 2, 3]", 400, "invalid_body"),
        ('"just a string"', 400, "invalid_body"),
        (json.dumps({"content_type": "image/jpeg", "size": 10}), 400, "invalid_field"),
        (json.dumps({**GOOD, "admin": True}), 400, "unknown_field"),
        (json.dumps({**GOOD, "size": -1}), 400, "invalid_field"),
        (json.dumps({**GOOD, "size": 0}), 400, "invalid_field"),
        (json.dumps({**GOOD, "size": "100"}), 400, "invalid_field"),
        (json.dumps({**GOOD, "size": 1.5}), 400, "invalid_field"),
        (json.dumps({**GOOD, "size": True}), 400, "invalid_field"),
        (json.dumps({**GOOD, "size": 10**30}), 413, "too_large"),
        (json.dumps({**GOOD, "size": 50 * 1024 * 1024 + 1}), 413, "too_large"),
        (json.dumps({**GOOD, "filename": "a\x00b.jpg"}), 400, "invalid_field"),
        (json.dumps({**GOOD, "filename": "x" * 300}), 400, "invalid_field"),
        (json.dumps({**GOOD, "filename": "   "}), 400, "invalid_field"),
        (json.dumps({**GOOD, "content_type": ""}), 400, "invalid_field"),
        (json.dumps({**GOOD, "content_type": "image/svg+xml"}), 415, "unsupported_media_type"),
        (json.dumps({**GOOD, "content_type": "text/html"}), 415, "unsupported_media_type"),
        (json.dumps({**GOOD, "sha256": "zz"}), 400, "invalid_field"),
        (json.dumps({**GOOD, "method": "DELETE"}), 400, "invalid_field"),
        (json.dumps({**GOOD, "metadata": {"../x": "y"}}), 400, "invalid_field"),
        (json.dumps({**GOOD, "metadata": {f"k{i}": "v" for i in range(11)}}), 400, "invalid_field"),
        (json.dumps({**GOOD, "pad": "x" * 70_000}), 413, "body_too_large"),
        ("[" * 40_000, 400, "invalid_json"),
        ('{"filename":' * 5_000, 400, "invalid_json"),
    ],
    ids=[
        "malformed-json", "empty-body", "array", "string", "missing-filename", "extra-field",
        "negative-size", "zero-size", "string-size", "float-size", "bool-size", "absurd-size",
        "over-limit", "nul-in-filename", "long-filename", "blank-filename", "empty-type",
        "svg-type", "html-type", "bad-sha256", "bad-method", "metadata-key-traversal",
        "too-many-metadata-keys", "huge-body", "deeply-nested-array", "deeply-nested-object",
    ],
)  # fmt: skip
def test_api_abuse_bad_create_body(dev: DevEnv, body: str, status: int, code: str) -> None:
    # GIVEN a valid token and an abusive create-upload body
    token = mint_token(dev, "acme")

    # WHEN it is posted over HTTP
    resp = _post(dev, body, token)

    # THEN the status and JSON error code say what was wrong
    assert (resp.status, _error_code(resp)) == (status, code)


def test_api_abuse_non_utf8_body_is_invalid_json(dev: DevEnv) -> None:
    # GIVEN a body that is not UTF-8 (the front hands it over base64-encoded)
    token = mint_token(dev, "acme")

    # WHEN it is posted
    resp = _post(dev, b'{"filename": "\xff\xfe.jpg"}', token)

    # THEN 400 invalid_json
    assert (resp.status, _error_code(resp)) == (400, "invalid_json")


def test_api_abuse_body_over_gateway_limit_is_413_without_reading_it(dev: DevEnv) -> None:
    # GIVEN a request announcing an 11 MB body (more than API Gateway accepts)
    parts = urlsplit(dev.api_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + mint_token(dev, "acme").encode() + b"\r\n"
            b"Content-Length: 11000000\r\n\r\n{"
        )
        # WHEN the front answers (it must not wait for the body)
        reply = ""
        while "}}" not in reply:
            chunk = conn.recv(65536).decode("latin-1")
            if not chunk:
                break
            reply += chunk

    # THEN it is a 413 JSON error
    assert reply.startswith("HTTP/1.1 413")
    assert '"code": "too_large"' in reply


@pytest.mark.parametrize(
    "declared", ["image/JPEG; charset=x", "IMAGE/JPEG", " image/jpeg ", "image/jpeg;q=1"]
)
def test_api_abuse_content_type_case_and_parameters_are_normalised(
    dev: DevEnv, declared: str
) -> None:
    # GIVEN a JPEG declared with odd case, whitespace or parameters
    client = ApiClient(dev.api_url, mint_token(dev, "acme"))

    # WHEN it is presigned, PUT with exactly the signed headers and processed
    created = client.create_upload(filename="p.jpg", content_type=declared, size=len(JPEG))
    put = request("PUT", created["url"], headers=created["headers"], body=JPEG)
    record = client.wait(created, timeout=30)

    # THEN the API signed the canonical type and the upload completed
    assert put.status == 200
    assert created["headers"]["content-type"] == "image/jpeg"
    assert record["content_type"] == "image/jpeg"
    assert record["status"] == "completed", record


@pytest.mark.parametrize(
    "filename",
    ["../../../etc/passwd", "..\\..\\boot.ini", "фото 📷.jpg", "a/b/c.jpg", "%2e%2e%2fx.jpg"],
)
def test_api_abuse_filenames_never_reach_the_key(dev: DevEnv, filename: str) -> None:
    # GIVEN a hostile or unicode file name
    client = ApiClient(dev.api_url, mint_token(dev, "acme"))

    # WHEN an upload is created with it
    created = client.create_upload(filename=filename, content_type="image/jpeg", size=10)

    # THEN the key has the fixed layout under the tenant, and the name is only kept as data
    assert re.fullmatch(r"originals/acme/\d{4}/\d{2}/\d{2}/[0-9a-z]{26}\.jpg", created["key"])
    assert client.status(created)["filename"] == filename


@pytest.mark.parametrize(
    "token_claims",
    [
        {"exp": int(time.time()) - 3600},
        {"aud": "someone-else"},
        {"iss": "https://evil.example"},
        {"exp": None},
        {"nbf": int(time.time()) + 3600},
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "no-expiry", "not-yet-valid"],
)
def test_api_abuse_rejected_tokens(dev: DevEnv, token_claims: dict[str, Any]) -> None:
    # GIVEN a correctly signed token with one bad claim
    token = _token(dev, **token_claims)

    # WHEN it is used
    resp = _post(dev, json.dumps(GOOD), token)

    # THEN API Gateway's 401, with the bearer challenge
    assert (resp.status, _gateway_message(resp)) == (401, "Unauthorized")
    assert resp.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "token",
    [None, "", "abc", "a.b.c", "forged"],
    ids=["none", "empty", "garbage", "three-garbage-parts", "other-key"],
)
def test_api_abuse_missing_or_forged_token(dev: DevEnv, token: str | None) -> None:
    # GIVEN no token, garbage, or a token signed with another RSA key
    if token == "forged":
        token = jwt.DevIssuer.generate(dev.jwt_issuer).issue(
            audience=dev.jwt_audience, tenant_claim=dev.tenant_claim, tenant="acme"
        )

    # WHEN it is used
    resp = _post(dev, json.dumps(GOOD), token)

    # THEN API Gateway's 401
    assert (resp.status, _gateway_message(resp)) == (401, "Unauthorized")


def test_api_abuse_deeply_nested_token_header_rejected(dev: DevEnv) -> None:
    # GIVEN a token whose header (parsed before the signature is checked) nests 40,000 levels
    import base64

    header = base64.urlsafe_b64encode(b"[" * 40_000).rstrip(b"=").decode()

    # WHEN it is used
    resp = _post(dev, json.dumps(GOOD), f"{header}.e30.c2ln")

    # THEN it is a 401 like any malformed token, not a dropped connection
    assert (resp.status, _gateway_message(resp)) == (401, "Unauthorized")


def test_api_abuse_alg_none_token_rejected(dev: DevEnv) -> None:
    # GIVEN an unsigned token claiming alg none
    import base64

    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": dev.jwt_issuer, "aud": dev.jwt_audience, "sub": "acme", "exp": now + 600}
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."

    # WHEN it is used / THEN it is refused
    resp = _post(dev, json.dumps(GOOD), token)
    assert (resp.status, _gateway_message(resp)) == (401, "Unauthorized")


@pytest.mark.parametrize("claim", ["acme/../globex", "..", "../globex", "a/b", "tenant\\x"])
def test_api_abuse_tenant_claim_with_path_characters_stays_one_segment(
    dev: DevEnv, claim: str
) -> None:
    # GIVEN a token whose tenant claim tries to climb or split the key
    client = ApiClient(dev.api_url, _token(dev, sub=claim))

    # WHEN an upload is created
    created = client.create_upload(filename="x.jpg", content_type="image/jpeg", size=10)

    # THEN the tenant is one escaped segment; no `.`/`..` segment exists; globex sees nothing
    segments = created["key"].split("/")
    assert segments[1] == sanitise_tenant(claim)
    assert len(segments) == 6
    assert not {".", ".."} & set(segments)
    other = ApiClient(dev.api_url, mint_token(dev, "globex"))
    resp = request(
        "GET",
        f"{dev.api_url}/v1/uploads/{created['upload_id']}",
        headers={"authorization": f"Bearer {other.token}"},
    )
    assert (resp.status, _error_code(resp)) == (404, "not_found")


@pytest.mark.parametrize(
    ("sub", "status", "code"),
    [("acme\x01", 403, "invalid_tenant"), ("x" * 200, 403, "invalid_tenant"), (None, 401, None)],
    ids=["control-character", "too-long", "missing"],
)
def test_api_abuse_unusable_tenant_claim(
    dev: DevEnv, sub: str | None, status: int, code: str | None
) -> None:
    # GIVEN a token with a tenant claim that cannot be a key segment (or none at all)
    token = _token(dev, sub=sub)

    # WHEN it is used
    resp = _post(dev, json.dumps(GOOD), token)

    # THEN it is refused with the tenant error code
    assert resp.status == status
    assert _error_code(resp) == (code or "missing_tenant")


def test_api_abuse_other_tenants_ids_look_missing(dev: DevEnv) -> None:
    # GIVEN an upload of tenant acme
    created = ApiClient(dev.api_url, mint_token(dev, "acme")).create_upload(
        filename="x.jpg", content_type="image/jpeg", size=10
    )
    headers = {"authorization": f"Bearer {mint_token(dev, 'globex')}"}
    base = f"{dev.api_url}/v1/uploads/{created['upload_id']}"

    # WHEN tenant globex reads, deletes or completes it, or lists its own uploads
    read = request("GET", base, headers=headers)
    delete = request("DELETE", base, headers=headers)
    complete = request(
        "POST",
        base + "/complete",
        headers=headers,
        body=b'{"parts":[{"part_number":1,"etag":"x"}]}',
    )
    listing = request("GET", f"{dev.api_url}/v1/uploads", headers=headers)

    # THEN each is a 404 exactly like a missing id, and the listing does not contain it
    for resp in (read, delete, complete):
        assert (resp.status, _error_code(resp)) == (404, "not_found")
    assert created["upload_id"] not in listing.body.decode()


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/uploads/..%2F..%2Fetc", 404, "not_found"),
        ("GET", "/v1/uploads/not-an-id", 404, "not_found"),
        ("GET", "/v1/uploads?cursor=%%%", 400, "invalid_cursor"),
        ("GET", "/v1/uploads?cursor=eyJjIjoxfQ", 400, "invalid_cursor"),
        ("GET", "/v1/uploads?cursor=" + "W1tb" * 1000, 400, "invalid_cursor"),
        # no route matches: API Gateway answers itself, in its own body
        ("PUT", "/v1/uploads", 404, "Not Found"),
        ("GET", "/v2/anything", 404, "Not Found"),
    ],
)
def test_api_abuse_odd_paths_and_cursors(
    dev: DevEnv, method: str, path: str, status: int, code: str
) -> None:
    # GIVEN a valid token / WHEN an odd path, id or cursor is requested
    headers = {"authorization": f"Bearer {mint_token(dev, 'acme')}"}
    resp = request(method, dev.api_url + path, headers=headers)

    # THEN the JSON error names it (the API's code, or API Gateway's message)
    body = json.loads(resp.body)
    assert (resp.status, body["error"]["code"] if "error" in body else body["message"]) == (
        status,
        code,
    )


def test_api_abuse_burst_of_presigns_for_one_tenant_all_succeed(dev: DevEnv) -> None:
    # GIVEN one tenant and a burst from 8 threads of exactly its per-minute presign limit
    limit = Settings().max_presigns_per_minute
    assert limit == 100

    # (the window is the clock minute: a burst that straddles two minutes proves nothing about
    # the boundary, so it is run again, once, for a fresh tenant at the start of the next one)
    for attempt in range(2):
        window = int(time.time() // 60)
        client = ApiClient(dev.api_url, mint_token(dev, f"burst-{attempt}"))

        def create(i: int, client: ApiClient = client) -> dict[str, Any]:
            return client.create_upload(filename=f"{i}.jpg", content_type="image/jpeg", size=10 + i)

        # WHEN they are sent as fast as loopback allows, then one more
        with ThreadPoolExecutor(max_workers=8) as pool:
            created = list(pool.map(create, range(limit)))
        refused: ApiError | None = None
        try:
            create(limit)
        except ApiError as error:
            refused = error
        if int(time.time() // 60) == window:
            break
    else:  # pragma: no cover - two bursts in a row straddling a minute
        pytest.fail("both bursts straddled a clock minute")

    # THEN every one of the burst got a 201 with its own upload id and key
    assert len({c["upload_id"] for c in created}) == limit
    assert len({c["key"] for c in created}) == limit
    # AND the counter lost no update: the next one is our JSON 429 with Retry-After
    assert refused is not None, "the presign past the limit was created"
    assert (refused.status, refused.code) == (429, "rate_limited")
    assert refused.retry_after is not None
    assert 1 <= refused.retry_after <= 60

"""The API Gateway stand-in: JWT authorizer, v2 events, CORS, errors — over real HTTP."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from mediakit.client import request
from mediakit.local import oidc as jwt
from mediakit.local.emulator import DevEnv, mint_token
from tests.emulator.conftest import FakeEmulator


def _auth(fake: FakeEmulator, tenant: str = "acme") -> dict[str, str]:
    return {"authorization": f"Bearer {mint_token(fake.env, tenant)}"}


CHALLENGE = re.compile(
    r'^Bearer scope="(?P<scope>[^"]*)" error="(?P<error>[a-z_]+)" error_description="[^"]*"$'
)


def test_api_without_token_is_api_gateways_401(fake_emulator: FakeEmulator) -> None:
    # GIVEN no Authorization header
    before = len(fake_emulator.handlers.api_events)
    # WHEN the API is called
    resp = request("GET", f"{fake_emulator.env.api_url}/v1/uploads")
    # THEN the authorizer answers with API Gateway's own body and challenge, and the handler
    # never runs
    assert resp.status == 401
    assert resp.headers["content-type"] == "application/json"
    assert resp.body == b'{"message":"Unauthorized"}'
    challenge = CHALLENGE.match(resp.headers["www-authenticate"])
    assert challenge is not None
    assert (challenge["scope"], challenge["error"]) == ("", "invalid_token")
    assert len(fake_emulator.handlers.api_events) == before


def _bad_token(env: DevEnv, kind: str) -> str:
    good = {"signing_key": env.jwt_signing_key, "issuer": env.jwt_issuer}
    other_key = jwt.DevIssuer.generate(env.jwt_issuer).private_pem()
    claims = {"iss": env.jwt_issuer, "aud": env.jwt_audience, "sub": "a", "exp": 4_000_000_000}
    return {
        "garbage": lambda: "not-a-jwt",
        "wrong_key": lambda: jwt.issue(
            signing_key=other_key, issuer=env.jwt_issuer, audience=env.jwt_audience,
            tenant_claim="sub", tenant="a",
        ),
        "wrong_kid": lambda: jwt.sign(claims, env.jwt_signing_key, kid="not-in-the-jwks"),
        "expired": lambda: jwt.issue(
            **good, audience=env.jwt_audience, tenant_claim="sub", tenant="a", now=1_000_000_000
        ),
        "wrong_audience": lambda: jwt.issue(**good, audience="x", tenant_claim="sub", tenant="a"),
        "wrong_issuer": lambda: jwt.issue(
            signing_key=env.jwt_signing_key, issuer="https://x.example",
            audience=env.jwt_audience, tenant_claim="sub", tenant="a",
        ),
    }[kind]()  # fmt: skip


@pytest.mark.parametrize(
    "token_kind",
    ["garbage", "wrong_key", "wrong_kid", "expired", "wrong_audience", "wrong_issuer"],
)
def test_api_invalid_token_is_api_gateways_401(
    fake_emulator: FakeEmulator, token_kind: str
) -> None:
    # GIVEN a token the authorizer must refuse
    env = fake_emulator.env
    bad = _bad_token(env, token_kind)
    before = len(fake_emulator.handlers.api_events)
    # WHEN the API is called with it
    resp = request(
        "POST", f"{env.api_url}/v1/uploads", headers={"authorization": f"Bearer {bad}"}, body=b"{}"
    )
    # THEN it is API Gateway's 401 with an invalid_token challenge, and the handler never runs
    assert resp.status == 401
    assert resp.body == b'{"message":"Unauthorized"}'
    challenge = CHALLENGE.match(resp.headers["www-authenticate"])
    assert challenge is not None
    assert challenge["error"] == "invalid_token"
    assert len(fake_emulator.handlers.api_events) == before


def test_api_wrong_audience_challenge_is_the_documented_one(fake_emulator: FakeEmulator) -> None:
    # GIVEN a token for another audience
    env = fake_emulator.env
    headers = {"authorization": f"Bearer {_bad_token(env, 'wrong_audience')}"}
    # WHEN the API is called / THEN the header is the troubleshooting page's example, verbatim
    resp = request("GET", f"{env.api_url}/v1/uploads", headers=headers)
    assert resp.headers["www-authenticate"] == (
        'Bearer scope="" error="invalid_token" '
        'error_description="the token does not have a valid audience"'
    )


def test_api_token_without_bearer_prefix_accepted(fake_emulator: FakeEmulator) -> None:
    # GIVEN the bare token ("the token, or the token prefixed with Bearer")
    token = mint_token(fake_emulator.env, "acme")
    # WHEN / THEN the authorizer accepts it
    resp = request(
        "GET", f"{fake_emulator.env.api_url}/v1/uploads", headers={"authorization": token}
    )
    assert resp.status == 200


def test_api_builds_v2_event_with_claims(fake_emulator: FakeEmulator) -> None:
    # GIVEN a valid token and a request with a path parameter and a query string
    env = fake_emulator.env
    auth = _auth(fake_emulator, "acme")
    # WHEN GET /v1/uploads/{id} is called
    resp = request("GET", f"{env.api_url}/v1/uploads/abc123?x=1&x=2&y=", headers=auth)
    # THEN the handler got the event API Gateway would build, and its response came back
    assert resp.status == 200
    assert resp.json()["route"] == "GET /v1/uploads/{id}"
    assert 0 < resp.json()["ms"] <= 29_000
    event = fake_emulator.handlers.api_events[-1]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /v1/uploads/{id}"
    assert event["rawPath"] == "/v1/uploads/abc123"
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["pathParameters"] == {"id": "abc123"}
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["stage"] == "$default"
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["sub"] == "acme"
    # API Gateway hands every claim over as a string
    assert isinstance(claims["exp"], str)
    # a route without scopes gets none, and the token itself reaches the function
    assert event["requestContext"]["authorizer"]["jwt"]["scopes"] is None
    assert event["headers"]["authorization"] == auth["authorization"]
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert "body" not in event
    assert event["isBase64Encoded"] is False


def test_api_json_body_passed_as_text_binary_as_base64(fake_emulator: FakeEmulator) -> None:
    # GIVEN a JSON body and a binary body
    env = fake_emulator.env
    headers = _auth(fake_emulator)
    # WHEN each is POSTed
    request(
        "POST",
        f"{env.api_url}/v1/uploads",
        headers={**headers, "content-type": "application/json"},
        body=b'{"a": 1}',
    )
    json_event = fake_emulator.handlers.api_events[-1]
    request(
        "POST",
        f"{env.api_url}/v1/uploads",
        headers={**headers, "content-type": "application/octet-stream"},
        body=b"\x00\xff",
    )
    binary_event = fake_emulator.handlers.api_events[-1]
    # THEN JSON arrives as text, binary base64-encoded, as API Gateway does
    assert json_event["body"] == '{"a": 1}'
    assert json_event["isBase64Encoded"] is False
    assert binary_event["isBase64Encoded"] is True
    assert base64.b64decode(binary_event["body"]) == b"\x00\xff"


def test_api_unknown_route_is_404(fake_emulator: FakeEmulator) -> None:
    # GIVEN / WHEN a path no route declares is called
    resp = request("GET", f"{fake_emulator.env.api_url}/v2/nothing", headers=_auth(fake_emulator))
    # THEN API Gateway's own 404 body (no route: no integration to answer in the API's format)
    assert resp.status == 404
    assert resp.json() == {"message": "Not Found"}


def test_api_cors_preflight_for_allowed_origin(fake_emulator: FakeEmulator) -> None:
    # GIVEN a browser preflight from a configured origin (no token: preflights carry none)
    headers = {
        "origin": "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
    }
    # WHEN it is sent
    resp = request("OPTIONS", f"{fake_emulator.env.api_url}/v1/uploads", headers=headers)
    # THEN the gateway answers it itself, allowing the origin
    assert resp.status == 204
    assert resp.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in resp.headers["access-control-allow-methods"]
    assert "authorization" in resp.headers["access-control-allow-headers"]


def test_api_cors_preflight_for_other_origin_gets_no_allow(fake_emulator: FakeEmulator) -> None:
    # GIVEN a preflight from an origin that is not configured
    headers = {"origin": "https://evil.example", "access-control-request-method": "POST"}
    # WHEN it is sent
    resp = request("OPTIONS", f"{fake_emulator.env.api_url}/v1/uploads", headers=headers)
    # THEN no CORS grant comes back, so the browser blocks the call
    assert resp.status == 204
    assert "access-control-allow-origin" not in resp.headers


def test_api_cors_header_on_actual_response(fake_emulator: FakeEmulator) -> None:
    # GIVEN an authenticated call from the configured origin
    headers = {**_auth(fake_emulator), "origin": "https://app.example"}
    # WHEN it is made
    resp = request("GET", f"{fake_emulator.env.api_url}/v1/uploads", headers=headers)
    # THEN the response carries the CORS grant (401s do too, so browsers can read them)
    assert resp.status == 200
    assert resp.headers["access-control-allow-origin"] == "https://app.example"
    denied = request(
        "GET", f"{fake_emulator.env.api_url}/v1/uploads", headers={"origin": "https://app.example"}
    )
    assert denied.status == 401
    assert denied.headers["access-control-allow-origin"] == "https://app.example"


def test_api_handler_crash_is_500_json(
    fake_emulator: FakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a presign handler that raises
    gateway = fake_emulator.emulator._api.gateway  # type: ignore[union-attr]

    def boom(event: object, context: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(gateway, "handler", boom)
    # WHEN the API is called
    resp = request("GET", f"{fake_emulator.env.api_url}/v1/uploads", headers=_auth(fake_emulator))
    # THEN the client sees a 500 JSON error, not a dropped connection
    assert resp.status == 500
    assert json.loads(resp.body)["error"]["code"] == "internal_error"


def test_second_emulator_in_same_process_is_refused(fake_emulator: FakeEmulator) -> None:
    # GIVEN a running emulator (the handlers share this process's environment)
    from mediakit.local.emulator import Emulator

    # WHEN another one is started
    with pytest.raises(RuntimeError, match="already running"):
        Emulator().start()
    # THEN the running one is untouched and still serving
    resp = request("GET", f"{fake_emulator.env.api_url}/v1/uploads", headers=_auth(fake_emulator))
    assert resp.status == 200


def _raw(fake: FakeEmulator, method: str, headers: dict[str, str], body: Any, **kw: Any) -> Any:
    import http.client
    from urllib.parse import urlsplit

    conn = http.client.HTTPConnection(urlsplit(fake.env.api_url).netloc, timeout=10)
    try:
        conn.request(method, "/v1/uploads", body=body, headers=headers, **kw)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_api_chunked_body_reaches_handler_whole(fake_emulator: FakeEmulator) -> None:
    # GIVEN a JSON body sent with chunked transfer encoding
    headers = {**_auth(fake_emulator), "content-type": "application/json"}
    chunks = iter([b'{"filename": ', b'"a.jpg"}'])
    # WHEN it is POSTed
    status, _ = _raw(fake_emulator, "POST", headers, chunks, encode_chunked=True)
    # THEN the handler sees the reassembled body
    assert status == 200
    assert fake_emulator.handlers.api_events[-1]["body"] == '{"filename": "a.jpg"}'


def test_api_body_over_10_mb_is_413(fake_emulator: FakeEmulator) -> None:
    # GIVEN a request announcing a body above API Gateway's 10 MB payload limit
    import http.client
    from urllib.parse import urlsplit

    conn = http.client.HTTPConnection(urlsplit(fake_emulator.env.api_url).netloc, timeout=10)
    conn.putrequest("POST", "/v1/uploads")
    conn.putheader("authorization", _auth(fake_emulator)["authorization"])
    conn.putheader("content-length", str(10 * 1024 * 1024 + 1))
    conn.endheaders()
    # WHEN the server sees the headers
    resp = conn.getresponse()
    payload = json.loads(resp.read())
    conn.close()
    # THEN it refuses before reading the body or calling the handler
    assert resp.status == 413
    assert payload["error"]["code"] == "too_large"


def test_api_repeated_headers_are_comma_joined(fake_emulator: FakeEmulator) -> None:
    # GIVEN a request carrying the same header twice
    import http.client
    from urllib.parse import urlsplit

    conn = http.client.HTTPConnection(urlsplit(fake_emulator.env.api_url).netloc, timeout=10)
    conn.putrequest("GET", "/v1/uploads")
    conn.putheader("authorization", _auth(fake_emulator)["authorization"])
    conn.putheader("x-tag", "a")
    conn.putheader("x-tag", "b")
    conn.endheaders()
    # WHEN it is served
    status = conn.getresponse().status
    conn.close()
    # THEN the event has one comma-joined value, as API Gateway builds it
    assert status == 200
    assert fake_emulator.handlers.api_events[-1]["headers"]["x-tag"] == "a,b"


def test_api_claims_rendered_as_aws_renders_them(fake_emulator: FakeEmulator) -> None:
    # GIVEN a token carrying a list, a number, a boolean and an object claim
    env = fake_emulator.env
    now = 2_000_000_000
    token = jwt.sign(
        {
            "iss": env.jwt_issuer, "aud": env.jwt_audience, "sub": "acme", "exp": now,
            "groups": ["a", "b"], "level": 3, "admin": True, "org": {"id": 1},
        },
        env.jwt_signing_key,
    )  # fmt: skip
    # WHEN it calls the API
    request("GET", f"{env.api_url}/v1/uploads", headers={"authorization": f"Bearer {token}"})
    # THEN the function sees strings, lists as `[a b]`
    claims = fake_emulator.handlers.api_events[-1]["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims["groups"] == "[a b]"
    assert claims["level"] == "3"
    assert claims["admin"] == "true"
    assert claims["exp"] == str(now)
    assert claims["org"] == '{"id":1}'

"""`mediakit dev` as an OIDC issuer for dev tokens: its discovery document and JWKS at the API's
origin, the dev token endpoint the page uses (same-origin only), the page itself, and the page's
origin in the API's and the bucket's CORS rules."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from joserfc.jwk import KeySet, RSAKey

from mediakit.client import request
from mediakit.local import oidc as jwt
from tests.emulator.conftest import FakeEmulator

PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def _host(fake: FakeEmulator) -> str:
    return urlsplit(fake.env.api_url).netloc


def _mint(fake: FakeEmulator, body: object, **headers: str) -> tuple[int, dict[str, str], object]:
    sent = {"content-type": "application/json", "host": _host(fake), **headers}
    resp = request(
        "POST", f"{fake.env.api_url}/dev/token", headers=sent, body=json.dumps(body).encode()
    )
    return resp.status, resp.headers, resp.json()


def test_issuer_is_served_at_the_api_origin(fake_emulator: FakeEmulator) -> None:
    # GIVEN the env file's issuer
    env = fake_emulator.env
    assert env.jwt_issuer == f"{env.api_url}/dev/oidc"
    # WHEN its discovery document and the JWKS it names are fetched over HTTP
    discovery = request("GET", f"{env.jwt_issuer}/.well-known/openid-configuration").json()
    jwks = request("GET", discovery["jwks_uri"]).json()
    # THEN they name this issuer, RS256, and a public key that verifies `mediakit token`'s tokens
    assert discovery["issuer"] == env.jwt_issuer
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]
    keys = KeySet.import_key_set(jwks)
    token = jwt.issue(
        signing_key=env.jwt_signing_key, issuer=env.jwt_issuer, audience=env.jwt_audience,
        tenant_claim="sub", tenant="acme",
    )  # fmt: skip
    served = tuple(k for k in keys.keys if isinstance(k, RSAKey))
    claims = jwt.verify(
        token, keys=jwt.StaticKeys(served), issuer=env.jwt_issuer, audiences=(env.jwt_audience,)
    )
    assert claims["sub"] == "acme"


def test_issuer_never_serves_the_private_key(fake_emulator: FakeEmulator) -> None:
    # GIVEN every document the emulator-only endpoints serve
    env = fake_emulator.env
    bodies = [
        request("GET", f"{env.jwt_issuer}/.well-known/openid-configuration").body,
        request("GET", f"{env.jwt_issuer}/jwks.json").body,
        request("GET", f"{env.api_url}/dev/config.json").body,
        request("GET", f"{env.api_url}/dev/").body,
    ]
    # WHEN / THEN none holds the PEM or a private JWK member
    for body in bodies:
        assert b"PRIVATE KEY" not in body
    for key in json.loads(bodies[1])["keys"]:
        assert not PRIVATE_JWK_MEMBERS & set(key)
    pem_body = env.jwt_signing_key.splitlines()[1].encode()
    assert all(pem_body not in body for body in bodies)


def test_dev_token_endpoint_mints_a_token_the_api_accepts(fake_emulator: FakeEmulator) -> None:
    # GIVEN the page's request for a tenant's token
    status, headers, body = _mint(fake_emulator, {"tenant": "acme", "ttl": 600})
    # WHEN the API is called with it
    assert status == 200, body
    assert isinstance(body, dict)
    token = body["access_token"]
    resp = request(
        "GET",
        f"{fake_emulator.env.api_url}/v1/uploads",
        headers={"authorization": f"Bearer {token}"},
    )
    # THEN it is accepted, names the tenant, lives as asked, and is never cached
    assert resp.status == 200
    event = fake_emulator.handlers.api_events[-1]
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert claims[fake_emulator.env.tenant_claim] == "acme"
    assert int(claims["exp"]) - int(claims["iat"]) == 600
    assert body["token_type"] == "Bearer"
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        ({"tenant": "acme"}, {"host": "evil.example:80"}, 403),
        ({"tenant": "acme"}, {"sec-fetch-site": "cross-site"}, 403),
        ({"tenant": "acme"}, {"content-type": "text/plain"}, 415),
        ({"tenant": ""}, {}, 400),
        ({"tenant": "a/b"}, {}, 400),
        ({"tenant": "acme", "ttl": 10**9}, {}, 400),
        ({"tenant": "acme", "scopes": "admin"}, {}, 400),
        (["acme"], {}, 400),
    ],
    ids=[
        "dns-rebinding-host",
        "cross-site",
        "form-content-type",
        "empty-tenant",
        "slash-in-tenant",
        "ttl-too-long",
        "scopes-not-a-list",
        "not-an-object",
    ],
)
def test_dev_token_endpoint_refuses_what_the_page_never_sends(
    fake_emulator: FakeEmulator, body: object, headers: dict[str, str], status: int
) -> None:
    # GIVEN / WHEN a request the page would not make
    got, _, answer = _mint(fake_emulator, body, **headers)
    # THEN no token, and a JSON error saying why
    assert got == status
    assert isinstance(answer, dict)
    assert "access_token" not in answer
    assert answer["error"]["message"]


def test_dev_token_endpoint_grants_no_cors(fake_emulator: FakeEmulator) -> None:
    # GIVEN an origin the API's CORS rule allows (another app on the developer's machine)
    origin = "https://app.example"
    url = f"{fake_emulator.env.api_url}/dev/token"
    # WHEN it preflights and then posts to the token endpoint
    preflight = request(
        "OPTIONS",
        url,
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    status, headers, _ = _mint(fake_emulator, {"tenant": "acme"}, origin=origin)
    # THEN neither answer carries a CORS grant: a browser never shows the token to that page
    assert "access-control-allow-origin" not in preflight.headers
    assert status == 200
    assert "access-control-allow-origin" not in headers


def test_dev_token_endpoint_takes_post_only(fake_emulator: FakeEmulator) -> None:
    # GIVEN / WHEN a GET (a link or an <img> could make one)
    resp = request("GET", f"{fake_emulator.env.api_url}/dev/token")
    # THEN nothing is minted
    assert resp.status == 405
    assert resp.headers["allow"] == "POST"


def test_page_is_served_at_the_api_origin(fake_emulator: FakeEmulator) -> None:
    # GIVEN the API's origin
    api = fake_emulator.env.api_url
    # WHEN the root, the page and its script are fetched
    root = request("GET", f"{api}/")
    page = request("GET", f"{api}/dev/")
    script = request("GET", f"{api}/dev/app.js")
    missing = request("GET", f"{api}/dev/../jwt.py")
    # THEN the root redirects to the page, which forbids inline scripts; nothing else is read
    assert (root.status, root.headers["location"]) == (302, "/dev/")
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert b'<script src="app.js"' in page.body
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert script.status == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert missing.status == 404


def test_page_config_names_the_issuer(fake_emulator: FakeEmulator) -> None:
    # GIVEN / WHEN the page reads its configuration
    config = request("GET", f"{fake_emulator.env.api_url}/dev/config.json").json()
    # THEN it knows who issues tokens and that it may mint dev ones
    assert config == {
        "issuer": fake_emulator.env.jwt_issuer,
        "audience": fake_emulator.env.jwt_audience,
        "tenant_claim": fake_emulator.env.tenant_claim,
        "scope_claim": fake_emulator.env.scope_claim,
        "dev_tokens": True,
        "token_path": "/dev/token",
    }


def test_page_origin_is_allowed_by_the_api_and_the_bucket(fake_emulator: FakeEmulator) -> None:
    # GIVEN the page's origins (the API's, and its localhost twin) beside the configured one
    emulator = fake_emulator.emulator
    port = urlsplit(fake_emulator.env.api_url).port
    assert emulator.page_origins == (f"http://127.0.0.1:{port}", f"http://localhost:{port}")
    # WHEN a browser on the page preflights the API, and the bucket's CORS is read
    for origin in emulator.page_origins:
        preflight = request(
            "OPTIONS",
            f"{fake_emulator.env.api_url}/v1/uploads",
            headers={"origin": origin, "access-control-request-method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == origin
    rules = fake_emulator.env.client("s3").get_bucket_cors(Bucket=fake_emulator.env.bucket)
    # THEN both allow them, on top of the configured origin
    allowed = {o for rule in rules["CORSRules"] for o in rule["AllowedOrigins"]}
    assert allowed == {"https://app.example", *emulator.page_origins}
    assert all("ETag" in rule["ExposeHeaders"] for rule in rules["CORSRules"])

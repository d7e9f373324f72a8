"""RS256 tokens as API Gateway's JWT authorizer checks them: kid, signature, iss, aud or
client_id, exp, nbf, iat, and the scopes a token grants."""

from __future__ import annotations

import base64
import json

import pytest
from joserfc.jwk import RSAKey

from mediakit.local import oidc as jwt

ISS = "https://issuer.test"
AUD = "mediakit"
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def issuer() -> jwt.DevIssuer:
    return jwt.DevIssuer.generate(ISS)


def _token(issuer: jwt.DevIssuer, **overrides: object) -> str:
    claims: dict[str, object] = {"iss": ISS, "aud": AUD, "sub": "acme", "exp": NOW + 60}
    claims.update(overrides)
    return issuer.sign({k: v for k, v in claims.items() if v is not None})


def _verify(issuer: jwt.DevIssuer, token: str, **kwargs: object) -> dict[str, object]:
    options: dict[str, object] = {
        "keys": issuer.keys(),
        "issuer": ISS,
        "audiences": (AUD,),
        "now": NOW,
    }
    options.update(kwargs)
    return jwt.verify(token, **options)  # type: ignore[arg-type]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_verify_issued_token_returns_claims(issuer: jwt.DevIssuer) -> None:
    # GIVEN a dev token for tenant acme in the `org` claim
    token = issuer.issue(audience=AUD, tenant_claim="org", tenant="acme", now=NOW)
    # WHEN it is verified
    claims = _verify(issuer, token)
    # THEN the tenant claim and sub carry the tenant, and it is RS256 with the JWKS's kid
    assert claims["org"] == "acme"
    assert claims["sub"] == "acme"
    assert claims["exp"] == NOW + 3600
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "RS256", "typ": "JWT", "kid": issuer.kid}
    assert issuer.jwks()["keys"][0]["kid"] == issuer.kid


def test_verify_module_issue_signs_with_the_env_file_pem(issuer: jwt.DevIssuer) -> None:
    # GIVEN the private key as `mediakit dev` writes it to the env file
    pem = issuer.private_pem()
    # WHEN `mediakit token`'s path mints with it
    token = jwt.issue(
        signing_key=pem, issuer=ISS, audience=AUD, tenant_claim="sub", tenant="a", now=NOW
    )
    # THEN the issuer's published key verifies it
    assert _verify(issuer, token)["sub"] == "a"


def test_jwks_and_discovery_carry_no_private_key(issuer: jwt.DevIssuer) -> None:
    # GIVEN / WHEN the documents served over HTTP
    key = issuer.jwks()["keys"][0]
    discovery = issuer.discovery()
    # THEN only the public modulus and exponent, and the discovery names the JWKS
    assert set(key) == {"kty", "n", "e", "kid", "use", "alg"}
    assert discovery["issuer"] == ISS
    assert discovery["jwks_uri"] == f"{ISS}/jwks.json"
    assert discovery["id_token_signing_alg_values_supported"] == ["RS256"]


def test_verify_other_key_same_kid_rejected(issuer: jwt.DevIssuer) -> None:
    # GIVEN a token signed by another key that claims our kid
    other = RSAKey.generate_key(2048, private=True)
    token = jwt.sign({"iss": ISS, "aud": AUD, "exp": NOW + 60}, other, kid=issuer.kid)
    # WHEN / THEN the signature does not verify
    with pytest.raises(jwt.InvalidToken, match="signature"):
        _verify(issuer, token)


@pytest.mark.parametrize("kid", ["unknown-kid", None])
def test_verify_wrong_or_missing_kid_rejected(issuer: jwt.DevIssuer, kid: str | None) -> None:
    # GIVEN a correctly signed token whose header names no key of the JWKS
    header = {"alg": "RS256", "typ": "JWT", **({"kid": kid} if kid else {})}
    from joserfc import jws

    payload = json.dumps({"iss": ISS, "aud": AUD, "exp": NOW + 60}).encode()
    token = jws.serialize_compact(header, payload, issuer.key, algorithms=["RS256"])
    # WHEN / THEN the authorizer cannot choose a key, and refuses
    with pytest.raises(jwt.InvalidToken, match="kid"):
        _verify(issuer, token)


def test_verify_tampered_payload_rejected(issuer: jwt.DevIssuer) -> None:
    # GIVEN a valid token whose payload was swapped for another tenant's
    header, _, signature = _token(issuer).split(".")
    forged = ".".join([header, _b64({"iss": ISS, "aud": AUD, "sub": "evil"}), signature])
    # WHEN / THEN the signature no longer matches
    with pytest.raises(jwt.InvalidToken, match="signature"):
        _verify(issuer, forged)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "someone-else"}, "valid audience"),
        ({"aud": None}, "valid audience"),
        ({"aud": [1, 2]}, "valid audience"),
        ({"iss": "https://evil.test"}, "issuer"),
        ({"exp": NOW - 3600}, "expired"),
        ({"exp": None}, "expiry"),
        ({"exp": True}, "expiry"),
        ({"nbf": NOW + 3600}, "not valid yet"),
        ({"iat": NOW + 3600}, "future"),
    ],
)
def test_verify_wrong_claims_rejected(
    issuer: jwt.DevIssuer, overrides: dict[str, object], reason: str
) -> None:
    # GIVEN a correctly signed token with one bad claim
    token = _token(issuer, **overrides)
    # WHEN / THEN verification names the problem
    with pytest.raises(jwt.InvalidToken, match=reason):
        _verify(issuer, token)


def test_verify_wrong_audience_says_what_aws_says(issuer: jwt.DevIssuer) -> None:
    # GIVEN a token for another audience
    with pytest.raises(jwt.InvalidToken) as caught:
        _verify(issuer, _token(issuer, aud="other"))
    # THEN the description is the one API Gateway's troubleshooting page shows
    assert str(caught.value) == "the token does not have a valid audience"


def test_verify_audience_list_accepted(issuer: jwt.DevIssuer) -> None:
    # GIVEN a token for several audiences, ours among them
    token = _token(issuer, aud=["other", AUD])
    # WHEN / THEN it is accepted
    assert _verify(issuer, token)["sub"] == "acme"


def test_verify_client_id_only_without_aud(issuer: jwt.DevIssuer) -> None:
    # GIVEN a Cognito-style access token: no aud, client_id is ours
    accepted = _token(issuer, aud=None, client_id=AUD)
    # AND a token whose aud is wrong but whose client_id is ours
    refused = _token(issuer, aud="other", client_id=AUD)
    # WHEN / THEN client_id counts only when aud is absent ("When both aud and client_id are
    # present, API Gateway evaluates aud")
    assert _verify(issuer, accepted)["client_id"] == AUD
    with pytest.raises(jwt.InvalidToken, match="valid audience"):
        _verify(issuer, refused)


def test_verify_alg_none_rejected(issuer: jwt.DevIssuer) -> None:
    # GIVEN an unsigned token (alg none), the classic forgery
    claims = {"iss": ISS, "aud": AUD, "exp": NOW + 60}
    token = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': issuer.kid})}.{_b64(claims)}."
    # WHEN / THEN it is refused before any claim is trusted
    with pytest.raises(jwt.InvalidToken, match="algorithm"):
        _verify(issuer, token)


def test_verify_hs256_with_public_key_as_secret_rejected(issuer: jwt.DevIssuer) -> None:
    # GIVEN the key-confusion forgery: HS256 "signed" with the published public key as the
    # secret (built by hand: joserfc refuses to make one)
    import hashlib
    import hmac

    secret = issuer.key.as_pem(private=False)
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": issuer.kid})
    signing_input = f"{header}.{_b64({'iss': ISS, 'aud': AUD, 'exp': NOW + 60})}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    # WHEN / THEN only RSA algorithms are accepted
    with pytest.raises(jwt.InvalidToken, match="algorithm"):
        _verify(issuer, token)


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c.d", "!!!.???.###", "e30.e30.e30", "é.é.é"]
)
def test_verify_malformed_rejected(issuer: jwt.DevIssuer, token: str) -> None:
    # GIVEN / WHEN / THEN garbage never gets through and never raises anything but InvalidToken
    with pytest.raises(jwt.InvalidToken):
        _verify(issuer, token)


def test_verify_deeply_nested_header_rejected(issuer: jwt.DevIssuer) -> None:
    # GIVEN a header that nests 40,000 arrays (parsed before any signature check)
    header = base64.urlsafe_b64encode(b"[" * 40_000).rstrip(b"=").decode()
    # WHEN / THEN it is an ordinary refusal, not a RecursionError
    with pytest.raises(jwt.InvalidToken):
        _verify(issuer, f"{header}.e30.c2ln")


def test_verify_leeway_tolerates_small_skew(issuer: jwt.DevIssuer) -> None:
    # GIVEN a token that expired ten seconds ago
    token = _token(issuer, exp=NOW - 10)
    # WHEN / THEN the default leeway still accepts it, a zero leeway does not
    assert _verify(issuer, token)["sub"] == "acme"
    with pytest.raises(jwt.InvalidToken, match="expired"):
        _verify(issuer, token, leeway=0)


def test_sign_keeps_odd_claims_intact(issuer: jwt.DevIssuer) -> None:
    # GIVEN claims no identity provider would send: a lone surrogate and nested types
    claims = {"iss": ISS, "aud": AUD, "exp": NOW + 60, "sub": "\ud800", "t": {"a": [1, True]}}
    # WHEN signed and verified
    verified = _verify(issuer, issuer.sign(claims))
    # THEN each claim comes back with its JSON type
    assert verified["sub"] == "\ud800"
    assert verified["t"] == {"a": [1, True]}


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"scope": "a b"}, ["a", "b"]),
        ({"scp": "a b"}, ["a", "b"]),
        ({"scp": ["a", "b", 3]}, ["a", "b"]),
        ({}, []),
    ],
)
def test_token_scopes_from_scope_or_scp(claims: dict[str, object], scopes: list[str]) -> None:
    # GIVEN / WHEN / THEN scopes come from `scope` (space-separated) or `scp` (string or list)
    assert jwt.token_scopes(claims) == scopes


def test_issue_with_scopes_sets_the_scope_claim(issuer: jwt.DevIssuer) -> None:
    # GIVEN / WHEN a dev token with two scopes
    token = issuer.issue(
        audience=AUD, tenant_claim="sub", tenant="a", scopes=("x/read", "x/admin"), now=NOW
    )
    # THEN they are one space-separated `scope` claim
    assert _verify(issuer, token)["scope"] == "x/read x/admin"


def test_remote_keys_refuse_plain_http_issuer() -> None:
    # GIVEN / WHEN / THEN a JWKS fetched over plain HTTP could be swapped in transit
    with pytest.raises(ValueError, match="https"):
        jwt.RemoteKeys("http://idp.example")

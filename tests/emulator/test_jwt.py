"""HS256 dev tokens: what the emulator's JWT authorizer accepts and rejects."""

from __future__ import annotations

import base64
import json

import pytest

from mediakit import jwt
from runtime.errors import Unauthorized

SECRET = "s3cret-for-tests"
ISS = "https://issuer.test"
AUD = "mediakit"
NOW = 1_800_000_000


def _token(**overrides: object) -> str:
    claims: dict[str, object] = {"iss": ISS, "aud": AUD, "sub": "acme", "exp": NOW + 60}
    claims.update(overrides)
    return jwt.sign({k: v for k, v in claims.items() if v is not None}, SECRET)


def _verify(token: str, **kwargs: object) -> dict[str, object]:
    options: dict[str, object] = {"secret": SECRET, "issuer": ISS, "audience": AUD, "now": NOW}
    options.update(kwargs)
    return jwt.verify(token, **options)  # type: ignore[arg-type]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_verify_valid_token_returns_claims() -> None:
    # GIVEN a token issued for tenant acme
    token = jwt.issue(
        secret=SECRET, issuer=ISS, audience=AUD, tenant_claim="org", tenant="acme", now=NOW
    )
    # WHEN it is verified
    claims = _verify(token)
    # THEN the tenant claim and sub carry the tenant
    assert claims["org"] == "acme"
    assert claims["sub"] == "acme"
    assert claims["exp"] == NOW + 3600


def test_verify_bad_signature_rejected() -> None:
    # GIVEN a token signed with another secret
    token = jwt.sign({"iss": ISS, "aud": AUD, "exp": NOW + 60}, "other-secret")
    # WHEN / THEN it is refused
    with pytest.raises(Unauthorized, match="signature"):
        _verify(token)


def test_verify_tampered_payload_rejected() -> None:
    # GIVEN a valid token whose payload was swapped for another tenant's
    header, _, signature = _token().split(".")
    forged = ".".join(
        [header, _b64({"iss": ISS, "aud": AUD, "sub": "evil", "exp": NOW + 60}), signature]
    )
    # WHEN / THEN the signature no longer matches
    with pytest.raises(Unauthorized, match="signature"):
        _verify(forged)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "someone-else"}, "audience"),
        ({"aud": None}, "audience"),
        ({"iss": "https://evil.test"}, "issuer"),
        ({"exp": NOW - 3600}, "expired"),
        ({"exp": None}, "expiry"),
        ({"nbf": NOW + 3600}, "not valid yet"),
    ],
)
def test_verify_wrong_claims_rejected(overrides: dict[str, object], reason: str) -> None:
    # GIVEN a correctly signed token with one bad claim
    token = _token(**overrides)
    # WHEN / THEN verification names the problem
    with pytest.raises(Unauthorized, match=reason):
        _verify(token)


def test_verify_audience_list_accepted() -> None:
    # GIVEN a token for several audiences, ours among them
    token = _token(aud=["other", AUD])
    # WHEN / THEN it is accepted
    assert _verify(token)["sub"] == "acme"


def test_verify_alg_none_rejected() -> None:
    # GIVEN an unsigned token (alg none), the classic forgery
    token = (
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'iss': ISS, 'aud': AUD, 'exp': NOW + 60})}."
    )
    # WHEN / THEN it is refused before any claim is trusted
    with pytest.raises(Unauthorized, match="algorithm"):
        _verify(token)


def test_verify_other_hmac_alg_rejected() -> None:
    # GIVEN a header claiming HS512 over an HS256 signature
    _header, payload, signature = _token().split(".")
    token = ".".join([_b64({"alg": "HS512", "typ": "JWT"}), payload, signature])
    # WHEN / THEN the algorithm is refused
    with pytest.raises(Unauthorized, match="algorithm"):
        _verify(token)


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "!!!.???.###", "e30.e30.e30"])
def test_verify_malformed_rejected(token: str) -> None:
    # GIVEN / WHEN / THEN garbage never gets through and never raises anything but Unauthorized
    with pytest.raises(Unauthorized):
        _verify(token)


def test_verify_leeway_tolerates_small_skew() -> None:
    # GIVEN a token that expired ten seconds ago
    token = _token(exp=NOW - 10)
    # WHEN / THEN the default leeway still accepts it, a zero leeway does not
    assert _verify(token)["sub"] == "acme"
    with pytest.raises(Unauthorized, match="expired"):
        _verify(token, leeway=0)

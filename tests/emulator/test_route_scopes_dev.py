"""The API Gateway stand-in serves the synthesized stack's routes with their authorization
scopes (API Gateway's own 403 body when a token has none of them), and `mediakit token --scope`
puts scopes in the stack's scope claim the way identity providers do."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mediakit.cli import cli
from mediakit.client import request
from mediakit.local import oidc as jwt
from mediakit.local.emulator import DevEnv
from mediakit.local.site import TOKEN_PATH, DevSite
from tests.emulator.conftest import SCOPED_ROUTE, FakeEmulator

CHALLENGE = re.compile(
    r'^Bearer scope="(?P<scope>[^"]*)" error="(?P<error>[a-z_]+)" error_description="[^"]*"$'
)


def _payload(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


ADMIN = "mediakit/admin"


@pytest.fixture
def scoped_route(scoped_emulator: FakeEmulator) -> str:
    """The stack's DELETE route, which carries authorization scopes under SCOPED_SETTINGS."""
    return f"{scoped_emulator.env.api_url}/v1/uploads/01jd0000000000000000000000"


def test_api_routes_and_scopes_come_from_the_graph(scoped_emulator: FakeEmulator) -> None:
    # GIVEN the emulator provisioned from a stack with a scoped route
    gateway = scoped_emulator.emulator._api.gateway  # type: ignore[union-attr]
    served = {r.key: r.scopes for r in gateway.routes}
    # THEN it serves exactly the graph's routes, each with the graph's authorization scopes
    graph = scoped_emulator.emulator.plan.graph
    declared = {
        r["inputs"]["routeKey"]: tuple(r["inputs"].get("authorizationScopes") or ())
        for r in graph["resources"]
        if r["type"] == "aws:apigatewayv2/route:Route"
    }
    assert served == declared
    assert served[SCOPED_ROUTE] == (ADMIN, "mediakit/ops")


def test_api_scoped_route_without_the_scope_is_403(
    scoped_emulator: FakeEmulator, scoped_route: str
) -> None:
    # GIVEN a valid token granting only an unrelated scope
    env = scoped_emulator.env
    token = jwt.issue(
        signing_key=env.jwt_signing_key, issuer=env.jwt_issuer, audience=env.jwt_audience,
        tenant_claim="sub", tenant="acme", scopes=("mediakit/read",),
    )  # fmt: skip
    before = len(scoped_emulator.handlers.api_events)
    # WHEN it calls the scoped route
    resp = request("DELETE", scoped_route, headers={"authorization": f"Bearer {token}"})
    # THEN API Gateway's 403 with an insufficient_scope challenge naming the route's scopes
    assert resp.status == 403
    assert resp.body == b'{"message":"Forbidden"}'
    challenge = CHALLENGE.match(resp.headers["www-authenticate"])
    assert challenge is not None
    assert challenge["error"] == "insufficient_scope"
    assert challenge["scope"] == f"{ADMIN} mediakit/ops"
    assert len(scoped_emulator.handlers.api_events) == before


def test_api_scoped_route_with_one_scope_passes_scopes(
    scoped_emulator: FakeEmulator, scoped_route: str
) -> None:
    # GIVEN a token granting one of the route's scopes among others
    env = scoped_emulator.env
    token = jwt.issue(
        signing_key=env.jwt_signing_key, issuer=env.jwt_issuer, audience=env.jwt_audience,
        tenant_claim="sub", tenant="acme", scopes=("mediakit/read", ADMIN),
    )  # fmt: skip
    # WHEN it calls the scoped route
    resp = request("DELETE", scoped_route, headers={"authorization": f"Bearer {token}"})
    # THEN the function runs and sees the token's scopes
    assert resp.status == 200
    event = scoped_emulator.handlers.api_events[-1]
    assert event["routeKey"] == SCOPED_ROUTE
    assert event["requestContext"]["authorizer"]["jwt"]["scopes"] == ["mediakit/read", ADMIN]


def test_api_scoped_route_with_invalid_token_is_still_401(
    scoped_emulator: FakeEmulator, scoped_route: str
) -> None:
    # GIVEN / WHEN an expired token on the scoped route
    token = jwt.issue(
        signing_key=scoped_emulator.env.jwt_signing_key, issuer=scoped_emulator.env.jwt_issuer,
        audience=scoped_emulator.env.jwt_audience, tenant_claim="sub", tenant="a",
        now=1_000_000_000,
    )  # fmt: skip
    resp = request("DELETE", scoped_route, headers={"authorization": f"Bearer {token}"})
    # THEN token validity is checked first: 401, the challenge naming the route's scopes
    assert resp.status == 401
    assert resp.headers["www-authenticate"].startswith(f'Bearer scope="{ADMIN} mediakit/ops"')


def test_cli_token_with_scopes_reaches_a_scoped_route(
    scoped_emulator: FakeEmulator, tmp_path: Path
) -> None:
    # GIVEN the env file of an emulator whose stack puts mediakit/admin on the DELETE route
    env_file = tmp_path / "dev.json"
    scoped_emulator.env.write(env_file)
    # WHEN `mediakit token` mints one token with the scope and one without
    runner = CliRunner()
    args = ["token", "--tenant", "ops", "--env-file", str(env_file)]
    with_scope = runner.invoke(cli, [*args, "--scope", "mediakit/admin"])
    without = runner.invoke(cli, args)
    assert with_scope.exit_code == 0, with_scope.output
    url = f"{scoped_emulator.env.api_url}/v1/uploads/01jd0000000000000000000000"

    def status(token: str) -> int:
        return request("DELETE", url, headers={"authorization": f"Bearer {token}"}).status

    # THEN only the scoped token passes the route
    assert status(with_scope.output.strip()) == 200
    assert status(without.output.strip()) == 403


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        ("scope", "media:admin media:read"),
        ("scp", ["media:admin", "media:read"]),
        ("roles", ["media:admin", "media:read"]),
    ],
)
def test_cli_token_puts_scopes_in_the_configured_claim(
    scoped_emulator: FakeEmulator, tmp_path: Path, claim: str, expected: object
) -> None:
    # GIVEN an env file naming the stack's scope claim
    env_file = tmp_path / "dev.json"
    data = scoped_emulator.env.to_json()
    data["scope_claim"] = claim
    DevEnv(**data).write(env_file)
    # WHEN a token is minted with two scopes
    args = ["token", "--tenant", "ops", "--env-file", str(env_file)]
    result = CliRunner().invoke(cli, [*args, "--scope", "media:admin", "--scope", "media:read"])
    # THEN they are a space-separated string in scope, an array elsewhere, and nowhere else
    assert result.exit_code == 0, result.output
    payload = _payload(result.output.strip())
    assert payload[claim] == expected
    assert {"scope", "scp", "roles"} & set(payload) == {claim}


def test_cli_token_without_scope_carries_no_scope_claim(
    scoped_emulator: FakeEmulator, tmp_path: Path
) -> None:
    env_file = tmp_path / "dev.json"
    scoped_emulator.env.write(env_file)
    result = CliRunner().invoke(cli, ["token", "--tenant", "ops", "--env-file", str(env_file)])
    assert result.exit_code == 0, result.output
    assert "scope" not in _payload(result.output.strip())


@pytest.mark.parametrize("bad", ["media admin", "[media:admin]", "a,b", 'a"b', ""])
def test_cli_token_refuses_a_malformed_scope(
    scoped_emulator: FakeEmulator, tmp_path: Path, bad: str
) -> None:
    # GIVEN / WHEN a scope no setting could name THEN a usage error, no token, no traceback
    env_file = tmp_path / "dev.json"
    scoped_emulator.env.write(env_file)
    args = ["token", "--tenant", "ops", "--env-file", str(env_file), "--scope", bad]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "is not a scope" in result.output
    assert "Traceback" not in result.output


def test_env_file_without_scope_claim_still_reads(
    scoped_emulator: FakeEmulator, tmp_path: Path
) -> None:
    # GIVEN an env file written before scope_claim existed
    env_file = tmp_path / "dev.json"
    data = scoped_emulator.env.to_json()
    del data["scope_claim"]
    env_file.write_text(json.dumps(data))
    # THEN it reads, with the default claim
    assert DevEnv.read(env_file).scope_claim == "scope"


@pytest.mark.parametrize(
    ("claim", "expected"),
    [("scope", "media:admin media:read"), ("scp", ["media:admin", "media:read"])],
)
def test_page_token_endpoint_puts_scopes_in_the_configured_claim(
    claim: str, expected: object
) -> None:
    # GIVEN the page's token endpoint of a stack whose scope claim is `claim`
    site = DevSite(
        issuer=jwt.DevIssuer.generate("http://127.0.0.1:1/dev/oidc"),
        trusted_issuer="http://127.0.0.1:1/dev/oidc",
        audience="mediakit-dev",
        tenant_claim="sub",
        hosts=frozenset({"127.0.0.1:1"}),
        scope_claim=claim,
    )
    # WHEN the page asks for a token with two scopes
    body = json.dumps({"tenant": "acme", "scopes": ["media:admin", "media:read"]}).encode()
    headers = {"host": "127.0.0.1:1", "content-type": "application/json"}
    status, _, answer = site.handle("POST", TOKEN_PATH, headers, body)
    # THEN the token carries them in that claim, in the IdP's shape
    assert status == 200
    payload = _payload(json.loads(answer)["access_token"])
    assert payload[claim] == expected

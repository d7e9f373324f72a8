"""Every route of `mediakit dev` checks its own operation's scope in the function, here with the
scopes in a custom array claim (`roles`), which API Gateway does not read: no route carries
gateway scopes, so every refusal below is the runtime's JSON 403 insufficient_scope."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mediakit.client import request
from mediakit.local.emulator import DevEnv, Emulator, mint_token
from runtime import scopes
from runtime.settings import Settings

MISSING_ID = "01jd0000000000000000000000"
# Each route as called here, with the operation it performs (DELETE of a missing id: delete).
CALLS = (
    ("create", "POST", "/v1/uploads"),
    ("list", "GET", "/v1/uploads"),
    ("get", "GET", f"/v1/uploads/{MISSING_ID}"),
    ("complete", "POST", f"/v1/uploads/{MISSING_ID}/complete"),
    ("download", "GET", f"/v1/uploads/{MISSING_ID}/download"),
    ("restore", "POST", f"/v1/uploads/{MISSING_ID}/restore"),
)


@pytest.fixture(scope="module")
def strict_emulator() -> Iterator[Emulator]:
    """`mediakit dev` whose every operation needs its own scope, read from `roles`."""
    settings = Settings(
        scope_claim="roles",
        operation_scopes=tuple(f"{op}=media:{op}" for op in scopes.OPERATIONS),
    )
    emulator = Emulator(settings)
    with emulator:
        yield emulator


@pytest.fixture
def strict(strict_emulator: Emulator) -> DevEnv:
    assert strict_emulator.env is not None
    return strict_emulator.env


def _call(env: DevEnv, method: str, path: str, *granted: str) -> tuple[int, object]:
    token = mint_token(env, "acme", scopes=granted)
    body = (
        b'{"filename":"x.jpg","content_type":"image/jpeg","size":10}' if method == "POST" else None
    )
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    resp = request(method, f"{env.api_url}{path}", headers=headers, body=body)
    return resp.status, resp.json()


def test_strict_stack_routes_carry_no_gateway_scopes(strict_emulator: Emulator) -> None:
    # GIVEN a custom scope claim, which API Gateway cannot read
    gateway = strict_emulator._api.gateway  # type: ignore[union-attr]
    # THEN no route carries gateway scopes (they would refuse every caller): the runtime decides
    assert gateway.routes
    assert all(route.scopes == () for route in gateway.routes)
    assert strict_emulator.env is not None
    assert strict_emulator.env.scope_claim == "roles"


@pytest.mark.parametrize(("operation", "method", "path"), CALLS, ids=[c[0] for c in CALLS])
def test_route_without_its_scope_is_the_functions_403(
    strict: DevEnv, operation: str, method: str, path: str
) -> None:
    # GIVEN a token with every scope but the route's own
    others = [f"media:{op}" for op in scopes.OPERATIONS if op != operation]
    # WHEN it calls the route THEN our JSON 403 names the missing scope
    status, body = _call(strict, method, path, *others)
    assert status == 403
    assert isinstance(body, dict)
    assert body["error"]["code"] == "insufficient_scope"
    assert f"media:{operation}" in body["error"]["message"]


@pytest.mark.parametrize(("operation", "method", "path"), CALLS, ids=[c[0] for c in CALLS])
def test_route_with_its_scope_gets_past_the_check(
    strict: DevEnv, operation: str, method: str, path: str
) -> None:
    # GIVEN a token with exactly the route's scope WHEN it calls the route
    status, body = _call(strict, method, path, f"media:{operation}")
    # THEN the route itself answers (created, listed, or the missing id's 404/400)
    assert status != 403, body
    assert status in (200, 201, 400, 404)


def test_delete_of_a_missing_id_is_404_with_or_without_scopes(strict: DevEnv) -> None:
    # DELETE decides its operation from the record: a missing (or another tenant's) id is a 404
    # before any scope is looked at, so a 403 never confirms that an id exists.
    assert _call(strict, "DELETE", f"/v1/uploads/{MISSING_ID}")[0] == 404


def test_delete_of_a_pending_upload_needs_the_abort_scope(strict: DevEnv) -> None:
    # GIVEN a pending upload
    status, created = _call(strict, "POST", "/v1/uploads", "media:create")
    assert status == 201
    assert isinstance(created, dict)
    path = f"/v1/uploads/{created['upload_id']}"
    # WHEN it is deleted with the delete scope, then with the abort scope
    refused = _call(strict, "DELETE", path, "media:delete", "media:purge")
    aborted = _call(strict, "DELETE", path, "media:abort")
    # THEN a pending upload's DELETE is an abort, and only the abort scope allows it
    assert refused[0] == 403
    assert aborted[0] == 200

"""API Gateway route authorization scopes: defence in depth in front of the runtime's check,
only for a claim the gateway reads (scope/scp) and only where every call of a route needs one."""

from __future__ import annotations

from typing import Any

import pytest

from mediakit.local.provision import stack_graph
from runtime import scopes
from runtime.settings import Settings
from stacks.api import (
    HEALTH_THROTTLE_BURST_LIMIT,
    HEALTH_THROTTLE_RATE_LIMIT,
    PUBLIC_ROUTES,
    ROUTES,
)

ROUTE = "aws:apigatewayv2/route:Route"
STAGE = "aws:apigatewayv2/stage:Stage"


def _route_scopes(graph: dict[str, Any]) -> dict[str, list[str] | None]:
    """The JWT-authorised routes' scopes (the open routes, PUBLIC_ROUTES, have no authorizer)."""
    return {
        r["inputs"]["routeKey"]: r["inputs"].get("authorizationScopes")
        for r in graph["resources"]
        if r["type"] == ROUTE and r["inputs"].get("authorizationType") == "JWT"
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_public_routes_have_no_authorizer_no_scopes_and_their_own_throttle(stack: str) -> None:
    # GIVEN every route of the synthesized stack
    graph = stack_graph(
        stack, {"operationScopes": [f"{op}=media:{op}" for op in scopes.OPERATIONS]}
    )
    routes = {
        r["inputs"]["routeKey"]: r["inputs"] for r in graph["resources"] if r["type"] == ROUTE
    }
    # THEN only GET /v1/health is open, without authorizer or scopes, and every other is JWT
    open_routes = {k for k, v in routes.items() if v.get("authorizationType") != "JWT"}
    assert open_routes == set(PUBLIC_ROUTES) == {"GET /v1/health"}
    health = routes["GET /v1/health"]
    assert health["authorizationType"] == "NONE"
    assert not health.get("authorizerId")
    assert not health.get("authorizationScopes")
    # AND the stage throttles it on its own, below the API's default
    (stage,) = [r["inputs"] for r in graph["resources"] if r["type"] == STAGE]
    (setting,) = stage["routeSettings"]
    assert setting["routeKey"] == "GET /v1/health"
    assert setting["throttlingRateLimit"] == HEALTH_THROTTLE_RATE_LIMIT
    assert setting["throttlingBurstLimit"] == HEALTH_THROTTLE_BURST_LIMIT
    default = stage["defaultRouteSettings"]
    assert setting["throttlingRateLimit"] <= default["throttlingRateLimit"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_route_scopes_default_leave_owner_routes_open(stack: str) -> None:
    # GIVEN the default scopes (delete, restore, purge need media:admin)
    routes = _route_scopes(stack_graph(stack))
    # THEN create, read, list, complete and DELETE (an owner aborts its pending upload) carry
    # no gateway scope, and a route only an admin may call carries media:admin
    for key in ("POST /v1/uploads", "GET /v1/uploads", "GET /v1/uploads/{id}"):
        assert not routes[key]
    assert not routes["DELETE /v1/uploads/{id}"]
    for key, found in routes.items():
        assert (found or []) == list(scopes.route_scopes(Settings(), key)), key
    if "POST /v1/uploads/{id}/restore" in routes:
        assert routes["POST /v1/uploads/{id}/restore"] == ["media:admin"]


@pytest.mark.parametrize("claim", ["scope", "scp"])
def test_route_scopes_follow_the_operation_settings(claim: str) -> None:
    # GIVEN every operation scoped, abort included
    entries = [f"{op}=media:{op}" for op in scopes.OPERATIONS]
    routes = _route_scopes(stack_graph("dev", {"scopeClaim": claim, "operationScopes": entries}))
    # THEN each route asks for its operation's scope, DELETE for any of its three
    assert routes["POST /v1/uploads"] == ["media:create"]
    assert routes["GET /v1/uploads/{id}"] == ["media:get"]
    assert routes["POST /v1/uploads/{id}/complete"] == ["media:complete"]
    assert routes["DELETE /v1/uploads/{id}"] == ["media:abort", "media:delete", "media:purge"]
    assert set(routes) == set(ROUTES)


def test_route_scopes_none_for_a_custom_claim() -> None:
    # GIVEN scopes in a claim API Gateway does not read: route scopes would refuse every caller
    entries = [f"{op}=media:{op}" for op in scopes.OPERATIONS]
    routes = _route_scopes(stack_graph("dev", {"scopeClaim": "roles", "operationScopes": entries}))
    # THEN no route carries any; the runtime's check alone applies
    assert all(not found for found in routes.values())


def test_route_scopes_functions_get_the_scope_settings() -> None:
    # The presign function enforces the same settings the gateway's scopes were derived from.
    graph = stack_graph("dev", {"scopeClaim": "scp", "operationScopes": ["download=media:read"]})
    functions = [r for r in graph["resources"] if r["type"] == "aws:lambda/function:Function"]
    variables = [f["inputs"]["environment"]["variables"] for f in functions]
    presign = next(v for v in variables if "MEDIAKIT_SCOPE_CLAIM" in v)
    settings = Settings.from_env(presign)
    assert settings.scope_claim == "scp"
    assert settings.scope_for("download") == "media:read"
    assert settings.scope_for("delete") == "media:admin"


def test_route_operations_name_every_stack_route() -> None:
    # A stack route without operations would fail synth; this names it first.
    assert set(ROUTES) <= set(scopes.ROUTE_OPERATIONS)

"""Roles as scopes: the claim is read with its JSON type, and every route checks its operation's
scope before it does anything, answering our JSON 403 insufficient_scope."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from rt_support import ADMIN, Pipeline, bearer_token, http_event, image_bytes

from mediakit.local.gateway import claims_for_event
from runtime import api, scopes
from runtime.errors import InsufficientScope, SettingsError
from runtime.http import Request, handle, parse_request
from runtime.settings import Settings

JPEG = image_bytes()
# Every operation needs its own scope: what each route checks is visible one by one.
STRICT = Settings(operation_scopes=tuple(f"{op}=media:{op}" for op in scopes.OPERATIONS))


def _headers(payload: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {bearer_token(payload)}"}


def _grant(value: object, name: str = "scope") -> scopes.Grant:
    """What a verified token with claim `name` = `value` grants, as API Gateway hands it over."""
    payload = {"sub": "acme", name: value}
    return scopes.granted(_headers(payload), claims_for_event(payload), name)


# --- reading the claim: hostile cases first --------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        123,
        True,
        None,
        {"media:admin": True},
        ["media:admin", 1],
        [["media:admin"]],
        "[media:admin]",
        "[media:read media:admin]",
        "media:admin\x00",
        "media:admin\tother",
        "media:admin\nother",
        "media:\u00e4dmin",
        "\ud800",
        'media:admin"',
        "media:admin\\",
    ],
    ids=[
        "empty", "blank", "number", "bool", "null", "object", "array-with-number",
        "nested-array", "rendered-array-in-string", "rendered-pair-in-string", "nul", "tab",
        "newline", "non-ascii", "lone-surrogate", "quote", "backslash",
    ],
)  # fmt: skip
def test_granted_unusable_claim_grants_nothing(value: object) -> None:
    # GIVEN a verified token whose scope claim is not a clean list of scopes
    # WHEN its scopes are read THEN it grants none, and never media:admin
    grant = _grant(value)
    assert grant.scopes == frozenset()


@pytest.mark.parametrize("near", ["media:admin2", "media:adm", "MEDIA:ADMIN", "media:admin/x"])
def test_granted_near_misses_are_not_the_scope(near: str) -> None:
    # GIVEN scopes that are a prefix, an extension or another case of media:admin
    grant = _grant(f"media:read {near}")
    # THEN they are granted as themselves, and media:admin is not
    assert grant.scopes == {"media:read", near}
    assert "media:admin" not in grant.scopes


def test_granted_string_claim_is_space_separated() -> None:
    assert _grant("media:read  media:admin").scopes == {"media:read", "media:admin"}


@pytest.mark.parametrize("name", ["scp", "roles", "cognito:groups"])
def test_granted_array_claim_is_a_list_of_scopes(name: str) -> None:
    # GIVEN an array claim (Okta's scp, a custom roles claim), rendered "[a b]" by API Gateway
    assert claims_for_event({name: ["media:read", "media:admin"]}) == {
        name: "[media:read media:admin]"
    }
    # THEN its items are the scopes, read from the token, not from the rendering
    assert _grant(["media:read", "media:admin"], name).scopes == {"media:read", "media:admin"}


def test_granted_array_with_a_spaced_item_grants_nothing() -> None:
    # ["a b"] renders "[a b]" like ["a", "b"]: an item with a space is not a scope
    assert _grant(["media:read media:admin"]).scopes == frozenset()


def test_granted_absent_claim_grants_nothing_without_a_problem() -> None:
    grant = scopes.granted(_headers({"sub": "acme"}), {"sub": "acme"}, "scope")
    assert grant == scopes.Grant(frozenset())


def test_granted_claim_that_disagrees_with_the_token_grants_nothing() -> None:
    # GIVEN rendered claims that are not the verified token's (or a token the claims lack)
    headers = _headers({"sub": "acme", "scope": "media:read"})
    assert scopes.granted(headers, {"scope": "media:admin"}, "scope").scopes == frozenset()
    assert scopes.granted(headers, {}, "scope").scopes == frozenset()
    bare = _headers({"sub": "acme"})
    assert scopes.granted(bare, {"scope": "media:admin"}, "scope").scopes == frozenset()


@pytest.mark.parametrize("authorization", ["", "Bearer not-a-jwt", "Bearer a.bnVsbA.c"])
def test_granted_unreadable_token_grants_nothing(authorization: str) -> None:
    grant = scopes.granted({"authorization": authorization}, {"scope": "media:admin"}, "scope")
    assert grant.scopes == frozenset()
    assert grant.problem


# --- require ------------------------------------------------------------------------------


def _request(payload: dict[str, Any], path: str = "/v1/uploads", method: str = "GET") -> Request:
    return parse_request(http_event(method, path, claims=payload))


def test_require_without_the_scope_is_403_insufficient_scope() -> None:
    request = _request({"sub": "acme", "scope": "media:read"})
    with pytest.raises(InsufficientScope) as caught:
        scopes.require(request, Settings(), "restore")
    assert (caught.value.http_status, caught.value.code) == (403, "insufficient_scope")
    assert "media:admin" in caught.value.message


def test_require_names_why_a_present_claim_granted_nothing() -> None:
    request = _request({"sub": "acme", "scope": "[media:admin]"})
    with pytest.raises(InsufficientScope, match="looks like a list"):
        scopes.require(request, Settings(), "purge")


def test_require_with_the_scope_or_for_an_unscoped_operation_passes() -> None:
    admin = _request({"sub": "acme", "scope": "media:read media:admin"})
    nobody = _request({"sub": "acme"})
    for operation in ("delete", "restore", "purge"):
        scopes.require(admin, Settings(), operation)
    for operation in ("create", "list", "get", "complete", "download", "abort"):
        scopes.require(nobody, Settings(), operation)


def test_require_reads_the_configured_claim_only() -> None:
    # GIVEN the scope claim is scp: media:admin in `scope` is not read
    settings = Settings(scope_claim="scp")
    in_scope = _request({"sub": "acme", "scope": "media:admin"})
    in_scp = _request({"sub": "acme", "scp": ["media:admin"]})
    with pytest.raises(InsufficientScope):
        scopes.require(in_scope, settings, "delete")
    scopes.require(in_scp, settings, "delete")


def test_require_unknown_operation_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        scopes.require(_request({"sub": "acme"}), Settings(), "erase")


def test_delete_operation_abort_delete_purge() -> None:
    assert scopes.delete_operation(pending=True, purge=False) == "abort"
    assert scopes.delete_operation(pending=False, purge=False) == "delete"
    assert scopes.delete_operation(pending=True, purge=True) == "purge"
    assert scopes.delete_operation(pending=False, purge=True) == "purge"


# --- route(): every route checks its operation --------------------------------------------


def _call(
    deps: api.Deps, method: str, path: str, body: Any = None, *, scope: str | None = None
) -> tuple[int, dict[str, Any]]:
    payload: dict[str, Any] = {"sub": "tenant-a", "aud": "mediakit"}
    if scope is not None:
        payload["scope"] = scope
    event = http_event(method, path, body, claims=payload)
    response = handle(event, lambda request: api.route(request, deps))
    return response["statusCode"], json.loads(response["body"])


def _fixed_routes() -> list[api.Route]:
    # Public routes take no token, so no scope (test_only_health_is_public).
    return [r for r in api.ROUTES if not r.decides_scope and not r.public]


def test_only_health_is_public() -> None:
    # Issue 13.1: GET /v1/health is open (component names only); every other route is scoped.
    assert [(r.method, r.operation) for r in api.ROUTES if r.public] == [("GET", "health")]


def _concrete(route: api.Route) -> str:
    return route.pattern.pattern.replace("(?P<id>[^/]+)", "01jd0000000000000000000000")[:-2]


@pytest.mark.parametrize("route", _fixed_routes(), ids=lambda r: f"{r.method}-{r.operation}")
def test_route_without_the_operation_scope_is_403_before_the_handler(route: api.Route) -> None:
    # GIVEN every operation needs its own scope, and deps the handler would fail on if it ran
    deps = api.Deps(settings=STRICT, resources=None, s3=None, store=None)  # type: ignore[arg-type]
    others = " ".join(f"media:{op}" for op in scopes.OPERATIONS if op != route.operation)
    # WHEN the route is called with every scope but its own
    status, body = _call(deps, route.method, _concrete(route), {}, scope=others)
    # THEN our JSON 403 names the operation's scope; nothing else was touched
    assert (status, body["error"]["code"]) == (403, "insufficient_scope")
    assert f"media:{route.operation}" in body["error"]["message"]


def test_route_tenant_is_checked_before_the_scope() -> None:
    # GIVEN no tenant claim WHEN a scoped route is called THEN 401 comes first, not 403
    deps = api.Deps(settings=STRICT, resources=None, s3=None, store=None)  # type: ignore[arg-type]
    event = http_event("GET", "/v1/uploads", claims={"aud": "mediakit"})
    response = handle(event, lambda request: api.route(request, deps))
    assert response["statusCode"] == 401


def test_route_with_the_operation_scope_runs_each_route(pipeline: Pipeline) -> None:
    # GIVEN every operation needs its own scope
    deps = dataclasses.replace(pipeline.api, settings=STRICT)
    body = {"filename": "x.jpg", "content_type": "image/jpeg", "size": len(JPEG)}
    # WHEN each route is called with exactly its scope THEN it runs
    status, created = _call(deps, "POST", "/v1/uploads", body, scope="media:create")
    assert status == 201, created
    path = f"/v1/uploads/{created['upload_id']}"
    assert _call(deps, "GET", "/v1/uploads", scope="media:list")[0] == 200
    assert _call(deps, "GET", path, scope="media:get")[0] == 200
    # (not multipart: the handler's own 409, past the scope check)
    complete = _call(deps, "POST", f"{path}/complete", {"parts": []}, scope="media:complete")
    assert complete[1]["error"]["code"] == "not_multipart"
    # AND a scope that is only a prefix or another route's is refused
    assert _call(deps, "GET", path, scope="media:ge media:list")[0] == 403


def test_route_default_scopes_let_any_caller_create_read_and_list(pipeline: Pipeline) -> None:
    # GIVEN the default settings and a token with no scope at all
    created = pipeline.create(JPEG)
    # THEN create (above), get and list need nothing beyond the tenant
    assert pipeline.call("GET", f"/v1/uploads/{created['upload_id']}")[0] == 200
    assert pipeline.call("GET", "/v1/uploads")[0] == 200


def test_route_delete_of_a_processed_upload_needs_admin(pipeline: Pipeline) -> None:
    # GIVEN a completed upload
    created = pipeline.upload(JPEG)
    path = f"/v1/uploads/{created['upload_id']}"
    # WHEN its owner deletes it without, then with, the admin scope
    without = pipeline.call("DELETE", path, scopes=("media:read", "media:admin2"))
    # THEN the first is refused and changes nothing, the second deletes
    assert (without[0], without[1]["error"]["code"]) == (403, "insufficient_scope")
    assert pipeline.record(created["upload_id"])["status"] == "completed"
    status, record = pipeline.call("DELETE", path, scopes=ADMIN)
    assert (status, record["status"]) == (200, "deleted")


def test_route_owner_aborts_a_pending_upload_without_a_scope(pipeline: Pipeline) -> None:
    # GIVEN an interrupted upload, still pending
    created = pipeline.create(JPEG)
    # WHEN its owner deletes it with no scope THEN it is aborted
    status, record = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}")
    assert (status, record["status"]) == (200, "deleted")


def test_route_delete_of_another_tenants_upload_is_404_not_403(pipeline: Pipeline) -> None:
    # GIVEN tenant A's completed upload WHEN tenant B deletes it without admin
    created = pipeline.upload(JPEG)
    status, _ = pipeline.call("DELETE", f"/v1/uploads/{created['upload_id']}", tenant="tenant-b")
    # THEN it looks missing, as without the scope check: a 403 would confirm it exists
    assert status == 404


# --- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"operation_scopes": ("delete",)}, "not operation=scope"),
        ({"operation_scopes": ("erase=media:admin",)}, "unknown operation"),
        ({"operation_scopes": ("delete=a", "delete=b")}, "listed twice"),
        ({"operation_scopes": ("delete=media admin",)}, "is not a scope"),
        ({"operation_scopes": ("delete=[media:admin]",)}, "is not a scope"),
        ({"operation_scopes": ("delete=a\x00",)}, "is not a scope"),
        ({"operation_scopes": ("delete=m\u00e4",)}, "is not a scope"),
        ({"operation_scopes": ("delete=" + "a" * 257,)}, "is not a scope"),
        ({"scope_claim": ""}, "not a valid claim name"),
        ({"scope_claim": "scope claim"}, "not a valid claim name"),
        ({"scope_claim": "sub"}, "must differ from tenantClaim"),
        ({"scope_claim": "org", "tenant_claim": "org"}, "must differ from tenantClaim"),
    ],
)
def test_settings_scopes_invalid(values: dict[str, Any], problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        Settings(**values)


def test_settings_scopes_from_env_keep_defaults_not_listed() -> None:
    # GIVEN an environment that scopes downloads and opens deletes explicitly
    settings = Settings.from_env(
        {"MEDIAKIT_OPERATION_SCOPES": "download=media:read,delete=", "MEDIAKIT_SCOPE_CLAIM": "scp"}
    )
    # THEN those two change, restore and purge keep media:admin, the others need none
    assert settings.scope_for("download") == "media:read"
    assert settings.scope_for("delete") == ""
    assert settings.scope_for("restore") == settings.scope_for("purge") == "media:admin"
    assert settings.scope_for("create") == ""
    # AND they round-trip through the Lambda environment
    assert Settings.from_env(settings.to_env()) == settings


def test_settings_scopes_errors_name_the_config_key() -> None:
    with pytest.raises(SettingsError, match=r"^mediakit:operationScopes: unknown operation"):
        Settings.from_config(lambda key: ["erase=x"] if key == "operationScopes" else None)


# --- API Gateway route scopes ------------------------------------------------------------


@pytest.mark.parametrize("claim", ["scope", "scp"])
def test_route_scopes_only_where_every_call_needs_one(claim: str) -> None:
    settings = Settings(scope_claim=claim)
    assert scopes.route_scopes(settings, "POST /v1/uploads/{id}/restore") == ("media:admin",)
    # DELETE of a pending upload (abort) needs no scope: the gateway must let it through
    assert scopes.route_scopes(settings, "DELETE /v1/uploads/{id}") == ()
    assert scopes.route_scopes(settings, "GET /v1/uploads/{id}") == ()


def test_route_scopes_delete_when_abort_needs_a_scope_too() -> None:
    settings = Settings(operation_scopes=("abort=media:write",))
    assert scopes.route_scopes(settings, "DELETE /v1/uploads/{id}") == (
        "media:admin",
        "media:write",
    )


def test_route_scopes_none_for_a_claim_the_gateway_does_not_read() -> None:
    # GIVEN scopes in a custom claim: API Gateway only reads scope/scp, it would refuse everyone
    settings = Settings(scope_claim="roles")
    assert scopes.route_scopes(settings, "POST /v1/uploads/{id}/restore") == ()


def test_route_operations_cover_every_runtime_route() -> None:
    # Each runtime route's operation is one its API Gateway route key can perform.
    for route in api.ROUTES:
        if route.public:  # no scope to map (test_only_health_is_public)
            assert route.operation not in scopes.OPERATIONS
            continue
        keys = [
            key
            for key in scopes.ROUTE_OPERATIONS
            if key.split(" ")[0] == route.method
            and route.pattern.fullmatch(key.split(" ")[1].replace("{id}", "x"))
        ]
        assert len(keys) == 1, route
        assert route.operation in scopes.ROUTE_OPERATIONS[keys[0]]
    operations = {op for ops in scopes.ROUTE_OPERATIONS.values() for op in ops}
    assert operations == set(scopes.OPERATIONS)

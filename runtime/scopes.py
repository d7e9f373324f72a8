"""Roles as OAuth scopes: the scope each operation needs, and the scopes a caller's token grants.

The scopes come from one configurable claim (`scopeClaim`: `scope` by default, `scp`, or a custom
one). API Gateway's JWT authorizer hands that claim to the Lambda stringified: `"a b"` stays
`"a b"`, `["a", "b"]` arrives as `"[a b]"`, which is also what the string `"[a b]"` looks like.
As for the tenant (`runtime.claims`), the JSON type is read back from the verified token in the
`Authorization` header and must agree with the rendering. A claim that cannot be read exactly
grants nothing: no scope is ever guessed from a rendering, a prefix or a case-folded spelling.

Every operation's scope is checked here (`require`); `runtime.api.route` does it for the routes
whose operation is fixed, and `DELETE` decides its operation from the record (`delete_operation`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.claims import token_payload
from runtime.errors import InsufficientScope

if TYPE_CHECKING:
    from runtime.http import Request
    from runtime.settings import Settings

# Every operation of the HTTP API, as `operationScopes` names them.
OPERATIONS: tuple[str, ...] = (
    "create",
    "list",
    "get",
    "complete",
    "parts",
    "download",
    "abort",
    "delete",
    "restore",
    "purge",
    "usage",
)
ADMIN_SCOPE = "media:admin"
# `operation=scope` entries; an operation not listed needs no scope beyond a valid tenant.
DEFAULT_OPERATION_SCOPES: tuple[str, ...] = (
    f"delete={ADMIN_SCOPE}",
    f"restore={ADMIN_SCOPE}",
    f"purge={ADMIN_SCOPE}",
)
# The claims API Gateway's route authorization scopes read ("the token must include at least one
# of the route's scopes" in `scope` or `scp`, http-api-jwt-authorizer.html).
GATEWAY_SCOPE_CLAIMS = ("scope", "scp")
# Each API Gateway route key with the operations it can perform (DELETE: abort, delete or purge).
ROUTE_OPERATIONS: Mapping[str, tuple[str, ...]] = {
    "POST /v1/uploads": ("create",),
    "GET /v1/uploads": ("list",),
    "GET /v1/uploads/{id}": ("get",),
    "DELETE /v1/uploads/{id}": ("abort", "delete", "purge"),
    "POST /v1/uploads/{id}/complete": ("complete",),
    "GET /v1/uploads/{id}/parts": ("parts",),
    "GET /v1/uploads/{id}/download": ("download",),
    "POST /v1/uploads/{id}/restore": ("restore",),
    "GET /v1/usage": ("usage",),
}

# Routes without the JWT authorizer (they carry no operation a scope could guard): the stack
# declares them open and the emulator's gateway serves them without a token.
PUBLIC_ROUTES: tuple[str, ...] = ("GET /v1/health",)

# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), space-delimited.
_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
# What a setting may name: the same, less `,` (the list separator) and `[`/`]` (a scope shaped
# like API Gateway's array rendering could be granted by a string claim that merely looks like
# an array); at most 256 characters.
SETTING_SCOPE = re.compile(r"[\x21\x23-\x2B\x2D-\x5A\x5E-\x7E]{1,256}")


@dataclass(frozen=True)
class Grant:
    """The scopes a token grants; `problem` says why a present claim grants none."""

    scopes: frozenset[str]
    problem: str = ""


_NONE: frozenset[str] = frozenset()


def granted(headers: Mapping[str, str], rendered: Mapping[str, Any], name: str) -> Grant:
    """The scopes in claim `name`: a space-separated string or an array of strings in the
    token, agreeing with API Gateway's rendering of it in `rendered`. Anything else grants
    none: other JSON types, a string shaped like `[a b]`, characters outside RFC 6749's
    scope-token, a token that is not the one the authorizer verified."""
    payload = token_payload(headers)
    if payload is None:
        return Grant(_NONE, "the bearer token could not be read")
    if name not in payload:
        if name in rendered:
            return Grant(_NONE, f"the {name} claim does not match the verified token")
        return Grant(_NONE)
    value = payload[name]
    if isinstance(value, str):
        if value.startswith("[") and value.endswith("]"):
            return Grant(_NONE, f"the {name} claim is a string that looks like a list")
        items = [item for item in value.split(" ") if item]
        shown = value
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = list(value)
        shown = "[" + " ".join(items) + "]"
    else:
        return Grant(_NONE, f"the {name} claim is neither a string nor an array of strings")
    if rendered.get(name) != shown:
        return Grant(_NONE, f"the {name} claim does not match the verified token")
    if not all(_TOKEN.fullmatch(item) for item in items):
        return Grant(_NONE, f"the {name} claim holds a malformed scope")
    return Grant(frozenset(items))


def required(settings: Settings, operation: str) -> str:
    """The scope `operation` needs ("" for none beyond a valid tenant)."""
    return settings.scope_for(operation)


def require(request: Request, settings: Settings, operation: str) -> None:
    """Return if the caller may perform `operation`, else 403 `insufficient_scope`."""
    needed = required(settings, operation)
    if not needed:
        return
    grant = granted(request.headers, request.claims, settings.scope_claim)
    if needed in grant.scopes:
        return
    why = f": {grant.problem}" if grant.problem else ""
    raise InsufficientScope(
        f"{operation} needs the scope {needed} in the token's {settings.scope_claim} claim{why}"
    )


def delete_operation(*, pending: bool, purge: bool) -> str:
    """What a `DELETE` performs: `purge` when asked (`?purge=true`), else `abort` of a record
    still `pending_upload` (an owner can always clean up an interrupted upload), else `delete`."""
    if purge:
        return "purge"
    return "abort" if pending else "delete"


def route_scopes(settings: Settings, route_key: str) -> tuple[str, ...]:
    """API Gateway `authorization_scopes` for `route_key`, as defence in depth: only when the
    scope claim is one the gateway reads (`scope`/`scp`) and only when every operation of the
    route needs a scope (the gateway admits a token with any one of them; the runtime then
    checks the exact one). Empty otherwise: the runtime's check is the one that always holds."""
    if settings.scope_claim not in GATEWAY_SCOPE_CLAIMS:
        return ()
    needed = [required(settings, operation) for operation in ROUTE_OPERATIONS[route_key]]
    if not all(needed):
        return ()
    return tuple(sorted(set(needed)))

"""The OpenAPI document (`api/openapi.yaml`) against the code: a valid OAS 3.1 document listing
exactly the routes the runtime and the stack define, every error code the API raises, the scopes
operations need by default, the record's public fields; the README's routes table generated from
it; and the validator itself, shown to fail on responses the document does not allow."""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate as validate_spec

from mediakit import apispec
from runtime import api as runtime_api
from runtime import errors, records, scopes
from runtime.settings import Settings
from stacks import api as stack_api

ROOT = Path(__file__).resolve().parents[2]


def runtime_route_keys() -> list[str]:
    """`runtime.api.ROUTES` as route keys: the pattern's `(?P<id>...)` back to `{id}`."""
    keys = []
    for route in runtime_api.ROUTES:
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route.pattern.pattern)
        keys.append(f"{route.method} {path.removesuffix('/?')}")
    return keys


def stack_route_keys() -> list[str]:
    return [*stack_api.ROUTES, *getattr(stack_api, "PUBLIC_ROUTES", ())]


def test_openapi_document_is_valid_openapi_3_1() -> None:
    # GIVEN the document WHEN openapi-spec-validator checks it THEN it is a valid OAS 3.1 document
    document = apispec.load_document()
    assert document["openapi"].startswith("3.1.")
    validate_spec(document)


def test_openapi_lists_exactly_the_runtime_and_stack_routes() -> None:
    # GIVEN the routes the document, the runtime's dispatch table and the stack declare
    documented = apispec.route_keys()
    # THEN none is missing and none is extra, in any of them
    assert len(documented) == len(set(documented))
    assert sorted(documented) == sorted(runtime_route_keys())
    assert sorted(documented) == sorted(stack_route_keys())


def test_openapi_public_routes_are_the_stacks_unauthorised_ones() -> None:
    # GIVEN the operations the document lets through without a token
    document = apispec.load_document()
    public = [
        f"{m} {p}"
        for m, p, op in apispec.operations()
        if op.get("security", document["security"]) == []
    ]
    # THEN they are the stack's routes without the JWT authorizer and the runtime's public ones
    assert sorted(public) == sorted(getattr(stack_api, "PUBLIC_ROUTES", ()))
    runtime_public = [
        k for k, r in zip(runtime_route_keys(), runtime_api.ROUTES, strict=True) if r.public
    ]
    assert sorted(public) == sorted(runtime_public)


def test_openapi_operations_and_default_scopes_match_the_runtime() -> None:
    # GIVEN each route's operations with the scope the document says they need by default
    settings = Settings()
    document = apispec.load_document()
    by_route = {
        f"{m} {p}": op.get("x-mediakit-operations", {}) for m, p, op in apispec.operations()
    }
    runtime_ops = {
        k: r.operation for k, r in zip(runtime_route_keys(), runtime_api.ROUTES, strict=True)
    }
    for key, operations in by_route.items():
        # THEN the route performs exactly the operations runtime.scopes routes it to
        expected = scopes.ROUTE_OPERATIONS.get(key, (runtime_ops[key],))
        assert tuple(operations) == tuple(expected), key
        # and each needs the default scope of runtime.scopes (operationScopes' defaults)
        for operation, scope in operations.items():
            if operation in scopes.OPERATIONS:
                assert scope == settings.scope_for(operation), (key, operation)
            else:
                # `health`: a route without a token has no operation scope
                assert (scope, key) == ("", "GET /v1/health")
        # and `security` names the scope API Gateway checks on the route (defence in depth)
        method, path = key.split(" ", 1)
        security = document["paths"][path][method.lower()].get("security", document["security"])
        gateway = scopes.route_scopes(settings, key) if key in scopes.ROUTE_OPERATIONS else ()
        if security:
            assert security == [{"bearer": list(gateway)}], key
    # and every operation the runtime knows is documented
    documented = {op for ops in by_route.values() for op in ops}
    assert set(scopes.OPERATIONS) <= documented


# --- error codes ----------------------------------------------------------------------------------

# Raised by the processors only (the record's `error.code`), never an answer of the API.
NOT_HTTP = {"PermanentFault"}
# Every TransientFault answers 503 service_unavailable (runtime.http.error_response).
TRANSIENT = "TransientFault"
SCANNED = [*sorted((ROOT / "runtime").rglob("*.py")), ROOT / "mediakit/local/gateway.py"]


def _error_classes() -> dict[str, type[errors.MediakitError]]:
    found = {
        name: cls
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, errors.MediakitError)
    }
    return found


def raised_codes() -> set[tuple[int, str]]:
    """(HTTP status, code) of every error the API's code raises: each call of a MediakitError
    class (or of a subclass declared in a runtime module) read from the source, its `code=`
    argument or the class's default, resolving module-level string constants."""
    classes: dict[str, tuple[int, str]] = {
        name: (cls.http_status, cls.code)
        for name, cls in _error_classes().items()
        if name not in NOT_HTTP
    }
    classes[TRANSIENT] = (503, "service_unavailable")
    out: set[tuple[int, str]] = set()
    for path in SCANNED:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            t.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for t in node.targets
            if isinstance(t, ast.Name) and isinstance(node.value.value, str)
        }
        local = dict(classes)
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                base = next(
                    (b.id for b in node.bases if isinstance(b, ast.Name) and b.id in local), None
                )
                if base is None:
                    continue
                status, code = local[base]
                for stmt in node.body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == "code" for t in stmt.targets)
                        and isinstance(stmt.value, ast.Constant)
                    ):
                        code = str(stmt.value.value)
                local[node.name] = (status, code)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in local:
                continue
            status, code = local[name]
            if name != TRANSIENT:
                for keyword in node.keywords:
                    if keyword.arg != "code":
                        continue
                    if isinstance(keyword.value, ast.Constant):
                        code = str(keyword.value.value)
                    elif isinstance(keyword.value, ast.Name):
                        code = constants[keyword.value.id]
                    else:
                        pytest.fail(
                            f"{path}: a code that is not a literal: {ast.dump(keyword.value)}"
                        )
            out.add((status, code))
    return out


def documented_codes(document: dict[str, Any] | None = None) -> set[tuple[int, str]]:
    """(status, code) of every `ErrorNNN` schema's code enum."""
    doc = apispec.load_document() if document is None else document
    out = set()
    for name, schema in doc["components"]["schemas"].items():
        match = re.fullmatch(r"Error(\d{3})", name)
        if match:
            for code in schema["properties"]["error"]["properties"]["code"]["enum"]:
                out.add((int(match.group(1)), code))
    return out


def test_openapi_documents_every_error_code_the_api_raises_and_no_other() -> None:
    # GIVEN the codes the runtime (and the emulator's gateway) raise, read from the source
    raised = raised_codes()
    # THEN each is documented under its status, and each documented code is raised somewhere
    assert raised - documented_codes() == set()
    assert documented_codes() - raised == set()


def test_error_code_scan_sees_a_new_code() -> None:
    # GIVEN a document without one code the runtime raises THEN the comparison notices
    weakened = copy.deepcopy(apispec.load_document())
    enum = weakened["components"]["schemas"]["Error409"]["properties"]["error"]["properties"][
        "code"
    ]["enum"]
    enum.remove("not_pending")
    assert (409, "not_pending") in raised_codes() - documented_codes(weakened)


def test_every_operation_declares_the_statuses_every_route_can_answer() -> None:
    # API Gateway and the function can answer these on any route: 500/503 always; 401/403 on
    # routes behind the authorizer; 429 throttling everywhere.
    document = apispec.load_document()
    for method, path, operation in apispec.operations():
        statuses = set(operation["responses"])
        assert {"429", "500", "503"} <= statuses, (method, path)
        if operation.get("security", document["security"]):
            assert {"401", "403"} <= statuses, (method, path)


def test_record_schema_lists_the_public_fields() -> None:
    # GIVEN the status record's schema
    fields = apispec.load_document()["components"]["schemas"]["RecordFields"]["properties"]
    # THEN it has every field the API shows, and only those plus the derived ones
    assert set(records.PUBLIC_FIELDS) <= set(fields)
    assert set(fields) - set(records.PUBLIC_FIELDS) <= {"urls_expire_at", "media"}


def test_readme_routes_table_is_generated_from_the_document() -> None:
    # GIVEN the README WHEN its routes table is regenerated THEN nothing changes (else stale)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert apispec.README_TABLE_START in readme
    assert readme == apispec.render_readme(readme), "stale routes table: python -m mediakit.apispec"
    # and every route of the document is a row of it
    for key in apispec.route_keys():
        assert f"| `{key}" in readme


# --- the validator can fail ----------------------------------------------------------------------

RECORD = {
    "upload_id": "01JD0000000000000000000000",
    "tenant": "acme",
    "status": "pending_upload",
    "key": "originals/acme/2026/12/01/01JD0000000000000000000000.jpg",
    "filename": "cat.jpg",
    "method": "PUT",
    "content_type": "image/jpeg",
    "size": 1234,
    "metadata": {},
    "created_at": "2026-12-01T12:00:00.000Z",
    "updated_at": "2026-12-01T12:00:00.000Z",
}
OURS = {"content-type": "application/json", "cache-control": "no-store"}


@pytest.fixture(scope="module")
def validator() -> apispec.Validator:
    return apispec.Validator()


def test_validator_accepts_a_conforming_record(validator: apispec.Validator) -> None:
    validator.response("GET", "/v1/uploads/x", 200, OURS, RECORD)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda r: r.update(surprise=1), "Unevaluated properties"),
        (lambda r: r.pop("status"), "'status' is a required property"),
        (lambda r: r.update(status="done"), "is not one of"),
        (lambda r: r.update(size="1234"), "is not of type 'integer'"),
        (lambda r: r.update(created_at="yesterday"), "does not match"),
    ],
    ids=["extra-field", "missing-required", "unknown-status", "wrong-type", "bad-timestamp"],
)
def test_validator_refuses_a_record_the_document_does_not_allow(
    validator: apispec.Validator, change: Any, problem: str
) -> None:
    # GIVEN a record weakened one way WHEN validated THEN it fails, saying why
    record = copy.deepcopy(RECORD)
    change(record)
    with pytest.raises(apispec.ContractError, match=re.escape(problem)):
        validator.response("GET", "/v1/uploads/x", 200, OURS, record)


def test_validator_refuses_an_undeclared_status_a_missing_header_and_a_wrong_code(
    validator: apispec.Validator,
) -> None:
    with pytest.raises(apispec.ContractError, match="does not declare status 418"):
        validator.response("GET", "/v1/uploads/x", 418, OURS, RECORD)
    with pytest.raises(apispec.ContractError, match="header Cache-Control is required"):
        validator.response(
            "GET", "/v1/uploads/x", 200, {"content-type": "application/json"}, RECORD
        )
    # a code documented for another status is not this status's
    gone = {"error": {"code": "gone", "message": "x"}}
    with pytest.raises(
        apispec.ContractError, match=r"is not valid under any of the given schemas|is not one of"
    ):
        validator.response("GET", "/v1/uploads/x", 404, OURS, gone)
    with pytest.raises(apispec.ContractError, match="not an operation"):
        validator.response("PUT", "/v1/uploads", 200, OURS, {})


def test_validator_tells_api_gateway_bodies_from_ours(validator: apispec.Validator) -> None:
    # GIVEN API Gateway's 401 THEN it conforms with its challenge, and a changed message does not
    challenge = 'Bearer scope="" error="invalid_token" error_description="the token has expired"'
    gateway = {"content-type": "application/json", "www-authenticate": challenge}
    validator.response("GET", "/v1/uploads", 401, gateway, b'{"message":"Unauthorized"}')
    with pytest.raises(apispec.ContractError):
        validator.response("GET", "/v1/uploads", 401, gateway, b'{"message":"Denied"}')
    with pytest.raises(apispec.ContractError, match="header WWW-Authenticate"):
        validator.response(
            "GET",
            "/v1/uploads",
            401,
            {**gateway, "www-authenticate": "Basic"},
            b'{"message":"Unauthorized"}',
        )


@pytest.mark.parametrize(
    ("status", "message"),
    [(429, "Too Many Requests"), (500, "Internal Server Error"), (503, "Service Unavailable")],
)
def test_api_gateway_bodies_the_emulator_builds_conform(
    validator: apispec.Validator, status: int, message: str
) -> None:
    # GIVEN API Gateway's own answer as the emulator's gateway builds it (throttling, a function
    # error, an unreachable function) THEN every route's document allows it
    from mediakit.local.gateway import gateway_error

    got, headers, body = gateway_error(status, message, {"apigw-requestid": "r"})
    for method, path, _ in apispec.operations():
        validator.response(method, path.replace("{id}", "x"), got, headers, body)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.TooManyRequests("slow down", retry_after=7), 429),
        (errors.TransientFault("throttled"), 503),
        (RuntimeError("boom"), 500),
    ],
    ids=["rate_limited", "service_unavailable", "internal_error"],
)
def test_runtime_error_responses_conform(
    validator: apispec.Validator, exc: Exception, status: int
) -> None:
    # GIVEN the runtime's one mapping of exceptions to HTTP answers (runtime.http)
    from runtime.http import error_response

    answer = error_response(exc)
    # THEN the answer is the documented status, headers and body on a route that can raise it
    assert answer["statusCode"] == status
    validator.response("POST", "/v1/uploads", status, answer["headers"], answer["body"].encode())
    if status == 429:
        assert answer["headers"]["retry-after"] == "7"


def test_request_schemas_carry_the_runtimes_limits() -> None:
    # GIVEN the document's request schemas and the runtime's validation constants
    from runtime import api as route_module
    from runtime import idempotency, signing, validation

    schemas = apispec.load_document()["components"]["schemas"]
    create = schemas["CreateUploadRequest"]["properties"]
    # THEN the create body has exactly the fields validate_create takes, with its bounds
    assert set(create) == set(validation._CREATE_FIELDS)
    assert create["filename"]["maxLength"] == validation.MAX_FILENAME_CHARS
    assert create["part_size"]["minimum"] == validation.MIN_PART_BYTES
    assert create["part_size"]["maximum"] == validation.MAX_PART_BYTES
    assert create["part_sha256"]["maxItems"] == validation.MAX_DECLARED_PART_HASHES
    metadata = schemas["Metadata"]
    assert metadata["maxProperties"] == validation.MAX_METADATA_KEYS
    assert metadata["additionalProperties"]["maxLength"] == validation.MAX_METADATA_VALUE_CHARS
    assert metadata["propertyNames"]["pattern"] == f"^{validation._METADATA_KEY.pattern}$"
    parts = schemas["CompleteUploadRequest"]["properties"]["parts"]
    assert parts["maxItems"] == validation.MAX_PARTS
    # and the enums are the runtime's
    assert sorted(schemas["Status"]["enum"]) == sorted(records.TRANSITIONS)
    assert schemas["Method"]["enum"] == list(validation.METHODS)
    # and the header and query parameters are read as the runtime reads them
    parameters = apispec.load_document()["components"]["parameters"]
    key = parameters["IdempotencyKey"]["schema"]["pattern"]
    assert key == f'^"?{idempotency._KEY_RE.pattern}"?$'
    correlation = parameters["CorrelationId"]["schema"]["pattern"]
    assert correlation == f"^{route_module._CORRELATION_ID.pattern}$"
    parts_query = apispec.load_document()["paths"]["/v1/uploads/{id}/parts"]["get"]["parameters"]
    limit = next(p for p in parts_query if p["name"] == "limit")
    assert f"at most {signing.PARTS_PAGE_SIZE}" in limit["description"]
    listing = apispec.load_document()["paths"]["/v1/uploads"]["get"]["parameters"]
    page = next(p for p in listing if p["name"] == "limit")
    assert f"1..{route_module.MAX_LIST_LIMIT}" in page["description"]


def test_readme_roles_table_names_every_operation_with_its_default_scope() -> None:
    # GIVEN the README's Roles and scopes table and the document's operations
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Roles and scopes") :]
    rows = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\| `(\w+)` \| [^|]+ \| ([^|\n]+)\|?$", section, re.M)
    }
    # THEN every operation a token needs for is a row, with the default scope the document says
    for operation, scope in apispec.operation_scopes().items():
        if operation == "health":
            continue
        assert operation in rows, operation
        shown = rows[operation].strip()
        assert shown.startswith(f"`{scope}`" if scope else "none"), (operation, shown)

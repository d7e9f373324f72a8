"""The HTTP API's OpenAPI 3.1 document (`api/openapi.yaml`) and the events' JSON Schemas
(`api/events/*.schema.json`): loading them, the route keys and scopes the document declares, the
README's routes table (generated from the document: `python -m mediakit.apispec`), and checking
a real response or event against them with maintained validators (openapi-schema-validator's
OAS 3.1 dialect for the document, jsonschema's Draft 2020-12 for the events).

`mediakit dev` serves the document at `/openapi.json` (`mediakit.local.site`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT_PATH = ROOT / "api" / "openapi.yaml"
EVENTS_DIR = ROOT / "api" / "events"
# The base URI the document is registered under, so every `$ref` inside it resolves.
DOCUMENT_URI = "urn:mediakit:openapi"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
README_TABLE_START = (
    "<!-- api-routes: generated from api/openapi.yaml by `python -m mediakit.apispec` -->"
)
README_TABLE_END = "<!-- /api-routes -->"


class ContractError(AssertionError):
    """A response or event that the document or its schema does not allow."""


@cache
def load_document() -> dict[str, Any]:
    """The OpenAPI document, parsed (cached: it is read-only)."""
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT_PATH.read_text(encoding="utf-8"))
    return loaded


def document_json() -> bytes:
    """The document as JSON, what `/openapi.json` serves."""
    return json.dumps(load_document(), indent=2, sort_keys=False).encode()


def operations(document: Mapping[str, Any] | None = None) -> Iterator[tuple[str, str, Any]]:
    """(METHOD, path template, operation object) for every operation, in document order."""
    doc = load_document() if document is None else document
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def route_keys(document: Mapping[str, Any] | None = None) -> list[str]:
    """Every operation as an API Gateway route key (`GET /v1/uploads/{id}`)."""
    return [f"{method} {path}" for method, path, _ in operations(document)]


def operation_scopes(document: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Each runtime operation (`x-mediakit-operations`) with the scope it needs by default."""
    out: dict[str, str] = {}
    for _, _, operation in operations(document):
        out.update(operation.get("x-mediakit-operations", {}))
    return out


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _resolve(doc: Mapping[str, Any], node: Any) -> tuple[Any, str | None]:
    """Follow a local `$ref` (one level at a time until none): (object, its JSON pointer)."""
    where = None
    while isinstance(node, Mapping) and "$ref" in node:
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            raise ContractError(f"only local references are used: {ref}")
        where = ref[1:]
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, where


@dataclass(frozen=True)
class Matched:
    method: str
    template: str
    operation: Mapping[str, Any]


def _template_regex(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"[^/]+", re.escape(template))
    return re.compile(f"^{regex}$")


def match(method: str, path: str, document: Mapping[str, Any] | None = None) -> Matched | None:
    """The operation a request's method and concrete path (query ignored) is for."""
    doc = load_document() if document is None else document
    bare = urlsplit(path).path
    for found_method, template, operation in operations(doc):
        if found_method == method.upper() and _template_regex(template).match(bare):
            return Matched(found_method, template, operation)
    return None


class Validator:
    """Checks real responses against a document (by default the repository's)."""

    def __init__(self, document: Mapping[str, Any] | None = None) -> None:
        from openapi_schema_validator import OAS31Validator
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012

        self.document = load_document() if document is None else document
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self._registry = Registry().with_resource(DOCUMENT_URI, resource)
        self._cls = OAS31Validator

    def schema_errors(self, pointer: str, instance: Any) -> list[str]:
        """Messages of `instance` against the schema at `pointer` (`/components/schemas/X`)."""
        validator = self._cls(
            {"$ref": f"{DOCUMENT_URI}#{pointer}"},
            registry=self._registry,
            format_checker=self._cls.FORMAT_CHECKER,
        )
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in sorted(
                validator.iter_errors(instance), key=lambda e: str(list(e.absolute_path))
            )
        ]

    def response(
        self,
        method: str,
        path: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes | Any,
        *,
        gateway_route_missing: bool = False,
    ) -> Matched:
        """Raise `ContractError` unless the document's operation for `method path` declares
        `status` and its headers and body conform. `gateway_route_missing`: the request matched
        no route, and API Gateway's 404 (`components/responses/GatewayNotFound`) must be it."""
        doc = self.document
        lower = {k.lower(): v for k, v in headers.items()}
        if gateway_route_missing:
            if match(method, path, doc) is not None:
                raise ContractError(f"{method} {path} is an operation of the document")
            if status != 404:
                raise ContractError(f"a request matching no route answered {status}, not 404")
            missing = "/components/responses/GatewayNotFound"
            self._check(doc["components"]["responses"]["GatewayNotFound"], missing, lower, body,
                        "no route")  # fmt: skip
            return Matched(method, path, {})
        found = match(method, path, doc)
        if found is None:
            raise ContractError(f"{method} {path} is not an operation of the document")
        item = doc["paths"][found.template][found.method.lower()]
        responses = item.get("responses", {})
        if str(status) not in responses:
            raise ContractError(
                f"{found.method} {found.template} does not declare status {status} "
                f"(declared: {', '.join(responses)})"
            )
        response, where = _resolve(doc, responses[str(status)])
        pointer = where or "/" + _pointer(
            "paths", found.template, found.method.lower(), "responses", str(status)
        )
        self._check(response, pointer, lower, body, f"{found.method} {found.template} {status}")
        return found

    def request_errors(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes | None
    ) -> list[str]:
        """What in a request the document does not allow: an undeclared or invalid query
        parameter or header parameter, a missing required one, a JSON body off its schema."""
        doc = self.document
        found = match(method, path, doc)
        if found is None:
            return [f"{method} {path} is not an operation of the document"]
        problems: list[str] = []
        query = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
        lower = {k.lower(): v for k, v in headers.items()}
        declared: set[str] = set()
        base = "/" + _pointer("paths", found.template)
        item = doc["paths"][found.template]
        for where, raw in [
            *((f"{base}/parameters/{i}", p) for i, p in enumerate(item.get("parameters", []))),
            *(
                (f"{base}/{found.method.lower()}/parameters/{i}", p)
                for i, p in enumerate(found.operation.get("parameters", []))
            ),
        ]:
            parameter, at = _resolve(doc, raw)
            at = at or where
            place, name = parameter["in"], str(parameter["name"])
            if place == "query":
                declared.add(name)
                value = query.get(name)
            elif place == "header":
                value = lower.get(name.lower())
            else:
                continue
            if value is None:
                if parameter.get("required"):
                    problems.append(f"{place} parameter {name} is required")
                continue
            problems += [f"{name}: {m}" for m in self.schema_errors(f"{at}/schema", value)]
        problems += [f"query parameter {n} is not declared" for n in sorted(set(query) - declared)]
        content = (found.operation.get("requestBody") or {}).get("content") or {}
        if body and "application/json" in content:
            try:
                instance = json.loads(body)
            except ValueError:
                return [*problems, "the body is not JSON"]
            at = "/" + _pointer(
                "paths", found.template, found.method.lower(), "requestBody", "content",
                "application/json", "schema",
            )  # fmt: skip
            problems += self.schema_errors(at, instance)
        elif body:
            problems.append("a body the operation does not take")
        return problems

    def component(self, name: str, headers: Mapping[str, str], body: bytes | Any) -> None:
        """Raise `ContractError` unless headers and body conform to the response component
        `name` (`MethodNotAllowed`: an answer no route of API Gateway can reach)."""
        lower = {k.lower(): v for k, v in headers.items()}
        response = self.document["components"]["responses"][name]
        self._check(response, f"/components/responses/{name}", lower, body, name)

    def _check(
        self,
        response: Mapping[str, Any],
        pointer: str,
        headers: Mapping[str, str],
        body: bytes | Any,
        what: str,
    ) -> None:
        problems: list[str] = []
        for name, spec in (response.get("headers") or {}).items():
            header, header_pointer = _resolve(self.document, spec)
            value = headers.get(name.lower())
            if value is None:
                if header.get("required"):
                    problems.append(f"header {name} is required")
                continue
            at = header_pointer or f"{pointer}/headers/{_pointer(name)}"
            problems += [f"header {name}: {m}" for m in self.schema_errors(f"{at}/schema", value)]
        content = response.get("content") or {}
        if content:
            media = headers.get("content-type", "").split(";")[0].strip()
            if media not in content:
                problems.append(f"content-type {media!r} is not one of {', '.join(content)}")
            else:
                instance = body
                if isinstance(body, bytes | bytearray):
                    try:
                        instance = json.loads(body)
                    except ValueError:
                        problems.append(f"the body is not JSON: {bytes(body[:80])!r}")
                        instance = None
                if instance is not None:
                    at = f"{pointer}/content/{_pointer(media)}/schema"
                    problems += self.schema_errors(at, instance)
        if problems:
            raise ContractError(f"{what}: " + "; ".join(problems))


# --- events ---------------------------------------------------------------------------------------


def event_schema_path(detail_type: str) -> Path:
    """`api/events/media.upload.completed.schema.json` for `media.upload.completed`."""
    return EVENTS_DIR / f"{detail_type}.schema.json"


@cache
def event_schema(detail_type: str) -> dict[str, Any]:
    """The JSON Schema of one detail-type's EventBridge events."""
    loaded: dict[str, Any] = json.loads(event_schema_path(detail_type).read_text(encoding="utf-8"))
    return loaded


def event_errors(event: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> list[str]:
    """Messages of an EventBridge event (as a target receives it) against its detail-type's
    schema (or `schema`); an unknown detail-type is one message."""
    from jsonschema import Draft202012Validator

    if schema is None:
        detail_type = str(event.get("detail-type", ""))
        if not event_schema_path(detail_type).is_file():
            return [f"no schema for detail-type {detail_type!r}"]
        schema = event_schema(detail_type)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
        for e in validator.iter_errors(event)
    ]


def validate_event(event: Mapping[str, Any]) -> None:
    """Raise `ContractError` unless `event` conforms to its detail-type's schema."""
    problems = event_errors(event)
    if problems:
        raise ContractError(f"{event.get('detail-type')}: " + "; ".join(problems))


# --- README ---------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _body_fields(doc: Mapping[str, Any], operation: Mapping[str, Any]) -> str:
    """`{a, b, c?}` from the JSON request body's schema (`?`: optional)."""
    content = (operation.get("requestBody") or {}).get("content") or {}
    if "application/json" not in content:
        return ""
    schema, _ = _resolve(doc, content["application/json"]["schema"])
    required = set(schema.get("required", ()))
    names = [n if n in required else f"{n}?" for n in schema.get("properties", {})]
    return "`{" + ", ".join(names) + "}`"


def _parameters(doc: Mapping[str, Any], path: str, operation: Mapping[str, Any]) -> list[Any]:
    """The path item's parameters and the operation's."""
    return [*doc["paths"][path].get("parameters", []), *operation.get("parameters", [])]


def readme_table(document: Mapping[str, Any] | None = None) -> str:
    """The README's routes table (between its markers): route, body, success answers, the
    operations with their default scope, and the error statuses, all from the document."""
    doc = load_document() if document is None else document
    lines = [
        README_TABLE_START,
        "| route | body | answer | operation (default scope) | errors |",
        "|---|---|---|---|---|",
    ]
    for method, path, operation in operations(doc):
        ops = ", ".join(
            f"`{name}` ({scope or 'none'})"
            for name, scope in operation.get("x-mediakit-operations", {}).items()
        )
        auth = "" if operation.get("security", doc.get("security")) else " (no token)"
        answers, errors = [], []
        for status, response in operation.get("responses", {}).items():
            if str(status).startswith("2"):
                resolved, _ = _resolve(doc, response)
                answers.append(f"`{status}` {_cell(resolved.get('description', ''))}")
            else:
                errors.append(str(status))
        query = [
            str(p["name"])
            for p in (_resolve(doc, p)[0] for p in _parameters(doc, path, operation))
            if p.get("in") == "query"
        ]
        shown = path + ("?" + "&".join(f"{q}=" for q in query) if query else "")
        lines.append(
            f"| `{method} {shown}`{auth} | {_body_fields(doc, operation)} | {'; '.join(answers)} "
            f"| {ops} | {', '.join(errors)} |"
        )
    lines.append(README_TABLE_END)
    return "\n".join(lines)


def render_readme(text: str) -> str:
    """`text` (the README) with its routes table regenerated."""
    start, end = text.index(README_TABLE_START), text.index(README_TABLE_END)
    return text[:start] + readme_table() + text[end + len(README_TABLE_END) :]


if __name__ == "__main__":
    readme = ROOT / "README.md"
    readme.write_text(render_readme(readme.read_text(encoding="utf-8")), encoding="utf-8")

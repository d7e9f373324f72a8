"""HTTP front standing in for API Gateway (HTTP API, payload format 2.0) with its JWT authorizer
and CORS configuration, in front of the presign handler.

It matches routes, answers CORS preflights itself, refuses requests without a valid token (or
without a route's scope) with API Gateway's own 401/403 bodies and `www-authenticate` challenge,
and invokes the handler with the v2 event API Gateway would build, claims included, turning the
handler's response back into HTTP. Emulator-only endpoints (the upload page, the dev issuer, the
dev token endpoint: `mediakit.local.site`) are served beside it on the same origin.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from mediakit.local import oidc as jwt
from mediakit.local.lambda_host import LambdaContext
from mediakit.local.lambda_pool import OK, Function, FunctionClosed
from runtime import scopes
from runtime.errors import BadRequest, MediakitError, PayloadTooLarge

log = logging.getLogger("mediakit.local.gateway")

Handler = Callable[[dict[str, Any], Any], Any]

# The routes the stack declares on the HTTP API, as API Gateway route keys (both read them from
# runtime/scopes.py): a Gateway's default, the open ones without the authorizer. The emulator
# serves the synthesized graph's routes and their authorization scopes instead
# (`provision.StackPlan.api_routes`), so a scope the stack sets is enforced here.
ROUTES: tuple[str, ...] = tuple(scopes.ROUTE_OPERATIONS)
# API Gateway's own payload limit for HTTP APIs.
MAX_BODY_BYTES = 10 * 1024 * 1024
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|.*\+json|xml|.*\+xml|x-www-form-urlencoded|javascript))\b"
)


Exchange = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class JwtAuthorizer:
    """The authorizer's configuration: the issuer it trusts (whose JWKS `keys` reads) and the
    audiences it accepts, as the stack's `jwtConfiguration` names them."""

    keys: jwt.KeySource
    issuer: str
    audiences: tuple[str, ...]

    def authorize(self, authorization: str | None) -> dict[str, Any]:
        """Claims of the token in the Authorization header, or `jwt.InvalidToken`."""
        return jwt.verify(
            jwt.bearer_token(authorization),
            keys=self.keys,
            issuer=self.issuer,
            audiences=self.audiences,
        )


class InsufficientScope(Exception):
    """A valid token that grants none of the route's scopes: API Gateway's 403."""


def check_scopes(claims: Mapping[str, Any], required: Collection[str]) -> list[str] | None:
    """The token's scopes for the event (None on a route without scopes, as API Gateway sends
    it); `InsufficientScope` unless the token has at least one of `required` ("If you configure
    scopes for a route, the token must include at least one of the route's scopes", developer
    guide, http-api-jwt-authorizer.html)."""
    if not required:
        return None
    granted = jwt.token_scopes(claims)
    if not set(granted) & set(required):
        raise InsufficientScope("the token does not have a required scope")
    return granted


class Site(Protocol):
    """Endpoints served beside the API on its origin that API Gateway does not have."""

    def handles(self, path: str) -> bool:
        """Whether `path` is one of this site's, tried before the API's routes."""
        ...

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Exchange:
        """One exchange with the site: (status, headers, body)."""
        ...


@dataclass(frozen=True)
class CorsConfig:
    """The HTTP API's CORS configuration (the same origins the bucket allows)."""

    allow_origins: tuple[str, ...] = ()
    # Same values as the stack's `stacks/api.py` (a parity test keeps them in step).
    allow_methods: tuple[str, ...] = ("DELETE", "GET", "OPTIONS", "POST")
    allow_headers: tuple[str, ...] = ("authorization", "content-type", "idempotency-key")
    expose_headers: tuple[str, ...] = ("retry-after",)
    max_age: int = 3600

    def allows(self, origin: str | None) -> bool:
        return bool(origin) and ("*" in self.allow_origins or origin in self.allow_origins)


@dataclass
class Route:
    """One route of the HTTP API: its key, matcher, path parameters and authorization scopes."""

    key: str
    method: str
    pattern: re.Pattern[str]
    params: tuple[str, ...]
    scopes: tuple[str, ...] = ()
    # authorization_type NONE: no authorizer runs and the event carries no claims.
    public: bool = False


def compile_routes(
    keys: Sequence[str],
    scopes: Mapping[str, Sequence[str]] | None = None,
    public: Collection[str] = (),
) -> list[Route]:
    """Turn `METHOD /path/{param}` route keys into matchers (one path segment per param), each
    with its authorization scopes from `scopes` (none by default); the keys in `public` (which
    join `keys`) have no authorizer."""
    routes = []
    for key in [*keys, *(k for k in public if k not in keys)]:
        method, path = key.split(" ", 1)
        params = tuple(re.findall(r"\{(\w+)\}", path))
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
        route_scopes = tuple((scopes or {}).get(key, ()))
        routes.append(
            Route(key, method, re.compile(f"^{regex}$"), params, route_scopes, key in public)
        )
    return routes


def claims_for_event(claims: Mapping[str, Any]) -> dict[str, str]:
    """API Gateway hands claims to the Lambda as strings; lists become `[a b]`."""
    out: dict[str, str] = {}
    for name, value in claims.items():
        if isinstance(value, str):
            out[name] = value
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list):
            out[name] = "[" + " ".join(str(v) for v in value) + "]"
        elif isinstance(value, dict):
            out[name] = json.dumps(value, separators=(",", ":"))
        else:
            out[name] = str(value)
    return out


@dataclass
class Gateway:
    """Route + authorize + build the event + invoke: everything but the socket. `handler` is
    the presign function (`lambda_pool`), or a stand-in callable called in-process."""

    handler: Handler | Function
    authorizer: JwtAuthorizer
    cors: CorsConfig = field(default_factory=CorsConfig)
    routes: list[Route] = field(
        default_factory=lambda: compile_routes(ROUTES, public=scopes.PUBLIC_ROUTES)
    )
    site: Site | None = None
    account_id: str = "123456789012"
    api_id: str = "local"
    function_name: str = "mediakit-presign"
    timeout_seconds: float = 29
    region: str = "us-east-1"

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            if route.method != method:
                continue
            m = route.pattern.match(path)
            if m:
                return route, m.groupdict()
        return None

    def handle(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        host: str,
        source_ip: str,
    ) -> Exchange:
        """One HTTP exchange: (status, headers, body) for the given request."""
        lower = {k.lower(): v for k, v in headers.items()}
        if self.site is not None and self.site.handles(urlsplit(target).path):
            # Emulator-only endpoints: no authorizer, and no CORS grant (same-origin only).
            return self.site.handle(method, target, lower, body)
        origin = lower.get("origin")
        if method == "OPTIONS" and "access-control-request-method" in lower:
            return self._preflight(origin, lower)
        status, out_headers, out_body = self._dispatch(
            method, target, lower, body, host=host, source_ip=source_ip
        )
        if self.cors.allows(origin):
            # API Gateway's CORS headers override whatever the integration returned.
            out_headers = {
                k: v for k, v in out_headers.items() if not k.lower().startswith("access-control-")
            }
            out_headers["access-control-allow-origin"] = origin or ""
            if self.cors.expose_headers:
                out_headers["access-control-expose-headers"] = ",".join(self.cors.expose_headers)
            out_headers["vary"] = "origin"
        return status, out_headers, out_body

    def _preflight(self, origin: str | None, headers: Mapping[str, str]) -> Exchange:
        out: dict[str, str] = {}
        requested = headers.get("access-control-request-method", "").upper()
        if self.cors.allows(origin) and (
            "*" in self.cors.allow_methods or requested in self.cors.allow_methods
        ):
            out = {
                "access-control-allow-origin": origin or "",
                "access-control-allow-methods": ",".join(self.cors.allow_methods),
                "access-control-allow-headers": ",".join(self.cors.allow_headers),
                "access-control-max-age": str(self.cors.max_age),
                "vary": "origin",
            }
        return 204, out, b""

    def _dispatch(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        host: str,
        source_ip: str,
    ) -> Exchange:
        request_id = str(uuid.uuid4())
        base = {"apigw-requestid": request_id}
        split = urlsplit(target)
        found = self.match(method, split.path)
        if found is None:
            return gateway_error(404, "Not Found", base)
        route, params = found
        if len(body) > MAX_BODY_BYTES:
            return _error(PayloadTooLarge("request body exceeds 10 MB"), base)
        if route.public:
            event = self.event(
                route, params, method, split.path, split.query, headers, body, {},
                request_id=request_id, host=host, source_ip=source_ip, authorized=False,
            )  # fmt: skip
            return self._invoke(event, base)
        try:
            claims = self.authorizer.authorize(headers.get("authorization"))
            scopes = check_scopes(claims, route.scopes)
        except jwt.InvalidToken as exc:
            base["www-authenticate"] = _challenge(route.scopes, "invalid_token", str(exc))
            return gateway_error(401, "Unauthorized", base)
        except InsufficientScope as exc:
            base["www-authenticate"] = _challenge(route.scopes, "insufficient_scope", str(exc))
            return gateway_error(403, "Forbidden", base)
        event = self.event(
            route, params, method, split.path, split.query, headers, body, claims,
            request_id=request_id, host=host, source_ip=source_ip, scopes=scopes,
        )  # fmt: skip
        return self._invoke(event, base)

    def event(
        self,
        route: Route,
        params: Mapping[str, str],
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        claims: Mapping[str, Any],
        *,
        request_id: str,
        host: str,
        source_ip: str,
        scopes: list[str] | None = None,
        authorized: bool = True,
    ) -> dict[str, Any]:
        """The payload format 2.0 event API Gateway builds for this request. The headers keep
        `authorization`: the runtime reads the tenant claim's JSON type from the token."""
        now = datetime.now(UTC)
        query_params: dict[str, str] = {}
        # Repeated query parameters arrive comma-joined in v2 events.
        for k, v in parse_qsl(query, keep_blank_values=True):
            query_params[k] = f"{query_params[k]},{v}" if k in query_params else v
        event_headers = {k: v for k, v in headers.items() if k != "cookie"}
        # API Gateway adds the forwarding headers; the scheme is ours (plain HTTP on localhost),
        # so URLs the handler builds from them (status_url) point back here.
        event_headers["x-forwarded-for"] = source_ip
        event_headers["x-forwarded-proto"] = "http"
        event_headers["x-forwarded-port"] = host.rsplit(":", 1)[1] if ":" in host else "80"
        event_headers["x-amzn-trace-id"] = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.key,
            "rawPath": path,
            "rawQueryString": query,
            "headers": event_headers,
            "requestContext": {
                "accountId": self.account_id,
                "apiId": self.api_id,
                "authorizer": {"jwt": {"claims": claims_for_event(claims), "scopes": scopes}},
                "domainName": host,
                "domainPrefix": host.split(".")[0],
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": source_ip,
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": request_id,
                "routeKey": route.key,
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": False,
        }
        if not authorized:
            # A route without an authorizer: API Gateway's event has no authorizer block.
            del event["requestContext"]["authorizer"]
        if "cookie" in headers:
            event["cookies"] = [c.strip() for c in headers["cookie"].split(";") if c.strip()]
        if query_params:
            event["queryStringParameters"] = query_params
        if params:
            event["pathParameters"] = dict(params)
        if body:
            content_type = headers.get("content-type", "")
            if _TEXT_TYPES.match(content_type.lower()):
                try:
                    event["body"] = body.decode("utf-8")
                except UnicodeDecodeError:
                    event["body"] = base64.b64encode(body).decode("ascii")
                    event["isBase64Encoded"] = True
            else:
                event["body"] = base64.b64encode(body).decode("ascii")
                event["isBase64Encoded"] = True
        return event

    def _invoke(self, event: dict[str, Any], base: dict[str, str]) -> Exchange:
        if isinstance(self.handler, Function):
            return self._invoke_function(self.handler, event, base)
        context = LambdaContext(self.function_name, self.timeout_seconds, self.region)
        try:
            response = self.handler(event, context)
        except Exception:
            # Lambda errors surface as 500 from API Gateway; the traceback is the "log stream".
            traceback.print_exc(file=sys.stderr)
            return _error(MediakitError("the integration failed"), base)
        return _response(response, base)

    def _invoke_function(
        self, function: Function, event: dict[str, Any], base: dict[str, str]
    ) -> Exchange:
        try:
            result = function.invoke(event)
        except FunctionClosed:
            return gateway_error(503, "Service Unavailable", base)
        if result.status == OK:
            return _response(result.response, base)
        # An unhandled error, a timeout or a killed environment is a function error to the HTTP
        # API, which answers it with its own 500 body (docs.aws.amazon.com/apigateway/latest/
        # developerguide/http-api-troubleshooting-lambda.html). Its 503 is for its own 30 s
        # integration timeout, which the stack's presign timeout (at most 29 s) always beats.
        log.error("%s: %s: %s", function.name, result.status, result.describe())
        return gateway_error(500, "Internal Server Error", base)


def _challenge(scopes: Sequence[str], error: str, description: str) -> str:
    """The `www-authenticate` value of a refusal, in API Gateway's form: `Bearer scope="..."
    error="invalid_token" error_description="..."`, space-separated ("Troubleshooting issues
    with HTTP API JWT authorizers"). AWS documents the 401's; the 403's `insufficient_scope`
    is RFC 6750 section 3.1's code in the same form."""
    # Descriptions can quote token contents: nothing but printable ASCII may reach a header.
    safe = "".join(c for c in description if " " <= c <= "~" and c not in '"\\')
    return f'Bearer scope="{" ".join(scopes)}" error="{error}" error_description="{safe}"'


def gateway_error(status: int, message: str, base: Mapping[str, str]) -> Exchange:
    """API Gateway's own error response: `{"message": ...}`, not the API's error format."""
    headers = {**base, "content-type": "application/json"}
    # Byte for byte what API Gateway sends: `{"message":"Unauthorized"}` is 26 bytes.
    return status, headers, json.dumps({"message": message}, separators=(",", ":")).encode()


def _error(exc: MediakitError, base: dict[str, str]) -> Exchange:
    headers = {**base, "content-type": "application/json"}
    return exc.http_status, headers, json.dumps(exc.to_body()).encode()


def _response(response: Any, base: dict[str, str]) -> Exchange:
    """Interpret a v2 Lambda response the way API Gateway does."""
    if not isinstance(response, Mapping) or "statusCode" not in response:
        # Without statusCode, API Gateway assumes 200 and serialises the value as JSON.
        return 200, {**base, "content-type": "application/json"}, json.dumps(response).encode()
    headers = {**base}
    for k, v in (response.get("headers") or {}).items():
        headers[str(k).lower()] = str(v)
    for k, values in (response.get("multiValueHeaders") or {}).items():
        headers[str(k).lower()] = ",".join(str(v) for v in values)
    raw = response.get("body") or ""
    if response.get("isBase64Encoded"):
        payload = base64.b64decode(raw)
    else:
        payload = raw.encode("utf-8") if isinstance(raw, str) else json.dumps(raw).encode()
    cookies = response.get("cookies") or []
    if cookies:
        headers["set-cookie"] = "\n".join(cookies)
    headers.setdefault("content-type", "application/json")
    return int(response["statusCode"]), headers, payload


class _RequestHandler(BaseHTTPRequestHandler):
    server: DevApiServer
    protocol_version = "HTTP/1.1"

    def _read_body(self) -> bytes | None:
        """The request body, de-chunked; None when it exceeds API Gateway's limit."""
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailers, if any, end with an empty line.
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _exchange(self) -> Exchange:
        try:
            raw = self._read_body()
        except ValueError:
            self.close_connection = True
            return _error(BadRequest("malformed request body framing"), {})
        if raw is None:
            # The unread rest of the body would be taken for the next request.
            self.close_connection = True
            return _error(PayloadTooLarge("request body exceeds 10 MB"), {})
        # Repeated headers reach the Lambda comma-joined, as API Gateway sends them.
        merged: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            merged[key] = f"{merged[key]},{value}" if key in merged else value
        gateway = self.server.gateway
        if gateway is None:
            return gateway_error(503, "Service Unavailable", {})
        return gateway.handle(
            self.command,
            self.path,
            merged,
            raw,
            host=self.headers.get("host", ""),
            source_ip=self.client_address[0],
        )

    def _serve(self) -> None:
        started = time.monotonic()
        status, headers, body = self._exchange()
        self.send_response(status)
        for k, v in headers.items():
            for line in v.split("\n") if k == "set-cookie" else [v]:
                self.send_header(k, line)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.server.access_log(self.command, self.path, status, time.monotonic() - started)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        # Access lines come from `access_log`; the base class would print every request twice.
        return


class DevApiServer(ThreadingHTTPServer):
    """The HTTP API on localhost, served from a background thread. The socket is bound at
    construction, so the origin (`url`) is known before the gateway behind it is built and
    attached (`gateway`): the bucket's CORS rules name the page's origin."""

    daemon_threads = True

    def __init__(
        self,
        gateway: Gateway | None,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: Callable[[str, str, int, float], None] | None = None,
    ) -> None:
        super().__init__((host, port), _RequestHandler)
        self.gateway = gateway
        self._access_log = access_log
        self._thread: threading.Thread | None = None

    def access_log(self, method: str, path: str, status: int, seconds: float) -> None:
        if self._access_log is not None:
            self._access_log(method, path, status, seconds)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver prints a traceback for any handler error; a client that hung up before
        its answer was written (Ctrl-C on `mediakit demo`, a client timeout) is routine and
        says nothing, anything else is one line (MEDIAKIT_DEBUG=1: the traceback)."""
        from mediakit.errors import debugging, one_line

        exc = sys.exc_info()[1]
        if debugging():
            super().handle_error(request, client_address)
        elif not isinstance(exc, ConnectionError):  # BrokenPipe, ConnectionReset/Aborted
            what = f"{type(exc).__name__}: {exc}" if exc is not None else "unknown error"
            sys.stderr.write(
                f"dev API: a request from {client_address[0]} failed: {one_line(what)}\n"
            )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        return f"http://{shown}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name="devapi", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        # shutdown() waits for serve_forever to return: it would wait forever for a server
        # bound but never started (the emulator failed between the two).
        if self._thread is not None:
            self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

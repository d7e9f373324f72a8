"""Emulator-only endpoints, served on the dev API's origin beside the API Gateway stand-in.
None of them exists on AWS:

- `/dev/` the upload page (`mediakit/local/page/`: static files, no build step);
- `/dev/oidc/.well-known/openid-configuration` and `/dev/oidc/jwks.json`: the dev issuer's
  discovery document and public keys (the issuer URL is `{api origin}/dev/oidc`);
- `POST /dev/token`: a dev token for a tenant, minted with the run's private key, which never
  leaves this process over HTTP;
- `/dev/config.json`: what the page needs to know (issuer, audience, tenant and scope claims);
- `/openapi.json`: the API's OpenAPI document (`api/openapi.yaml`, `mediakit.apispec`).

They answer only same-origin callers: no CORS grant is ever sent, and the token endpoint takes
JSON only (a cross-site page cannot send that without a preflight, which is refused) and only
for a Host naming this server (a DNS-rebinding page cannot pass as it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mediakit import apispec
from mediakit.local.gateway import Exchange, gateway_error
from mediakit.local.oidc import DISCOVERY_PATH, JWKS_PATH, DevIssuer

PREFIX = "/dev"
ISSUER_PATH = f"{PREFIX}/oidc"
TOKEN_PATH = f"{PREFIX}/token"
CONFIG_PATH = f"{PREFIX}/config.json"
OPENAPI_PATH = "/openapi.json"
PAGE_DIR = Path(__file__).parent / "page"
# The page's files and their types; nothing else under /dev/ is read from disk.
PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
MAX_TOKEN_TTL = 86400
# Tenant names as a person types them; odd claim types are what `jwt.sign` is for.
_TENANT = re.compile(r"[A-Za-z0-9._@+-]{1,128}")
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")  # RFC 6749 scope-token
# Scripts only from the page's own files (it shows EXIF and file names: no inline code may
# run); images and requests may go to the API and S3 endpoints the page is pointed at.
_PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src * data: blob:; "
        "connect-src *; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def issuer_url(api_url: str) -> str:
    """The dev issuer's URL for an API served at `api_url`: reachable wherever the API is."""
    return api_url.rstrip("/") + ISSUER_PATH


def page_origins(api_url: str) -> tuple[str, ...]:
    """The origins a browser may load the page from: the API's, and its loopback twin
    (`localhost` and `127.0.0.1` are different origins to a browser)."""
    parts = urlsplit(api_url)
    origins = [f"{parts.scheme}://{parts.netloc}"]
    if parts.hostname in ("127.0.0.1", "localhost") and parts.port:
        twin = "localhost" if parts.hostname == "127.0.0.1" else "127.0.0.1"
        origins.append(f"{parts.scheme}://{twin}:{parts.port}")
    return tuple(origins)


@dataclass(frozen=True)
class DevSite:
    """The emulator-only endpoints. `issuer` is the dev issuer, or None when `mediakit dev`
    trusts a real identity provider (`trusted_issuer`), which mints its own tokens."""

    issuer: DevIssuer | None
    trusted_issuer: str
    audience: str
    tenant_claim: str
    # Host header values the token endpoint answers to: this server's own names.
    hosts: frozenset[str]
    scope_claim: str = "scope"

    def handles(self, path: str) -> bool:
        """`/`, `/openapi.json` and everything under `/dev`: paths the API's routes never use."""
        return path in ("/", PREFIX, OPENAPI_PATH) or path.startswith(PREFIX + "/")

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Exchange:
        """Serve one emulator-only request; never with a CORS grant."""
        path = urlsplit(target).path
        if path in ("/", PREFIX):
            return 302, {"location": f"{PREFIX}/", "content-type": "text/plain"}, b""
        if path == TOKEN_PATH:
            if method != "POST":
                return _method_not_allowed("POST")
            return self._token(headers, body)
        if method not in ("GET", "HEAD"):
            return _method_not_allowed("GET, HEAD")
        if path == CONFIG_PATH:
            return _json(200, self.config())
        if path == OPENAPI_PATH:
            headers = {"content-type": "application/json", "cache-control": "no-cache"}
            return 200, headers, apispec.document_json()
        if self.issuer is not None and path == ISSUER_PATH + DISCOVERY_PATH:
            return _json(200, self.issuer.discovery())
        if self.issuer is not None and path == ISSUER_PATH + JWKS_PATH:
            return _json(200, self.issuer.jwks())
        name = path[len(PREFIX) + 1 :] or "index.html"
        if name in PAGE_FILES:
            data = (PAGE_DIR / name).read_bytes()
            return 200, {**_PAGE_HEADERS, "content-type": PAGE_FILES[name]}, data
        return gateway_error(404, "Not Found", {})

    def config(self) -> dict[str, Any]:
        """What the page shows and needs: who issues tokens, and whether it can mint one."""
        return {
            "issuer": self.trusted_issuer,
            "audience": self.audience,
            "tenant_claim": self.tenant_claim,
            "scope_claim": self.scope_claim,
            "dev_tokens": self.issuer is not None,
            "token_path": TOKEN_PATH,
        }

    def _token(self, headers: Mapping[str, str], body: bytes) -> Exchange:
        if self.issuer is None:
            return _problem(
                404,
                f"mediakit dev trusts {self.trusted_issuer}: get a token from that identity "
                "provider and paste it into the page",
            )
        if headers.get("host", "").lower() not in self.hosts:
            # DNS rebinding: a page on evil.example resolving to 127.0.0.1 is same-origin
            # with itself, not with us, and its requests name its own host.
            return _problem(403, "the Host header does not name this emulator")
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return _problem(403, "dev tokens are minted for this origin's page only")
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _problem(415, "send the request as application/json")
        try:
            request = json.loads(body or b"{}")
        except (ValueError, RecursionError):
            return _problem(400, "the body is not JSON")
        if not isinstance(request, dict):
            return _problem(400, "the body must be a JSON object")
        tenant = request.get("tenant")
        ttl = request.get("ttl", 3600)
        scopes = request.get("scopes", [])
        if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant):
            return _problem(400, "tenant must be 1-128 of A-Z a-z 0-9 . _ @ + -")
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= MAX_TOKEN_TTL:
            return _problem(400, f"ttl must be an integer from 1 to {MAX_TOKEN_TTL} seconds")
        if not isinstance(scopes, list) or not all(
            isinstance(s, str) and _SCOPE.fullmatch(s) for s in scopes
        ):
            return _problem(400, "scopes must be a list of OAuth scope names")
        token = self.issuer.issue(
            audience=self.audience,
            tenant_claim=self.tenant_claim,
            tenant=tenant,
            ttl_seconds=ttl,
            scopes=scopes,
            scope_claim=self.scope_claim,
        )
        # RFC 6749 section 5.1's shape, so the page reads it like any token response.
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": ttl}
        status, out, data = _json(200, answer)
        out["pragma"] = "no-cache"
        return status, out, data


def _json(status: int, value: Any) -> Exchange:
    headers = {"content-type": "application/json", "cache-control": "no-store"}
    return status, headers, json.dumps(value, indent=2).encode()


def _problem(status: int, message: str) -> Exchange:
    """An emulator-only endpoint's error, in the API's error format (it is not API Gateway's)."""
    code = {400: "bad_request", 403: "forbidden", 404: "not_found", 415: "unsupported"}[status]
    return _json(status, {"error": {"code": code, "message": message}})


def _method_not_allowed(allow: str) -> Exchange:
    headers = {"content-type": "application/json", "allow": allow}
    body = {"error": {"code": "method_not_allowed", "message": f"use {allow}"}}
    return 405, headers, json.dumps(body).encode()

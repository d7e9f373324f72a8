"""CORS as S3 applies a bucket's CORS configuration: preflight OPTIONS answered from the first
rule that matches (origin, requested method, every requested header) or refused with 403, and
the Access-Control-* headers S3 adds to an actual request from a matching origin.

https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html#cors-eval-criteria
https://docs.aws.amazon.com/AmazonS3/latest/userguide/ManageCorsUsing.html
https://docs.aws.amazon.com/AmazonS3/latest/API/RESTOPTIONSobject.html
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from mediakit.local.s3.errors import S3Error

# The methods a CORSRule may allow; a preflight asking for another is malformed.
CORS_METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
# What S3 varies a CORS answer on.
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


@dataclass(frozen=True)
class CorsRule:
    """One CORSRule of a bucket's CORS configuration."""

    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None


@lru_cache(maxsize=256)
def _pattern(allowed: str) -> re.Pattern[str]:
    # An AllowedOrigin or AllowedHeader may hold one `*`, which matches any run of characters.
    return re.compile(".*".join(re.escape(part) for part in allowed.split("*")) + r"\Z", re.DOTALL)


def origin_allowed(rule: CorsRule, origin: str) -> bool:
    """Origins are compared as written (scheme and port included), with `*` wildcards."""
    return any(_pattern(allowed).match(origin) for allowed in rule.allowed_origins)


def headers_allowed(rule: CorsRule, requested: Sequence[str]) -> bool:
    """Every requested header must match an AllowedHeader; header names ignore case."""
    allowed = [a.lower() for a in rule.allowed_headers]
    return all(any(_pattern(a).match(h) for a in allowed) for h in requested)


def matching_rule(
    rules: Sequence[CorsRule], origin: str, method: str, requested: Sequence[str] = ()
) -> CorsRule | None:
    """The first rule allowing this origin, method and requested headers (S3 uses the first
    match, not the most specific)."""
    for rule in rules:
        if (
            method in rule.allowed_methods
            and origin_allowed(rule, origin)
            and headers_allowed(rule, requested)
        ):
            return rule
    return None


def requested_headers(value: str | None) -> tuple[str, ...]:
    """Access-Control-Request-Headers as a tuple of lower-cased names."""
    return tuple(h.strip().lower() for h in (value or "").split(",") if h.strip())


def cors_headers(
    rule: CorsRule, origin: str, requested: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """The Access-Control-* headers S3 answers with for a matched rule: the origin echoed (or `*`
    for a wildcard rule, which then allows no credentials), the rule's methods, the requested
    headers, the exposed headers and the preflight cache age."""
    wildcard = "*" in rule.allowed_origins
    headers = [("Access-Control-Allow-Origin", "*" if wildcard else origin)]
    if not wildcard:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    headers.append(("Vary", VARY))
    headers.append(("Access-Control-Allow-Methods", ", ".join(rule.allowed_methods)))
    if requested:
        headers.append(("Access-Control-Allow-Headers", ", ".join(requested)))
    if rule.expose_headers:
        headers.append(("Access-Control-Expose-Headers", ", ".join(rule.expose_headers)))
    if rule.max_age_seconds is not None:
        headers.append(("Access-Control-Max-Age", str(rule.max_age_seconds)))
    return headers


def preflight(
    rules: Sequence[CorsRule] | None,
    *,
    bucket_exists: bool,
    origin: str | None,
    method: str | None,
    request_headers: str | None,
    resource_type: str,
) -> list[tuple[str, str]]:
    """Answer a preflight OPTIONS: the headers of a 200, or S3's error for a refused one.
    `rules` is the bucket's CORS configuration (None: the bucket has none)."""
    if not origin:
        raise S3Error(400, "BadRequest", "Insufficient information. Origin request header needed.")
    if method not in CORS_METHODS:
        raise S3Error(
            400, "BadRequest", f"Invalid Access-Control-Request-Method: {method or 'null'}"
        )
    refused = (("Method", method), ("ResourceType", resource_type))
    if not bucket_exists:
        raise S3Error(403, "AccessForbidden", "CORSResponse: Bucket not found", refused)
    if not rules:
        raise S3Error(
            403, "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", refused
        )
    requested = requested_headers(request_headers)
    rule = matching_rule(rules, origin, method, requested)
    if rule is None:
        raise S3Error(
            403,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution "
            "of Origin, request method / Access-Control-Request-Method or "
            "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            refused,
        )
    return cors_headers(rule, origin, requested)


def actual_request_headers(
    rules: Sequence[CorsRule] | None, origin: str | None, method: str
) -> list[tuple[str, str]]:
    """The CORS headers of an actual (non-preflight) response: S3 adds them when a rule allows
    the request's origin and method, and adds none otherwise (the browser then blocks the
    page from reading the answer; S3 still carries out the request)."""
    if not origin or not rules:
        return []
    rule = matching_rule(rules, origin, method)
    return cors_headers(rule, origin) if rule is not None else []

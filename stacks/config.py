"""Stack configuration: the shared `Settings` plus the keys only the infrastructure needs.

Read once in `__main__.py` through `StackConfig.from_config(get)`; every invalid value raises
`SettingsError` naming the Pulumi config key. `config_reference()` lists every key with type,
default and description: Pulumi.yaml's `config:` block and the README table come from it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from runtime.errors import SettingsError
from runtime.registry import AWS_PROVIDER_KEYS, CLI_ENV, check_stack_keys
from runtime.registry import NAMESPACE as NAMESPACE
from runtime.settings import Settings, describe
from stacks.artifact import DEFAULT_ARCH, DEFAULT_PYTHON, LAMBDA_PYTHONS

ENVIRONMENTS = ("dev", "prod")
ARCHITECTURES = ("arm64", "x86_64")
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")

_HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~%/-]*)?$")
_ORIGIN = re.compile(r"^https://[A-Za-z0-9.-]+(:\d{1,5})?$")
_LOCAL_ORIGIN = re.compile(r"^http://(localhost|127\.0\.0\.1)(:\d{1,5})?$")
# Lowercase only: hostnames are case-insensitive, and one spelling keeps the config, the
# certificate's names and the user's DNS records comparable.
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ARN_PARTITION = r"arn:aws(-cn|-us-gov)?"
_ACM_ARN = re.compile(
    rf"^{_ARN_PARTITION}:acm:(?P<region>[a-z]{{2}}(-gov)?-[a-z]+-\d):\d{{12}}:certificate/[0-9a-f-]{{36}}$"
)
_KMS_KEY_ARN = re.compile(
    rf"^{_ARN_PARTITION}:kms:(?P<region>[a-z]{{2}}(-gov)?-[a-z]+-\d):\d{{12}}:key/(mrk-)?[0-9a-f-]{{32,36}}$"
)
# A web ACL for CloudFront is global: scope CLOUDFRONT, created in us-east-1.
_CLOUDFRONT_WEB_ACL_ARN = re.compile(
    rf"^{_ARN_PARTITION}:wafv2:us-east-1:\d{{12}}:global/webacl/[A-Za-z0-9_-]{{1,128}}/[0-9a-f-]{{36}}$"
)
# CloudFront reads its certificate from ACM in us-east-1 only.
CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"
# Tag rules common to every taggable service (the strictest of them): key 1..128, value 0..256,
# letters, digits, spaces and _ . : / = + - @; `aws:` is reserved; at most 50 per resource.
_TAG_TEXT = re.compile(r"^[\w .:/=+\-@]*$")
MAX_TAGS = 50
# The kit's own tags on every taggable resource; `tags` may not set these keys.
KIT_TAG_PREFIX = "mediakit:"
# Reserved for documentation (RFC 2606, RFC 6761): a deployment using them answers nobody.
_PLACEHOLDER_DOMAINS = ("example.com", "example.net", "example.org")
_PLACEHOLDER_TLDS = ("example", "invalid", "test")


@dataclass(frozen=True)
class ConfigKey:
    """One infrastructure config key: Pulumi type, default (None = required) and description."""

    key: str
    type: str  # string | integer | boolean | array (of strings)
    default: Any
    doc: str
    # integer keys: the enforced range, lo..hi inclusive (printed in Pulumi.yaml and the README)
    bounds: tuple[int, int] | None = None
    # what docs print as the allowed values, when the bounds alone do not say it
    allowed_text: str = ""

    @property
    def allowed(self) -> str:
        if self.allowed_text or not self.bounds:
            return self.allowed_text
        return f"{self.bounds[0]}..{self.bounds[1]}"


INFRA_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey(
        "environment",
        "string",
        "prod",
        "dev or prod. prod protects and retains the bucket, table and key, turns on table "
        "deletion protection and requires corsOrigins; dev lets `pulumi destroy` empty buckets.",
    ),
    ConfigKey("jwtIssuer", "string", None, "JWT issuer URL (https) of the API's authorizer."),
    ConfigKey("jwtAudience", "array", None, "Accepted JWT audiences (at least one)."),
    ConfigKey(
        "corsOrigins",
        "array",
        [],
        "Browser origins allowed by the API and the bucket (https://host[:port]; "
        "http://localhost in dev only). Required in prod.",
    ),
    ConfigKey(
        "lambdaArchitecture", "string", DEFAULT_ARCH, "Lambda architecture: arm64 or x86_64."
    ),
    ConfigKey(
        "lambdaPython",
        "string",
        DEFAULT_PYTHON,
        "Lambda Python runtime version: 3.12, 3.13 or 3.14.",
    ),
    ConfigKey(
        "presignMemoryMb",
        "integer",
        256,
        "Presign Lambda memory (128..10240 MB).",
        bounds=(128, 10240),
    ),
    ConfigKey(
        "presignTimeoutSeconds", "integer", 10, "Presign Lambda timeout (1..29 s).", bounds=(1, 29)
    ),
    ConfigKey(
        "presignReservedConcurrency",
        "integer",
        -1,
        "Reserved concurrency of the presign Lambda (1..1000); -1 leaves it unreserved. Lambda "
        "keeps 100 of the account's concurrency unreserved, so reserving N needs an account "
        "quota of at least N + 100 (new accounts may have 10): see docs/deploy.md.",
        bounds=(-1, 1000),
        allowed_text="-1, or 1..1000",
    ),
    ConfigKey(
        "apiThrottleRateLimit",
        "integer",
        50,
        "API steady-state requests per second.",
        bounds=(1, 10000),
    ),
    ConfigKey("apiThrottleBurstLimit", "integer", 100, "API burst of requests.", bounds=(1, 5000)),
    ConfigKey(
        "alarmQueueAgeSeconds",
        "integer",
        900,
        "Alarm when the oldest ingest message is older than this.",
        bounds=(60, 1209600),
    ),
    ConfigKey(
        "alarmProcessorErrors",
        "integer",
        1,
        "Alarm when at least this many ingest messages fail in 5 minutes: returned for retry "
        "(batchItemFailures), or in a failed, timed-out or crashed invocation.",
        bounds=(1, 100000),
    ),
    ConfigKey(
        "alarmUploadFailures",
        "integer",
        10,
        "Alarm when at least this many uploads end failed in 5 minutes (the processor's "
        "UploadsFailed metric; hostile or broken files fail on purpose, so not 1).",
        bounds=(1, 100000),
    ),
    ConfigKey(
        "alarmEmail", "string", "", "Email subscribed to the alarm topic (empty: no subscription)."
    ),
    ConfigKey(
        "cdnPriceClass",
        "string",
        "PriceClass_100",
        "CloudFront price class: PriceClass_100, PriceClass_200 or PriceClass_All.",
    ),
    ConfigKey(
        "eventArchiveDays",
        "integer",
        30,
        "Days the EventBridge archive keeps upload events (0: no archive).",
        bounds=(0, 36500),
    ),
    ConfigKey(
        "tags",
        "string",
        "{}",
        "Tags for every taggable resource, beside the kit's own mediakit:project and "
        'mediakit:stack. A JSON object string, e.g. \'{"team":"media","cost-center":"42"}\'.',
    ),
    ConfigKey(
        "cdnDomainName",
        "string",
        "",
        "Custom domain of the CDN (e.g. media.example.org), served with cdnCertificateArn and "
        "TLSv1.2_2021; empty: the distribution's *.cloudfront.net name. DNS stays yours.",
    ),
    ConfigKey(
        "cdnCertificateArn",
        "string",
        "",
        "ACM certificate for cdnDomainName; CloudFront needs it in us-east-1.",
    ),
    ConfigKey(
        "apiDomainName",
        "string",
        "",
        "Custom domain of the HTTP API (e.g. api.example.org), mapped to its $default stage; "
        "empty: the execute-api endpoint only. DNS stays yours.",
    ),
    ConfigKey(
        "apiCertificateArn",
        "string",
        "",
        "ACM certificate for apiDomainName, in the stack's own region.",
    ),
    ConfigKey(
        "cdnWebAclArn",
        "string",
        "",
        "WAFv2 web ACL (scope CLOUDFRONT, us-east-1) attached to the distribution. WAF cannot "
        "attach to an HTTP API.",
    ),
    ConfigKey(
        "kmsKeyArn",
        "string",
        "",
        "Existing KMS key (key ARN, stack region) to use instead of creating one. The stack then "
        "leaves its key policy alone: the kms_key_policy output lists what it must allow.",
    ),
    ConfigKey(
        "deliveryKeyGenerations",
        "array",
        ["1"],
        "Private delivery: the signing key generations CloudFront trusts (1..5 names of "
        "a-z0-9-, up to 16 characters), one KMS RSA 2048 key and CloudFront public key each. "
        "Rotate by appending a generation, then removing the old one once every URL it signed "
        "expired (deliveryUrlTtlSeconds): see docs/deploy.md.",
    ),
    ConfigKey(
        "deliverySigningGeneration",
        "string",
        "",
        "The generation that signs URLs (one of deliveryKeyGenerations); empty: the last one.",
    ),
    ConfigKey(
        "cursorKeyGenerations",
        "array",
        ["1"],
        "The listing cursors' MAC key generations (1..5 names of a-z0-9-, up to 16 "
        "characters), one KMS HMAC_256 key each; the last makes new cursors, every listed one "
        "checks them. Rotate by appending a generation, then removing the old one (its cursors "
        "then answer 400 invalid_cursor and clients list again from the start).",
    ),
)


_BOUNDS = {k.key: k.bounds for k in INFRA_KEYS}


@dataclass(frozen=True)
class StackConfig:
    """Everything the stack reads from config, validated."""

    stack: str
    settings: Settings
    environment: str
    jwt_issuer: str
    jwt_audience: tuple[str, ...]
    cors_origins: tuple[str, ...]
    lambda_architecture: str
    lambda_python: str
    presign_memory_mb: int
    presign_timeout_seconds: int
    presign_reserved_concurrency: int
    api_throttle_rate_limit: int
    api_throttle_burst_limit: int
    alarm_queue_age_seconds: int
    alarm_processor_errors: int
    alarm_upload_failures: int
    alarm_email: str
    cdn_price_class: str
    event_archive_days: int
    tags: tuple[tuple[str, str], ...] = ()
    cdn_domain_name: str = ""
    cdn_certificate_arn: str = ""
    api_domain_name: str = ""
    api_certificate_arn: str = ""
    cdn_web_acl_arn: str = ""
    kms_key_arn: str = ""
    delivery_key_generations: tuple[str, ...] = ("1",)
    delivery_signing_generation: str = "1"
    cursor_key_generations: tuple[str, ...] = ("1",)

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def protect_data(self) -> bool:
        """Protect (and retain on delete) the bucket, table and key: prod only."""
        return self.is_prod

    @property
    def force_destroy(self) -> bool:
        """Let `pulumi destroy` delete non-empty buckets: dev only."""
        return not self.is_prod

    @property
    def lambda_runtime(self) -> str:
        return f"python{self.lambda_python}"

    def check_region(self, region: str) -> None:
        """Refuse what must live in the stack's region and does not (known only at run time)."""
        for key, arn, pattern in (
            ("apiCertificateArn", self.api_certificate_arn, _ACM_ARN),
            ("kmsKeyArn", self.kms_key_arn, _KMS_KEY_ARN),
        ):
            match = pattern.match(arn)
            if match is not None and match.group("region") != region:
                raise _refused(
                    key, f"must be in the stack's region {region}, got {match.group('region')}"
                )

    def placeholders(self) -> list[tuple[str, str]]:
        """(key, value) of every setting still on a documentation domain (example.com, ...)."""
        found: list[tuple[str, str]] = [("jwtIssuer", self.jwt_issuer)]
        found += [("corsOrigins", origin) for origin in self.cors_origins]
        found += [("alarmEmail", self.alarm_email)]
        found += [("cdnDomainName", self.cdn_domain_name), ("apiDomainName", self.api_domain_name)]
        return [(key, value) for key, value in found if value and _is_placeholder(value)]

    def refuse_placeholders(self) -> None:
        """Fail a real deployment that still carries an example issuer, origin, email or domain:
        it would deploy fine and answer 401 to everyone, or page nobody."""
        found = self.placeholders()
        if found:
            listed = ", ".join(f"{NAMESPACE}:{key}={value}" for key, value in found)
            raise _refused(
                found[0][0],
                f"placeholder values reach a real deployment ({listed}): set your own with "
                "`pulumi config set` (see docs/deploy.md, First deploy)",
            )

    @classmethod
    def from_config(cls, get: Callable[[str], Any], stack: str) -> StackConfig:
        """Read and validate; `get(key)` returns the raw config value or None."""
        settings = Settings.from_config(get)
        raw = {k.key: _raw(get, k) for k in INFRA_KEYS}

        environment = _choice(raw, "environment", ENVIRONMENTS)
        issuer = _string(raw, "jwtIssuer")
        if not _HTTPS_URL.match(issuer):
            raise _refused("jwtIssuer", f"must be an https URL, got {issuer!r}")
        audience = _strings(raw, "jwtAudience")
        if not audience:
            raise _refused("jwtAudience", "must name at least one audience")
        origins = _strings(raw, "corsOrigins")
        for origin in origins:
            if _ORIGIN.match(origin):
                continue
            if environment == "dev" and _LOCAL_ORIGIN.match(origin):
                continue
            raise _refused(
                "corsOrigins",
                f"{origin!r} is not an origin (https://host[:port]; http://localhost in dev)",
            )
        if environment == "prod" and not origins:
            raise _refused("corsOrigins", "must list at least one origin in prod")
        reserved = _int(raw, "presignReservedConcurrency")
        if reserved == 0:
            # Zero reserved concurrency throttles every invocation: the API would answer 500s.
            raise _refused("presignReservedConcurrency", "0 disables the function; use -1")
        cdn_domain, cdn_certificate = _domain_pair(raw, "cdnDomainName", "cdnCertificateArn")
        if cdn_certificate:
            region = _match(raw, "cdnCertificateArn", _ACM_ARN, "an ACM certificate ARN")
            if region.group("region") != CLOUDFRONT_CERTIFICATE_REGION:
                raise _refused(
                    "cdnCertificateArn",
                    f"CloudFront reads certificates from {CLOUDFRONT_CERTIFICATE_REGION} only, "
                    f"got {region.group('region')}",
                )
        api_domain, api_certificate = _domain_pair(raw, "apiDomainName", "apiCertificateArn")
        if api_certificate:
            _match(raw, "apiCertificateArn", _ACM_ARN, "an ACM certificate ARN")
        web_acl = _string(raw, "cdnWebAclArn")
        if web_acl:
            _match(
                raw,
                "cdnWebAclArn",
                _CLOUDFRONT_WEB_ACL_ARN,
                "a WAFv2 web ACL ARN of scope CLOUDFRONT (arn:aws:wafv2:us-east-1:...:global/...)",
            )
        kms_key = _string(raw, "kmsKeyArn")
        if kms_key:
            _match(raw, "kmsKeyArn", _KMS_KEY_ARN, "a KMS key ARN (arn:aws:kms:...:key/...)")

        return cls(
            stack=stack,
            settings=settings,
            environment=environment,
            jwt_issuer=issuer,
            jwt_audience=audience,
            cors_origins=origins,
            lambda_architecture=_choice(raw, "lambdaArchitecture", ARCHITECTURES),
            lambda_python=_choice(raw, "lambdaPython", LAMBDA_PYTHONS),
            presign_memory_mb=_int(raw, "presignMemoryMb"),
            presign_timeout_seconds=_int(raw, "presignTimeoutSeconds"),
            presign_reserved_concurrency=reserved,
            api_throttle_rate_limit=_int(raw, "apiThrottleRateLimit"),
            api_throttle_burst_limit=_int(raw, "apiThrottleBurstLimit"),
            alarm_queue_age_seconds=_int(raw, "alarmQueueAgeSeconds"),
            alarm_processor_errors=_int(raw, "alarmProcessorErrors"),
            alarm_upload_failures=_int(raw, "alarmUploadFailures"),
            alarm_email=_email(raw, "alarmEmail"),
            cdn_price_class=_choice(raw, "cdnPriceClass", PRICE_CLASSES),
            event_archive_days=_int(raw, "eventArchiveDays"),
            tags=_tags(raw, "tags"),
            cdn_domain_name=cdn_domain,
            cdn_certificate_arn=cdn_certificate,
            api_domain_name=api_domain,
            api_certificate_arn=api_certificate,
            cdn_web_acl_arn=web_acl,
            kms_key_arn=kms_key,
            **_delivery_keys(raw),
            cursor_key_generations=_generations(raw, "cursorKeyGenerations"),
        )

    def values(self) -> dict[str, Any]:
        """The effective config, keyed as in Pulumi config (for the synth graph)."""
        out: dict[str, Any] = {}
        for row in describe():
            value = getattr(self.settings, row["field"])
            if row["field"] == "derivatives":
                value = [d.to_json() for d in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[row["config"]] = value
        infra_fields = {
            "environment": self.environment,
            "jwtIssuer": self.jwt_issuer,
            "jwtAudience": list(self.jwt_audience),
            "corsOrigins": list(self.cors_origins),
            "lambdaArchitecture": self.lambda_architecture,
            "lambdaPython": self.lambda_python,
            "presignMemoryMb": self.presign_memory_mb,
            "presignTimeoutSeconds": self.presign_timeout_seconds,
            "presignReservedConcurrency": self.presign_reserved_concurrency,
            "apiThrottleRateLimit": self.api_throttle_rate_limit,
            "apiThrottleBurstLimit": self.api_throttle_burst_limit,
            "alarmQueueAgeSeconds": self.alarm_queue_age_seconds,
            "alarmProcessorErrors": self.alarm_processor_errors,
            "alarmUploadFailures": self.alarm_upload_failures,
            "alarmEmail": self.alarm_email,
            "cdnPriceClass": self.cdn_price_class,
            "eventArchiveDays": self.event_archive_days,
            "tags": dict(self.tags),
            "cdnDomainName": self.cdn_domain_name,
            "cdnCertificateArn": self.cdn_certificate_arn,
            "apiDomainName": self.api_domain_name,
            "apiCertificateArn": self.api_certificate_arn,
            "cdnWebAclArn": self.cdn_web_acl_arn,
            "kmsKeyArn": self.kms_key_arn,
            "deliveryKeyGenerations": list(self.delivery_key_generations),
            "deliverySigningGeneration": self.delivery_signing_generation,
            "cursorKeyGenerations": list(self.cursor_key_generations),
        }
        out.update(infra_fields)
        return out


def config_reference() -> list[dict[str, Any]]:
    """Every config key (settings first, then infrastructure) as rows for docs and Pulumi.yaml:
    key, environment variable ("" for infrastructure keys), type, default, the values the
    validator allows ("" when not a range) and the description with those values appended."""
    rows: list[dict[str, Any]] = []
    for row in describe():
        pulumi_type = {
            "integer": "integer",
            "list of strings": "array",
            "boolean": "boolean",
        }.get(row["type"], "string")
        default = row["default"]
        doc = row["doc"]
        if row["type"] == "list of objects":
            # Pulumi project config has no object arrays: the value is a JSON string.
            default = json.dumps(default, separators=(",", ":"))
            doc = f"{doc} A JSON string."
        rows.append(_row(row["config"], row["env"], pulumi_type, default, doc, row["allowed"]))
    for key in INFRA_KEYS:
        rows.append(_row(key.key, "", key.type, key.default, key.doc, key.allowed))
    return rows


def _row(key: str, env: str, type_: str, default: Any, doc: str, allowed: str) -> dict[str, Any]:
    if allowed and not documents_allowed(doc, allowed):
        doc = f"{doc} Allowed: {allowed}."
    return {
        "key": key,
        "env": env,
        "type": type_,
        "default": default,
        "doc": doc,
        "allowed": allowed,
    }


def documents_allowed(doc: str, allowed: str) -> bool:
    """Whether `doc` already states `allowed` (spaces and digit commas aside)."""

    def squash(text: str) -> str:
        return re.sub(r"(?<=\d),(?=\d{3})", "", text).replace(" ", "")

    return squash(allowed) in squash(doc)


README_TABLE_START = "<!-- config-reference: generated by `python -m stacks.config` -->"
README_TABLE_END = "<!-- /config-reference -->"

README_ENVIRONMENT = """\
Every setting also has an environment form, its **environment** column, read by the Lambdas
and by `mediakit dev` (where it overrides the stack file's value), `demo`, `loadtest` and the
operator commands; the infrastructure keys (no environment column) exist in stack files only.
Environment values are text: integers as digits, booleans as `true` or `false`, arrays as a
comma-separated list (`MEDIAKIT_MEDIA_KINDS=image,audio`) or a JSON list
(`MEDIAKIT_ALLOWED_TYPES='["image/jpeg","image/png"]'`), `derivatives` as a JSON list of objects
(`MEDIAKIT_DERIVATIVES='[{{"name":"thumb","max_edge":320,"format":"webp"}}]'`). An empty value is
refused (leave the key or variable out to get the default), except where empty is the default
or means none: `gpsAllowedTenants`, `operationScopes` (every operation keeps its default scope)
and the infrastructure keys whose default is empty. Any `MEDIAKIT_*` variable, `mediakit:` key
or key without a namespace that nothing reads is refused, naming the closest known one; so is an
`aws:` key the pulumi-aws provider does not read ({aws_count} keys: {aws_keys}). Keys of other
namespaces (`pulumi:`, another package's) are left alone. The registry of every accepted name is
`runtime/registry.py`.
"""


def readme_table() -> str:
    """The README's configuration reference (between its markers), from the same rows: the
    environment forms, the keys table, and the CLI's own variables."""
    lines = [
        README_TABLE_START,
        README_ENVIRONMENT.format(
            aws_count=len(AWS_PROVIDER_KEYS),
            aws_keys=", ".join(f"`{k}`" for k in AWS_PROVIDER_KEYS),
        ),
        "| key | environment | type | default | description |",
        "|---|---|---|---|---|",
    ]
    for row in config_reference():
        if row["default"] is None:
            default = "**required**"
        elif row["key"] == "derivatives":
            default = "thumb 320 / medium 1280 / large 2048 (jpeg, q82)"
        else:
            default = "`" + json.dumps(row["default"]) + "`"
        doc = str(row["doc"]).replace("|", "\\|")
        env = f"`{row['env']}`" if row["env"] else ""
        lines.append(f"| `{NAMESPACE}:{row['key']}` | {env} | {row['type']} | {default} | {doc} |")
    lines += [
        "",
        "The CLI's own variables, each standing in for an option (`mediakit <command> --help`); "
        "the functions' resource names (`MEDIAKIT_BUCKET`, ...) are set by the stack or the "
        "emulator, never by hand:",
        "",
        "| variable | read by |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {what} |" for name, what in sorted(CLI_ENV.items())]
    lines.append(README_TABLE_END)
    return "\n".join(lines)


def render_readme(text: str) -> str:
    """`text` (the README) with its configuration table regenerated."""
    start, end = text.index(README_TABLE_START), text.index(README_TABLE_END)
    return text[:start] + readme_table() + text[end + len(README_TABLE_END) :]


def project_config_schema() -> dict[str, dict[str, Any]]:
    """The `config:` block of Pulumi.yaml (project-level key declarations)."""
    schema: dict[str, dict[str, Any]] = {}
    for row in config_reference():
        entry: dict[str, Any] = {"type": row["type"], "description": row["doc"]}
        if row["type"] == "array":
            entry["items"] = {"type": "string"}
        if row["default"] is not None:
            entry["default"] = row["default"]
        schema[row["key"]] = entry
    return schema


PROJECT_FILE_HEADER = """\
# Generated by `python -m stacks.config` from runtime.settings.describe() and
# stacks.config.INFRA_KEYS; tests/stack/test_config.py fails when this file is stale.
"""


def render_project_file() -> str:
    """The whole Pulumi.yaml: project, runtime, and every config key with type and default."""
    import yaml

    project = {
        "name": NAMESPACE,
        "description": "Secure direct-to-S3 media upload pipeline: upload API, processing, CDN.",
        "main": "stacks/",
        "runtime": {"name": "python", "options": {"virtualenv": ".venv", "toolchain": "pip"}},
        "config": project_config_schema(),
    }
    return PROJECT_FILE_HEADER + yaml.safe_dump(project, sort_keys=False, width=100)


# --- parsing ------------------------------------------------------------------------------------


def _refused(key: str, problem: str) -> SettingsError:
    """The refusal of an infrastructure key, named as a stack file spells it."""
    return SettingsError(f"{NAMESPACE}:{key}", problem)


def _raw(get: Callable[[str], Any], key: ConfigKey) -> Any:
    value = get(key.key)
    if value is None:
        return key.default
    if isinstance(value, str) and not value.strip():
        # Empty is a value only where it is the documented default ("" or []: none); anywhere
        # else it would silently deploy the default.
        if key.default in ("", []):
            return key.default
        default = "none: the key is required" if key.default is None else json.dumps(key.default)
        raise _refused(
            key.key, f"is empty: give it a value, or leave it out for the default ({default})"
        )
    return value


def _string(raw: dict[str, Any], key: str) -> str:
    value = raw[key]
    if value is None:
        raise _refused(key, "is required")
    if not isinstance(value, str):
        raise _refused(key, f"must be a string, got {value!r}")
    return value.strip()


def _choice(raw: dict[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = _string(raw, key)
    if value not in choices:
        raise _refused(key, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _int(raw: dict[str, Any], key: str) -> int:
    bounds = _BOUNDS[key]
    assert bounds is not None, f"{key} declares no bounds"
    lo, hi = bounds
    value = raw[key]
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        value = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refused(key, f"must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise _refused(key, f"must be between {lo} and {hi}, got {value}")
    return value


def _strings(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    value = raw[key]
    if value is None:
        raise _refused(key, "is required")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _refused(key, f"is not valid JSON: {exc.msg}") from None
        else:
            value = text.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _refused(key, "must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def _match(raw: dict[str, Any], key: str, pattern: re.Pattern[str], what: str) -> re.Match[str]:
    value = _string(raw, key)
    match = pattern.match(value)
    if match is None:
        raise _refused(key, f"must be {what}, got {value!r}")
    return match


def _domain_pair(raw: dict[str, Any], domain_key: str, certificate_key: str) -> tuple[str, str]:
    """A custom domain and its certificate: both or neither; the domain a lowercase hostname."""
    domain, certificate = _string(raw, domain_key), _string(raw, certificate_key)
    if bool(domain) != bool(certificate):
        missing = certificate_key if domain else domain_key
        raise _refused(
            missing, f"is required with {NAMESPACE}:{domain_key if domain else certificate_key}"
        )
    if domain and not _HOSTNAME.match(domain):
        raise _refused(domain_key, f"must be a lowercase DNS name, got {domain!r}")
    return domain, certificate


def _tags(raw: dict[str, Any], key: str) -> tuple[tuple[str, str], ...]:
    value = raw[key]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _refused(key, f"is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _refused(key, "must be an object of string keys and string values")
    if len(value) > MAX_TAGS - 2:
        raise _refused(key, f"at most {MAX_TAGS - 2} tags (AWS allows {MAX_TAGS}, kit uses 2)")
    for tag, text in value.items():
        if not 1 <= len(tag) <= 128 or len(text) > 256:
            raise _refused(key, f"{tag!r}: keys are 1..128 characters, values up to 256")
        if not (_TAG_TEXT.match(tag) and _TAG_TEXT.match(text)):
            raise _refused(key, f"{tag!r}: use letters, digits, spaces and _ . : / = + - @")
        if tag.lower().startswith(("aws:", KIT_TAG_PREFIX)):
            raise _refused(key, f"{tag!r}: the aws: and {KIT_TAG_PREFIX} prefixes are reserved")
    return tuple(sorted(value.items()))


_GENERATION = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
# CloudFront takes at most 5 public keys in a key group.
MAX_KEY_GENERATIONS = 5


def _delivery_keys(raw: dict[str, Any]) -> dict[str, Any]:
    """The trusted signing key generations and the one that signs (default: the last)."""
    generations = _strings(raw, "deliveryKeyGenerations")
    if not 1 <= len(generations) <= MAX_KEY_GENERATIONS:
        raise _refused("deliveryKeyGenerations", f"must list 1..{MAX_KEY_GENERATIONS} generations")
    for generation in generations:
        if not _GENERATION.match(generation):
            raise _refused(
                "deliveryKeyGenerations", f"{generation!r} must be 1..16 of a-z, 0-9 and -"
            )
    if len(set(generations)) != len(generations):
        raise _refused("deliveryKeyGenerations", "lists a generation twice")
    signing = _string(raw, "deliverySigningGeneration") or generations[-1]
    if signing not in generations:
        raise _refused(
            "deliverySigningGeneration",
            f"{signing!r} is not one of {NAMESPACE}:deliveryKeyGenerations",
        )
    return {"delivery_key_generations": generations, "delivery_signing_generation": signing}


def _generations(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    """1..MAX_KEY_GENERATIONS distinct key generation names of a-z, 0-9 and -."""
    generations = _strings(raw, key)
    if not 1 <= len(generations) <= MAX_KEY_GENERATIONS:
        raise _refused(key, f"must list 1..{MAX_KEY_GENERATIONS} generations")
    for generation in generations:
        if not _GENERATION.match(generation):
            raise _refused(key, f"{generation!r} must be 1..16 of a-z, 0-9 and -")
    if len(set(generations)) != len(generations):
        raise _refused(key, "lists a generation twice")
    return tuple(generations)


def _is_placeholder(value: str) -> bool:
    """Whether the host of a URL, origin, email or domain is reserved for documentation."""
    host = value.rsplit("@", 1)[-1]
    host = re.sub(r"^[a-z]+://", "", host).split("/", 1)[0].split(":", 1)[0].lower().rstrip(".")
    return host.endswith(tuple(f".{d}" for d in _PLACEHOLDER_DOMAINS)) or (
        host in _PLACEHOLDER_DOMAINS or host.rsplit(".", 1)[-1] in _PLACEHOLDER_TLDS
    )


def _email(raw: dict[str, Any], key: str) -> str:
    value = _string(raw, key)
    if value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise _refused(key, f"{value!r} is not an email address")
    return value


def reject_unknown_keys(present: Iterable[str], source: str = "stack config") -> None:
    """Fail on a `mediakit:` or `aws:` key that nothing reads, or a key without a namespace
    (runtime/registry.py): Pulumi would accept a typo such as `mediakit:maxUploadByte` or
    `aws:regoin` silently and deploy the default. Other namespaces are left alone."""
    check_stack_keys(present, {row["key"] for row in config_reference()}, source)


def main(argv: list[str] | None = None) -> int:
    """Regenerate (or, with --check, compare) Pulumi.yaml and the README's reference."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(
        prog="python -m stacks.config",
        description="Regenerate Pulumi.yaml (project, runtime, every config key with type, "
        "default and allowed values) and the README's configuration reference (between its "
        f"{README_TABLE_START!r} and {README_TABLE_END!r} markers) from runtime/settings.py "
        "(the settings, their RANGES), stacks/config.py (INFRA_KEYS) and runtime/registry.py. "
        "Edit those, never the generated text; tests/stack/test_config.py fails when it is stale.",
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if either file is stale"
    )
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    project, readme = root / "Pulumi.yaml", root / "README.md"
    text = readme.read_text(encoding="utf-8")
    wanted = {project: render_project_file(), readme: render_readme(text)}
    stale = [path.name for path, body in wanted.items() if path.read_text(encoding="utf-8") != body]
    if args.check:
        for name in stale:
            print(f"{name} is stale: run `python -m stacks.config`")
        return 1 if stale else 0
    for path, body in wanted.items():
        path.write_text(body, encoding="utf-8")
    print(f"regenerated {', '.join(stale) or 'nothing (both were current)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

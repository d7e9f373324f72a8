"""Stack configuration: the shared `Settings` plus the keys only the infrastructure needs.

Read once in `__main__.py` through `StackConfig.from_config(get)`; every invalid value raises
`SettingsError` naming the Pulumi config key. `config_reference()` lists every key with type,
default and description: Pulumi.yaml's `config:` block and the README table come from it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mediakit.build import DEFAULT_ARCH, DEFAULT_PYTHON, LAMBDA_PYTHONS
from runtime.errors import SettingsError
from runtime.settings import Settings, describe

NAMESPACE = "mediakit"
ENVIRONMENTS = ("dev", "prod")
ARCHITECTURES = ("arm64", "x86_64")
PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")

_HTTPS_URL = re.compile(r"^https://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~%/-]*)?$")
_ORIGIN = re.compile(r"^https://[A-Za-z0-9.-]+(:\d{1,5})?$")
_LOCAL_ORIGIN = re.compile(r"^http://(localhost|127\.0\.0\.1)(:\d{1,5})?$")


@dataclass(frozen=True)
class ConfigKey:
    """One infrastructure config key: Pulumi type, default (None = required) and description."""

    key: str
    type: str  # string | integer | boolean | array (of strings)
    default: Any
    doc: str


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
    ConfigKey("presignMemoryMb", "integer", 256, "Presign Lambda memory (128..10240 MB)."),
    ConfigKey("presignTimeoutSeconds", "integer", 10, "Presign Lambda timeout (1..29 s)."),
    ConfigKey(
        "presignReservedConcurrency",
        "integer",
        -1,
        "Reserved concurrency of the presign Lambda; -1 leaves it unreserved.",
    ),
    ConfigKey("apiThrottleRateLimit", "integer", 50, "API steady-state requests per second."),
    ConfigKey("apiThrottleBurstLimit", "integer", 100, "API burst of requests."),
    ConfigKey(
        "alarmQueueAgeSeconds",
        "integer",
        900,
        "Alarm when the oldest ingest message is older than this.",
    ),
    ConfigKey(
        "alarmProcessorErrors",
        "integer",
        1,
        "Alarm when the processor reports at least this many errors in 5 minutes.",
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
    ),
)


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
    alarm_email: str
    cdn_price_class: str
    event_archive_days: int

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

    @classmethod
    def from_config(cls, get: Callable[[str], Any], stack: str) -> StackConfig:
        """Read and validate; `get(key)` returns the raw config value or None."""
        settings = Settings.from_config(get)
        raw = {k.key: _raw(get, k) for k in INFRA_KEYS}

        environment = _choice(raw, "environment", ENVIRONMENTS)
        issuer = _string(raw, "jwtIssuer")
        if not _HTTPS_URL.match(issuer):
            raise SettingsError("jwtIssuer", f"must be an https URL, got {issuer!r}")
        audience = _strings(raw, "jwtAudience")
        if not audience:
            raise SettingsError("jwtAudience", "must name at least one audience")
        origins = _strings(raw, "corsOrigins")
        for origin in origins:
            if _ORIGIN.match(origin):
                continue
            if environment == "dev" and _LOCAL_ORIGIN.match(origin):
                continue
            raise SettingsError(
                "corsOrigins",
                f"{origin!r} is not an origin (https://host[:port]; http://localhost in dev)",
            )
        if environment == "prod" and not origins:
            raise SettingsError("corsOrigins", "must list at least one origin in prod")

        return cls(
            stack=stack,
            settings=settings,
            environment=environment,
            jwt_issuer=issuer,
            jwt_audience=audience,
            cors_origins=origins,
            lambda_architecture=_choice(raw, "lambdaArchitecture", ARCHITECTURES),
            lambda_python=_choice(raw, "lambdaPython", LAMBDA_PYTHONS),
            presign_memory_mb=_int(raw, "presignMemoryMb", 128, 10240),
            presign_timeout_seconds=_int(raw, "presignTimeoutSeconds", 1, 29),
            presign_reserved_concurrency=_int(raw, "presignReservedConcurrency", -1, 1000),
            api_throttle_rate_limit=_int(raw, "apiThrottleRateLimit", 1, 10000),
            api_throttle_burst_limit=_int(raw, "apiThrottleBurstLimit", 1, 5000),
            alarm_queue_age_seconds=_int(raw, "alarmQueueAgeSeconds", 60, 1209600),
            alarm_processor_errors=_int(raw, "alarmProcessorErrors", 1, 100000),
            alarm_email=_email(raw, "alarmEmail"),
            cdn_price_class=_choice(raw, "cdnPriceClass", PRICE_CLASSES),
            event_archive_days=_int(raw, "eventArchiveDays", 0, 36500),
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
            "alarmEmail": self.alarm_email,
            "cdnPriceClass": self.cdn_price_class,
            "eventArchiveDays": self.event_archive_days,
        }
        out.update(infra_fields)
        return out


def config_reference() -> list[dict[str, Any]]:
    """Every config key (settings first, then infrastructure) as rows for docs and Pulumi.yaml."""
    rows: list[dict[str, Any]] = []
    for row in describe():
        pulumi_type = {"integer": "integer", "list of strings": "array"}.get(row["type"], "string")
        default = row["default"]
        doc = row["doc"]
        if row["type"] == "list of objects":
            # Pulumi project config has no object arrays: the value is a JSON string.
            default = json.dumps(default, separators=(",", ":"))
            doc = f"{doc} A JSON string."
        rows.append({"key": row["config"], "type": pulumi_type, "default": default, "doc": doc})
    for key in INFRA_KEYS:
        rows.append({"key": key.key, "type": key.type, "default": key.default, "doc": key.doc})
    return rows


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


def _raw(get: Callable[[str], Any], key: ConfigKey) -> Any:
    value = get(key.key)
    return key.default if value is None or value == "" else value


def _string(raw: dict[str, Any], key: str) -> str:
    value = raw[key]
    if value is None:
        raise SettingsError(key, "is required")
    if not isinstance(value, str):
        raise SettingsError(key, f"must be a string, got {value!r}")
    return value.strip()


def _choice(raw: dict[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = _string(raw, key)
    if value not in choices:
        raise SettingsError(key, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _int(raw: dict[str, Any], key: str, lo: int, hi: int) -> int:
    value = raw[key]
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        value = int(value.strip())
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingsError(key, f"must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise SettingsError(key, f"must be between {lo} and {hi}, got {value}")
    return value


def _strings(raw: dict[str, Any], key: str) -> tuple[str, ...]:
    value = raw[key]
    if value is None:
        raise SettingsError(key, "is required")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise SettingsError(key, f"is not valid JSON: {exc.msg}") from None
        else:
            value = text.split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise SettingsError(key, "must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def _email(raw: dict[str, Any], key: str) -> str:
    value = _string(raw, key)
    if value and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise SettingsError(key, f"{value!r} is not an email address")
    return value


if __name__ == "__main__":
    from pathlib import Path

    Path(__file__).resolve().parent.parent.joinpath("Pulumi.yaml").write_text(render_project_file())


def reject_unknown_keys(present: Iterable[str]) -> None:
    """Fail on a `mediakit:` key that no setting reads: Pulumi would accept a typo such as
    `maxUploadByte` silently and deploy the default."""
    known = {row["key"] for row in config_reference()}
    for full_key in sorted(present):
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE or key in known:
            continue
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean {NAMESPACE}:{close[0]}?)" if close else ""
        raise SettingsError(full_key, f"unknown configuration key{hint}")

"""Stack config: Pulumi.yaml documents every key; invalid values fail naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from policies.synth import load_stack_config, synth
from runtime.errors import SettingsError
from runtime.settings import describe
from stacks.config import (
    INFRA_KEYS,
    StackConfig,
    config_reference,
    project_config_schema,
    readme_table,
    reject_unknown_keys,
    render_project_file,
    render_readme,
)

ROOT = Path(__file__).resolve().parents[2]
CDN_CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
API_CERT_EU = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
REGIONAL_ACL = (
    "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/api/9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
)


def _config(stack: str, **overrides: Any) -> dict[str, Any]:
    values = load_stack_config(stack)
    values.update(overrides)
    return values


def _get(values: dict[str, Any]) -> Any:
    # Pulumi hands structured config to programs as JSON strings.
    def get(key: str) -> str | None:
        value = values.get(key)
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value)

    return get


def test_pulumi_yaml_declares_every_key_as_config_reference_says() -> None:
    # GIVEN the project file / THEN it is exactly the generated one
    text = (ROOT / "Pulumi.yaml").read_text()
    assert text == render_project_file(), "stale: run `python -m stacks.config`"
    project = yaml.safe_load(text)
    assert project["name"] == "mediakit"
    assert project["main"] == "stacks/"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    assert project["config"] == project_config_schema()


def test_config_reference_covers_settings_and_infra_keys() -> None:
    keys = [row["key"] for row in config_reference()]
    assert keys == [row["config"] for row in describe()] + [k.key for k in INFRA_KEYS]
    for entry in project_config_schema().values():
        assert entry["type"] in {"string", "integer", "boolean", "array"}
        assert entry["description"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_stack_files_use_only_declared_keys_and_validate(stack: str) -> None:
    declared = set(project_config_schema())
    values = load_stack_config(stack)
    assert set(values) <= declared
    config = StackConfig.from_config(_get(values), stack)
    assert config.environment == stack


def test_environment_protections_follow_environment() -> None:
    dev = StackConfig.from_config(_get(_config("dev")), "dev")
    prod = StackConfig.from_config(_get(_config("prod")), "prod")
    assert (dev.protect_data, dev.force_destroy) == (False, True)
    assert (prod.protect_data, prod.force_destroy) == (True, False)


def test_environment_defaults_to_prod_protections() -> None:
    # GIVEN no environment key / THEN the secure choice applies, and it needs origins
    values = _config("prod")
    del values["environment"]
    assert StackConfig.from_config(_get(values), "staging").is_prod


@pytest.mark.parametrize(
    ("stack", "key", "value", "message"),
    [
        (
            "dev",
            "derivatives",
            [{"name": "thumb", "max_edge": 320, "format": "gif"}],
            "unknown format",
        ),
        ("dev", "maxUploadBytes", "-5", "between"),
        ("dev", "processorTimeoutSeconds", 0, "between"),
        # A single PUT or POST tops out at 5 GiB: above that an upload must be multipart.
        ("dev", "multipartThresholdBytes", 5 * 1024**3 + 1, "between"),
        # S3 wants 30 days in STANDARD_IA (default: from day 30) before the next transition.
        ("dev", "glacierTransitionDays", 45, "at least 30 days after"),
        ("prod", "corsOrigins", [], "at least one origin"),
        ("prod", "corsOrigins", ["http://localhost:5173"], "not an origin"),
        ("dev", "corsOrigins", ["*"], "not an origin"),
        ("dev", "jwtIssuer", "http://auth.example.com/", "https URL"),
        ("dev", "jwtIssuer", "not a url", "https URL"),
        ("dev", "jwtAudience", [], "at least one audience"),
        ("dev", "lambdaArchitecture", "arm32", "one of"),
        ("dev", "lambdaPython", "3.9", "one of"),
        ("dev", "presignReservedConcurrency", "-2", "between"),
        ("dev", "presignReservedConcurrency", 0, "disables the function"),
        ("dev", "tags", "not json", "not valid JSON"),
        ("dev", "tags", '["a"]', "object of string keys"),
        ("dev", "tags", '{"aws:owner": "x"}', "reserved"),
        ("dev", "tags", '{"mediakit:stack": "x"}', "reserved"),
        ("dev", "tags", '{"team": "a|b"}', "letters, digits"),
        ("dev", "tags", json.dumps({f"k{i}": "v" for i in range(49)}), "at most 48"),
        ("dev", "cdnDomainName", "media.example.org", "cdnCertificateArn: is required"),
        ("dev", "cdnCertificateArn", CDN_CERT, "cdnDomainName: is required"),
        ("dev", "apiDomainName", "API.Example.org", "apiCertificateArn: is required"),
        ("dev", "kmsKeyArn", "alias/mine", "a KMS key ARN"),
        ("dev", "kmsKeyArn", "arn:aws:kms:us-east-1:123456789012:alias/mine", "a KMS key ARN"),
        ("dev", "cdnWebAclArn", REGIONAL_ACL, "scope CLOUDFRONT"),
        ("dev", "alarmEmail", "oncall", "not an email"),
        ("dev", "environment", "staging", "one of"),
    ],
)
def test_invalid_config_names_the_key(stack: str, key: str, value: Any, message: str) -> None:
    # GIVEN one bad value / WHEN the config is read / THEN the error names that key
    with pytest.raises(SettingsError) as info:
        StackConfig.from_config(_get(_config(stack, **{key: value})), stack)
    # A missing companion key is named itself (cdnDomainName without cdnCertificateArn, ...).
    named = "mediakit:" + (message.split(":")[0] if ": is required" in message else key)
    # THEN as the stack file spells it: with the namespace
    assert info.value.key == named
    assert str(info.value).startswith(f"{named}: ")
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "key", "message"),
    [
        (
            {"cdnDomainName": "media.example.org", "cdnCertificateArn": API_CERT_EU},
            "cdnCertificateArn",
            "us-east-1 only",
        ),
        (
            {"apiDomainName": "API.example.org", "apiCertificateArn": API_CERT_EU},
            "apiDomainName",
            "lowercase DNS name",
        ),
    ],
)
def test_custom_domain_config_is_validated(
    overrides: dict[str, str], key: str, message: str
) -> None:
    with pytest.raises(SettingsError) as info:
        StackConfig.from_config(_get(_config("dev", **overrides)), "dev")
    assert info.value.key == f"mediakit:{key}"
    assert message in str(info.value)


def test_api_certificate_and_existing_key_must_be_in_the_stacks_region() -> None:
    # GIVEN a certificate from another region than the stack's (us-east-1 under the mocks)
    config = _config("dev", apiDomainName="api.example.org", apiCertificateArn=API_CERT_EU)
    # WHEN the program runs THEN it fails naming the key, before creating anything
    with pytest.raises(SettingsError, match=r"apiCertificateArn: must be in the stack's region"):
        synth("dev", config)
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    with pytest.raises(SettingsError, match=r"kmsKeyArn: must be in the stack's region"):
        synth("dev", _config("dev", kmsKeyArn=key))


@pytest.mark.parametrize("stack", ["dev", "prod", "example-domains"])
def test_shipped_stack_files_carry_placeholders_a_real_deploy_refuses(stack: str) -> None:
    # GIVEN a shipped stack file: example issuers, origins, emails and domains
    config = StackConfig.from_config(_get(_config(stack)), stack)
    found = dict(config.placeholders())
    assert "jwtIssuer" in found
    # WHEN a real deployment would use it THEN it is refused, naming the key and the way out
    with pytest.raises(SettingsError, match=r"^mediakit:jwtIssuer: placeholder values reach a"):
        config.refuse_placeholders()


def test_placeholders_are_documentation_domains_only() -> None:
    values = _config(
        "prod",
        jwtIssuer="https://login.acme-corp.io/",
        corsOrigins=["https://app.acme-corp.io"],
        alarmEmail="oncall@acme-corp.io",
    )
    config = StackConfig.from_config(_get(values), "prod")
    assert config.placeholders() == []
    config.refuse_placeholders()
    dev = _config("dev", jwtIssuer="https://idp.test/", corsOrigins=["http://localhost:5173"])
    assert StackConfig.from_config(_get(dev), "dev").placeholders() == [
        ("jwtIssuer", "https://idp.test/")
    ]


def test_offline_synth_accepts_placeholders_a_real_engine_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stacks import deployment

    # GIVEN the shipped prod file WHEN synthesized under mocks (mediakit synth/check, tests)
    # THEN it synthesizes: nothing reaches an account
    assert synth("prod")["stack"] == "prod"
    # WHEN the same program runs with a real engine's monitor THEN the placeholders are refused
    monkeypatch.setattr(deployment, "is_offline", lambda: False)
    with pytest.raises(SettingsError, match="placeholder values reach a real deployment"):
        synth("prod")


def test_is_offline_tells_mocks_from_an_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from pulumi.runtime import settings

    from stacks import deployment

    synth("dev")  # installs the synth's (mock) monitor
    assert deployment.is_offline()
    # An engine's monitor is a gRPC stub, not a MockMonitor.
    monkeypatch.setattr(settings, "get_monitor", lambda: object())
    assert not deployment.is_offline()


def test_missing_issuer_is_required() -> None:
    values = _config("dev")
    del values["jwtIssuer"]
    with pytest.raises(SettingsError, match=r"^mediakit:jwtIssuer: is required"):
        StackConfig.from_config(_get(values), "dev")


def test_program_refuses_bad_config_before_creating_resources() -> None:
    # WHEN the real program runs with a bad issuer / THEN it fails naming the key
    with pytest.raises(SettingsError, match="jwtIssuer"):
        synth("dev", _config("dev", jwtIssuer="ftp://issuer"))


def test_program_refuses_an_unknown_key_and_suggests_the_known_one() -> None:
    # GIVEN a typo that Pulumi itself would accept silently (the default would deploy)
    # WHEN the real program runs / THEN it fails naming the key and the likely intended one
    with pytest.raises(
        SettingsError, match=r"^mediakit:maxUploadByte: unknown .* mediakit:maxUploadBytes"
    ):
        synth("dev", _config("dev", maxUploadByte=10))


def test_reject_unknown_keys_ignores_other_namespaces() -> None:
    # GIVEN provider and foreign keys beside known ones / WHEN checked / THEN nothing is refused
    reject_unknown_keys(["aws:region", "other:thing", "mediakit:jwtIssuer", "mediakit:derivatives"])


def test_effective_config_in_graph_has_defaults_filled(dev: Any) -> None:
    assert dev.config["jwtIssuer"] == "https://auth.dev.example.com/"
    assert dev.config["dlqMaxReceiveCount"] == 5
    assert dev.config["lambdaArchitecture"] == "arm64"
    assert set(dev.config) == set(project_config_schema())


def test_readme_configuration_table_is_generated_from_the_reference() -> None:
    # GIVEN the README WHEN its table is regenerated THEN nothing changes (else it is stale)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert readme == render_readme(readme), "stale README table: run `python -m stacks.config`"
    assert readme_table() in readme


def test_every_enforced_range_is_in_pulumi_yaml_and_the_readme() -> None:
    # GIVEN the validators' ranges (RANGES, logRetentionDays' CloudWatch values, INFRA_KEYS
    # bounds) / THEN each key's description in Pulumi.yaml and its README row state them
    from runtime.settings import RANGES, allowed_values, config_key
    from stacks.config import documents_allowed

    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {line.split("`")[1]: line for line in readme.splitlines() if line.startswith("| `")}
    allowed = {config_key(name): allowed_values(name) for name in RANGES}
    allowed["logRetentionDays"] = allowed_values("log_retention_days")
    allowed |= {k.key: k.allowed for k in INFRA_KEYS if k.bounds is not None}
    # the ranges the issue found undocumented are among them
    assert {"processorBatchSize", "eventArchiveDays", "iaTransitionDays", "pendingTtlSeconds"} | {
        "apiThrottleRateLimit",
        "apiThrottleBurstLimit",
        "presignReservedConcurrency",
        "maxPixels",
    } <= set(allowed)
    for key, text in allowed.items():
        assert text
        assert documents_allowed(project[key]["description"], text), key
        assert documents_allowed(rows[f"mediakit:{key}"], text), key


def test_readme_reference_gives_every_settings_environment_form() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("<!-- config-reference") : readme.index("<!-- /config-ref")]
    for row in describe():
        assert f"| `mediakit:{row['config']}` | `{row['env']}` |" in section
    # arrays and derivatives have a documented environment spelling
    assert "MEDIAKIT_MEDIA_KINDS=image,audio" in section
    assert 'MEDIAKIT_ALLOWED_TYPES=\'["image/jpeg","image/png"]\'' in section
    assert 'MEDIAKIT_DERIVATIVES=\'[{"name":"thumb"' in section
    from runtime.registry import CLI_ENV

    for name in CLI_ENV:
        assert f"| `{name}` |" in section


def test_config_generator_explains_itself_and_reports_the_files_current() -> None:
    import subprocess
    import sys

    run = [sys.executable, "-m", "stacks.config"]
    helped = subprocess.run([*run, "--help"], cwd=ROOT, capture_output=True, text=True)
    assert helped.returncode == 0
    assert "Pulumi.yaml" in helped.stdout
    assert "README" in helped.stdout
    checked = subprocess.run([*run, "--check"], cwd=ROOT, capture_output=True, text=True)
    assert (checked.returncode, checked.stdout) == (0, "")


@pytest.mark.parametrize("stack", ["dev", "example-media"])
def test_synthesized_functions_environment_is_all_registered_names(stack: str) -> None:
    # GIVEN the variables the stack hands each function (settings + resource names)
    from runtime.registry import check_environ

    graph = synth(stack)
    functions = [r for r in graph["resources"] if r["type"] == "aws:lambda/function:Function"]
    assert len(functions) >= 2
    for function in functions:
        variables = function["inputs"]["environment"]["variables"]
        assert "MEDIAKIT_BUCKET" in variables
        # THEN the runtime's reader refuses none of them
        check_environ(variables)


def test_log_groups_keep_logs_exactly_log_retention_days(dev: Any) -> None:
    # GIVEN logRetentionDays 14 in Pulumi.dev.yaml / THEN every log group keeps 14 days
    groups = dev.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert groups
    assert {g["inputs"]["retentionInDays"] for g in groups} == {14}
    # AND a value CloudWatch does not offer is refused, not rounded up
    with pytest.raises(SettingsError, match=r"^mediakit:logRetentionDays: CloudWatch Logs keeps"):
        StackConfig.from_config(_get(_config("dev", logRetentionDays=10)), "dev")


@pytest.mark.parametrize(
    "stack", sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))
)
def test_every_shipped_stack_file_passes_the_key_registry(stack: str) -> None:
    # GIVEN a shipped Pulumi.<stack>.yaml (aws: provider keys beside the kit's) / THEN no key
    # is refused and its settings validate
    config = StackConfig.from_config(_get(load_stack_config(stack)), stack)
    assert config.stack == stack

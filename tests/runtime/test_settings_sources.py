"""Every settings error names the key the user wrote, in the spelling of the source it came from:
`MEDIAKIT_MAX_UPLOAD_BYTES` in the environment, `mediakit:maxUploadBytes` in a stack file, never
a Python field name; empty values and stack-file typos are refused, not silently defaulted."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policies.synth import load_stack_config
from runtime.errors import SettingsError
from runtime.settings import (
    EMPTY_MEANS_NONE,
    LOG_RETENTION_DAYS,
    RANGES,
    Settings,
    config_key,
    describe,
    env_name,
    stack_key,
)
from stacks.config import INFRA_KEYS, StackConfig

FIELDS = [f.name for f in dataclasses.fields(Settings)]
# Python spellings that must never reach a user (every field name with an underscore).
PYTHON_NAMES = [name for name in FIELDS if "_" in name]
ROOT = Path(__file__).resolve().parents[2]


def _env(values: dict[str, Any]) -> Settings:
    return Settings.from_env({env_name(k): str(v) for k, v in values.items()})


def _config(values: dict[str, Any]) -> Settings:
    raw = {config_key(k): v for k, v in values.items()}
    return Settings.from_config(raw.get)


SOURCES: dict[str, tuple[Callable[[dict[str, Any]], Settings], Callable[[str], str]]] = {
    "environment": (_env, env_name),
    "stack file": (_config, stack_key),
}


def _assert_spelled(error: SettingsError, key_of: Callable[[str], str], field: str) -> None:
    assert error.key == key_of(field)
    assert str(error).startswith(f"{key_of(field)}: ")
    for name in PYTHON_NAMES:
        assert name not in str(error), f"python name {name} in {error}"


def _out_of_range() -> list[tuple[str, int]]:
    cases = []
    defaults = Settings()
    for name, (lo, hi) in RANGES.items():
        high = getattr(defaults, hi) if isinstance(hi, str) else hi
        cases += [(name, lo - 1), (name, high + 1)]
    return [*cases, ("log_retention_days", 10), ("log_retention_days", 4000)]


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize(("field", "value"), _out_of_range())
def test_every_range_refusal_names_the_key_as_the_source_spells_it(
    source: str, field: str, value: int
) -> None:
    # GIVEN one setting just outside what its validator allows, in one source
    read, key_of = SOURCES[source]
    # WHEN read THEN refused, naming that key as written there (never the Python name)
    with pytest.raises(SettingsError) as refused:
        read({field: value})
    _assert_spelled(refused.value, key_of, field)


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("field", sorted(set(RANGES) | {"log_retention_days"}))
def test_type_errors_name_the_key_as_the_source_spells_it(source: str, field: str) -> None:
    read, key_of = SOURCES[source]
    with pytest.raises(SettingsError, match="must be an integer") as refused:
        read({field: "abc"})
    _assert_spelled(refused.value, key_of, field)


# (given settings, the setting the user wrote that the error must name, text it must hold)
CROSS_FIELD = [
    # setting only originalsPrefix: the default derivativesPrefix is not what the user wrote
    ({"originals_prefix": "derivatives/"}, "originals_prefix", "derivatives_prefix"),
    ({"derivatives_prefix": "originals/"}, "derivatives_prefix", "originals_prefix"),
    ({"glacier_transition_days": 45}, "glacier_transition_days", "ia_transition_days"),
    ({"ia_transition_days": 400}, "ia_transition_days", "glacier_transition_days"),
    ({"idempotency_window_seconds": 90000}, "idempotency_window_seconds", "pending_ttl_seconds"),
    ({"pending_ttl_seconds": 3600}, "pending_ttl_seconds", "idempotency_window_seconds"),
    ({"processing_cpu_seconds": 11}, "processing_cpu_seconds", "processing_timeout_seconds"),
    (
        {"processing_timeout_seconds": 100},
        "processing_timeout_seconds",
        "processor_timeout_seconds",
    ),
    ({"processor_batch_size": 6}, "processor_batch_size", "processor_timeout_seconds"),
    ({"processing_memory_mb": 1400}, "processing_memory_mb", "processor_memory_mb"),
    ({"processor_memory_mb": 512}, "processor_memory_mb", "processing_memory_mb"),
    ({"max_pixels": 200_000_000}, "max_pixels", "processing_memory_mb"),
    ({"min_upload_bytes": 60_000_000}, "min_upload_bytes", "max_upload_bytes"),
    # both set: the refused one is named
    ({"max_upload_bytes": 1000, "min_upload_bytes": 2000}, "min_upload_bytes", "max_upload_bytes"),
    ({"scope_claim": "sub"}, "scope_claim", "tenant_claim"),
    ({"tenant_claim": "scope"}, "tenant_claim", "scope_claim"),
    ({"delivery_cache_seconds": 4000}, "delivery_cache_seconds", "delivery_url_ttl_seconds"),
    ({"delivery_url_ttl_seconds": 120}, "delivery_url_ttl_seconds", "delivery_cache_seconds"),
    ({"original_expiration_days": 45}, "original_expiration_days", "ia_transition_days"),
    ({"media_kinds": "image,video", "allowed_types": "image/jpeg"}, "allowed_types", "media_kinds"),
    (
        {"media_processing_cpu_seconds": 400},
        "media_processing_cpu_seconds",
        "media_processing_timeout_seconds",
    ),
    ({"media_processing_memory_mb": 256}, "media_processing_memory_mb", "max_video_frame_pixels"),
    (
        {"media_processor_memory_mb": 1024},
        "media_processor_memory_mb",
        "media_processing_memory_mb",
    ),
    (
        {"media_kinds": "image,video", "media_processor_batch_size": 3},
        "media_processor_batch_size",
        "media_processor_timeout_seconds",
    ),
    ({"max_audio_upload_bytes": 1024**4}, "max_audio_upload_bytes", "multipart_part_bytes"),
]


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize(("given", "named", "mentioned"), CROSS_FIELD)
def test_cross_field_refusals_name_the_setting_the_user_wrote(
    source: str, given: dict[str, Any], named: str, mentioned: str
) -> None:
    # GIVEN settings that contradict another setting (set, or left at its default)
    read, key_of = SOURCES[source]
    # WHEN read THEN the error names what the user wrote and the other key, both in the
    # source's spelling
    with pytest.raises(SettingsError) as refused:
        read(given)
    _assert_spelled(refused.value, key_of, named)
    assert key_of(mentioned) in str(refused.value)


def test_originals_prefix_clash_blames_the_key_set_and_says_what_to_do() -> None:
    with pytest.raises(SettingsError) as refused:
        _config({"originals_prefix": "derivatives/"})
    assert str(refused.value) == (
        "mediakit:originalsPrefix: 'derivatives/' conflicts with mediakit:derivativesPrefix, "
        "which is not set (default 'derivatives/'): mediakit:derivativesPrefix must differ from "
        "mediakit:originalsPrefix (both 'derivatives/'); change this value or set "
        "mediakit:derivativesPrefix too"
    )


def test_glacier_transition_names_the_ia_transition_as_the_source_spells_it() -> None:
    with pytest.raises(SettingsError) as refused:
        _env({"glacier_transition_days": 45})
    assert str(refused.value) == (
        "MEDIAKIT_GLACIER_TRANSITION_DAYS: must be at least 30 days after "
        "MEDIAKIT_IA_TRANSITION_DAYS (30), got 45"
    )


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("field", FIELDS)
def test_an_empty_value_is_refused_unless_empty_means_none(source: str, field: str) -> None:
    read, key_of = SOURCES[source]
    if field in EMPTY_MEANS_NONE:
        # GIVEN a list whose empty value means none / THEN empty is that value
        assert getattr(read({field: ""}), field) == ()
        return
    # GIVEN an empty value / THEN it is refused, naming the key, not silently the default
    with pytest.raises(SettingsError, match="is empty: give it a value, or leave it out") as e:
        read({field: " "})
    _assert_spelled(e.value, key_of, field)


def test_log_retention_is_a_cloudwatch_value_never_rounded() -> None:
    with pytest.raises(SettingsError) as refused:
        _env({"log_retention_days": 10})
    assert "one of 1, 3, 5, 7, 14, 30," in str(refused.value)
    assert str(refused.value).endswith("got 10")
    for days in LOG_RETENTION_DAYS:
        assert _env({"log_retention_days": days}).log_retention_days == days


# --- the stack file: StackConfig (infrastructure keys) and load_stack_config (the file) --------


def _stack(**overrides: Any) -> StackConfig:
    values: dict[str, Any] = {**load_stack_config("dev"), **overrides}
    return StackConfig.from_config(
        lambda k: None if values.get(k) is None else _text(values[k]), "dev"
    )


def _text(value: Any) -> str:
    # Pulumi hands structured config to programs as JSON strings.
    return value if isinstance(value, str) else json.dumps(value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (k.key, v)
        for k in INFRA_KEYS
        if k.bounds is not None
        for v in (k.bounds[0] - 1, k.bounds[1] + 1, "many")
    ],
)
def test_infrastructure_refusals_name_the_namespaced_key(key: str, value: Any) -> None:
    with pytest.raises(SettingsError) as refused:
        _stack(**{key: value})
    assert refused.value.key == f"mediakit:{key}"
    assert str(refused.value).startswith(f"mediakit:{key}: ")


@pytest.mark.parametrize("key", [k.key for k in INFRA_KEYS])
def test_infrastructure_empty_values_are_refused_unless_empty_is_the_default(key: str) -> None:
    default = next(k.default for k in INFRA_KEYS if k.key == key)
    if default in ("", []):
        _stack(**{key: ""})  # empty is the documented "none"
        return
    with pytest.raises(SettingsError, match=rf"^mediakit:{key}: is empty"):
        _stack(**{key: ""})


def _stack_file(tmp_path: Path, extra: str) -> Path:
    text = (ROOT / "Pulumi.dev.yaml").read_text(encoding="utf-8").rstrip("\n")
    (tmp_path / "Pulumi.dev.yaml").write_text(f"{text}\n{extra}\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("line", "key", "hint"),
    [
        ("  mediakit:maxUplodBytes: 10", "mediakit:maxUplodBytes", "mediakit:maxUploadBytes?"),
        ("  maxUploadBytes: 10", "maxUploadBytes", "write mediakit:maxUploadBytes"),
        ("  aws:regoin: eu-west-1", "aws:regoin", "did you mean aws:region?"),
    ],
)
def test_a_stack_file_typo_is_refused_naming_the_file_and_the_likely_key(
    tmp_path: Path, line: str, key: str, hint: str
) -> None:
    # GIVEN Pulumi.dev.yaml with one typo'd key (which Pulumi itself would accept silently)
    root = _stack_file(tmp_path, line)
    # WHEN it is read (synth, check, mediakit dev) THEN it is refused with a suggestion
    with pytest.raises(SettingsError) as refused:
        load_stack_config("dev", root)
    assert refused.value.key == key
    assert "in Pulumi.dev.yaml" in str(refused.value)
    assert hint in str(refused.value)


def test_a_stack_file_may_hold_other_packages_config(tmp_path: Path) -> None:
    root = _stack_file(
        tmp_path, "  myapp:foo: bar\n  pulumi:template: aws-python\n  aws:profile: x"
    )
    assert load_stack_config("dev", root)["jwtIssuer"] == "https://auth.dev.example.com/"


def test_a_stack_file_key_with_no_value_is_refused_not_defaulted(tmp_path: Path) -> None:
    # GIVEN `mediakit:maxUploadBytes:` with nothing after it (YAML null)
    values = load_stack_config("dev", _stack_file(tmp_path, "  mediakit:maxUploadBytes:"))
    # WHEN the stack reads it THEN it is refused naming the key
    with pytest.raises(SettingsError, match=r"^mediakit:maxUploadBytes: is empty"):
        StackConfig.from_config(lambda k: None if k not in values else _text(values[k]), "dev")


# Settings whose every value of their type is valid (any tenant name may be GPS-allowed).
UNCONSTRAINED = {"gps_allowed_tenants"}
BAD_BY_TYPE = {
    "integer": "-99999999999999999",
    "boolean": "maybe",
    "string": "not valid!",
    "list of strings": "not valid!",
    "list of objects": '[{"name": "a"}]',
}


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("row", describe(), ids=lambda row: str(row["config"]))
def test_every_constrained_setting_refuses_a_bad_value_naming_the_users_key(
    source: str, row: dict[str, Any]
) -> None:
    # GIVEN a value no validator of that setting's type accepts (a new setting is covered too)
    field = str(row["field"])
    if field in UNCONSTRAINED:
        return
    read, key_of = SOURCES[source]
    # WHEN read THEN refused, named as the user wrote it, and no Python name in the message
    with pytest.raises(SettingsError) as refused:
        read({field: BAD_BY_TYPE[str(row["type"])]})
    _assert_spelled(refused.value, key_of, field)

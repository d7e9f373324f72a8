"""The registry of accepted names (runtime/registry.py) knows every real one, so nothing valid
is refused: each MEDIAKIT_ variable the code, tests and docs use, every pulumi-aws provider key
of the installed package, and every variable the stack hands its functions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from runtime import registry
from runtime.errors import SettingsError
from runtime.settings import Resources, Settings
from stacks.config import config_reference, reject_unknown_keys

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"\bMEDIAKIT_[A-Z0-9_]*[A-Z0-9]\b")
SCANNED = ("mediakit", "runtime", "stacks", "policies", "bench", "tests", "docs")
# Tests that spell made-up names on purpose (typos the registry must refuse, a placeholder in a
# message-formatting unit test).
TYPO_TESTS = {
    "tests/test_settings_registry.py",
    "tests/runtime/test_settings_sources.py",
    "tests/cli/test_errors.py",
}


def _used_names(folders: tuple[str, ...]) -> dict[str, str]:
    """Every MEDIAKIT_ name written in `folders` (and the README) -> one file using it."""
    found: dict[str, str] = {}
    paths = [ROOT / "README.md"]
    for folder in folders:
        paths += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".sh")]
    for path in paths:
        relative = str(path.relative_to(ROOT))
        if relative in TYPO_TESTS or "/." in relative:
            continue
        for name in NAME.findall(path.read_text(encoding="utf-8", errors="replace")):
            found.setdefault(name, relative)
    return found


def test_registry_knows_every_mediakit_variable_the_source_tests_and_docs_use() -> None:
    # GIVEN every MEDIAKIT_ name in the code (CLI envvar=, os.environ), tests and docs
    used = _used_names(SCANNED)
    # THEN each is registered: an unregistered new variable would be refused as a typo
    known = registry.environment_names()
    unknown = {name: path for name, path in used.items() if name not in known}
    assert unknown == {}, "add these to runtime/registry.py (CLI_ENV or TOOL_ENV)"


def test_every_registered_cli_variable_is_read_by_the_cli() -> None:
    # A stale entry would accept a variable nothing reads: the typo the registry exists to catch.
    used = _used_names(("mediakit",))
    assert sorted(set(registry.CLI_ENV) - set(used)) == []
    tools = _used_names(("policies", "tests"))
    assert sorted(set(registry.TOOL_ENV) - set(tools)) == []


def _installed_aws_keys(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The keys the installed pulumi_aws config module reads, by calling every property."""
    import sys

    import pulumi_aws

    config = pulumi_aws.config
    config.region  # noqa: B018 - the package loads lazily: this loads its config module
    aws_vars = sys.modules["pulumi_aws.config.vars"]
    read: set[str] = set()

    class Recorder:
        def __getattr__(self, method: str) -> Any:
            def get(key: str, *args: Any, **kwargs: Any) -> None:
                read.add(key)

            return get

    monkeypatch.setattr(aws_vars, "__config__", Recorder())
    properties = [n for n in dir(type(config)) if isinstance(getattr(type(config), n), property)]
    assert len(properties) > 20
    for name in properties:
        getattr(config, name)
    return read


def test_aws_provider_keys_are_the_installed_pulumi_aws_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the provider keys the installed pulumi-aws reads
    installed = _installed_aws_keys(monkeypatch)
    assert {"region", "defaultTags", "profile", "assumeRoles"} <= installed
    # THEN the registry's list is exactly it (a pulumi-aws upgrade regenerates the list)
    assert sorted(registry.AWS_PROVIDER_KEYS) == sorted(installed)
    # AND every one is accepted in a stack file
    reject_unknown_keys([f"aws:{key}" for key in installed], source="Pulumi.dev.yaml")


def test_every_setting_and_resource_variable_is_accepted() -> None:
    # GIVEN what the stack and the emulator hand the functions: settings + resource names
    environ = Settings().to_env() | Resources("b", "t", "bus", "arn:aws:kms:k").to_env()
    assert set(Resources.ENV.values()) <= set(environ)
    # WHEN read back THEN nothing is refused
    registry.check_environ(environ)
    assert Settings.from_env(environ) == Settings()


def test_every_stack_key_of_the_reference_and_other_namespaces_are_accepted() -> None:
    keys = [f"mediakit:{row['key']}" for row in config_reference()]
    reject_unknown_keys([*keys, "pulumi:template", "myapp:foo", "aws-native:region"])


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "aws:regoin",
            "aws:regoin: unknown key in Pulumi.dev.yaml: the aws provider reads no "
            "such key, did you mean aws:region?",
        ),
        ("aws:defaultTag", "did you mean aws:defaultTags?"),
        (
            "mediakit:maxUplodBytes",
            "mediakit:maxUplodBytes: unknown key in Pulumi.dev.yaml, did "
            "you mean mediakit:maxUploadBytes?",
        ),
        (
            "maxUploadBytes",
            "maxUploadBytes: key without a namespace in Pulumi.dev.yaml, write "
            "mediakit:maxUploadBytes",
        ),
        ("maxUplodBytes", "did you mean mediakit:maxUploadBytes?"),
    ],
)
def test_stack_file_typos_are_refused_with_a_suggestion(key: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        reject_unknown_keys(["aws:region", "mediakit:jwtIssuer", key], source="Pulumi.dev.yaml")
    assert refused.value.key == key
    assert message in str(refused.value)


def test_environment_typos_are_refused_with_a_suggestion() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"MEDIAKIT_MAX_UPLOD_BYTES": "10"})
    assert refused.value.key == "MEDIAKIT_MAX_UPLOD_BYTES"
    assert "did you mean MEDIAKIT_MAX_UPLOAD_BYTES?" in str(refused.value)
    # A name close to nothing still says it is unknown
    with pytest.raises(SettingsError, match=r"^MEDIAKIT_QQQ: unknown variable, nothing reads"):
        Settings.from_env({"MEDIAKIT_QQQ": "1"})
    # Variables outside the MEDIAKIT_ namespace are none of its business
    assert Settings.from_env({"MEDIAKITX": "1", "AWS_REGION": "eu-west-1"}) == Settings()


@pytest.mark.parametrize(
    ("variable", "args", "suggestion"),
    [
        ("MEDIAKIT_TOKNE", ["status", "01abc"], "MEDIAKIT_TOKEN"),
        ("MEDIAKIT_MAX_UPLOD_BYTES", ["token", "--tenant", "t"], "MEDIAKIT_MAX_UPLOAD_BYTES"),
        ("MEDIAKIT_DEV_PROT", ["build", "--arch", "arm64"], "MEDIAKIT_DEV_PORT"),
    ],
)
def test_every_command_refuses_a_typod_variable_before_running(
    variable: str, args: list[str], suggestion: str
) -> None:
    from click.testing import CliRunner

    from mediakit.cli import cli

    # GIVEN a misspelled MEDIAKIT_ variable in the shell / WHEN any command runs
    result = CliRunner().invoke(cli, args, env={variable: "1"})
    # THEN it stops with one line naming the variable and the likely one, exit 2 (settings)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    assert f"{variable}: unknown variable, nothing reads it, did you mean {suggestion}?" in output


def test_a_deployed_function_logs_an_unknown_variable_and_keeps_working(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a function whose environment carries a MEDIAKIT_ variable nothing reads (added in
    # the console, or set by a newer release before its code arrived)
    from runtime import config

    monkeypatch.setenv("MEDIAKIT_NOTE", "added by hand")
    config.reset()
    try:
        # WHEN it reads its settings THEN it runs on them, and the log names the variable
        with caplog.at_level("WARNING", logger="runtime.config"):
            assert config.settings().max_upload_bytes > 0
        assert "MEDIAKIT_NOTE" in caplog.text
    finally:
        config.reset()
    # AND where a person is (the CLI, the emulator, the stack) the same variable is a typo
    with pytest.raises(SettingsError, match="MEDIAKIT_NOTE"):
        Settings.from_env({"MEDIAKIT_NOTE": "added by hand"})


def test_a_typo_in_the_environment_still_lets_a_command_show_its_help(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from mediakit.cli import cli

    monkeypatch.setenv("MEDIAKIT_MAX_UPLOD_BYTES", "1")
    # GIVEN a typo'd variable WHEN a command's help is asked for THEN the help, exit 0
    shown = CliRunner().invoke(cli, ["token", "--help"])
    assert shown.exit_code == 0, shown.output
    assert "--tenant" in shown.output
    # AND the command itself still refuses it, naming the likely variable
    refused = CliRunner().invoke(cli, ["token", "--tenant", "t"])
    assert refused.exit_code == 2
    assert "MEDIAKIT_MAX_UPLOAD_BYTES" in refused.output

"""`mediakit dlq`'s source options (--env-file, --outputs, --media) work before the subcommand, as
they always did, and after it, as every other command's options do; the subcommand's win."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mediakit.cli import cli
from mediakit.ops.dlq import DlqTarget


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Path, bool]]:
    """Which source each dlq command resolved (env file or outputs, path, media)."""
    seen: list[tuple[str, Path, bool]] = []

    def from_env_file(path: Path, *, media: bool = False) -> DlqTarget:
        seen.append(("env", path, media))
        raise SystemExit(0)

    def from_outputs(path: Path, *, media: bool = False) -> DlqTarget:
        seen.append(("outputs", path, media))
        raise SystemExit(0)

    monkeypatch.delenv("MEDIAKIT_ENV_FILE", raising=False)
    monkeypatch.delenv("MEDIAKIT_STACK_OUTPUTS", raising=False)
    monkeypatch.setattr(DlqTarget, "from_env_file", staticmethod(from_env_file))
    monkeypatch.setattr(DlqTarget, "from_outputs", staticmethod(from_outputs))
    return seen


@pytest.mark.parametrize("command", [["list"], ["show", "m-1"], ["redrive", "--all"], ["purge"]])
def test_dlq_options_env_file_before_or_after_the_subcommand(
    asked: list[tuple[str, Path, bool]], tmp_path: Path, command: list[str]
) -> None:
    env_file = tmp_path / "dev-2.json"
    runner = CliRunner()
    # WHEN --env-file is given before the subcommand, then after it
    before = runner.invoke(cli, ["dlq", "--env-file", str(env_file), *command])
    after = runner.invoke(cli, ["dlq", *command, "--env-file", str(env_file)])
    # THEN both read that file (after it, click used to say "No such option: --env-file")
    assert (before.exit_code, after.exit_code) == (0, 0), after.output
    assert asked == [("env", env_file, False), ("env", env_file, False)]


def test_dlq_options_outputs_and_media_after_the_subcommand(
    asked: list[tuple[str, Path, bool]], tmp_path: Path
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text("{}")
    # WHEN --outputs and --media follow the subcommand
    result = CliRunner().invoke(cli, ["dlq", "list", "--outputs", str(outputs), "--media"])
    # THEN the deployed stack's media DLQ is used
    assert result.exit_code == 0, result.output
    assert asked == [("outputs", outputs, True)]


def test_dlq_options_subcommand_wins_over_the_group(
    asked: list[tuple[str, Path, bool]], tmp_path: Path
) -> None:
    # GIVEN one env file before the subcommand and another after it
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    result = CliRunner().invoke(
        cli, ["dlq", "--env-file", str(first), "--media", "list", "--env-file", str(second)]
    )
    # THEN the nearer one counts, and the group's --media still applies
    assert result.exit_code == 0, result.output
    assert asked == [("env", second, True)]

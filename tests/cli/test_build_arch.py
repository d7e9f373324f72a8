"""`mediakit build`'s target: `--python 3.11` (this machine's interpreter, as the README says)
builds for this machine's architecture unless --arch says otherwise; the Lambda Pythons keep
Lambda's default, arm64. No wheel is downloaded here: the builder is replaced by a recorder."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
from click.testing import CliRunner

import mediakit.cli.build as build_cli
from mediakit.cli import cli
from mediakit.errors import EXIT_SETUP
from stacks.artifact import (
    DEFAULT_ARCH,
    LOCAL_PYTHON,
    Artifact,
    BuildError,
    Target,
    default_arch,
    host_arch,
)


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Target]:
    """The targets `mediakit build` asks for, each answered by a tiny stand-in zip."""
    targets: list[Target] = []

    def record(target: Target, out_dir: Path) -> Artifact:
        targets.append(target)
        return Artifact(tmp_path / f"{target.name}.zip", "0" * 64, 1)

    monkeypatch.delenv("MEDIAKIT_LAMBDA_ARCH", raising=False)
    monkeypatch.delenv("MEDIAKIT_LAMBDA_PYTHON", raising=False)
    monkeypatch.setattr(build_cli, "build", record)
    monkeypatch.setattr(
        build_cli,
        "read_manifest",
        lambda path: {"distributions": {"boto3": "1", "botocore": "1"}, "requirements": []},
    )
    return targets


@pytest.mark.parametrize(
    ("machine", "arch"),
    [("x86_64", "x86_64"), ("AMD64", "x86_64"), ("aarch64", "arm64"), ("arm64", "arm64")],
)
def test_build_arch_host_arch_names_the_machine_as_lambda_does(machine: str, arch: str) -> None:
    assert host_arch(machine) == arch


def test_build_arch_local_python_defaults_to_this_machine() -> None:
    # GIVEN / WHEN no --arch THEN 3.11 follows the machine, a Lambda Python stays on arm64
    assert default_arch(LOCAL_PYTHON, "x86_64") == "x86_64"
    assert default_arch(LOCAL_PYTHON, "aarch64") == "arm64"
    assert default_arch("3.14", "x86_64") == DEFAULT_ARCH == "arm64"


def test_build_arch_unknown_machine_asks_for_arch() -> None:
    with pytest.raises(BuildError, match="pass --arch arm64 or --arch x86_64"):
        default_arch(LOCAL_PYTHON, "riscv64")


def test_build_arch_cli_python_311_builds_for_this_machine(built: list[Target]) -> None:
    # GIVEN this machine WHEN `mediakit build --python 3.11` runs without --arch
    result = CliRunner().invoke(cli, ["build", "--python", "3.11", "--function", "presign"])
    # THEN the zip is for this machine's architecture (it used to be arm64 whatever the machine)
    assert result.exit_code == 0, result.output
    assert [t.arch for t in built] == [host_arch(platform.machine())]
    assert built[0].python == "3.11"


def test_build_arch_cli_explicit_arch_and_lambda_default(
    built: list[Target], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    # GIVEN an explicit --arch, its environment form, or a Lambda Python
    one = ["--function", "presign"]
    explicit = runner.invoke(cli, ["build", "--python", "3.11", "--arch", "arm64", *one])
    lambda_default = runner.invoke(cli, ["build", *one])
    monkeypatch.setenv("MEDIAKIT_LAMBDA_ARCH", "x86_64")
    from_env = runner.invoke(cli, ["build", *one])
    # THEN each is what was asked for: arm64, arm64 (Lambda's default), x86_64
    assert [r.exit_code for r in (explicit, lambda_default, from_env)] == [0, 0, 0]
    assert [(t.arch, t.python) for t in built] == [
        ("arm64", "3.11"),
        ("arm64", "3.14"),
        ("x86_64", "3.14"),
    ]


def test_build_arch_cli_unknown_machine_is_one_line_exit_2(
    built: list[Target], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a machine Lambda has no wheels for
    monkeypatch.setattr(platform, "machine", lambda: "riscv64")
    # WHEN a local build is asked for without --arch
    result = CliRunner().invoke(cli, ["build", "--python", "3.11"])
    # THEN it refuses in one line, building nothing
    assert result.exit_code == EXIT_SETUP, result.output
    assert "riscv64" in result.stderr
    assert "--arch" in result.stderr
    assert "Traceback" not in result.output
    assert built == []


def test_a_missing_wheel_is_not_blamed_on_the_network() -> None:
    from stacks.artifact import Target, download_failure

    target = Target(arch="arm64", python="3.14", function="processor")
    # GIVEN pip reaching the index but finding no wheel of a pin for the target
    no_wheel = (
        "ERROR: Could not find a version that satisfies the requirement foo==1.0 (from "
        "versions: none)\nERROR: No matching distribution found for foo==1.0\n"
    )
    # THEN the line names the package and both causes pip's words cannot tell apart (an
    # index without that wheel; offline, when pip does not retry), not the network alone
    line = download_failure(target, no_wheel)
    assert "no wheel of foo==1.0 for that architecture and Python was found" in line
    assert "pick another --arch/--python" in line
    # AND an unreachable index (connection errors, then the same words) is still "offline?"
    offline = (
        "WARNING: Retrying ... NewConnectionError('Failed to establish a new connection')\n"
        + no_wheel
    )
    assert "no package index answered (offline?" in download_failure(target, offline)

"""No `mediakit` command ever shows a traceback: every command (enumerated from the click group,
so a new one is covered without editing this file) is run against a dead emulator, a missing env
file, invalid settings and missing AWS credentials, and must answer with one clean line and the
exit code `mediakit.errors` documents (2: could not run). In process with click's CliRunner (the
error boundary is the group's, so CliRunner goes through it), plus two subprocesses of the real
`mediakit` entry point.

Each scenario applies to the commands that read what it breaks, found from their parameters:
`--env-file` (except the commands that write it), `--outputs`, `--stack`; the settings scenario
to every command but those listed in `READS_NO_SETTINGS`, with the reason.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from mediakit.cli import cli
from mediakit.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_SETUP
from mediakit.local.emulator import DevEnv

ROOT = Path(__file__).resolve().parents[2]
MEDIAKIT = ROOT / ".venv" / "bin" / "mediakit"
# Commands that write the env file rather than read it (they start the emulator).
WRITES_ENV_FILE = {("dev",), ("demo",)}
# Commands whose behaviour no MEDIAKIT_* setting changes, and why; every other command must
# refuse MEDIAKIT_MAX_UPLOAD_BYTES=abc with exit 2 (a new command is tested by default).
READS_NO_SETTINGS = {
    ("token",): "mints a token from the env file; the settings live in the emulator",
    ("upload",): "an API client: the server applies the settings",
    ("status",): "an API client",
    ("abort",): "an API client",
    ("import",): "an API client",
    ("reprocess",): "queues re-renders; the functions apply their own settings",
    ("synth",): "reads Pulumi.<stack>.yaml, never the environment",
    ("check",): "reads Pulumi.<stack>.yaml, never the environment",
    ("build",): "packages the code; MEDIAKIT_LAMBDA_* are its options",
}
# Arguments a command needs beyond what `_required_args` derives, to get past its own checks.
EXTRA_ARGS: dict[tuple[str, ...], list[str]] = {
    ("reprocess",): ["--all"],
    ("dlq", "redrive"): ["--all"],
    ("dlq", "purge"): ["--yes"],
    ("erase",): ["--yes"],
    ("check",): ["--stack", "dev"],
}
UPLOAD_ID = "01m8aaaaaaaaaaaaaaaaaaaaa5"
AWS_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
)


def _leaves(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            yield from _leaves(command, (*prefix, name))
        else:
            yield (*prefix, name)


COMMANDS = sorted(_leaves(cli))


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(click.Context(command), name)
        assert found is not None
        command = found
    return command


def _params(path: tuple[str, ...]) -> set[str]:
    """Parameter names of the command and of the groups above it (`dlq --env-file list`)."""
    names: set[str] = {p.name for p in _command(path).params if p.name}
    for depth in range(1, len(path)):
        names |= {p.name for p in _command(path[:depth]).params if p.name}
    return names


def _reads_env_file(path: tuple[str, ...]) -> bool:
    return "env_file" in _params(path) and path not in WRITES_ENV_FILE


def _ids(paths: list[tuple[str, ...]]) -> list[str]:
    return [" ".join(p) for p in paths]


@dataclass(frozen=True)
class World:
    """Files the scenarios point commands at."""

    tmp: Path
    dead_env: Path  # the emulator's ports are closed
    half_dead_env: Path  # the API port answers, the AWS endpoint does not
    missing_env: Path
    outputs: Path
    empty: Path  # an empty file (AWS config and credentials files)
    a_file: Path
    a_dir: Path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _signing_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _env_file(path: Path, api: str, aws: str, key: str) -> Path:
    DevEnv(
        api_url=api,
        aws_endpoint_url=aws,
        region="us-east-1",
        bucket="mediakit-dev",
        table="mediakit-dev",
        queue_url=f"{aws}/123456789012/ingest",
        dlq_url=f"{aws}/123456789012/ingest-dlq",
        event_bus="mediakit-dev",
        jwt_signing_key=key,
        jwt_issuer=f"{api}/dev-issuer",
        jwt_audience="mediakit",
        tenant_claim="tenant",
        events_queue_url=f"{aws}/123456789012/events",
        kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/dev",
        pid=os.getpid(),  # alive: only the ports decide
    ).write(path)
    return path


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    """A port that accepts connections (an emulator's API as the staleness check sees it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock
    sock.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, listener: socket.socket) -> World:
    tmp = tmp_path_factory.mktemp("no-traceback")
    key = _signing_key()
    dead = f"http://127.0.0.1:{_closed_port()}"
    live = f"http://127.0.0.1:{listener.getsockname()[1]}"
    outputs = tmp / "outputs.json"
    queue = "https://sqs.eu-west-1.amazonaws.com/123456789012"
    outputs.write_text(
        json.dumps(
            {
                "api_url": "https://api.example.com",
                "bucket_name": "media-bucket",
                "table_name": "uploads",
                "ingest_queue_url": f"{queue}/ingest",
                "dlq_url": f"{queue}/ingest-dlq",
                "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/abc",
            }
        )
    )
    empty = tmp / "empty"
    empty.write_text("")
    a_file = tmp / "photo.jpg"
    a_file.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)
    a_dir = tmp / "folder"
    a_dir.mkdir()
    (a_dir / "photo.jpg").write_bytes(a_file.read_bytes())
    return World(
        tmp=tmp,
        dead_env=_env_file(tmp / "dead.json", dead, dead, key),
        half_dead_env=_env_file(tmp / "half-dead.json", live, dead, key),
        missing_env=tmp / "absent" / "dev.json",
        outputs=outputs,
        empty=empty,
        a_file=a_file,
        a_dir=a_dir,
    )


def _value(param: click.Parameter, world: World) -> str:
    """A value click accepts for a required parameter, from its name and type."""
    kind = param.type
    if isinstance(kind, click.Path):
        return str(world.a_dir if not kind.file_okay else world.a_file)
    if isinstance(kind, click.Choice):
        return str(kind.choices[0])
    if param.name and "upload_id" in param.name:
        return UPLOAD_ID
    if param.name == "stack":
        return "dev"
    if isinstance(kind, click.types.IntParamType | click.types.FloatParamType):
        return "1"
    return "acme"


def _required_args(path: tuple[str, ...], world: World) -> list[str]:
    """The command path followed by a value for each required argument and option."""
    args: list[str] = []
    for depth in range(1, len(path) + 1):
        args.append(path[depth - 1])
        if depth < len(path):
            continue
        for param in _command(path).params:
            if not param.required:
                continue
            if isinstance(param, click.Argument):
                args.append(_value(param, world))
            elif isinstance(param, click.Option):
                args += [param.opts[0], _value(param, world)]
    return args + EXTRA_ARGS.get(path, [])


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, world: World) -> pytest.MonkeyPatch:
    """No MEDIAKIT_* or PULUMI_STACK from the outer shell, and no traceback switch."""
    for name in list(os.environ):
        if name.startswith("MEDIAKIT_") or name == "PULUMI_STACK":
            monkeypatch.delenv(name)
    monkeypatch.chdir(world.tmp)  # no .mediakit/dev.json of the repository is found
    return monkeypatch


def _run(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args)


def _assert_clean(result: Result, code: int, *needles: str) -> None:
    """Exit `code`, no traceback, and the error in one line of stderr naming each needle."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.exit_code == code, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


# --- every command is in some scenario ---------------------------------------------------


def test_no_traceback_every_command_meets_at_least_one_broken_input() -> None:
    # GIVEN the commands of the click group WHEN each scenario picks those it applies to
    covered = {
        p
        for p in COMMANDS
        if _reads_env_file(p)
        or {"outputs", "stack"} & _params(p)
        or p not in READS_NO_SETTINGS
        or p == ("build",)
    }
    # THEN none is left out (build has its own offline scenario below)
    assert covered == set(COMMANDS)
    assert ("dlq", "list") in COMMANDS
    assert ("loadtest",) in COMMANDS
    assert set(READS_NO_SETTINGS) <= set(COMMANDS), "a command named here no longer exists"


# --- the emulator is gone, or was never started ------------------------------------------

ENV_READERS = [p for p in COMMANDS if _reads_env_file(p)]


@pytest.mark.parametrize("path", ENV_READERS, ids=_ids(ENV_READERS))
def test_no_traceback_dead_emulator(
    path: tuple[str, ...], world: World, clean_env: pytest.MonkeyPatch
) -> None:
    # GIVEN the env file of an emulator whose ports are all closed (killed, machine rebooted)
    # WHEN the command is pointed at it
    result = _run([*_required_args(path, world), "--env-file", str(world.dead_env)])
    # THEN one line says to start `mediakit dev` again, exit 2
    _assert_clean(result, EXIT_SETUP, "mediakit dev")


@pytest.mark.parametrize("path", ENV_READERS, ids=_ids(ENV_READERS))
def test_no_traceback_missing_env_file(
    path: tuple[str, ...], world: World, clean_env: pytest.MonkeyPatch
) -> None:
    # GIVEN no env file where the command is told to look
    # WHEN the command runs
    result = _run([*_required_args(path, world), "--env-file", str(world.missing_env)])
    # THEN one line says to start the emulator first, exit 2
    _assert_clean(result, EXIT_SETUP, "mediakit dev")


AWS_USERS = [p for p in ENV_READERS if "outputs" in _params(p)] + [("loadtest",)]


@pytest.mark.parametrize("path", AWS_USERS, ids=_ids(AWS_USERS))
def test_no_traceback_dead_aws_endpoint(
    path: tuple[str, ...], world: World, clean_env: pytest.MonkeyPatch
) -> None:
    # GIVEN an env file whose API port answers but whose AWS endpoint does not (botocore's
    # EndpointConnectionError, 114 lines of traceback before)
    # WHEN a command that calls the emulator's AWS APIs runs against it
    result = _run([*_required_args(path, world), "--env-file", str(world.half_dead_env)])
    # THEN one line names the endpoint and says to start the emulator, exit 2
    _assert_clean(result, EXIT_SETUP, "no emulator answers at http://127.0.0.1:", "mediakit dev")


# --- a deployed stack without AWS credentials --------------------------------------------

OUTPUTS_USERS = [p for p in COMMANDS if "outputs" in _params(p)]


@pytest.mark.parametrize("path", OUTPUTS_USERS, ids=_ids(OUTPUTS_USERS))
def test_no_traceback_no_aws_credentials(
    path: tuple[str, ...], world: World, clean_env: pytest.MonkeyPatch
) -> None:
    # GIVEN a deployed stack's outputs file and no AWS credentials anywhere
    for name in AWS_CREDENTIAL_VARIABLES:
        clean_env.delenv(name, raising=False)
    clean_env.setenv("AWS_CONFIG_FILE", str(world.empty))
    clean_env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(world.empty))
    clean_env.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # WHEN the command runs against the stack
    result = _run([*_required_args(path, world), "--outputs", str(world.outputs)])
    # THEN one line asks for credentials, exit 2
    _assert_clean(result, EXIT_SETUP, "no AWS credentials", "aws configure")


# --- an invalid setting ------------------------------------------------------------------

SETTINGS_READERS = [p for p in COMMANDS if p not in READS_NO_SETTINGS]


@pytest.mark.parametrize("path", SETTINGS_READERS, ids=_ids(SETTINGS_READERS))
def test_no_traceback_bad_settings(
    path: tuple[str, ...], world: World, clean_env: pytest.MonkeyPatch
) -> None:
    # GIVEN an invalid MEDIAKIT_* value, and for the operator tools a deployed stack reached
    # with (fake) credentials at an endpoint that would refuse (nothing may be called first)
    clean_env.setenv("MEDIAKIT_MAX_UPLOAD_BYTES", "abc")
    clean_env.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    clean_env.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    args = _required_args(path, world)
    if "outputs" in _params(path):
        args += ["--outputs", str(world.outputs)]
    # WHEN the command runs (dev and demo included: they check the settings before starting)
    result = _run(args)
    # THEN one line names the variable as the shell spells it, exit 2
    _assert_clean(result, EXIT_SETUP, "MEDIAKIT_MAX_UPLOAD_BYTES")


# --- a malformed stack file --------------------------------------------------------------

STACK_READERS = [p for p in COMMANDS if "stack" in _params(p)]


@pytest.mark.parametrize("path", STACK_READERS, ids=_ids(STACK_READERS))
def test_no_traceback_malformed_stack_yaml(
    path: tuple[str, ...], world: World, clean_env: pytest.MonkeyPatch
) -> None:
    # GIVEN a Pulumi.dev.yaml with a YAML syntax error on its third line
    import policies.synth

    root = world.tmp / "project"
    root.mkdir(exist_ok=True)
    (root / "Pulumi.dev.yaml").write_text(
        "config:\n  mediakit:corsOrigins: [https://a.example\n  mediakit:x: y\n"
    )
    clean_env.setattr(policies.synth, "ROOT", root)
    # WHEN the command reads the stack (check, synth, dev: before anything starts)
    result = _run(_required_args(path, world))
    # THEN one line names the file, the line and where the unclosed bracket began, exit 2 (for
    # check: a tool error, not findings)
    _assert_clean(
        result,
        EXIT_SETUP,
        f"{root / 'Pulumi.dev.yaml'} line 3",
        "invalid YAML",
        "started on line 2",
    )


# --- the wheels cannot be downloaded (PyPI unreachable) ----------------------------------


@pytest.fixture
def offline_pip(clean_env: pytest.MonkeyPatch, world: World, tmp_path: Path) -> pytest.MonkeyPatch:
    """pip pointed at an index nobody answers on, with nothing cached or found locally."""
    from stacks import artifact

    links = tmp_path / "no-links"
    links.mkdir()
    clean_env.setenv("PIP_CONFIG_FILE", os.devnull)
    clean_env.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{_closed_port()}/simple")
    clean_env.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    clean_env.setenv("PIP_FIND_LINKS", str(links))
    clean_env.setenv("PIP_RETRIES", "0")
    clean_env.setenv("PIP_DEFAULT_TIMEOUT", "5")
    real = artifact.fetch_wheels
    clean_env.setattr(
        artifact,
        "fetch_wheels",
        lambda target, cache_dir=None: real(target, tmp_path / "wheels"),
    )
    return clean_env


def test_no_traceback_build_offline_is_a_tool_error(
    offline_pip: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN PyPI unreachable and no wheel cached
    # WHEN a build needs the wheels
    result = _run(["build", "--function", "presign", "--out", str(tmp_path / "dist")])
    # THEN it said it was downloading, then one line names the cause, exit 2
    _assert_clean(result, EXIT_SETUP, "cannot download the Lambda wheels", "no index answered")
    assert "downloading the wheels for mediakit-presign-" in result.stderr
    # AND no partial wheel set is left for a later build to take for the full one
    assert not list((tmp_path / "wheels").glob("*/*.whl"))


@pytest.mark.parametrize("command", ["synth", "check"])
def test_no_traceback_check_and_synth_failed_artifact_step_is_exit_2(
    command: str, clean_env: pytest.MonkeyPatch
) -> None:
    # GIVEN the program's artifact step failing as an offline download does
    import policies.synth
    from stacks.artifact import BuildError, Target, download_failure

    def offline(target: Target, *args: Any, **kwargs: Any) -> Any:
        raise BuildError(download_failure(target, "ERROR: ... (from versions: none)\n"))

    clean_env.setattr(policies.synth, "source_artifact", offline)
    # WHEN the stack is synthesized (or checked)
    result = _run([command, "--stack", "dev"])
    # THEN exit 2, a tool error (check's 1 is for findings), in one line
    _assert_clean(result, EXIT_SETUP, "cannot download the Lambda wheels")


def test_no_traceback_synth_downloads_no_wheels(clean_env: pytest.MonkeyPatch) -> None:
    # GIVEN a wheel download that would fail
    from stacks import artifact

    def no_download(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("synth downloaded wheels")

    clean_env.setattr(artifact, "fetch_wheels", no_download)
    # WHEN the stack is synthesized THEN it never needs them (offline, fast, says nothing)
    result = _run(["synth", "--stack", "dev"])
    assert result.exit_code == 0, result.output
    assert "downloading" not in result.stderr


# --- Ctrl-C, and a bug -------------------------------------------------------------------


def _raise_in_read(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def read(cls: type[DevEnv], path: Path, **kwargs: Any) -> DevEnv:
        raise exc

    monkeypatch.setattr(DevEnv, "read", classmethod(read))


def test_no_traceback_ctrl_c_is_exit_130(world: World, clean_env: pytest.MonkeyPatch) -> None:
    # GIVEN a command interrupted by Ctrl-C while it works
    _raise_in_read(clean_env, KeyboardInterrupt())
    # WHEN it stops THEN exit 130, "interrupted", no traceback (click alone says "Aborted!", 1)
    result = _run(["dlq", "list", "--env-file", str(world.dead_env)])
    assert result.exit_code == EXIT_INTERRUPTED, result.output
    assert "interrupted" in result.stderr
    assert "Traceback" not in result.output


def test_no_traceback_internal_error_is_one_line_exit_70(
    world: World, clean_env: pytest.MonkeyPatch
) -> None:
    # GIVEN a bug: an exception nothing expects
    _raise_in_read(clean_env, ZeroDivisionError("division by zero"))
    # WHEN the command hits it
    result = _run(["dlq", "list", "--env-file", str(world.dead_env)])
    # THEN one line says it is an internal error and how to see the traceback, exit 70
    assert result.exit_code == EXIT_INTERNAL, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("internal error: ZeroDivisionError: division by zero")
    assert "MEDIAKIT_DEBUG=1" in lines[0]
    # AND with MEDIAKIT_DEBUG=1 the exception (so its traceback) comes through
    clean_env.setenv("MEDIAKIT_DEBUG", "1")
    debug = _run(["dlq", "list", "--env-file", str(world.dead_env)])
    assert isinstance(debug.exception, ZeroDivisionError)


def test_no_traceback_closed_stdout_is_quiet_a_broken_server_pipe_is_explained(
    world: World, clean_env: pytest.MonkeyPatch
) -> None:
    import mediakit.cli as cli_module

    # GIVEN a command whose write fails with a broken pipe
    _raise_in_read(clean_env, BrokenPipeError(32, "Broken pipe"))
    # WHEN the pipe is the server's (stdout is fine) THEN it is a failure to reach it, exit 2
    clean_env.setattr(cli_module, "_stdout_closed", lambda: False)
    server = _run(["dlq", "list", "--env-file", str(world.dead_env)])
    assert server.exit_code == EXIT_SETUP, server.output
    assert "Broken pipe" in server.stderr
    assert "Traceback" not in server.output
    # WHEN it is our own stdout (`mediakit dlq list | head` after head exited) THEN no message
    # at all: click's quiet EPIPE exit (1), not "cannot reach the server"
    clean_env.setattr(cli_module, "_stdout_closed", lambda: True)
    reader_gone = _run(["dlq", "list", "--env-file", str(world.dead_env)])
    assert reader_gone.exit_code == 1, reader_gone.output
    assert "reach" not in reader_gone.stderr
    assert "Traceback" not in reader_gone.output


def test_no_traceback_token_from_an_emulator_trusting_a_real_idp_is_exit_2(
    world: World, clean_env: pytest.MonkeyPatch
) -> None:
    from mediakit.cli import uploads
    from mediakit.local.emulator import NoDevIssuer

    # GIVEN `mediakit dev --issuer URL`: its env file carries no signing key to mint with
    def refuse(*args: Any, **kwargs: Any) -> str:
        raise NoDevIssuer("mediakit dev trusts the identity provider https://idp.example")

    clean_env.setattr(DevEnv, "read", classmethod(lambda cls, path, **kwargs: object()))
    clean_env.setattr(uploads, "mint_token", refuse)
    # WHEN a token is asked for THEN one line naming the provider, exit 2 (could not run)
    result = _run(["token", "--tenant", "t", "--env-file", str(world.dead_env)])
    assert result.exit_code == EXIT_SETUP, result.output
    assert "https://idp.example" in result.stderr
    assert "Traceback" not in result.output


def test_no_traceback_import_refuses_a_tenant_the_api_refuses(
    world: World, clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a folder to import and a blank tenant (a token for it would be refused 403)
    # WHEN imported THEN a usage error before any request, exit 2, like token/upload/status
    result = _run(["import", str(tmp_path), "--tenant", " ", "--env-file", str(world.dead_env)])
    assert result.exit_code == 2, result.output
    assert "--tenant" in result.output
    assert "Traceback" not in result.output


def test_no_traceback_ctrl_c_at_a_prompt_is_exit_130() -> None:
    # GIVEN a command asking for confirmation (as erase and dlq purge do) and the user pressing
    # Ctrl-C there: click.confirm turns the KeyboardInterrupt into Abort, as mirrored here
    # (CliRunner feeds prompts from its own input, so a real keypress cannot be injected)
    from click.testing import CliRunner

    from mediakit.cli import MediakitGroup

    @click.group(cls=MediakitGroup)
    def group() -> None:
        """A group with the CLI's error boundary."""

    @group.command()
    @click.option("--eof", is_flag=True)
    def ask(eof: bool) -> None:
        try:
            raise EOFError if eof else KeyboardInterrupt
        except (KeyboardInterrupt, EOFError):
            raise click.Abort() from None  # what click.termui.confirm does

    # WHEN it stops THEN 130 and "interrupted" like Ctrl-C anywhere else (click alone: 1)
    result = CliRunner().invoke(group, ["ask"])
    assert result.exit_code == EXIT_INTERRUPTED, result.output
    assert "interrupted" in result.stderr
    assert "Traceback" not in result.output
    # AND stdin closed at the prompt (EOF) stays click's plain abort, 1: nobody interrupted
    assert CliRunner().invoke(group, ["ask", "--eof"]).exit_code == 1


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--api-url", "localhost:3000"], "--api-url"),
        (["--api-url", "http://127.0.0.1:80a"], "--api-url"),
        (["--api-url", "ftp://example.com"], "--api-url"),
        (["--api-url", "https://example.com", "--token", "eyJ.a.b\r"], "--token"),
        (["--api-url", "https://example.com", "--token", "Bearer eyJ.a.b"], "--token"),
    ],
)
def test_no_traceback_a_malformed_api_url_or_token_is_a_usage_error(
    args: list[str], named: str, clean_env: pytest.MonkeyPatch
) -> None:
    # GIVEN an --api-url without a scheme (urljoin dropped its host) or a token with a CR or a
    # space (an invalid HTTP header): both were "internal error ... a bug in mediakit", exit 70
    # WHEN used THEN a usage error naming the option, exit 2, before any request
    result = _run(["status", *args, "--tenant", "t", "01" + "z" * 24])
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert "internal error" not in result.output
    assert "Traceback" not in result.output


@pytest.fixture
def background_hooks(clean_env: pytest.MonkeyPatch) -> Iterator[None]:
    """The entry point's process-wide hooks, installed for one test and removed after it."""
    import logging
    import signal
    import threading

    from mediakit import errors

    asyncio_log = logging.getLogger("asyncio")
    clean_env.setattr(threading, "excepthook", threading.excepthook)
    clean_env.setattr(asyncio_log, "filters", list(asyncio_log.filters))
    previous = signal.getsignal(signal.SIGINT)
    errors.report_background_errors()
    yield
    signal.signal(signal.SIGINT, previous)
    errors._INTERRUPTED.clear()


def test_no_traceback_background_thread_error_is_one_line(
    background_hooks: None, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    def crash() -> None:
        raise ZeroDivisionError("in a worker")

    # WHEN a background thread dies of an exception
    worker = threading.Thread(target=crash, name="worker-1")
    worker.start()
    worker.join()
    # THEN one line names the error and the thread, no traceback
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines() == [
        "internal error: ZeroDivisionError: in a worker (a bug in mediakit: rerun with "
        "MEDIAKIT_DEBUG=1 for the traceback, and report it) (thread worker-1)"
    ]


def test_no_traceback_asyncio_errors_one_line_and_none_after_ctrl_c(
    background_hooks: None, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    import signal

    log = logging.getLogger("asyncio")
    # WHEN asyncio logs a callback error (Pulumi's loop under synth)
    log.error("Exception in callback step()", exc_info=RuntimeError("Leaving task"))
    # THEN it is one line, without the traceback
    assert [(r.getMessage(), r.exc_info) for r in caplog.records] == [
        ("Exception in callback step(): RuntimeError: Leaving task", None)
    ]
    # AND once Ctrl-C came (the entry point's SIGINT handler still raises KeyboardInterrupt),
    # the loop's teardown noise is dropped
    handler = signal.getsignal(signal.SIGINT)
    assert callable(handler)
    with pytest.raises(KeyboardInterrupt):
        handler(signal.SIGINT, None)
    caplog.clear()
    log.error("Exception in callback step()", exc_info=RuntimeError("Leaving task"))
    assert caplog.records == []


def test_no_traceback_dev_api_client_hanging_up_is_silent(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the emulator's HTTP API (socketserver prints a traceback for any handler error)
    from mediakit.local.gateway import DevApiServer

    server = DevApiServer(None)
    try:
        # WHEN a client hangs up before its answer is written (Ctrl-C on `mediakit demo`),
        # then a handler fails otherwise
        for exc in (BrokenPipeError(32, "Broken pipe"), ValueError("bad")):
            try:
                raise exc
            except Exception:
                server.handle_error(None, ("127.0.0.1", 5000))
    finally:
        server.server_close()
    # THEN the first says nothing and the second one line, without a traceback
    err = capsys.readouterr().err
    assert err.splitlines() == ["dev API: a request from 127.0.0.1 failed: ValueError: bad"]


def test_no_traceback_ctrl_c_during_synth_is_held_until_pulumi_is_done() -> None:
    # GIVEN a fresh process synthesizing the stack (dev, demo, loadtest, synth and check all
    # do) that gets Ctrl-C 0.2 s in, inside Pulumi's event loop, where a KeyboardInterrupt
    # left the loop waiting for ever (reproduced at 0.1 to 0.5 s)
    program = (
        "import os, signal, threading, policies.synth as s\n"
        "threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()\n"
        "try:\n"
        "    s.synth('dev')\n"
        "except KeyboardInterrupt:\n"
        "    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler\n"
        "    print('interrupted')\n"
    )
    # WHEN it runs
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    # THEN the interrupt arrives once Pulumi is done, as a KeyboardInterrupt (the CLI's 130)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "interrupted"


# --- the real entry point ----------------------------------------------------------------


def _subprocess(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAKIT_")}
    return subprocess.run(
        [str(MEDIAKIT), *args],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(not MEDIAKIT.exists(), reason="needs the venv's mediakit script")
def test_no_traceback_entry_point_dead_aws_endpoint(world: World) -> None:
    # GIVEN the installed `mediakit` script WHEN `dlq list` meets a dead AWS endpoint
    proc = _subprocess(["dlq", "list", "--env-file", str(world.half_dead_env)])
    # THEN stderr is one line, exit 2
    assert proc.returncode == EXIT_SETUP, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: no emulator answers at http://127.0.0.1:")


@pytest.mark.skipif(not MEDIAKIT.exists(), reason="needs the venv's mediakit script")
def test_no_traceback_entry_point_bad_settings() -> None:
    # GIVEN the installed script WHEN loadtest runs with an invalid setting
    proc = _subprocess(["loadtest", "--uploads", "1"], MEDIAKIT_MAX_UPLOAD_BYTES="abc")
    # THEN one line names it, exit 2, before any emulator starts
    assert proc.returncode == EXIT_SETUP, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: MEDIAKIT_MAX_UPLOAD_BYTES")

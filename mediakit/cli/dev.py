"""`mediakit dev`: serve the emulator (`mediakit.local.emulator`) until Ctrl-C."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from mediakit.cli.options import env_file_option, stack_name
from mediakit.errors import SetupError
from mediakit.local.emulator import (
    DEFAULT_STACK,
    DEV_AUDIENCE,
    Emulator,
    claim_env_file,
    detach_terminal,
    live_owner,
    release_env_file,
    shutdown_signals,
    wait_for,
)
from mediakit.local.provision import ProvisionError
from runtime.settings import Settings


def _echo_access(method: str, path: str, status: int, seconds: float) -> None:
    click.echo(f"  {method:6} {path} -> {status} ({seconds * 1000:.0f} ms)", err=True)


def _echo_processor(line: str) -> None:
    click.echo(f"  {line}", err=True)


def _echo_function_log(line: str) -> None:
    click.echo(f"    {line}", err=True)


class Share(click.ParamType[float]):
    """A share between 0 and 1 (0.5 = half). Not click.FloatRange: it lets NaN through (every
    comparison with it is false) and calls a typo "not a valid float range"."""

    name = "share"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            share = float(value)
        except (TypeError, ValueError):
            share = math.nan
        if not 0 <= share <= 1:  # NaN fails this too
            self.fail(f"{value!r} is not a share between 0 and 1 (e.g. 0.5)", param, ctx)
        return share


@click.command("dev")
@click.option(
    "--host", default="127.0.0.1", show_default=True, envvar="MEDIAKIT_DEV_HOST",
    help="Interface the API and the AWS emulator listen on.",
)  # fmt: skip
@click.option(
    "--port", type=int, default=0, show_default=True, envvar="MEDIAKIT_DEV_PORT",
    help="Port of the HTTP API (0 picks a free one).",
)  # fmt: skip
@env_file_option(
    "Where to write the endpoints, resource names and JWT settings once serving; refused "
    "while another running emulator owns it, removed on exit.",
    search_parents=False,
)
@click.option(
    "--issuer", envvar="MEDIAKIT_DEV_ISSUER", default=None, metavar="URL",
    help="Trust this identity provider's tokens instead of dev tokens: an https:// issuer whose "
    "/.well-known/openid-configuration names its JWKS, as the stack's jwtIssuer (CA bundle: "
    "SSL_CERT_FILE). Default: the emulator's own dev issuer, keys generated per run.",
)  # fmt: skip
@click.option(
    "--audience", "audiences", multiple=True, envvar="MEDIAKIT_DEV_AUDIENCE",
    default=(DEV_AUDIENCE,), show_default=True, metavar="A",
    help="Audience (aud, or client_id without aud) the authorizer accepts (repeatable), as the "
    "stack's jwtAudience; dev tokens carry the first.",
)  # fmt: skip
@click.option(
    "--stack", default=DEFAULT_STACK, show_default=True, envvar="PULUMI_STACK",
    callback=stack_name,
    help="Stack whose program and Pulumi.<stack>.yaml config the emulator is provisioned from.",
)  # fmt: skip
@click.option(
    "--cors-origin", "cors_origins", multiple=True, envvar="MEDIAKIT_DEV_CORS_ORIGINS",
    help="Origin allowed by the API and bucket CORS rules (repeatable), instead of the "
    "stack's corsOrigins. The emulator's own page origin is always allowed.",
)  # fmt: skip
@click.option(
    "--visibility-timeout", type=click.IntRange(0, 43200), default=None,
    envvar="MEDIAKIT_DEV_VISIBILITY_TIMEOUT",
    help="Ingest queue visibility timeout in seconds (default: the stack's, 6 x processor "
    "timeout); lower it to watch retries and dead-lettering quickly.",
)  # fmt: skip
@click.option(
    "--fail-rate", type=Share(), default=0.0, show_default=True,
    envvar="MEDIAKIT_DEV_FAIL_RATE", metavar="R",
    help="Share of processor invocations (0..1) that fail before the handler runs, so the "
    "message is retried and dead-lettered after maxReceiveCount receives: of the first n "
    "invocations exactly ceil(n*R) fail, starting with the first (0.5: every other one).",
)  # fmt: skip
@click.option(
    "--quiet", is_flag=True, envvar="MEDIAKIT_DEV_QUIET",
    help="Do not print the access log, the processor's outcomes or the functions' logs.",
)  # fmt: skip
def dev_command(
    host: str,
    port: int,
    env_file: Path,
    issuer: str | None,
    audiences: tuple[str, ...],
    stack: str,
    cors_origins: tuple[str, ...],
    visibility_timeout: int | None,
    fail_rate: float,
    quiet: bool,
) -> None:
    """Run the whole pipeline locally (moto + API + processor) until Ctrl-C.

    The resources, the functions' environment and handlers come from the stack's own program,
    synthesized offline with Pulumi.<stack>.yaml; MEDIAKIT_* variables set in this shell
    override the stack's settings (the same names the Lambdas read).
    """
    from runtime.errors import SettingsError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    # Refuse at once (not after provisioning) when a live emulator owns the env file; a stale
    # one (its emulator SIGKILLed) is replaced.
    stale = live_owner(env_file)
    try:
        # A bad MEDIAKIT_* override is named as the shell spells it, before the stack is read.
        Settings.from_env(os.environ)
        emulator = Emulator(
            None,
            host=host,
            port=port,
            issuer=issuer,
            audiences=audiences,
            stack=stack,
            cors_origins=cors_origins or None,
            visibility_timeout=visibility_timeout,
            fail_rate=fail_rate,
            access_log=None if quiet else _echo_access,
            processor_log=None if quiet else _echo_processor,
            function_log=None if quiet else _echo_function_log,
        )
    except (FileNotFoundError, SettingsError, ProvisionError) as exc:
        raise SetupError(str(exc)) from None
    # Signals are caught from the start so a Ctrl-C during provisioning still shuts down cleanly.
    with shutdown_signals() as stop:
        try:
            env = emulator.start()
        except OSError as exc:
            raise SetupError(f"cannot start the emulator: {exc}") from None
        try:
            # Checked again: another emulator may have claimed the file while this one started.
            stale = claim_env_file(env, env_file) or stale
            if stale is not None:
                click.echo(
                    f"mediakit dev: replacing {env_file} of an emulator no longer running "
                    f"({stale.describe()})",
                    err=True,
                )
            click.echo(f"mediakit dev: API    {env.api_url}")
            click.echo(
                f"              stack  {stack} (provisioned from its program, ready in "
                f"{time.perf_counter() - started:.1f}s)"
            )
            click.echo(f"              page   {env.api_url}/dev/ (emulator only)")
            click.echo(f"              issuer {env.jwt_issuer} (audience {env.jwt_audience})")
            click.echo(f"              AWS    {env.aws_endpoint_url} ({env.region})")
            click.echo(f"              bucket {env.bucket}, table {env.table}")
            click.echo(f"              env    {env_file} (then: mediakit token --tenant NAME)")
            if fail_rate:
                click.echo(
                    f"              faults {fail_rate * 100:.3g}% of processor invocations fail "
                    f"before running (--fail-rate {fail_rate:g})"
                )
            click.echo(f"Ctrl-C to stop (pid {os.getpid()}).")
            sys.stdout.flush()
            wait_for(stop)
        finally:
            # The env file goes first: no reader may find it pointing at a port being closed.
            release_env_file(env, env_file)
            if stop.signum == signal.SIGHUP:
                detach_terminal()
            _say("mediakit dev: stopping")
            emulator.stop()


def _say(line: str) -> None:
    """A line on stderr that cannot stop the shutdown: after SIGHUP the terminal may be gone."""
    with contextlib.suppress(OSError):
        click.echo(line, err=True)

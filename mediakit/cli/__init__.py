"""The `mediakit` command: one click group over thin commands, one module each in this package.
Each command parses its options, calls one function of its concern and prints; heavy
dependencies load lazily so that `mediakit --help` stays fast."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from mediakit.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    debugging,
    explain,
    internal_error,
    report_background_errors,
)


class MediakitGroup(click.Group):
    """The one error boundary of every command (subgroups included, CliRunner too): a failure
    becomes one line on stderr and a documented exit code (`mediakit.errors`), never a
    traceback unless MEDIAKIT_DEBUG=1 asks for it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            if ctx.parent is None:
                _check_environment([*getattr(ctx, "_protected_args", ()), *ctx.args])
            return super().invoke(ctx)
        except click.Abort as exc:
            # click turns Ctrl-C at a prompt (erase, dlq purge) into Abort: interrupted too.
            if isinstance(exc.__context__, KeyboardInterrupt):
                click.echo("\ninterrupted", err=True)
                raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
            raise
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError as exc:
            # The reader of our output went away (`mediakit dlq list | head`): click's own
            # handling exits quietly. A pipe to a server that broke is a failure to explain.
            if _stdout_closed():
                raise
            _fail(exc)
        except Exception as exc:
            _fail(exc)


def _fail(exc: Exception) -> NoReturn:
    clean = explain(exc)
    if clean is not None:
        raise clean from exc
    if debugging():
        raise exc
    click.echo(internal_error(exc), err=True)
    raise click.exceptions.Exit(EXIT_INTERNAL) from exc


def _check_environment(args: list[str]) -> None:
    """A MEDIAKIT_* variable nothing reads is a typo every command would otherwise ignore:
    refused before any command runs, except when a command's --help is asked for."""
    if any(arg in ("-h", "--help") for arg in args):
        return
    from runtime.registry import check_environ

    check_environ(os.environ)


def _stdout_closed() -> bool:
    """Whether stdout is the pipe that broke (its unwritten bytes fail to flush again)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    except (OSError, ValueError):
        return False
    return False


@click.group(cls=MediakitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mediakit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """mediakit: secure direct-to-S3 media uploads on AWS, and the same pipeline on your laptop.

    Exit codes (every command): 0 done; 1 done, and the answer is no (findings, a failed
    upload, not found); 2 could not run (usage, settings, stack or env file, no emulator or
    AWS credentials, a tool failed); 124 `upload --wait` timed out; 70 internal error; 130
    interrupted. The README's "Exit codes" section has them per command."""
    ctx.ensure_object(dict)


def main() -> None:
    report_background_errors()
    try:
        cli()
    except KeyboardInterrupt:
        # Ctrl-C outside a command (while the CLI itself starts): no traceback either.
        click.echo("\ninterrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


# Command registration: one line per command module (keep sorted).
from mediakit.cli.build import build_command  # noqa: E402
from mediakit.cli.check import check_command  # noqa: E402
from mediakit.cli.demo import demo_command  # noqa: E402
from mediakit.cli.dev import dev_command  # noqa: E402
from mediakit.cli.dlq import dlq_command  # noqa: E402
from mediakit.cli.erase import erase_command  # noqa: E402
from mediakit.cli.import_ import import_command  # noqa: E402
from mediakit.cli.loadtest import loadtest_command  # noqa: E402
from mediakit.cli.reprocess import reprocess_command  # noqa: E402
from mediakit.cli.synth import synth_command  # noqa: E402
from mediakit.cli.uploads import (  # noqa: E402
    abort_command,
    status_command,
    token_command,
    upload_command,
)

for _command in (
    abort_command,
    build_command,
    check_command,
    demo_command,
    dev_command,
    dlq_command,
    erase_command,
    import_command,
    loadtest_command,
    reprocess_command,
    status_command,
    synth_command,
    token_command,
    upload_command,
):
    cli.add_command(_command)

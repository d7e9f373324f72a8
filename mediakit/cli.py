"""The `mediakit` command: one click group; each command lives in the module of its concern and
imports its heavy dependencies lazily so that `mediakit --help` stays fast."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mediakit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """mediakit: secure direct-to-S3 media uploads on AWS, and the same pipeline on your laptop."""
    ctx.ensure_object(dict)


def main() -> None:
    cli()


# Command registration: one line per command module (keep sorted).
from mediakit.demo import demo_command  # noqa: E402
from mediakit.emulator import dev_command  # noqa: E402
from mediakit.uploads import status_command, token_command, upload_command  # noqa: E402

cli.add_command(demo_command)
cli.add_command(dev_command)
cli.add_command(status_command)
cli.add_command(token_command)
cli.add_command(upload_command)
from mediakit.build import build_command  # noqa: E402
from mediakit.synth import synth_command  # noqa: E402

cli.add_command(build_command)
cli.add_command(synth_command)
from mediakit.check import check_command  # noqa: E402

cli.add_command(check_command)
from mediakit.dlq import dlq_command  # noqa: E402
from mediakit.loadtest import loadtest_command  # noqa: E402

cli.add_command(dlq_command)
cli.add_command(loadtest_command)

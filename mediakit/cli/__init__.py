"""The `mediakit` command: one click group over thin commands, one module each in this package.
Each command parses its options, calls one function of its concern and prints; heavy
dependencies load lazily so that `mediakit --help` stays fast."""

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

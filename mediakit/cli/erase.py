"""`mediakit erase`: remove every object version and record of one tenant, on `mediakit dev` or
a deployed stack (`mediakit.ops.erase` does the work)."""

from __future__ import annotations

from pathlib import Path

import click

from mediakit.cli.options import env_file_option


@click.command("erase")
@click.option(
    "--tenant", required=True, envvar="MEDIAKIT_ERASE_TENANT",
    help="The tenant claim's value (as in the tokens); sanitised into its key segment as the "
    "runtime does.",
)  # fmt: skip
@env_file_option("Env file of a running `mediakit dev` (ignored with --outputs).")
@click.option(
    "--outputs", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    envvar="MEDIAKIT_STACK_OUTPUTS",
    help="`pulumi stack output --json` of a deployed stack; uses your AWS credentials.",
)  # fmt: skip
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def erase_command(tenant: str, env_file: Path, outputs: Path | None, yes: bool) -> None:
    """Erase TENANT for good: every object version and delete marker under its originals/ and
    derivatives/ prefixes, and every record of it. Shows the counts and asks first; exits
    non-zero, listing what remains, if anything could not be removed."""
    from mediakit.ops import erase

    segment = erase.tenant_segment(tenant)
    target = (
        erase.EraseTarget.from_outputs(outputs)
        if outputs
        else erase.EraseTarget.from_env_file(env_file)
    )
    found = erase.inventory(target, segment)
    click.echo(
        f"tenant {tenant!r} (segment {segment}) on {target.where}, bucket {target.bucket}, "
        f"table {target.table}: {found.summary()}"
    )
    if found.empty:
        click.echo("nothing to erase")
        return
    if not yes:
        click.confirm("Erase all of it for good (no restore)?", abort=True)
    outcome = erase.erase(target, found, report=click.echo)
    click.echo(
        f"removed {len(outcome.removed_objects)} object version(s) and delete marker(s), "
        f"{len(outcome.removed_items)} record(s)"
    )
    if outcome.complete:
        return
    for error in outcome.errors:
        click.echo(f"failed: {error}", err=True)
    remaining = outcome.remaining
    if remaining is not None and not remaining.empty:
        for obj in remaining.objects:
            click.echo(f"remains: {obj.describe()}", err=True)
        for item in remaining.items:
            click.echo(f"remains: {item.describe()}", err=True)
        raise click.ClickException(
            f"tenant {segment} is not fully erased: {remaining.summary()} remain; run again"
        )
    raise click.ClickException(f"{len(outcome.errors)} removal(s) failed; run again to check")

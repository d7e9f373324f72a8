"""`mediakit reprocess`: re-render existing uploads' derivatives under the current specs, on
`mediakit dev` or a deployed stack (`mediakit.ops.reprocess` does the work)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from mediakit.cli.options import env_file_option


@click.command("reprocess")
@click.option(
    "--tenant", default=None, envvar="MEDIAKIT_REPROCESS_TENANT",
    help="Only this tenant (the tenant claim's value, as in the tokens).",
)  # fmt: skip
@click.option("--all", "all_tenants", is_flag=True, help="Every tenant (a paginated table scan).")
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"]),
    default=None, help="Only uploads created at or after this UTC date or time.",
)  # fmt: skip
@env_file_option("Env file of a running `mediakit dev` (ignored with --outputs).")
@click.option(
    "--outputs", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
    envvar="MEDIAKIT_STACK_OUTPUTS",
    help="`pulumi stack output --json` of a deployed stack; uses your AWS credentials.",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Count what would be reprocessed; send nothing.")
def reprocess_command(
    tenant: str | None,
    all_tenants: bool,
    since: datetime | None,
    env_file: Path,
    outputs: Path | None,
    dry_run: bool,
) -> None:
    """Queue a re-render of every completed upload (of --tenant, or --all) under the stack's
    current derivative specs: new derivatives are written, ones the specs dropped are removed.
    Safe to repeat: an upload already rendered under the current specs is not rendered again."""
    from mediakit.ops import erase, reprocess

    if (tenant is None) == (not all_tenants):
        raise click.UsageError("give exactly one of --tenant T or --all")
    segment = erase.tenant_segment(tenant) if tenant is not None else None
    stamp = reprocess.since_stamp(since)
    target = (
        reprocess.ReprocessTarget.from_outputs(outputs)
        if outputs
        else reprocess.ReprocessTarget.from_env_file(env_file)
    )
    found = reprocess.candidates(target, segment, stamp)
    scope = f"tenant {tenant!r} (segment {segment})" if segment else "every tenant"
    when = f", created since {stamp}" if stamp else ""
    click.echo(f"{scope} on {target.where}{when}: {len(found)} completed upload(s)")
    if dry_run or not found:
        return
    with click.progressbar(length=len(found), label="queueing", file=None) as bar:
        outcome = reprocess.send(target, found, progress=bar.update)
    click.echo(f"queued {len(outcome.sent)} re-render(s)")
    if outcome.skipped:
        click.echo(
            f"skipped {len(outcome.skipped)} audio/video upload(s): the stack has no media queue",
            err=True,
        )
    if outcome.errors:
        for error in outcome.errors:
            click.echo(f"failed: {error}", err=True)
        raise click.ClickException(f"{len(outcome.errors)} message(s) not queued; run again")

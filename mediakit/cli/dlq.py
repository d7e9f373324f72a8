"""`mediakit dlq`: list, show, redrive and purge the ingest dead-letter queue
(`mediakit.ops.dlq` does the work)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from mediakit.cli.options import env_file_option
from mediakit.ops.dlq import DeadMessage, DlqTarget, depth, list_dead, purge, redrive

F = TypeVar("F", bound=Callable[..., Any])


def _line(dead: DeadMessage) -> str:
    error = dead.last_error or {}
    reason = f"{error.get('code', '-')}: {error.get('message', '')}".strip()
    return (
        f"{dead.message_id}  upload={dead.upload_id or '-'}  status={dead.status or '-'}  "
        f"receives={dead.receive_count}  sent={dead.sent_at or '-'}\n"
        f"    key={dead.key or '(not an S3 notification)'}\n"
        f"    last failure: {reason if dead.last_error else '-'}"
    )


def _source_options(func: F) -> F:
    """Which DLQ: --env-file / --outputs / --media, accepted before the subcommand (`mediakit
    dlq --env-file F list`) and after it (`mediakit dlq list --env-file F`), like every other
    command's options."""
    func = click.option(
        "--media", is_flag=True,
        help="The media function's DLQ and queue (audio/video on) instead of the ingest ones.",
    )(func)  # fmt: skip
    func = click.option(
        "--outputs", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
        envvar="MEDIAKIT_STACK_OUTPUTS",
        help="`pulumi stack output --json` of a deployed stack; uses your AWS credentials.",
    )(func)  # fmt: skip
    return env_file_option("Env file of a running `mediakit dev` (ignored with --outputs).")(func)


@click.group("dlq")
@_source_options
def dlq_command(env_file: Path, outputs: Path | None, media: bool) -> None:
    """Inspect, redrive and purge the ingest (or, with --media, the media) dead-letter queue."""


def _target(ctx: click.Context) -> DlqTarget:
    """The DLQ the options name: the subcommand's own where given, else the group's."""

    def option(name: str) -> Any:
        if ctx.get_parameter_source(name) is ParameterSource.DEFAULT and ctx.parent is not None:
            return ctx.parent.params[name]
        return ctx.params[name]

    outputs, media = option("outputs"), bool(option("media"))
    if outputs:
        return DlqTarget.from_outputs(outputs, media=media)
    return DlqTarget.from_env_file(option("env_file"), media=media)


@dlq_command.command("list")
@_source_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of text.")
@click.option(
    "--max", "limit", type=click.IntRange(1), default=None, help="Stop after this many messages."
)
@click.pass_context
def list_command(ctx: click.Context, /, as_json: bool, limit: int | None, **_: object) -> None:
    """List dead messages: upload id, key, receive count and last failure."""
    dead = list_dead(_target(ctx), limit=limit)
    if as_json:
        click.echo(json.dumps([d.to_json() for d in dead], indent=2))
        return
    for item in dead:
        click.echo(_line(item))
    click.echo(f"{len(dead)} dead message(s)")


@dlq_command.command("show")
@click.argument("message_id")
@_source_options
@click.pass_context
def show_command(ctx: click.Context, /, message_id: str, **_: object) -> None:
    """Print one dead message as JSON, body and status record facts included."""
    for item in list_dead(_target(ctx)):
        if item.message_id == message_id:
            out = item.to_json()
            with contextlib.suppress(ValueError, RecursionError):
                out["body"] = json.loads(item.body)
            click.echo(json.dumps(out, indent=2))
            return
    raise click.ClickException(f"no dead message {message_id} (visible) on the DLQ")


@dlq_command.command("redrive")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "redrive_all", is_flag=True, help="Redrive every dead message.")
@_source_options
@click.pass_context
def redrive_command(
    ctx: click.Context, /, message_ids: tuple[str, ...], redrive_all: bool, **_: object
) -> None:
    """Move MESSAGE_IDS (or --all) back to the ingest queue for another try."""
    if bool(message_ids) == redrive_all:
        raise click.UsageError("give message ids or --all (not both)")
    wanted = None if redrive_all else set(message_ids)
    moved = redrive(_target(ctx), wanted)
    for message_id in moved:
        click.echo(f"redriven {message_id}")
    click.echo(f"{len(moved)} message(s) sent back to the ingest queue")
    if wanted is not None and wanted - set(moved):
        missing = ", ".join(sorted(wanted - set(moved)))
        raise click.ClickException(f"not found on the DLQ: {missing}")


@dlq_command.command("purge")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_source_options
@click.pass_context
def purge_command(ctx: click.Context, /, yes: bool, **_: object) -> None:
    """Delete every dead message (asks first; an empty DLQ or answering no exits 0)."""
    target = _target(ctx)
    count = depth(target)
    if count == 0:
        click.echo("the DLQ is empty: nothing to purge")
        return
    if not yes and not click.confirm(f"Delete {count} dead message(s) for good?"):
        click.echo("nothing purged")
        return
    click.echo(f"purged {purge(target)} message(s)")

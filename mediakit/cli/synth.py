"""`mediakit synth`: the Pulumi program run offline under mocks, written as a resource graph.

The machinery lives in `policies.synth` (shared with the stack tests and the checkov export);
it imports Pulumi, so it is loaded only when the command runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from mediakit.cli.options import stack_name


@click.command("synth")
@click.option(
    "--stack",
    required=True,
    envvar="PULUMI_STACK",
    callback=stack_name,
    help="Stack whose Pulumi.<stack>.yaml config is used (dev, prod, ...).",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the graph JSON here (default: stdout).",
)
def synth_command(stack: str, out_file: Path | None) -> None:
    """Run the Pulumi program offline under mocks and write the resource graph JSON."""
    from policies.synth import synth

    started = time.perf_counter()
    # A missing or malformed Pulumi.<stack>.yaml, a bad config value: one line naming the file
    # or key, exit 2, by the CLI's error boundary (mediakit.errors).
    graph = synth(stack)
    text = json.dumps(graph, indent=2, sort_keys=False) + "\n"
    if out_file is None:
        click.echo(text, nl=False)
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(text)
    click.echo(
        f"{out_file}: {len(graph['resources'])} resources, {time.perf_counter() - started:.1f}s",
        err=True,
    )

"""`mediakit check`: policy checks on the synthesized stack (checkov + parliament), for CI."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from mediakit.cli.options import stack_name


@click.command("check")
@click.option(
    "--stack",
    default=None,
    envvar="PULUMI_STACK",
    callback=stack_name,
    help="Stack to synthesize offline and check (dev, prod, ...). Not needed with --graph.",
)
@click.option(
    "--graph",
    "graph_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check this resource graph (`mediakit synth` output) instead of synthesizing; "
    "repeat to check several graphs in one checkov run.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["cli", "json", "sarif"]),
    default="cli",
    show_default=True,
    help="Report format.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report here (default: stdout); the text summary then goes to stdout.",
)
@click.option(
    "--suppressions",
    "suppression_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Suppression list (default: policies/suppressions.yaml).",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the exported plans, checkov's own reports (json, sarif, cli) and an equivalent "
    "checkov --baseline file here.",
)
def check_command(
    stack: str | None,
    graph_files: tuple[Path, ...],
    fmt: str,
    out_file: Path | None,
    suppression_file: Path | None,
    work_dir: Path | None,
) -> None:
    """Synthesize the stack offline, scan it with checkov and parliament, and fail on any
    finding that is not suppressed with a reason (exit 1), or if a scanner broke (exit 2)."""
    from policies import check, report, suppressions
    from policies.findings import PolicyToolError
    from runtime.errors import SettingsError

    if not graph_files and not stack:
        raise click.UsageError("give --stack to synthesize, or --graph FILE")
    if graph_files and stack:
        raise click.UsageError("--stack and --graph exclude each other: a graph names its stack")
    started = time.perf_counter()
    try:
        if graph_files:
            graphs = check.load_graphs(graph_files)
        else:
            assert stack is not None
            graphs = {stack: check.synth_graph(stack)}
        synth_seconds = time.perf_counter() - started
        with tempfile.TemporaryDirectory(prefix="mediakit-check-") as tmp:
            run = check.check_graphs(
                graphs,
                work_dir or Path(tmp),
                suppression_file=suppression_file or suppressions.DEFAULT_FILE,
                # checkov's own reports too, when they are kept for a human to read.
                checkov_outputs=("json", "sarif", "cli") if work_dir else ("json",),
            )
    except (PolicyToolError, FileNotFoundError, SettingsError) as exc:
        # A missing stack file or invalid config is a usage problem, not a finding: exit 2.
        click.echo(f"mediakit check: {exc}", err=True)
        raise SystemExit(2) from exc
    run.timings = {"synth": synth_seconds, **run.timings}
    run.timings["total"] = time.perf_counter() - started
    text = report.render(run, fmt)
    if out_file is None:
        click.echo(text, nl=False)
    else:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(text)
        if fmt != "cli":
            # stdout is free: the human summary, so CI logs show what failed and why.
            click.echo(report.render(run, "cli"), nl=False)
    if fmt != "cli" or out_file is not None:
        verdict = "OK" if run.ok else "FAILED"
        click.echo(f"mediakit check: {verdict} ({run.timings['total']:.1f}s)", err=True)
    if not run.ok:
        raise SystemExit(1)

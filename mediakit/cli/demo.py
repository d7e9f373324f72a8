"""`mediakit demo`: the whole pipeline on sample files (`mediakit.demo` runs it)."""

from __future__ import annotations

from pathlib import Path

import click

from mediakit.cli.options import env_file_option
from mediakit.demo import run_demo


@click.command("demo")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default="demo-out",
    show_default=True, envvar="MEDIAKIT_DEMO_OUT",
    help="Folder for samples, downloaded derivatives and the contact sheet.",
)  # fmt: skip
@click.option(
    "--keep-running/--no-keep-running", default=False, show_default=True,
    envvar="MEDIAKIT_DEMO_KEEP_RUNNING",
    help="Keep the emulator serving after the demo (writes the env file) until Ctrl-C.",
)  # fmt: skip
@env_file_option("Env file written with --keep-running, for `mediakit upload/status/token`.")
def demo_command(out: Path, keep_running: bool, env_file: Path) -> None:
    """Run the whole pipeline locally on sample images and check every outcome."""
    code = run_demo(out, keep_running=keep_running, env_file=env_file)
    if code:
        raise SystemExit(code)

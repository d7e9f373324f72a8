"""`mediakit loadtest`: N uploads through the real API and S3 (`mediakit.loadtest` runs them)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from mediakit.loadtest import format_report, plan, run
from runtime.settings import Settings


@click.command("loadtest")
@click.option(
    "--env-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    envvar="MEDIAKIT_ENV_FILE",
    help="Env file of a running `mediakit dev`; without it an emulator starts in this process.",
)  # fmt: skip
@click.option("--uploads", "n", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="How many uploads.")  # fmt: skip
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Concurrent clients (threads).")  # fmt: skip
@click.option("--invalid-ratio", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Share of hostile files that must fail.")  # fmt: skip
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the mix.")
@click.option("--timeout", type=float, default=120, show_default=True,
              help="Seconds an upload may take to reach a terminal status.")  # fmt: skip
@click.option(
    "--retry-creates",
    is_flag=True,
    help="Send every create twice with the same Idempotency-Key (a client retrying a "
    "lost answer); the report counts uploads per key and fails on a duplicate.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def loadtest_command(
    env_file: Path | None,
    n: int,
    concurrency: int,
    invalid_ratio: float,
    seed: int,
    timeout: float,
    retry_creates: bool,
    as_json: bool,
) -> None:
    """Run N uploads with C concurrent clients; exit 1 if any is lost or misclassified.

    Expected outcomes follow the MEDIAKIT_* settings of this environment: give it the same
    ones the `mediakit dev` behind --env-file runs with.
    """
    from mediakit.errors import SetupError
    from mediakit.local.emulator import DevEnv, Emulator, NoDevIssuer

    settings = Settings.from_env(os.environ)
    jobs = plan(n, invalid_ratio=invalid_ratio, seed=seed, settings=settings)
    if env_file is not None:
        try:
            report = run(
                DevEnv.read(env_file),
                jobs,
                concurrency=concurrency,
                timeout=timeout,
                retry_creates=retry_creates,
            )
        except NoDevIssuer:
            raise SetupError(
                f"the emulator of {env_file} trusts a real identity provider (--issuer), and "
                "the load test mints dev tokens: run it against a `mediakit dev` started "
                "without --issuer"
            ) from None
    else:
        with Emulator(settings) as env:
            report = run(
                env, jobs, concurrency=concurrency, timeout=timeout, retry_creates=retry_creates
            )
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else format_report(report))
    if not report.passed:
        raise SystemExit(1)

"""`mediakit build`: the Lambda zip, reproducibly (the builder itself is `stacks.artifact`,
which the stack imports too)."""

from __future__ import annotations

from pathlib import Path

import click

from stacks.artifact import (
    ARCHITECTURES,
    BUILD_PYTHONS,
    DEFAULT_ARCH,
    DEFAULT_PYTHON,
    ROOT,
    BuildError,
    Target,
    build,
    read_manifest,
)


@click.command("build")
@click.option(
    "--arch",
    type=click.Choice(sorted(ARCHITECTURES)),
    default=DEFAULT_ARCH,
    show_default=True,
    envvar="MEDIAKIT_LAMBDA_ARCH",
    help="Lambda architecture to fetch Pillow wheels for.",
)
@click.option(
    "--python",
    "python_version",
    type=click.Choice(BUILD_PYTHONS),
    default=DEFAULT_PYTHON,
    show_default=True,
    envvar="MEDIAKIT_LAMBDA_PYTHON",
    help="Lambda Python version (3.11 builds for a local cp311 interpreter, for tests).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dist"),
    show_default=True,
    help="Directory the zip is written to.",
)
def build_command(arch: str, python_version: str, out_dir: Path) -> None:
    """Build the Lambda zip reproducibly: runtime/, Pillow and the pinned AWS SDK."""
    try:
        target = Target(arch, python_version)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from None
    missing = [m for m in ("presign", "processor") if not (ROOT / "runtime" / f"{m}.py").exists()]
    if missing:
        click.echo(f"warning: runtime/{', '.join(missing)} missing: handlers will not import")
    try:
        artifact = build(target, out_dir)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from None
    bundled = read_manifest(artifact.path)["distributions"]
    click.echo(f"{artifact.path}\nsha256 {artifact.sha256}\nsize {artifact.size} bytes")
    click.echo(
        f"boto3 {bundled['boto3']}, botocore {bundled['botocore']} (pinned in pyproject.toml)"
    )

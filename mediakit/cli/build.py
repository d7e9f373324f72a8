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
    FUNCTIONS,
    HANDLER_MODULES,
    LOCAL_PYTHON,
    ROOT,
    Target,
    build,
    default_arch,
    read_manifest,
    sdk_pins,
)


@click.command("build")
@click.option(
    "--arch",
    type=click.Choice(sorted(ARCHITECTURES)),
    default=None,
    envvar="MEDIAKIT_LAMBDA_ARCH",
    help=f"Lambda architecture to fetch the wheels for. Default: {DEFAULT_ARCH}; with --python "
    f"{LOCAL_PYTHON}, this machine's.",
)
@click.option(
    "--python",
    "python_version",
    type=click.Choice(BUILD_PYTHONS),
    default=DEFAULT_PYTHON,
    show_default=True,
    envvar="MEDIAKIT_LAMBDA_PYTHON",
    help=f"Lambda Python version ({LOCAL_PYTHON} builds for this machine's own cp311 "
    "interpreter, for tests).",
)
@click.option(
    "--function",
    "functions",
    type=click.Choice([*FUNCTIONS, "all"]),
    default="all",
    show_default=True,
    help="Which function's zip to build; each carries only its own libraries.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("dist"),
    show_default=True,
    help="Directory the zip is written to.",
)
def build_command(arch: str | None, python_version: str, functions: str, out_dir: Path) -> None:
    """Build each function's Lambda zip reproducibly: runtime/, the pinned AWS SDK and
    Powertools, and each function's own libraries (the processor's Pillow and pi-heif; the
    media function's PyAV too). Downloads the wheels on a target's first build."""
    # Without --arch, a --python 3.11 build is for this machine (a zip for arm64 would not
    # import here); a Lambda Python builds for Lambda's default, arm64.
    arch = arch or default_arch(python_version)
    wanted = FUNCTIONS if functions == "all" else (functions,)
    missing = [
        f"{HANDLER_MODULES[m]}.py"
        for m in FUNCTIONS
        if not (ROOT / "runtime" / f"{HANDLER_MODULES[m]}.py").exists()
    ]
    if missing:
        click.echo(f"warning: runtime/{', '.join(missing)} missing: handlers will not import")
    for function in wanted:
        # A BuildError (no wheels, a bad pin) is one line and exit 2, by the CLI's boundary.
        artifact = build(Target(arch, python_version, function), out_dir)
        manifest = read_manifest(artifact.path)
        bundled = manifest["distributions"]
        click.echo(f"{artifact.path}\nsha256 {artifact.sha256}\nsize {artifact.size} bytes")
        pinned = {f"{name}=={version}" for name, version in sdk_pins().items()}
        own = [r for r in manifest["requirements"] if r not in pinned]
        click.echo(
            f"{function}: boto3 {bundled['boto3']}, botocore {bundled['botocore']} (pinned in "
            f"pyproject.toml); own libraries: {', '.join(own) or 'none'}"
        )

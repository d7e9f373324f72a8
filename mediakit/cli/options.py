"""Options and callbacks the commands share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mediakit.local.emulator import DEFAULT_ENV_FILE

F = TypeVar("F", bound=Callable[..., Any])


def env_file_option(help: str) -> Callable[[F], F]:
    """`--env-file`: where `mediakit dev` writes its env file and the other commands read it."""
    return click.option(
        "--env-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=DEFAULT_ENV_FILE,
        show_default=True,
        envvar="MEDIAKIT_ENV_FILE",
        help=help,
    )


def stack_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: a usage error (exit 2) for a stack name that is not one path segment."""
    if value is None:
        return None
    from policies.synth import check_stack_name

    try:
        return check_stack_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

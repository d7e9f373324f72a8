"""Options and callbacks the commands share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mediakit.local.emulator import DEFAULT_ENV_FILE, find_env_file

F = TypeVar("F", bound=Callable[..., Any])


def env_file_option(help: str, *, search_parents: bool = True) -> Callable[[F], F]:
    """`--env-file`: where `mediakit dev` writes its env file and the other commands read it.
    Readers (`search_parents`) given the default look for it in the working directory, then in
    each parent, so a command run from a subdirectory of the project finds the emulator."""

    def resolve(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
        if search_parents and value == Path(DEFAULT_ENV_FILE):
            return find_env_file()
        return value

    return click.option(
        "--env-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=DEFAULT_ENV_FILE,
        show_default=True,
        envvar="MEDIAKIT_ENV_FILE",
        callback=resolve,
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

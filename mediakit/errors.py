"""What a `mediakit` command tells its user when it stops: the exit codes, the exception that
carries a "could not run" error, and one clean line for every failure we know of (a dead
emulator, no AWS credentials, an invalid setting, a malformed stack file, a missing file).

The CLI's error boundary (`mediakit.cli.MediakitGroup`) routes every exception through
`explain`; what it cannot explain is a bug, reported in one line too (`MEDIAKIT_DEBUG=1` shows
the traceback). Every command follows the same codes, below (the README's "Exit codes" table
says what 1 means for each).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import threading
from typing import Any

import click

EXIT_OK = 0
# The command ran and its verdict is "no": findings, a lost upload, a file that failed, a
# record not erased, an id not found, a declined confirmation.
EXIT_FAILED = 1
# The command could not do its work: a usage error (click's own code), an invalid setting or
# stack file, a missing input file, no emulator or AWS endpoint answering, no usable AWS
# credentials, AWS refusing the call, a tool (pip, checkov) that broke.
EXIT_SETUP = 2
# A bug in mediakit (sysexits' EX_SOFTWARE): an exception nothing here expected.
EXIT_INTERNAL = 70
# Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
DEBUG_VARIABLE = "MEDIAKIT_DEBUG"
# One line stays readable in a terminal and a CI log.
_MAX_LINE = 400
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0")  # noqa: S104 (a name)


class SetupError(click.ClickException):
    """The command could not do its work; the message says what to fix. Exit 2 (`EXIT_SETUP`).

    Raise it like `click.ClickException`: `raise SetupError("no X: run Y first") from None`."""

    exit_code = EXIT_SETUP


def one_line(text: str, limit: int = _MAX_LINE) -> str:
    """`text` with its whitespace runs (newlines included) folded to single spaces, cut at
    `limit` characters."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def unreachable(url: str | None) -> str:
    """The line for an endpoint that does not answer: the emulator's (start it) or AWS's."""
    where = url or "the endpoint"
    host = re.sub(r"^[a-z]+://", "", where).split("/", 1)[0].rsplit(":", 1)[0]
    if host in _LOCAL_HOSTS:
        return (
            f"no emulator answers at {where}: start `mediakit dev` (or pass --env-file with the "
            "file of the one that is running)"
        )
    return f"cannot reach {where}: check the network, AWS_REGION and the stack outputs file"


def explain(exc: BaseException) -> click.ClickException | None:
    """The clean error a user sees for `exc`, or None if it is not a failure we know (a bug)."""
    if isinstance(exc, click.ClickException):
        return exc
    for explainer in (_settings, _botocore, _yaml, _artifact, _policy_tool, _network, _file):
        message = explainer(exc)
        if message is not None:
            return SetupError(one_line(message))
    return None


def internal_error(exc: BaseException) -> str:
    """The one line for an unexpected exception (the traceback only with MEDIAKIT_DEBUG=1)."""
    detail = one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, 200)
    return (
        f"internal error: {detail} (a bug in mediakit: rerun with {DEBUG_VARIABLE}=1 for the "
        "traceback, and report it)"
    )


def debugging() -> bool:
    """MEDIAKIT_DEBUG=1 (any value but empty or 0): show tracebacks as Python would."""
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


def report_background_errors() -> None:
    """What a command does not raise itself, in one line too, instead of Python's tracebacks:
    a background thread's uncaught exception (its clean error, else an internal error naming
    the thread) and asyncio's logged callback errors (Pulumi's event loop under `synth`), the
    latter dropped once Ctrl-C is under way (the loop's teardown noise). MEDIAKIT_DEBUG=1 keeps
    Python's output. Process-wide, so only the real entry point (`mediakit.cli.main`)
    installs it."""
    if debugging():
        return

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        clean = explain(args.exc_value)
        where = f" (thread {args.thread.name})" if args.thread is not None else ""
        line = f"Error: {clean.message}" if clean else internal_error(args.exc_value)
        sys.stderr.write(f"{line}{where}\n")

    threading.excepthook = hook
    logging.getLogger("asyncio").addFilter(_OneLineUnlessInterrupted())
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupt)


_INTERRUPTED = threading.Event()


def _interrupt(signum: int, frame: Any) -> None:
    """Python's own Ctrl-C (KeyboardInterrupt), remembering that it came."""
    _INTERRUPTED.set()
    signal.default_int_handler(signum, frame)


class _OneLineUnlessInterrupted(logging.Filter):
    """A log record's traceback folded into its one line; nothing at all after Ctrl-C."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _INTERRUPTED.is_set():
            return False
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = one_line(f"{record.getMessage()}: {type(exc).__name__}: {exc}")
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _settings(exc: BaseException) -> str | None:
    from runtime.errors import SettingsError

    # The message names the key as the user spelled it (runtime/settings.py, stacks/config.py).
    return str(exc) if isinstance(exc, SettingsError) else None


def _botocore(exc: BaseException) -> str | None:
    if not type(exc).__module__.startswith("botocore"):
        return None
    from botocore import exceptions as boto

    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        found = f" ({exc})" if isinstance(exc, boto.PartialCredentialsError) else ""
        return (
            f"no AWS credentials{found}: configure them for the stack's account (`aws "
            "configure`, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    if isinstance(exc, boto.NoRegionError):
        return "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION, or region in ~/.aws/config)"
    if isinstance(exc, boto.EndpointConnectionError | boto.ConnectTimeoutError):
        kwargs: dict[str, Any] = getattr(exc, "kwargs", {})
        return unreachable(kwargs.get("endpoint_url"))
    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error", {})
        code, text = error.get("Code", "?"), error.get("Message", "")
        hint = ""
        if code in _CREDENTIAL_CODES:
            hint = ": check the AWS credentials are valid and for the stack's account"
        elif "NotFound" in code or "NonExistent" in code or code.startswith("NoSuch"):
            hint = ": is the outputs file that of a deployed stack (`pulumi stack output --json`)?"
        return f"AWS refused {exc.operation_name}: {code}: {text}{hint}"
    return f"AWS SDK error: {exc}"


_CREDENTIAL_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "UnauthorizedOperation",
    }
)


def _yaml(exc: BaseException) -> str | None:
    if not type(exc).__module__.startswith("yaml"):
        return None
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        where = "" if mark.name.startswith("<") else f"{mark.name} "
        problem = exc.problem or exc.context or "malformed"
        started = exc.context_mark
        if exc.problem and exc.context and started is not None and started.line != mark.line:
            # Where the unclosed bracket or quote began: usually the line to fix.
            problem += f" ({exc.context} started on line {started.line + 1})"
        return f"{where}line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {problem}"
    return f"invalid YAML: {exc}"


def _artifact(exc: BaseException) -> str | None:
    from stacks.artifact import BuildError

    return str(exc) if isinstance(exc, BuildError) else None


def _policy_tool(exc: BaseException) -> str | None:
    if not type(exc).__module__.startswith("policies"):
        return None
    from policies.findings import PolicyToolError

    return f"a policy scanner failed: {exc}" if isinstance(exc, PolicyToolError) else None


def _network(exc: BaseException) -> str | None:
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return None  # an answer, not a failure to connect: the client maps it
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    url = getattr(exc, "url", None) or getattr(reason, "url", None)
    if isinstance(reason, ConnectionRefusedError) and url:
        return unreachable(url)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused: is `mediakit dev` running (or --api-url right)?"
    if isinstance(reason, ConnectionError | TimeoutError):
        return f"cannot reach {url or 'the server'}: {reason.strerror or reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"cannot reach {url or 'the server'}: {reason}"
    return None


def _file(exc: BaseException) -> str | None:
    if not isinstance(exc, OSError):
        return None
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__

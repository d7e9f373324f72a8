"""One Lambda execution environment as a process: `python -m mediakit.local.lambda_host HANDLER`.

`mediakit.local.lambda_pool` starts one of these per warm environment, hands it invocations and
kills it (with its whole process group) at the function's timeout or memory limit. Like Lambda's
Python runtime, this process imports the handler once (the init phase), then runs one invocation
at a time with a context object whose deadline is the parent's, until its stdin closes.

The protocol is one JSON object per line. On stdin, from the parent:
    {"type": "invoke", "id": REQUEST_ID, "deadline_ms": EPOCH_MS, "function_arn": ARN,
     "event": {...}}
On stdout, which carries nothing else (the handler's `print` and logging go to stderr):
    {"type": "ready", "pid": PID}                       after the handler imported
    {"type": "init_error", "error": ERROR}              the handler could not be imported
    {"type": "result", "id": REQUEST_ID, "response": ...}
    {"type": "error", "id": REQUEST_ID, "error": ERROR}  the handler raised
where ERROR is Lambda's `{"errorType", "errorMessage", "stackTrace"}`.

This module imports only the standard library: it is on every cold start's path.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import IO, Any

Handler = Callable[[Any, Any], Any]

READY = "ready"
INIT_ERROR = "init_error"
INVOKE = "invoke"
RESULT = "result"
ERROR = "error"

# The account id the emulator's ARNs carry when the caller does not know the real one.
LOCAL_ACCOUNT_ID = "123456789012"


class LambdaContext:
    """The parts of the Lambda context object handlers use."""

    def __init__(
        self,
        function_name: str,
        timeout_seconds: float,
        region: str,
        *,
        memory_limit_in_mb: int = 1024,
        aws_request_id: str | None = None,
        deadline_ms: int | None = None,
        invoked_function_arn: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = invoked_function_arn or (
            f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{function_name}"
        )
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        # An epoch deadline, as Lambda's runtime API gives it (Lambda-Runtime-Deadline-Ms): the
        # parent that kills at the deadline and the handler that budgets against it share it.
        self._deadline_ms = (
            deadline_ms if deadline_ms is not None else _now_ms() + int(timeout_seconds * 1000)
        )

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the function's timeout, never negative."""
        return max(0, self._deadline_ms - _now_ms())


def _now_ms() -> int:
    return int(time.time() * 1000)


def split_handler(name: str) -> tuple[str, str]:
    """`module:function` or Lambda's `module.function` -> (module, function)."""
    module, sep, attr = name.partition(":") if ":" in name else name.rpartition(".")
    if not sep or not module or not attr:
        raise ValueError(f"handler {name!r} is not 'module.function' or 'module:function'")
    return module, attr


def load_handler(name: str) -> Handler:
    """Import the handler named `name`; the errors are Lambda's init errors."""
    module_name, attr = split_handler(name)
    module = importlib.import_module(module_name)
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise AttributeError(f"handler {attr!r} missing on module {module_name!r}")
    return handler  # type: ignore[no-any-return]


def error_body(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    """Lambda's error shape for `exc`."""
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


class _RequestIdFilter(logging.Filter):
    """Stamps each record with the current invocation's request id, as Lambda's runtime does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


class _Inbox:
    """Reads requests off stdin on its own thread, so stdin closing is noticed even while a
    handler runs: an environment whose parent is gone must not outlive it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._lock = threading.Lock()
        self._busy = False
        self._closed = False
        threading.Thread(target=self._read, name="lambda-host-stdin", daemon=True).start()

    def _read(self) -> None:
        for line in self._stream:
            self._lines.put(line)
        with self._lock:
            self._closed = True
            if self._busy:
                _die_with_group()
        self._lines.put(None)

    def next(self) -> bytes | None:
        """The next request line, or None once stdin is closed; marks the host busy."""
        line = self._lines.get()
        with self._lock:
            if line is None or self._closed:
                return None
            self._busy = True
        return line

    def done(self) -> None:
        with self._lock:
            self._busy = False


def _die_with_group() -> None:
    """SIGKILL this process and whatever it forked (e.g. the processor's decoding child)."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


class _Channel:
    """The protocol's write side: the original stdout, private to this module."""

    def __init__(self) -> None:
        # Keep fd 1 for the protocol under a new number and point fd 1 at stderr: a stray print,
        # or a C library writing to fd 1, then lands in the log, never in the protocol.
        self._out = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._lock = threading.Lock()

    def send(self, message: dict[str, Any]) -> None:
        data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            self._out.write(data)
            self._out.flush()


def _configure_logging() -> _RequestIdFilter:
    # Lambda's JSON log format (the stack's) logs INFO and up unless AWS_LAMBDA_LOG_LEVEL says.
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "INFO").upper()
    stamp = _RequestIdFilter()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(stamp)
    handler.setFormatter(
        logging.Formatter("[%(levelname)s] %(aws_request_id)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else logging.INFO)
    return stamp


def _invoke(handler: Handler, request: dict[str, Any], stamp: _RequestIdFilter) -> dict[str, Any]:
    request_id = str(request["id"])
    env = os.environ
    context = LambdaContext(
        env.get("AWS_LAMBDA_FUNCTION_NAME", "function"),
        0,
        env.get("AWS_REGION", "us-east-1"),
        memory_limit_in_mb=int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
        aws_request_id=request_id,
        deadline_ms=int(request["deadline_ms"]),
        invoked_function_arn=request.get("function_arn"),
    )
    stamp.request_id = request_id
    try:
        response = handler(request["event"], context)
    except Exception as exc:
        # What Lambda writes to the log stream for an unhandled exception.
        logging.getLogger().error("%s: %s", type(exc).__name__, exc, exc_info=exc)
        return {"type": ERROR, "id": request_id, "error": error_body(exc)}
    finally:
        stamp.request_id = ""
    try:
        json.dumps(response)
    except (TypeError, ValueError) as exc:
        return {
            "type": ERROR,
            "id": request_id,
            "error": error_body(exc, "Runtime.MarshalError"),
        }
    return {"type": RESULT, "id": request_id, "response": response}


def main(argv: list[str] | None = None) -> int:
    """Init the handler named on the command line, then serve invocations until stdin closes."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mediakit.local.lambda_host MODULE.FUNCTION", file=sys.stderr)
        return 2
    channel = _Channel()
    stamp = _configure_logging()
    inbox = _Inbox(sys.stdin.buffer)
    try:
        handler = load_handler(args[0])
    except Exception as exc:
        kind = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else None
        logging.getLogger().error("init failed: %s", exc, exc_info=exc)
        channel.send({"type": INIT_ERROR, "error": error_body(exc, kind)})
        return 1
    channel.send({"type": READY, "pid": os.getpid()})
    while (line := inbox.next()) is not None:
        request = json.loads(line)
        reply = _invoke(handler, request, stamp)
        with contextlib.suppress(BrokenPipeError):
            channel.send(reply)
        inbox.done()
    return 0


def _run() -> None:
    try:
        code = main()
    except SystemExit as exc:
        # sys.exit() in a handler ends the environment with its status (Runtime.ExitError).
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stderr.flush()
    # Not a normal interpreter shutdown: the stdin thread may be blocked in a read, and
    # finalization would abort on the lock it holds instead of exiting with `code`.
    os._exit(code)


if __name__ == "__main__":
    _run()

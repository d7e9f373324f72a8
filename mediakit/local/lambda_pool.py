"""Lambda functions for the emulator: how one invocation runs, and what ends it.

`LambdaPool` is the Lambda-like one. Each invocation runs in a worker process
(`python -m mediakit.local.lambda_host HANDLER`, see that module for the protocol), kept warm
between invocations as Lambda reuses execution environments, at most `max_concurrency` at once (the
event source mapping's MaximumConcurrency); a caller beyond that waits for a free environment.
The process gets the function's environment variables and Lambda's own reserved ones, never this
process's `os.environ`. Every worker is started in a session of its own, so its process group is
the environment: the worker and whatever it forked (the processor forks a child per upload).

What ends an invocation, and what is left as evidence in `Invocation.returncode`:
- timeout: at the deadline (start + the function's timeout; init is not counted, as in Lambda)
  the whole group gets SIGKILL;
- memory: while an invocation runs, the group's proportional set size (Pss from
  /proc/PID/smaps_rollup, summed over the group's processes) is sampled every 50 ms (members
  listed every 250 ms) and the group gets SIGKILL once it exceeds the function's memory.
  Why not RLIMIT_AS: virtual size counts reserved address space (thread stacks, a 64 MiB glibc
  arena per thread) that Lambda's cgroup limit does not, and a hard limit here would also stop
  the processor from setting its own, higher RLIMIT_AS budget on the child it forks. Pss rather
  than RSS: a forked child shares its parent's pages, and RSS would count them twice. Where
  /proc is missing (macOS) no memory limit is enforced;
- crash: the worker exited on its own (a segfault, `os._exit`, `sys.exit` in the handler).
After any of these the environment is gone; the next invocation starts a fresh one. A handler
that raises is an `error` and keeps its environment, as on Lambda.

`InProcessFunction` runs a callable on a thread of this process, for the stand-in handlers tests
pass in as Python objects: a thread cannot be killed, so only process mode enforces the timeout
and memory; a thread past its timeout is reported and left to finish.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypedDict

from mediakit.local import lambda_host
from mediakit.local.lambda_host import LambdaContext

log = logging.getLogger("mediakit.lambda")

Handler = Callable[[dict[str, Any], Any], Any]
Status = Literal["ok", "error", "timeout", "memory", "crash"]
OK: Status = "ok"
ERROR: Status = "error"
TIMEOUT: Status = "timeout"
MEMORY: Status = "memory"
CRASH: Status = "crash"

# Lambda's limit on the init phase (importing the handler) of an on-demand environment.
INIT_TIMEOUT_SECONDS = 10.0
# How often a running invocation's memory is sampled: an allocation spree gets at most this far.
MEMORY_POLL_SECONDS = 0.05
# How often the group's members are listed afresh (a child forked since counts from then on).
MEMBERS_RELIST_SECONDS = 0.25
# How long a worker whose stdin closed (or whose protocol pipe ended) may take to exit.
EXIT_GRACE_SECONDS = 2.0
# Where `mediakit` and `runtime` are importable from: the code the worker runs (Lambda's
# /var/task) is this checkout's, whichever directory it is.
CODE_ROOT = Path(__file__).resolve().parents[2]
_HAS_PROC = Path("/proc/self/smaps_rollup").exists()


class FunctionError(TypedDict):
    """Lambda's description of an error: its type and message."""

    errorType: str
    errorMessage: str


class FunctionClosed(RuntimeError):
    """The function was closed (the emulator is stopping): no invocation ran to an outcome."""


@dataclass(frozen=True)
class Invocation:
    """How one invocation ended: its response, or why it has none."""

    request_id: str
    status: Status
    response: Any = None
    error: FunctionError | None = None
    # The worker process that ran it (None in thread mode) and, when the invocation ended that
    # process, how the OS says it ended (negative: the signal, as in `Popen.returncode`).
    pid: int | None = None
    returncode: int | None = None
    max_memory_mb: float = 0.0
    detail: str = ""

    @property
    def killed(self) -> bool:
        """The environment ended with this invocation: killed, or crashed on its own."""
        return self.returncode is not None

    def describe(self) -> str:
        """One line for logs and stats."""
        return self.detail or self.status


class Function(ABC):
    """Something the API stand-in and the event source mapping can invoke."""

    name: str
    timeout_seconds: float
    memory_mb: int

    @abstractmethod
    def invoke(self, event: dict[str, Any]) -> Invocation:
        """Run one invocation to its outcome; `FunctionClosed` once the function is closed."""

    @abstractmethod
    def close(self) -> None:
        """Release what the function holds (idempotent)."""


class InProcessFunction(Function):
    """A callable run on a thread of this process (stand-in handlers in tests): the handler
    gets a Lambda context and an overrun is reported as a timeout, but nothing is enforced."""

    def __init__(
        self,
        handler: Handler,
        *,
        name: str,
        timeout_seconds: float,
        region: str,
        memory_mb: int = 1024,
    ) -> None:
        self.handler = handler
        self.name = name
        self.timeout_seconds = timeout_seconds
        self.region = region
        self.memory_mb = memory_mb

    def invoke(self, event: dict[str, Any]) -> Invocation:
        """Call the handler on a thread and wait for it at most the function's timeout."""
        context = LambdaContext(
            self.name, self.timeout_seconds, self.region, memory_limit_in_mb=self.memory_mb
        )
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["response"] = self.handler(event, context)
            except BaseException as exc:
                outcome["error"] = exc

        runner = threading.Thread(target=call, name=f"{self.name}-invoke", daemon=True)
        runner.start()
        runner.join(self.timeout_seconds)
        request_id = context.aws_request_id
        if runner.is_alive():
            return Invocation(
                request_id,
                TIMEOUT,
                detail=f"still running after its {self.timeout_seconds:g} s timeout "
                "(in-process: the thread cannot be killed)",
            )
        if "error" in outcome:
            exc = outcome["error"]
            error: FunctionError = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            return Invocation(request_id, ERROR, error=error, detail=repr(exc))
        return Invocation(request_id, OK, response=outcome.get("response"))

    def close(self) -> None:
        """Nothing to release: a thread still running a handler finishes on its own."""


@dataclass
class PoolStats:
    """What a test or the dev console can read about a pool's environments."""

    spawned: list[int] = field(default_factory=list)  # worker pids, in start order
    invocations_by_pid: dict[int, int] = field(default_factory=dict)
    busy: int = 0
    max_busy: int = 0
    # Invocations that ended their environment (killed or crashed), with the OS's evidence.
    ended: list[Invocation] = field(default_factory=list)


class LambdaPool(Function):
    """Warm worker processes for one function; see the module docstring."""

    def __init__(
        self,
        handler: str,
        *,
        name: str,
        environ: Mapping[str, str],
        timeout_seconds: float,
        memory_mb: int,
        max_concurrency: int,
        region: str,
        account_id: str = lambda_host.LOCAL_ACCOUNT_ID,
        code_root: Path = CODE_ROOT,
        log_line: Callable[[str], None] | None = None,
        init_timeout_seconds: float = INIT_TIMEOUT_SECONDS,
    ) -> None:
        lambda_host.split_handler(handler)  # a malformed name fails here, not per invocation
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.handler = handler
        self.name = name
        self.environ = dict(environ)
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self.max_concurrency = max_concurrency
        self.region = region
        self.function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
        self.code_root = code_root
        self.log_line = log_line
        self.init_timeout_seconds = init_timeout_seconds
        self.stats = PoolStats()
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._closed = threading.Event()
        # Bumped by update_environment: a worker of an older generation is not reused.
        self._generation = 0
        if not _HAS_PROC:
            log.warning(
                "%s: no /proc here, so its %d MB memory limit is not enforced", name, memory_mb
            )

    def host_environ(self) -> dict[str, str]:
        """The worker's whole environment: the function's variables plus what Lambda itself
        sets in every environment."""
        major, minor = sys.version_info[:2]
        return {
            **self.environ,
            "AWS_LAMBDA_FUNCTION_NAME": self.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{major}.{minor}",
            "_HANDLER": self.handler,
            "LAMBDA_TASK_ROOT": str(self.code_root),
            "PYTHONPATH": str(self.code_root),
            "PATH": os.pathsep.join(
                [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
            ),
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            # A Lambda environment has no ~/.aws: the user's profiles must not reach the handler.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def invoke(self, event: dict[str, Any]) -> Invocation:
        """Run `event` in a warm environment (or a new one), waiting for a free slot first."""
        while not self._slots.acquire(timeout=0.2):
            if self._closed.is_set():
                raise FunctionClosed(self.name)
        try:
            if self._closed.is_set():
                raise FunctionClosed(self.name)
            request_id = str(uuid.uuid4())
            worker = self._checkout(request_id)
            if isinstance(worker, Invocation):
                result = worker
            else:
                try:
                    result = worker.invoke(
                        request_id, event, self.timeout_seconds, self.memory_mb, self.function_arn
                    )
                finally:
                    self._checkin(worker)
            if result.killed:
                if self._closed.is_set():
                    raise FunctionClosed(self.name)
                with self._lock:
                    self.stats.ended.append(result)
            return result
        finally:
            self._slots.release()

    def update_environment(self, values: Mapping[str, str]) -> None:
        """UpdateFunctionConfiguration's Environment, as Lambda applies it: the variables change
        for every environment started from now on, and the idle warm ones are retired (a busy
        one finishes its invocation under the old variables, then is retired too)."""
        with self._lock:
            self.environ = {**self.environ, **values}
            retired, self._idle = self._idle, []
            self._generation += 1
        for worker in retired:
            worker.close_stdin()
            worker.reap()
            with self._lock:
                self._all.discard(worker)

    def close(self) -> None:
        """Stop every environment: idle ones are told to exit (stdin closes), busy ones are
        killed, and their invocations raise `FunctionClosed`."""
        with self._lock:
            self._closed.set()
            idle, self._idle = self._idle, []
            busy = [w for w in self._all if w not in idle]
        for worker in idle:
            worker.close_stdin()
        for worker in busy:
            worker.kill_group()
        for worker in idle:
            worker.reap()
            with self._lock:
                self._all.discard(worker)

    def _checkout(self, request_id: str) -> _Worker | Invocation:
        """A ready worker for this invocation (warm, or started now), or how starting failed."""
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            try:
                worker = _Worker.spawn(self)
            except OSError as exc:
                # No process to run it in (out of pids or memory): Lambda's Runtime error.
                return Invocation(request_id, CRASH, detail=f"could not start a worker: {exc}")
            with self._lock:
                # Known to close() from its first moment, so none can outlive the pool.
                self._all.add(worker)
                self.stats.spawned.append(worker.pid)
                closed = self._closed.is_set()
            if closed:
                worker.kill_group()
            failed = worker.wait_ready(request_id)
            if failed is not None:
                with self._lock:
                    self._all.discard(worker)
                return failed
        with self._lock:
            self.stats.busy += 1
            self.stats.max_busy = max(self.stats.max_busy, self.stats.busy)
            self.stats.invocations_by_pid[worker.pid] = (
                self.stats.invocations_by_pid.get(worker.pid, 0) + 1
            )
        return worker

    def _checkin(self, worker: _Worker) -> None:
        with self._lock:
            self.stats.busy -= 1
            current = worker.generation == self._generation
            if worker.alive and current and not self._closed.is_set():
                # Last in, first out: Lambda routes to the most recently used environment.
                self._idle.append(worker)
                return
            self._all.discard(worker)
        if worker.alive:
            worker.close_stdin()
            worker.reap()


class _Worker:
    """One worker process and its protocol pipes; used by one invocation at a time."""

    def __init__(self, pool: LambdaPool, proc: subprocess.Popen[bytes]) -> None:
        self.pool = pool
        self.proc = proc
        self.pid = proc.pid
        # The pool's environment generation this worker was started with.
        self.generation = pool._generation
        self.alive = True
        assert proc.stdin is not None
        assert proc.stdout is not None
        self._stdin_fd = proc.stdin.fileno()
        self._reader = _LineReader(proc.stdout.fileno())
        if proc.stderr is not None and pool.log_line is not None:
            threading.Thread(
                target=_forward_lines,
                args=(proc.stderr, pool.log_line, f"{pool.name}[{proc.pid}] "),
                name=f"{pool.name}-{proc.pid}-stderr",
                daemon=True,
            ).start()

    @classmethod
    def spawn(cls, pool: LambdaPool) -> _Worker:
        """Start a worker process (its init runs on: see `wait_ready`)."""
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, "-m", "mediakit.local.lambda_host", pool.handler],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if pool.log_line is not None else subprocess.DEVNULL,
            env=pool.host_environ(),
            cwd=pool.code_root,
            # Its own process group, so a kill takes whatever it forked along with it.
            start_new_session=True,
        )
        return cls(pool, proc)

    def wait_ready(self, request_id: str) -> Invocation | None:
        """Wait for the init (the handler's import): None once ready, else how it ended."""
        limit = self.pool.init_timeout_seconds
        deadline = time.monotonic() + limit
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._end(request_id, TIMEOUT, f"init did not finish in {limit:g} s, killed")
            try:
                message = self._reader.read(remaining)
            except EOFError:
                return self._end(request_id, CRASH, "exited during init", kill=False)
            if message is None:
                continue
            if message.get("type") == lambda_host.READY:
                return None
            # An init error (the handler does not import) ends the environment, as on Lambda.
            error = _function_error(message.get("error"))
            returncode = self.reap()
            return Invocation(
                request_id,
                ERROR,
                error=error,
                pid=self.pid,
                returncode=returncode,
                detail=_describe_error(error),
            )

    def invoke(
        self,
        request_id: str,
        event: dict[str, Any],
        timeout_seconds: float,
        memory_mb: int,
        function_arn: str,
    ) -> Invocation:
        """Send one invocation and wait for its reply, its deadline or its memory overrun."""
        deadline = time.monotonic() + timeout_seconds
        request = {
            "type": lambda_host.INVOKE,
            "id": request_id,
            "deadline_ms": int(time.time() * 1000 + timeout_seconds * 1000),
            "function_arn": function_arn,
            "event": event,
        }
        try:
            _write_all(self._stdin_fd, json.dumps(request).encode() + b"\n")
        except OSError:
            return self._end(request_id, CRASH, "exited before the invocation", kill=False)
        peak = 0.0
        meter = _GroupMeter(self.pid)
        next_sample = time.monotonic() + MEMORY_POLL_SECONDS
        while True:
            now = time.monotonic()
            if now >= deadline:
                return self._end(
                    request_id,
                    TIMEOUT,
                    f"killed at its {timeout_seconds:g} s timeout",
                    peak=peak,
                )
            try:
                message = self._reader.read(min(deadline, next_sample) - now)
            except EOFError:
                return self._end(request_id, CRASH, "exited during the invocation", kill=False)
            if message is not None:
                return self._reply(request_id, message, peak)
            if time.monotonic() < next_sample:
                continue
            if self._exited():
                # Its protocol pipe may stay open in something it forked: EOF is not enough.
                return self._end(request_id, CRASH, "exited during the invocation", kill=False)
            if _HAS_PROC:
                used = meter.sample_mb()
                peak = max(peak, used)
                if used > memory_mb:
                    return self._end(
                        request_id,
                        MEMORY,
                        f"killed using {used:.0f} MB of its {memory_mb} MB",
                        peak=peak,
                    )
            next_sample = time.monotonic() + MEMORY_POLL_SECONDS

    def _reply(self, request_id: str, message: dict[str, Any], peak: float) -> Invocation:
        if message.get("type") == lambda_host.RESULT:
            return Invocation(
                request_id, OK, response=message.get("response"), pid=self.pid, max_memory_mb=peak
            )
        error = _function_error(message.get("error"))
        return Invocation(
            request_id,
            ERROR,
            error=error,
            pid=self.pid,
            max_memory_mb=peak,
            detail=_describe_error(error),
        )

    def _end(
        self, request_id: str, status: Status, why: str, *, kill: bool = True, peak: float = 0.0
    ) -> Invocation:
        """The environment is over: kill its group (or let it finish exiting), reap it."""
        if kill:
            self.kill_group()
        returncode = self.reap()
        return Invocation(
            request_id,
            status,
            pid=self.pid,
            returncode=returncode,
            max_memory_mb=peak,
            detail=f"{why} ({exit_text(returncode)})" if why else exit_text(returncode),
        )

    def _exited(self) -> bool:
        """The worker has exited (not reaped yet, so its group id stays ours)."""
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True

    def kill_group(self) -> None:
        """SIGKILL the worker and everything in its process group."""
        # Before the reap: until then the group id cannot have been reused by anyone else.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def close_stdin(self) -> None:
        """Tell the worker to exit (it does when its stdin closes)."""
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()

    def reap(self) -> int:
        """Wait for the worker to exit (killing its group after a grace period), close the
        pipes, and return how it ended."""
        self.alive = False
        if self.proc.returncode is not None:
            return self.proc.returncode
        deadline = time.monotonic() + EXIT_GRACE_SECONDS
        # Not Popen.poll, which would reap it: until the reap the group id stays ours for the
        # kill below.
        while not self._exited() and time.monotonic() < deadline:
            time.sleep(0.01)
        # Whatever the worker forked and left behind goes with it.
        self.kill_group()
        returncode = self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return returncode


class _LineReader:
    """Newline-delimited JSON off a pipe, with a timeout per read."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()

    def read(self, timeout: float) -> dict[str, Any] | None:
        """The next message, None if none arrived in `timeout` seconds; EOFError at the end."""
        end = time.monotonic() + max(0.0, timeout)
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise EOFError("protocol violation: not a JSON object")
                return message
            ready, _, _ = select.select([self._fd], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                raise EOFError("the worker closed its protocol pipe")
            self._buffer += chunk


def group_pids(pgid: int) -> list[int]:
    """The processes in process group `pgid`."""
    pids = []
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    stat = fh.read()
                # Fields after the parenthesised command name: state, ppid, pgrp, ...
                if int(stat[stat.rindex(b")") + 2 :].split()[2]) == pgid:
                    pids.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                # The process ended between the listing and the read.
                continue
    return pids


def pss_mb(pids: list[int]) -> float:
    """The proportional set size of these processes together, in MiB."""
    total_kb = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Pss:"):
                        total_kb += int(line.split()[1])
                        break
        except (OSError, ValueError, IndexError):
            continue
    return total_kb / 1024


def group_memory_mb(pgid: int) -> float:
    """Proportional set size of every process in process group `pgid`, in MiB."""
    return pss_mb(group_pids(pgid))


class _GroupMeter:
    """A worker group's memory, sampled often; its membership is listed less often, because
    listing /proc costs more than reading a few processes' memory (7 ms on a desktop with 500
    processes, against a sample every 50 ms)."""

    def __init__(self, pgid: int) -> None:
        self._pgid = pgid
        self._members = [pgid]
        self._listed = 0.0

    def sample_mb(self) -> float:
        now = time.monotonic()
        if now - self._listed >= MEMBERS_RELIST_SECONDS:
            self._members = group_pids(self._pgid)
            self._listed = now
        return pss_mb(self._members)


def exit_text(returncode: int) -> str:
    """`Popen.returncode` in words: "signal SIGKILL" or "exit 3"."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit {returncode}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _forward_lines(stream: IO[bytes], sink: Callable[[str], None], prefix: str) -> None:
    with stream:
        for raw in stream:
            sink(prefix + raw.decode("utf-8", "replace").rstrip("\n"))


def _function_error(raw: Any) -> FunctionError:
    if isinstance(raw, Mapping):
        return {
            "errorType": str(raw.get("errorType", "Error")),
            "errorMessage": str(raw.get("errorMessage", "")),
        }
    return {"errorType": "Runtime.Unknown", "errorMessage": repr(raw)}


def _describe_error(error: FunctionError) -> str:
    # The same text `repr(exc)` gives in-process, so stats read alike in both modes.
    return f"{error['errorType']}({error['errorMessage']!r})"

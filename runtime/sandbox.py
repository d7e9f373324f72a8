"""Run untrusted-input work in a forked child under CPU, wall-time and memory budgets that the
operating system enforces: a decoder stuck on hostile bytes is killed, not waited for.

Why fork and pipes, chosen explicitly: Lambda has no `/dev/shm`, so `multiprocessing.Pool` and
`Queue` fail there, and Python 3.14 changed multiprocessing's default start method. The child
is forked from the function's process, so it has the decoders imported already; it runs only
pure code (no AWS clients: sockets do not survive fork) and talks over two pipes.

The child is kept warm between uploads, as Lambda keeps the function itself: a fresh address
space pays a page fault for every page the decode and the resize threads touch, which measured
+80 ms on a 12 MP JPEG with 2 CPUs (bench/isolation.py). It is replaced after any upload that
did not complete (a decoder that failed may have left its state damaged), after
`MAX_JOBS_PER_CHILD` uploads, when it grew by more than half its memory budget, and whenever it
was killed. Work that cannot be pickled by reference (a closure) gets a child of its own.

How each budget is enforced, per upload, and what an overrun means:
- CPU: `RLIMIT_CPU` set to the child's CPU time so far plus the budget; the kernel sends SIGXCPU
  (whose default action ends the process) when it is reached. Permanent (`processing_limit`):
  the same bytes cost the same CPU next time.
- Memory: `RLIMIT_AS` at the child's address-space size plus the budget, so it measures what
  processing adds. glibc gives each thread its own malloc arena (64 MiB of address space each):
  the child caps arenas so Pillow's resize threads do not eat the budget in reservations. A
  failed allocation is `MemoryError` (permanent, `processing_limit`); so is a thread that could
  not start.
- Wall time: the parent waits on the pipe with a deadline and SIGKILLs the child at it. A child
  that computed all along (at least `STARVED_CPU_SHARE` of a CPU: a fractional-vCPU function
  reaches the wall before the CPU budget) was expensive: permanent. One that got less was
  starved (a busy host): transient (`WallTimeExceeded`), which the processor retries a bounded
  number of times.
- A SIGKILL the parent did not send (the kernel's OOM killer, an operator) proves nothing
  against the bytes: transient (`ChildKilled`), permanent on the last delivery.
Any other exception raised in the child came from parsing or decoding the upload: permanent.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import math
import os
import pickle
import resource
import select
import signal
import struct
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from runtime.errors import PermanentFault, TransientFault

T = TypeVar("T")

PROCESSING_LIMIT = "processing_limit"
PROCESSING_TIMEOUT = "processing_timeout"
PROCESSING_KILLED = "processing_killed"
# A child that got less than this share of one CPU during its wall budget was starved (a busy
# host), not expensive. Lambda gives at least 1/14 of a vCPU per 128 MB, but the child is the
# only busy process of its function, so on a healthy function it gets its whole share.
STARVED_CPU_SHARE = 0.25
CORRUPT_IMAGE = "corrupt_image"
CRASHED = "decoder_crashed"

MAX_JOBS_PER_CHILD = 100
# glibc's mallopt parameter for the arena cap (M_ARENA_MAX in malloc.h).
_M_ARENA_MAX = -8
_ARENAS = 2
_MIB = 1024 * 1024
_FRAME = struct.Struct("!Q")


class RetryableOverrun(TransientFault):
    """The child ended without an answer for a reason the bytes may not explain: retried; on
    the last delivery the processor records `detail` as a permanent failure instead."""

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(f"{detail}; retrying", code=code)
        self.detail = detail


class WallTimeExceeded(RetryableOverrun):
    """The child ran out of wall time while starved of CPU: worth one more try elsewhere."""

    code = PROCESSING_TIMEOUT


class ChildKilled(RetryableOverrun):
    """Something other than this process and the CPU limit SIGKILLed the child (the kernel's
    OOM killer, an operator): not proof that these bytes are to blame."""

    code = PROCESSING_KILLED


@dataclass(frozen=True)
class Budget:
    """Per-upload limits: CPU seconds, wall seconds and extra memory in MiB."""

    cpu_seconds: int
    wall_seconds: float
    memory_mb: int


@dataclass(frozen=True)
class ChildReport:
    """How the last upload's child work ended: the evidence the OS left, for logs and tests.
    `signal`/`exit_code` are set when the child ended; a warm child that answered has neither."""

    pid: int
    exit_code: int | None
    signal: int | None
    cpu_seconds: float
    max_rss_mb: float
    killed_for_wall_time: bool
    warm: bool

    def describe(self) -> str:
        if self.signal is not None:
            how = f"signal {signal.Signals(self.signal).name}"
        elif self.exit_code is not None:
            how = f"exit {self.exit_code}"
        else:
            how = "answered"
        return f"{how}, {self.cpu_seconds:.2f} s CPU, {self.max_rss_mb:.0f} MiB max RSS"


# The most recent upload's report; read by tests and by the processor's log line.
last_report: ChildReport | None = None


@dataclass
class _Child:
    pid: int
    requests: int  # fd the parent writes jobs to
    replies: int  # fd the parent reads answers from
    base_rss_mb: float
    jobs: int = 0
    # CPU seconds the child had used before the current job (its rusage is cumulative).
    cpu_before: float = 0.0


_warm: _Child | None = None
_warm_lock = threading.Lock()


def run(fn: Callable[..., T], *args: Any, budget: Budget, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a child under `budget`; its result, or the fault it raised.

    PermanentFault: raised by `fn`, any other exception of `fn`'s, or an overrun of the CPU or
    memory budget (or of the wall budget while computing). RetryableOverrun: the wall budget ran
    out while the child was starved of CPU (WallTimeExceeded), or something else killed it
    (ChildKilled).
    """
    job = (fn, args, kwargs, budget)
    try:
        payload: bytes | None = pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):
        payload = None  # a closure or a local function: a child of its own gets it by fork
    # One upload at a time per warm child: Lambda runs one invocation per process, but a process
    # that runs handlers on several threads (the emulator's stand-ins, tests) must not interleave
    # two jobs on one pair of pipes. A thread that finds the warm child busy gets its own.
    result: T
    if payload is None or not _warm_lock.acquire(blocking=False):
        result = _collect(_spawn(job), budget, warm=False)
        return result
    try:
        result = _run_warm(payload, budget)
    finally:
        _warm_lock.release()
    return result


def _run_warm(payload: bytes, budget: Budget) -> Any:
    global _warm
    if _warm is None:
        _warm = _spawn(None)
    child = _warm
    try:
        child.cpu_before = _proc_cpu_seconds(child.pid)
        _send(child.requests, payload)
    except BrokenPipeError:
        # The warm child died between uploads (killed from outside): start another.
        _end(child, kill=True)
        child = _warm = _spawn(None)
        _send(child.requests, payload)
    return _collect(child, budget, warm=True)


def retire() -> None:
    """Stop the warm child (tests call it when they change what the child would import)."""
    global _warm
    with _warm_lock:
        if _warm is not None:
            _end(_warm, kill=True)
            _warm = None


def _collect(child: _Child, budget: Budget, *, warm: bool) -> Any:
    global last_report, _warm
    reply, killed = _receive(child.replies, child.pid, time.monotonic() + budget.wall_seconds)
    answered = reply is not None
    kind, value, cpu, rss = (
        pickle.loads(reply)  # noqa: S301 - our own child's bytes, over our own pipe
        if reply is not None
        else ("", (CRASHED, ""), 0.0, 0.0)
    )
    ended = None
    if not (answered and kind == "ok" and warm):
        ended = _end(child, kill=not answered)
    if warm and child is _warm:
        child.jobs += 1
        grown = rss - child.base_rss_mb > budget.memory_mb / 2
        if ended is not None or child.jobs >= MAX_JOBS_PER_CHILD or grown:
            if ended is None:
                _end(child, kill=True)
            _warm = None
    if ended is not None and not answered:
        usage = ended[1]
        cpu = usage.ru_utime + usage.ru_stime - child.cpu_before
        rss = usage.ru_maxrss / 1024  # Linux reports ru_maxrss in KiB
    report = ChildReport(
        pid=child.pid,
        exit_code=os.WEXITSTATUS(ended[0]) if ended and os.WIFEXITED(ended[0]) else None,
        signal=os.WTERMSIG(ended[0]) if ended and os.WIFSIGNALED(ended[0]) else None,
        cpu_seconds=cpu,
        max_rss_mb=rss,
        killed_for_wall_time=killed,
        warm=warm,
    )
    last_report = report
    if answered:
        if kind == "ok":
            return value
        code, message = value
        raise PermanentFault(message, code=code)
    return _unanswered(report, budget)


def _unanswered(report: ChildReport, budget: Budget) -> Any:
    """The child never answered: the signal and rusage say why."""
    over_cpu = report.cpu_seconds >= budget.cpu_seconds or report.signal == signal.SIGXCPU
    if over_cpu:
        raise PermanentFault(
            f"processing exceeded its CPU budget of {budget.cpu_seconds} s ({report.describe()})",
            code=PROCESSING_LIMIT,
        )
    if report.killed_for_wall_time:
        if report.cpu_seconds >= STARVED_CPU_SHARE * budget.wall_seconds:
            # It computed for its whole wall budget on the CPU it got (a fractional-vCPU
            # function reaches the wall before the CPU budget): expensive, not starved.
            raise PermanentFault(
                f"processing computed through its {budget.wall_seconds:g} s wall-time budget "
                f"({report.describe()})",
                code=PROCESSING_LIMIT,
            )
        raise WallTimeExceeded(
            f"processing ran out of its {budget.wall_seconds:g} s wall-time budget while "
            f"starved of CPU ({report.describe()})"
        )
    if report.signal == signal.SIGKILL:
        # Not ours and not the CPU limit's: likely the kernel's OOM killer, but an operator or
        # a supervisor could have sent it too, so the upload gets another delivery.
        raise ChildKilled(f"the processing child was killed from outside ({report.describe()})")
    # A decoder that segfaults or aborts on these bytes will do so on every retry.
    raise PermanentFault(f"the decoder crashed ({report.describe()})", code=CRASHED)


def _spawn(job: tuple[Any, ...] | None) -> _Child:
    """Fork a child that serves jobs from a pipe, or only `job` when one is given."""
    job_read, job_write = os.pipe()
    reply_read, reply_write = os.pipe()
    with warnings.catch_warnings():
        # 3.12+ warns when forking a process that has threads; the child touches no lock those
        # threads could hold (pure decoding, then os._exit), so the warning does not apply.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        os.close(job_write)
        os.close(reply_read)
        _serve(job_read, reply_write, job)
    os.close(job_read)
    os.close(reply_write)
    return _Child(pid, job_write, reply_read, _rss_mb(pid))


def _end(child: _Child, *, kill: bool) -> tuple[int, Any]:
    """Close the child's pipes, kill it if asked, and reap it: its status and rusage."""
    for fd in (child.requests, child.replies):
        with contextlib.suppress(OSError):
            os.close(fd)
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
    _, status, usage = os.wait4(child.pid, 0)
    return status, usage


def _send(fd: int, payload: bytes) -> None:
    view = memoryview(_FRAME.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int, pid: int, deadline: float) -> tuple[bytes | None, bool]:
    """One framed reply before the deadline (None if the child died first), and whether the
    deadline passed; the child is SIGKILLed at the deadline."""
    buffer = bytearray()
    while True:
        expected = _FRAME.size + (
            _FRAME.unpack_from(buffer)[0] if len(buffer) >= _FRAME.size else 0
        )
        if len(buffer) >= _FRAME.size and len(buffer) >= expected:
            return bytes(buffer[_FRAME.size : expected]), False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            return None, True
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return None, False
        buffer += chunk


# --- the child ---------------------------------------------------------------------------------


def _serve(
    jobs: int, replies: int, only: tuple[Any, ...] | None
) -> None:  # pragma: no cover - runs in the forked child
    """Serve jobs until the parent closes the pipe; never returns into the parent's code."""
    code = 70
    try:
        _prepare()
        while True:
            job = only if only is not None else _read_job(jobs)
            if job is None:
                code = 0
                break
            _send(replies, _run_job(*job))
            if only is not None:
                code = 0
                break
    except BaseException:
        # Nothing may escape into the parent's code: the exit status tells the parent.
        code = 70
    finally:
        os._exit(code)


def _prepare() -> None:  # pragma: no cover - runs in the forked child
    global _warm, _warm_lock
    _warm = None  # the parent's warm child is a sibling, never ours to talk to
    _warm_lock = threading.Lock()  # the forking thread held the parent's
    # A crash is reported by the signal that ended the child; faulthandler's dump of the
    # parent's threads (when a test runner enabled it) would only be noise.
    faulthandler.disable()
    # SIGXCPU's default action dumps core: a 100+ MiB file per killed upload, on /tmp or worse.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # No PR_SET_PDEATHSIG: it fires when the forking *thread* exits, which would kill a warm
    # child forked from a short-lived thread. A child outlives its parent only until it next
    # reads its job pipe (end of file) or writes its answer (a broken pipe).
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, _ARENAS)


def _read_job(fd: int) -> tuple[Any, ...] | None:  # pragma: no cover - runs in the child
    header = _read_exactly(fd, _FRAME.size)
    if header is None:
        return None
    body = _read_exactly(fd, _FRAME.unpack(header)[0])
    if body is None:
        return None
    job: tuple[Any, ...] = pickle.loads(body)  # noqa: S301 - our own parent's bytes
    return job


def _read_exactly(fd: int, size: int) -> bytes | None:  # pragma: no cover - runs in the child
    buffer = bytearray()
    while len(buffer) < size:
        chunk = os.read(fd, min(size - len(buffer), 1 << 20))
        if not chunk:
            return None
        buffer += chunk
    return bytes(buffer)


def _run_job(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], budget: Budget
) -> bytes:  # pragma: no cover - runs in the forked child
    """Run one job under its limits; the pickled (kind, value, cpu seconds, RSS MiB) reply."""
    before = _cpu_seconds()
    cpu_limits = resource.getrlimit(resource.RLIMIT_CPU)
    as_limits = resource.getrlimit(resource.RLIMIT_AS)
    _limit(budget, before, cpu_limits, as_limits)
    try:
        result: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except PermanentFault as fault:
        result = ("fault", (fault.code, fault.message))
    except MemoryError:
        result = ("fault", (PROCESSING_LIMIT, "processing ran out of its memory budget"))
    except RuntimeError as exc:
        limit = "can't start new thread" in str(exc)
        result = ("fault", (PROCESSING_LIMIT if limit else CORRUPT_IMAGE, _describe(exc)))
    except Exception as exc:
        result = ("fault", (CORRUPT_IMAGE, _describe(exc)))
    finally:
        # The next job gets its own budget, and the reply must not fail for lack of memory.
        resource.setrlimit(resource.RLIMIT_AS, as_limits)
        resource.setrlimit(resource.RLIMIT_CPU, cpu_limits)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    reply = (*result, _cpu_seconds() - before, usage.ru_maxrss / 1024)
    return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)


def _describe(exc: BaseException) -> str:
    return f"the file could not be decoded: {type(exc).__name__}: {exc}"[:500]


def _limit(
    budget: Budget, cpu_used: float, cpu_limits: tuple[int, int], as_limits: tuple[int, int]
) -> None:  # pragma: no cover - runs in the forked child
    soft_cpu = math.ceil(cpu_used) + budget.cpu_seconds
    hard_cpu = cpu_limits[1]
    if hard_cpu != resource.RLIM_INFINITY:
        soft_cpu = min(soft_cpu, hard_cpu)
    resource.setrlimit(resource.RLIMIT_CPU, (soft_cpu, hard_cpu))
    soft_as = _virtual_size() + budget.memory_mb * _MIB
    hard_as = as_limits[1]
    if hard_as != resource.RLIM_INFINITY:
        soft_as = min(soft_as, hard_as)
    resource.setrlimit(resource.RLIMIT_AS, (soft_as, hard_as))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _virtual_size() -> int:
    """This process's address-space size in bytes (what RLIMIT_AS compares against)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        pages = int(fh.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _proc_cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system), from /proc (0 when it cannot tell)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            # Fields after the parenthesised command name; utime and stime are the 12th and 13th.
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _rss_mb(pid: int) -> float:
    """A process's resident size in MiB (0 when /proc cannot tell)."""
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / _MIB

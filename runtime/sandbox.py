"""Run untrusted-input work in a forked child under CPU, wall-time and memory budgets that the
operating system enforces: a decoder stuck on hostile bytes is killed, not waited for.

Why fork and pipes, chosen explicitly: Lambda has no `/dev/shm`, so `multiprocessing.Pool` and
`Queue` fail there, and Python 3.14 changed multiprocessing's default start method. A forked
child shares the already-read upload and the imported decoders copy-on-write (no pickling of the
input, no re-import), runs only pure code (no AWS clients: sockets do not survive fork), writes
its pickled result to a pipe and leaves with `os._exit`.

How each budget is enforced, and what an overrun means:
- CPU: `RLIMIT_CPU` in the child; the kernel sends SIGXCPU at the budget and SIGKILL a second
  later. Permanent (`processing_limit`): the same bytes cost the same CPU next time.
- Memory: `RLIMIT_AS` at the child's virtual size at fork plus the budget, so the limit measures
  what processing adds. glibc gives each thread its own malloc arena (64 MiB of address space
  each); the child caps arenas so Pillow's resize threads do not eat the budget in reservations.
  A failed allocation is `MemoryError` in the child: permanent (`processing_limit`).
- Wall time: the parent waits on the pipe with a deadline and SIGKILLs the child at it. With
  the CPU time under budget the child was starved or slowed (a busy host, a 1-vCPU function),
  not expensive: transient (`WallTimeExceeded`), retried a bounded number of times.
Any other exception in the child came from parsing or decoding the upload: permanent.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import os
import pickle
import resource
import select
import signal
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from runtime.errors import PermanentFault, TransientFault

T = TypeVar("T")

PROCESSING_LIMIT = "processing_limit"
PROCESSING_TIMEOUT = "processing_timeout"
CORRUPT_IMAGE = "corrupt_image"
CRASHED = "decoder_crashed"

# glibc's mallopt parameter for the arena cap (M_ARENA_MAX in malloc.h).
_M_ARENA_MAX = -8
_ARENAS = 2
# Exit status of a child that could not even report (e.g. the result did not fit in memory).
_EXIT_UNREPORTED = 70
_MIB = 1024 * 1024


class WallTimeExceeded(TransientFault):
    """The child ran out of wall time with CPU to spare: worth one more try elsewhere."""

    code = PROCESSING_TIMEOUT


@dataclass(frozen=True)
class Budget:
    """Per-upload limits: CPU seconds, wall seconds and extra memory in MiB."""

    cpu_seconds: int
    wall_seconds: float
    memory_mb: int


@dataclass(frozen=True)
class ChildReport:
    """How the last child ended: the evidence the OS left (signal, rusage), for logs and tests."""

    pid: int
    exit_code: int | None
    signal: int | None
    cpu_seconds: float
    max_rss_mb: float
    killed_for_wall_time: bool

    def describe(self) -> str:
        how = (
            f"signal {signal.Signals(self.signal).name}"
            if self.signal is not None
            else f"exit {self.exit_code}"
        )
        return f"{how}, {self.cpu_seconds:.2f} s CPU, {self.max_rss_mb:.0f} MiB max RSS"


# The most recent child's report; read by tests and by the handler's log line.
last_report: ChildReport | None = None


def run(fn: Callable[..., T], *args: Any, budget: Budget, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a child under `budget`; its result, or the fault it raised.

    PermanentFault: raised by `fn`, any other exception of `fn`'s, or an overrun of the CPU or
    memory budget. WallTimeExceeded: the wall-time budget ran out with CPU time to spare.
    """
    global last_report
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # 3.12+ warns when forking a process that has threads; the child touches no lock those
        # threads could hold (pure decoding, then os._exit), so the warning does not apply.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        os.close(read_fd)
        _child(write_fd, budget, fn, args, kwargs)
    os.close(write_fd)
    payload, killed = _collect(read_fd, pid, time.monotonic() + budget.wall_seconds)
    _, status, usage = os.wait4(pid, 0)
    report = ChildReport(
        pid=pid,
        exit_code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        # Linux reports ru_maxrss in KiB.
        max_rss_mb=usage.ru_maxrss / 1024,
        killed_for_wall_time=killed,
    )
    last_report = report
    result: T = _outcome(payload, report, budget)
    return result


def _collect(read_fd: int, pid: int, deadline: float) -> tuple[bytes, bool]:
    """Read the child's whole report before the deadline; SIGKILL it at the deadline."""
    chunks: list[bytes] = []
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                return b"", True
            ready, _, _ = select.select([read_fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)
    finally:
        os.close(read_fd)


def _outcome(payload: bytes, report: ChildReport, budget: Budget) -> Any:
    over_cpu = report.cpu_seconds >= budget.cpu_seconds or report.signal == signal.SIGXCPU
    if report.killed_for_wall_time and not over_cpu:
        raise WallTimeExceeded(
            f"processing ran out of its {budget.wall_seconds:g} s wall-time budget with CPU time "
            f"to spare ({report.describe()}); retrying"
        )
    if over_cpu:
        raise PermanentFault(
            f"processing exceeded its CPU budget of {budget.cpu_seconds} s ({report.describe()})",
            code=PROCESSING_LIMIT,
        )
    if report.signal is not None or report.exit_code != 0 or not payload:
        if report.signal == signal.SIGKILL or report.exit_code == _EXIT_UNREPORTED:
            # Not ours and not the CPU limit's: the kernel's OOM killer, or a child that could
            # not allocate even its report.
            raise PermanentFault(
                f"processing exceeded its memory budget of {budget.memory_mb} MiB "
                f"({report.describe()})",
                code=PROCESSING_LIMIT,
            )
        # A decoder that segfaults or aborts on these bytes will do so on every retry.
        raise PermanentFault(f"the decoder crashed ({report.describe()})", code=CRASHED)
    kind, value = pickle.loads(payload)  # noqa: S301 - our own child's bytes, over our own pipe
    if kind == "ok":
        return value
    code, message = value
    raise PermanentFault(message, code=code)


def _child(
    write_fd: int,
    budget: Budget,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:  # pragma: no cover - runs in the forked child
    """Limit, run, report, leave: never returns into the parent's code."""
    code = _EXIT_UNREPORTED
    # A crash is reported by the signal that ended the child; a traceback dump of the parent's
    # threads (faulthandler, when a test runner enabled it) would only be noise.
    faulthandler.disable()
    try:
        _limit(budget)
        try:
            result: tuple[str, Any] = ("ok", fn(*args, **kwargs))
        except PermanentFault as fault:
            result = ("fault", (fault.code, fault.message))
        except MemoryError:
            result = ("fault", (PROCESSING_LIMIT, "processing ran out of its memory budget"))
        except RecursionError as exc:
            result = ("fault", (CORRUPT_IMAGE, f"RecursionError: {exc}"[:500]))
        except RuntimeError as exc:
            limit = "can't start new thread" in str(exc)
            result = ("fault", (PROCESSING_LIMIT if limit else CORRUPT_IMAGE, _describe(exc)))
        except Exception as exc:
            result = ("fault", (CORRUPT_IMAGE, _describe(exc)))
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]
        code = 0
    except BaseException:
        # Nothing may escape into the parent's code: the exit code tells the parent.
        code = _EXIT_UNREPORTED
    finally:
        os._exit(code)


def _describe(exc: BaseException) -> str:
    return f"the file could not be decoded: {type(exc).__name__}: {exc}"[:500]


def _limit(budget: Budget) -> None:  # pragma: no cover - runs in the forked child
    _cap_arenas()
    # The soft limit sends SIGXCPU (whose default action ends the process); the hard limit a
    # second later is SIGKILL, for a child that blocks or ignores SIGXCPU.
    resource.setrlimit(resource.RLIMIT_CPU, (budget.cpu_seconds, budget.cpu_seconds + 1))
    limit = _virtual_size() + budget.memory_mb * _MIB
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _virtual_size() -> int:
    """This process's address-space size in bytes (what RLIMIT_AS compares against)."""
    with open("/proc/self/statm", encoding="ascii") as fh:
        pages = int(fh.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _cap_arenas() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_ARENA_MAX, _ARENAS)

"""The processing child: results and faults cross the pipe, and each budget is enforced by the
operating system (the evidence is the child's signal and rusage, never a wall-clock reading)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from runtime import sandbox
from runtime.errors import PermanentFault

GENEROUS = sandbox.Budget(cpu_seconds=20, wall_seconds=30, memory_mb=512)


def _echo(value: bytes, *, twice: bool) -> bytes:
    return value * 2 if twice else value


def _burn_cpu() -> None:
    while True:
        sum(range(10_000))


def _sleep() -> None:
    time.sleep(60)


def _allocate(mb: int) -> int:
    return len(bytearray(mb * 1024 * 1024))


def _pid() -> int:
    return os.getpid()


def _raise(exc: BaseException) -> None:
    raise exc


def _segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


_state: list[str] = []


def _mutate_global() -> int:
    _state.append("child")
    return len(_state)


def test_sandbox_returns_the_result_of_fn() -> None:
    # GIVEN a large result WHEN run in the child THEN it crosses the pipe whole
    payload = os.urandom(3 * 1024 * 1024)
    assert sandbox.run(_echo, payload, twice=True, budget=GENEROUS) == payload * 2
    report = sandbox.last_report
    assert report is not None
    assert report.warm
    assert report.signal is None


def test_sandbox_child_is_kept_warm_and_replaced_after_a_fault() -> None:
    # GIVEN two uploads that complete
    sandbox.run(_pid, budget=GENEROUS)
    first = sandbox.run(_pid, budget=GENEROUS)
    # THEN the same warm child served both, and it is not this process
    assert sandbox.run(_pid, budget=GENEROUS) == first != os.getpid()
    # WHEN one upload fails THEN the next one is served by a fresh child
    with pytest.raises(PermanentFault):
        sandbox.run(_raise, ValueError("bad"), budget=GENEROUS)
    assert sandbox.run(_pid, budget=GENEROUS) != first


def test_sandbox_warm_child_is_replaced_after_its_job_quota(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sandbox, "MAX_JOBS_PER_CHILD", 2)
    sandbox.retire()
    pids = [sandbox.run(_pid, budget=GENEROUS) for _ in range(4)]
    assert pids[0] == pids[1] != pids[2] == pids[3]


def test_sandbox_closures_get_a_child_of_their_own() -> None:
    seen = []

    def closure() -> int:
        seen.append(1)
        return os.getpid()

    assert sandbox.run(closure, budget=GENEROUS) != os.getpid()
    report = sandbox.last_report
    assert report is not None
    assert not report.warm
    assert report.exit_code == 0
    assert seen == []


def test_sandbox_warm_child_killed_between_uploads_is_replaced() -> None:
    first = sandbox.run(_pid, budget=GENEROUS)
    os.kill(first, signal.SIGKILL)
    time.sleep(0.1)
    assert sandbox.run(_pid, budget=GENEROUS) not in (first, os.getpid())


def test_sandbox_child_cannot_change_the_parents_state() -> None:
    assert sandbox.run(_mutate_global, budget=GENEROUS) == 1
    assert _state == []


def test_sandbox_permanent_fault_keeps_its_code() -> None:
    with pytest.raises(PermanentFault) as caught:
        sandbox.run(_raise, PermanentFault("not an image", code="not_an_image"), budget=GENEROUS)
    assert (caught.value.code, caught.value.message) == ("not_an_image", "not an image")


@pytest.mark.parametrize(
    "exc",
    [AssertionError("has_transparency_data"), TypeError("float"), KeyError(3), ZeroDivisionError()],
)
def test_sandbox_any_decoder_exception_is_permanent_and_named(exc: BaseException) -> None:
    # GIVEN a decoder raising something no one planned for (Pillow's assert on a PLTE-less PNG)
    with pytest.raises(PermanentFault) as caught:
        sandbox.run(_raise, exc, budget=GENEROUS)
    # THEN it is permanent, and the message names the exception type
    assert caught.value.code == sandbox.CORRUPT_IMAGE
    assert type(exc).__name__ in caught.value.message


def test_sandbox_cpu_budget_kills_the_child_with_sigxcpu() -> None:
    # GIVEN a child that never stops computing, a 1 s CPU budget and plenty of wall time
    budget = sandbox.Budget(cpu_seconds=1, wall_seconds=60, memory_mb=256)
    with pytest.raises(PermanentFault) as caught:
        sandbox.run(_burn_cpu, budget=budget)
    # THEN the kernel ended it (SIGXCPU at the soft limit), and that is processing_limit
    assert caught.value.code == sandbox.PROCESSING_LIMIT
    report = sandbox.last_report
    assert report is not None
    assert report.signal in (signal.SIGXCPU, signal.SIGKILL)
    assert report.cpu_seconds >= 1
    assert not report.killed_for_wall_time
    assert "CPU budget" in caught.value.message


def test_sandbox_memory_budget_fails_the_allocation() -> None:
    # GIVEN a 64 MiB budget and a child that wants 512 MiB
    budget = sandbox.Budget(cpu_seconds=10, wall_seconds=30, memory_mb=64)
    with pytest.raises(PermanentFault) as caught:
        sandbox.run(_allocate, 512, budget=budget)
    # THEN RLIMIT_AS refused the allocation: processing_limit, reported by the child itself
    assert caught.value.code == sandbox.PROCESSING_LIMIT
    report = sandbox.last_report
    assert report is not None
    assert report.signal is None
    assert "memory budget" in caught.value.message
    # (max RSS starts at what the child shares with a large parent, so it proves nothing here)


def test_sandbox_memory_budget_is_what_processing_adds() -> None:
    # GIVEN the same allocation under a budget that fits it THEN it succeeds
    budget = sandbox.Budget(cpu_seconds=10, wall_seconds=30, memory_mb=256)
    assert sandbox.run(_allocate, 128, budget=budget) == 128 * 1024 * 1024


def test_sandbox_wall_time_with_cpu_to_spare_is_transient() -> None:
    # GIVEN a child that waits (a starved or slow child) past a 1 s wall budget
    budget = sandbox.Budget(cpu_seconds=1, wall_seconds=1, memory_mb=256)
    with pytest.raises(sandbox.WallTimeExceeded) as caught:
        sandbox.run(_sleep, budget=budget)
    # THEN the parent SIGKILLed it, and the fault is worth a retry (not a failed record)
    assert caught.value.code == sandbox.PROCESSING_TIMEOUT
    report = sandbox.last_report
    assert report is not None
    assert report.killed_for_wall_time
    assert report.signal == signal.SIGKILL
    assert report.cpu_seconds < 1


def test_sandbox_crashing_decoder_is_permanent() -> None:
    with pytest.raises(PermanentFault) as caught:
        sandbox.run(_segfault, budget=GENEROUS)
    assert caught.value.code == sandbox.CRASHED
    assert "SIGSEGV" in caught.value.message


def test_sandbox_threads_never_share_a_child_at_once() -> None:
    # GIVEN eight threads each running uploads at the same time (stand-in handlers on threads)
    import concurrent.futures

    def work(i: int) -> tuple[int, int]:
        return i, sandbox.run(_echo_int, i, budget=GENEROUS)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(40)))
    # THEN every answer is the one its own job asked for
    assert all(i == echoed for i, echoed in results)


def _echo_int(value: int) -> int:
    time.sleep(0.01)
    return value


def test_sandbox_child_computing_through_its_wall_budget_is_permanent() -> None:
    # GIVEN a CPU budget the wall budget cannot reach (a fractional-vCPU function's case)
    budget = sandbox.Budget(cpu_seconds=30, wall_seconds=1, memory_mb=256)
    with pytest.raises(PermanentFault) as caught:
        sandbox.run(_burn_cpu, budget=budget)
    # THEN computing all along is expensive, not starved: processing_limit, not a retry
    assert caught.value.code == sandbox.PROCESSING_LIMIT
    report = sandbox.last_report
    assert report is not None
    assert report.killed_for_wall_time
    assert report.cpu_seconds >= sandbox.STARVED_CPU_SHARE


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_sandbox_child_killed_from_outside_is_retried_not_blamed() -> None:
    # GIVEN a child SIGKILLed by something other than the sandbox (an OOM killer, an operator)
    with pytest.raises(sandbox.ChildKilled) as caught:
        sandbox.run(_kill_self, budget=GENEROUS)
    # THEN it is transient: the bytes are not proven guilty
    assert caught.value.code == sandbox.PROCESSING_KILLED
    assert "retrying" in caught.value.message
    assert "retrying" not in caught.value.detail


def test_sandbox_warm_child_outlives_the_thread_that_forked_it() -> None:
    # GIVEN the warm child started from a short-lived thread (a stand-in handler's invocation)
    import threading

    sandbox.retire()
    pids: list[int] = []
    worker = threading.Thread(target=lambda: pids.append(sandbox.run(_pid, budget=GENEROUS)))
    worker.start()
    worker.join()
    # WHEN that thread is gone THEN the same child still serves the next upload
    time.sleep(0.1)
    assert sandbox.run(_pid, budget=GENEROUS) == pids[0]

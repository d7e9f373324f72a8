"""`mediakit dev --fail-rate R`: make a share R of processor invocations fail transiently, so
retries and dead-lettering can be watched locally.

An injected fault stands for an invocation whose handler raised before doing any work (a
throttled dependency, a cold start that crashed): the event source mapping deletes nothing, the
batch reappears after the queue's visibility timeout, and SQS moves a message to the DLQ once it
has been received `maxReceiveCount` times, exactly as for a real failure.

Which invocations fail is decided by a counter, not a random draw, so a run is reproducible
(a test can rely on it): of the first n invocations exactly ceil(n * R) fail, spread evenly and
starting with the first. With R = 0.5 every other invocation fails (an upload sent on its own
fails once, then its retry succeeds; uploads in flight together share the counter, so one may
draw two faults); with R = 1 every one does (every upload ends in the DLQ).
"""

from __future__ import annotations

import math
import threading
from fractions import Fraction

__all__ = ["FailRate"]


class FailRate:
    """Thread-safe: the mapping's pollers share one counter."""

    def __init__(self, rate: float) -> None:
        if not 0 <= rate <= 1:
            raise ValueError(f"fail rate {rate} is not between 0 and 1")
        self.rate = rate
        # Exact arithmetic: 0.1 * 10 must be 1, not 0.9999999999999999.
        self._rate = Fraction(str(rate))
        self._lock = threading.Lock()
        self.invocations = 0
        self.injected = 0

    def next_fault(self) -> str | None:
        """Count one invocation; when it is one of the share that must fail, a line saying so
        ("injected fault 3 of 5 invocations (--fail-rate 0.5)"), else None."""
        with self._lock:
            self.invocations += 1
            if math.ceil(self.invocations * self._rate) <= self.injected:
                return None
            self.injected += 1
            return (
                f"injected fault {self.injected} of {self.invocations} invocations "
                f"(--fail-rate {self.rate:g})"
            )

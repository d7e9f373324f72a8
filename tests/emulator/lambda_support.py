"""Helpers shared by the tests of the emulator's worker processes."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable


def until(condition: Callable[[], bool], timeout: float = 60) -> None:
    """Wait for `condition`; fail the test if it does not hold within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def group_members(pgid: int) -> list[int]:
    """Processes still in process group `pgid` (a worker and what it forked)."""
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        if int(stat[stat.rindex(b")") + 2 :].split()[2]) == pgid:
            members.append(int(name))
    return members


def tag(action: str) -> str:
    """A message body for `lambda_handlers.behave`: the action and a unique tag."""
    return f"{action}:{uuid.uuid4().hex[:8]}"

"""The file-access audit shared by the runtime/media tests (see conftest.py's docstring)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import struct
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.errors import MediakitError

_IN_ACCESS = 0x001
_IN_OPEN = 0x020
_IN_NONBLOCK = 0o4000
REGION = "us-east-1"
BUCKET = "media-ranged-test"


@dataclass(frozen=True)
class Audit:
    """What a call did: its outcome and every file access the three witnesses saw."""

    outcome: str  # "ok" or the fault code
    message: str
    result: Any
    read_syscalls: int  # beyond the no-op baseline
    bytes_read: int  # beyond the no-op baseline
    python_opens: list[str]
    canary_events: int

    @property
    def read_nothing_outside(self) -> bool:
        return (
            self.read_syscalls <= 0
            and self.bytes_read <= 16  # /proc/self/io's own digits may grow by a few bytes
            and not self.python_opens
            and self.canary_events == 0
        )


def _proc_io() -> tuple[int, int]:
    fd = os.open("/proc/self/io", os.O_RDONLY)
    try:
        raw = os.read(fd, 4096)
    finally:
        os.close(fd)
    values = dict(line.split(b": ") for line in raw.splitlines())
    return int(values[b"rchar"]), int(values[b"syscr"])


@contextlib.contextmanager
def _inotify(path: Path) -> Iterator[Callable[[], int]]:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(_IN_NONBLOCK)
    assert fd >= 0, "inotify_init1 failed"
    assert libc.inotify_add_watch(fd, os.fsencode(path), _IN_OPEN | _IN_ACCESS) >= 0

    def events() -> int:
        count = 0
        while True:
            try:
                raw = os.read(fd, 65536)
            except BlockingIOError:
                return count
            offset = 0
            while offset < len(raw):
                _, _, _, length = struct.unpack_from("iIII", raw, offset)
                offset += 16 + length
                count += 1

    try:
        yield events
    finally:
        os.close(fd)


def _child(fn: Callable[..., Any], args: tuple[Any, ...], write: int) -> None:  # pragma: no cover
    opens: list[str] = []
    recording = [False]

    def hook(event: str, event_args: tuple[Any, ...]) -> None:
        path = str(event_args[0]) if event_args and event_args[0] is not None else None
        # /proc/self/io: the audit's own counter
        if recording[0] and event == "open" and path not in (None, "/proc/self/io"):
            opens.append(str(path))

    sys.addaudithook(hook)
    code = 0
    try:
        with contextlib.suppress(Exception):
            fn(*args)  # warm-up: lazy imports and first-use initialisation read files
        base_before = _proc_io()
        base_after = _proc_io()
        recording[0] = True
        before = _proc_io()
        try:
            result: Any = fn(*args)
            outcome, message = "ok", ""
        except MediakitError as exc:
            result, outcome, message = None, exc.code, exc.message
        except Exception as exc:  # the positive controls: FFmpeg's own errors
            result, outcome, message = None, f"error:{type(exc).__name__}", str(exc)
        after = _proc_io()
        recording[0] = False
        baseline = (base_after[0] - base_before[0], base_after[1] - base_before[1])
        report = (
            outcome,
            message,
            result,
            (after[1] - before[1]) - baseline[1],
            (after[0] - before[0]) - baseline[0],
            opens,
        )
        payload = pickle.dumps(report)
        os.write(write, struct.pack("!Q", len(payload)) + payload)
    except BaseException:
        traceback.print_exc()
        code = 70
    finally:
        os._exit(code)


def run_audited(fn: Callable[..., Any], *args: Any, canary: Path) -> Audit:
    """`fn(*args)` in a forked child under the three witnesses (see the module doc)."""
    with _inotify(canary) as canary_events:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover
            os.close(read)
            _child(fn, args, write)
        os.close(write)
        chunks = []
        while chunk := os.read(read, 1 << 20):
            chunks.append(chunk)
        os.close(read)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status), f"child status {status}"
        assert os.WEXITSTATUS(status) == 0, f"child status {status}"
        raw = b"".join(chunks)
        outcome, message, result, syscalls, read_bytes, opens = pickle.loads(raw[8:])  # noqa: S301
        return Audit(outcome, message, result, syscalls, read_bytes, opens, canary_events())


def poster_over_s3(bucket: str, key: str, declared_type: str) -> tuple[dict[str, Any], int, int]:
    """Run in the processing child: a client of its own (the parent's sockets do not survive a
    fork), a ranged reader, the poster; its description, GETs and bytes fetched."""
    import boto3

    from runtime.media.poster import poster
    from runtime.media.ranged import RangedReader

    client = boto3.client(
        "s3",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    reader = RangedReader(client, bucket, key)
    result = poster(reader, declared_type)
    return dict(result.info), reader.requests, reader.bytes_fetched

"""The client's multipart pieces without a server: part hashes, part sizes, the state file's
checks, and the parallel sender's handling of failures and Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mediakit import upload_state
from mediakit.client import (
    MAX_DECLARED_PARTS,
    MIB,
    MIN_PART_BYTES,
    fit_part_size,
    in_parallel,
    part_hashes,
)
from mediakit.upload_state import FileIdentity, StateError, UploadState


def test_part_hashes_cover_the_file_in_one_read(tmp_path: Path) -> None:
    data = os.urandom(2 * MIB + 123)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    whole, parts = part_hashes(path, MIB)
    assert whole == hashlib.sha256(data).hexdigest()
    assert parts == [
        hashlib.sha256(data[i : i + MIB]).hexdigest() for i in range(0, len(data), MIB)
    ]


def test_fit_part_size_keeps_declared_parts_within_the_apis_limit() -> None:
    assert fit_part_size(100 * MIB, MIB) == MIN_PART_BYTES  # never below S3's 5 MiB
    assert fit_part_size(100 * MIB, 8 * MIB) == 8 * MIB
    huge = 50 * 1024**3
    part = fit_part_size(huge, 8 * MIB)
    assert part % MIB == 0
    assert -(-huge // part) <= MAX_DECLARED_PARTS


def _state(tmp_path: Path, target: Path) -> UploadState:
    return UploadState(
        file=upload_state.state_file(tmp_path, target),
        upload_id="01jabcdefghjkmnpqrstvwxyz0",
        api_url="http://127.0.0.1:1",
        identity=FileIdentity.of(target),
        status_url="http://127.0.0.1:1/v1/uploads/01jabcdefghjkmnpqrstvwxyz0",
        part_size=MIN_PART_BYTES,
        part_count=3,
        checksums=True,
        parts={1: {"etag": '"abc"', "sha256": "00" * 32}},
    )


def test_state_round_trips_privately_and_names_its_file(tmp_path: Path) -> None:
    target = tmp_path / "photo.jpg"
    target.write_bytes(b"x" * 10)
    state = _state(tmp_path, target)
    state.save()
    assert state.file.stat().st_mode & 0o777 == 0o600
    loaded = upload_state.load(state.file)
    assert loaded == state
    assert loaded.identity == FileIdentity.of(target)
    target.write_bytes(b"y" * 10)  # same size, new head (and mtime): another file
    assert loaded.identity != FileIdentity.of(target)


@pytest.mark.parametrize(
    "edit",
    [
        lambda raw: raw.update(version=2),
        lambda raw: raw.update(part_size="big"),
        lambda raw: raw.update(parts=[1, 2]),
        lambda raw: raw["parts"].update({"../x": {"etag": "e"}}),
        lambda raw: raw["file"].update(size=True),
        lambda raw: raw.pop("upload_id"),
    ],
    ids=["version", "part-size", "parts-list", "part-number", "size-bool", "no-id"],
)
def test_a_hand_edited_state_is_refused(tmp_path: Path, edit: Any) -> None:
    target = tmp_path / "photo.jpg"
    target.write_bytes(b"x")
    state = _state(tmp_path, target)
    state.save()
    raw = json.loads(state.file.read_text())
    edit(raw)
    state.file.write_text(json.dumps(raw))
    with pytest.raises(StateError, match=str(state.file)):
        upload_state.load(state.file)


def test_parallel_sender_reports_on_the_calling_thread_and_stops_on_failure() -> None:
    # GIVEN ten jobs whose fourth fails and whose others take a moment
    main = threading.get_ident()
    started: list[int] = []
    seen: list[int] = []
    progress_threads: set[int] = set()

    def send(job: dict[str, Any], report: Any) -> str:
        started.append(job["part_number"])
        report(1)
        if job["part_number"] == 4:
            raise ConnectionResetError("reset")
        time.sleep(0.05)
        return f"etag-{job['part_number']}"

    def done(job: dict[str, Any], etag: str) -> None:
        assert threading.get_ident() == main
        seen.append(job["part_number"])

    # WHEN they run two at a time
    with pytest.raises(ConnectionResetError):
        in_parallel(
            [{"part_number": n} for n in range(1, 11)],
            send,
            parallel=2,
            done=done,
            note=lambda job, n: progress_threads.add(threading.get_ident()),
        )
    # THEN the failure reached the caller, progress and results came on its thread, and the
    # senders took no new job once it was raised
    assert progress_threads == {main}
    assert 4 not in seen
    count = len(started)
    time.sleep(0.3)
    assert len(started) == count
    assert count < 10

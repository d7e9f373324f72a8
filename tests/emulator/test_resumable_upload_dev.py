"""Resumable multipart through `mediakit dev`: the CLI interrupted by Ctrl-C and resumed without
sending finished parts again, the parts route, and what the S3 front refuses (a forged part
number, a part that does not match its declared SHA-256, a part URL after abort)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from PIL import Image

from mediakit import client as client_module
from mediakit import upload_state
from mediakit.cli import cli
from mediakit.client import ApiClient
from mediakit.local.emulator import DevEnv, Emulator, mint_token
from runtime.settings import Settings

MIB = 1024 * 1024
PART = 5 * MIB
_REQUEST = client_module.request


@pytest.fixture(scope="module")
def dev() -> Iterator[DevEnv]:
    with Emulator(Settings()) as env:
        yield env


@pytest.fixture(scope="module")
def big_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PNG of noise just over 10 MiB: three 5 MiB parts (5, 5 and the rest)."""
    path = tmp_path_factory.mktemp("big") / "noise.png"
    Image.frombytes("RGB", (1900, 1900), os.urandom(1900 * 1900 * 3)).save(path)
    assert 2 * PART < path.stat().st_size < 3 * PART
    return path


class PartTap:
    """Wraps the client's HTTP calls: counts the bytes of every part PUT by part number, and
    raises KeyboardInterrupt (Ctrl-C, as the main thread would see it) when told part starts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, interrupt_at: int | None = None) -> None:
        self.sent: dict[int, int] = {}
        self.interrupt_at = interrupt_at
        real = _REQUEST  # not the previous tap's: each test's tap replaces it

        def tapped(method: str, url: str, **kwargs: Any) -> Any:
            found = re.search(r"[?&]partNumber=(\d+)", url)
            if method == "PUT" and found:
                number = int(found.group(1))
                if number == self.interrupt_at:
                    raise KeyboardInterrupt
                body = kwargs.get("body")
                counted = 0
                if body is not None and hasattr(body, "read"):
                    inner = body.read

                    def read(size: int = -1) -> bytes:
                        nonlocal counted
                        data: bytes = inner(size)
                        counted += len(data)
                        return data

                    body.read = read
                response = real(method, url, **kwargs)
                self.sent[number] = self.sent.get(number, 0) + counted
                return response
            return real(method, url, **kwargs)

        monkeypatch.setattr(client_module, "request", tapped)


def _upload(dev: DevEnv, state_dir: Path, *args: str, tenant: str = "acme") -> Any:
    return CliRunner().invoke(
        cli,
        [
            "upload",
            "--api-url",
            dev.api_url,
            "--token",
            mint_token(dev, tenant),
            "--state-dir",
            str(state_dir),
            "--part-size",
            "5",
            "--parallel",
            "1",
            *args,
        ],
    )


def test_upload_interrupted_by_ctrl_c_resumes_without_resending_parts(
    dev: DevEnv, big_png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = big_png.stat().st_size
    # GIVEN an upload interrupted (Ctrl-C) as its third part starts
    tap = PartTap(monkeypatch, interrupt_at=3)
    first = _upload(dev, tmp_path, str(big_png))
    # THEN it exits 130 without a traceback, naming the upload and how to resume or abort it
    assert first.exit_code == 130, first.output
    assert "Traceback" not in first.output
    upload_id = re.search(r"upload (\S+) interrupted", first.output)
    assert upload_id is not None, first.output
    assert f"mediakit upload --resume {big_png}" in first.output
    assert f"mediakit abort {upload_id.group(1)}" in first.output
    assert "curl -X DELETE" in first.output
    assert tap.sent == {1: PART, 2: PART}
    state = upload_state.load(upload_state.state_file(tmp_path, big_png))
    assert state is not None
    assert state.upload_id == upload_id.group(1)
    assert sorted(state.parts) == [1, 2]
    assert state.checksums  # the parts' SHA-256 were declared
    # WHEN it is resumed
    tap = PartTap(monkeypatch)
    second = _upload(dev, tmp_path, "--resume", "--wait", str(big_png))
    # THEN only the missing part went out, the upload completed and the state is gone
    assert second.exit_code == 0, second.output
    assert tap.sent == {3: size - 2 * PART}
    assert f"resumed upload {upload_id.group(1)}, sent {size - 2 * PART} bytes" in second.output
    record = json.loads(second.output[second.output.index("{") :])
    assert record["upload_id"] == upload_id.group(1)
    assert record["status"] == "completed", record
    assert record["size"] == size
    assert not upload_state.state_file(tmp_path, big_png).exists()


def test_resume_refuses_a_state_for_another_file(
    dev: DevEnv, big_png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an interrupted upload of one file, and another file copied over its path later
    target = tmp_path / "photo.png"
    target.write_bytes(big_png.read_bytes())
    PartTap(monkeypatch, interrupt_at=2)
    assert _upload(dev, tmp_path / "state", str(target)).exit_code == 130
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF  # the same size, another head
    target.write_bytes(bytes(data))
    # WHEN --resume is asked
    tap = PartTap(monkeypatch)
    refused = _upload(dev, tmp_path / "state", "--resume", str(target))
    # THEN nothing is sent: the state is for another file
    assert refused.exit_code == 1
    assert "cannot resume" in refused.output
    assert "another file" in refused.output
    assert tap.sent == {}


def test_resume_refuses_a_hand_edited_state(
    dev: DevEnv, big_png: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an interrupted upload whose state was edited to another tenant's pending upload
    state_dir = tmp_path / "state"
    PartTap(monkeypatch, interrupt_at=2)
    assert _upload(dev, state_dir, str(big_png)).exit_code == 130
    other = ApiClient(dev.api_url, mint_token(dev, "globex")).create_upload(
        filename="x.png", content_type="image/png", size=3 * PART, method="MULTIPART"
    )
    path = upload_state.state_file(state_dir, big_png)
    raw = json.loads(path.read_text())
    raw["upload_id"] = other["upload_id"]
    path.write_text(json.dumps(raw))
    tap = PartTap(monkeypatch)
    # WHEN it is resumed THEN the API answers 404 (another tenant's id) and nothing is sent
    refused = _upload(dev, state_dir, "--resume", str(big_png))
    assert refused.exit_code == 1
    assert "cannot be resumed" in refused.output
    assert "not_found" in refused.output
    assert tap.sent == {}
    # AND a state that is not JSON is refused with its path
    path.write_text("{not json")
    refused = _upload(dev, state_dir, "--resume", str(big_png))
    assert refused.exit_code == 1
    assert "unreadable upload state" in refused.output
    # AND without --resume a broken state is ignored: a new upload replaces it
    fresh = _upload(dev, state_dir, str(big_png))
    assert fresh.exit_code == 0, fresh.output
    assert sorted(tap.sent) == [1, 2, 3]


def _token(dev: DevEnv, tenant: str = "acme") -> dict[str, str]:
    return {"authorization": f"Bearer {mint_token(dev, tenant)}"}


def test_parts_route_and_the_s3_front_through_the_emulator(dev: DevEnv, big_png: Path) -> None:
    # GIVEN a three-part upload with declared part hashes
    api = ApiClient(dev.api_url, mint_token(dev, "acme"))
    size = big_png.stat().st_size
    whole, hashes = client_module.part_hashes(big_png, PART)
    created = api.create_upload(
        filename="n.png",
        content_type="image/png",
        size=size,
        sha256=whole,
        method="MULTIPART",
        part_size=PART,
        part_sha256=hashes,
    )
    data = big_png.read_bytes()
    part1 = created["parts"][0]
    # WHEN a part is sent with bytes its declared SHA-256 does not describe
    wrong = requests.put(
        part1["url"], data=data[PART : 2 * PART], headers=part1["headers"], timeout=30
    )
    # THEN the S3 front refuses it (the signed x-amz-checksum-sha256 is verified)
    assert wrong.status_code == 400
    assert b"BadDigest" in wrong.content
    # AND a part URL whose part number was changed fails its signature
    forged = part1["url"].replace("partNumber=1", "partNumber=2")
    refused = requests.put(forged, data=data[PART : 2 * PART], headers=part1["headers"], timeout=30)
    assert refused.status_code == 403
    assert b"SignatureDoesNotMatch" in refused.content
    # AND the right bytes go in; the route lists them and offers the others
    assert requests.put(part1["url"], data=data[:PART], headers=part1["headers"], timeout=30).ok
    listed = requests.get(f"{created['status_url']}/parts?limit=2", headers=_token(dev), timeout=30)
    assert listed.status_code == 200
    page = listed.json()
    assert [p["part_number"] for p in page["uploaded"]] == [1]
    assert page["uploaded"][0]["sha256"] == hashes[0]
    assert [p["part_number"] for p in page["parts"]] == [2]
    assert page["next_cursor"] == "2"
    # AND another tenant gets a 404 for it
    other = requests.get(
        f"{created['status_url']}/parts", headers=_token(dev, "globex"), timeout=30
    )
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"
    # WHEN its owner aborts it with `mediakit abort`
    aborted = CliRunner().invoke(
        cli,
        ["abort", created["upload_id"], "--api-url", dev.api_url, "--token", api.token],
    )
    assert aborted.exit_code == 0, aborted.output
    assert json.loads(aborted.output)["status"] == "deleted"
    # THEN its part URLs write nothing and the route says it is not pending
    late = page["parts"][0]
    after = requests.put(
        late["url"], data=data[PART : 2 * PART], headers=late["headers"], timeout=30
    )
    assert after.status_code == 404
    assert b"NoSuchUpload" in after.content
    gone = requests.get(f"{created['status_url']}/parts", headers=_token(dev), timeout=30)
    assert gone.status_code == 409
    assert gone.json()["error"]["code"] == "not_pending"


def test_a_real_ctrl_c_stops_the_cli_at_once_and_abort_cleans_up(
    dev: DevEnv, tmp_path: Path
) -> None:
    # GIVEN `mediakit upload` of an eight-part file running in its own process
    big = tmp_path / "big.png"
    big.write_bytes(os.urandom(8 * PART))
    state_dir = tmp_path / "state"
    command = [
        sys.executable, "-c", "from mediakit.cli import main; main()", "upload", str(big),
        "--api-url", dev.api_url, "--token", mint_token(dev, "acme"),
        "--state-dir", str(state_dir), "--part-size", "5", "--parallel", "1",
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state_path = upload_state.state_file(state_dir, big)
    deadline = time.monotonic() + 30
    state = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            state = upload_state.load(state_path)
        except upload_state.StateError:
            state = None  # read between the writer's open and its replace: try again
        if state is not None and state.parts:
            break
        time.sleep(0.02)
    assert state is not None, proc.communicate()
    assert state.parts
    # WHEN it gets SIGINT (Ctrl-C) after its first part
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    # THEN it exits 130 without a traceback, saying how to resume or abort, with the parts kept
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert f"upload {state.upload_id} interrupted" in err
    assert "mediakit upload --resume" in err
    kept = upload_state.load(state_path)
    assert kept is not None
    assert 1 <= len(kept.parts) < 8
    # AND `mediakit abort` deletes the pending upload and its state file
    aborted = CliRunner().invoke(
        cli,
        [
            "abort", state.upload_id, "--api-url", dev.api_url,
            "--token", mint_token(dev, "acme"), "--state-dir", str(state_dir),
        ],
    )  # fmt: skip
    assert aborted.exit_code == 0, aborted.output
    assert json.loads(aborted.output)["status"] == "deleted"
    assert not state_path.exists()

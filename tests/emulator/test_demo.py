"""`mediakit demo`: the whole pipeline on sample images, once, with its verdict."""

from __future__ import annotations

import json
import os
import shlex
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from mediakit.cli import cli
from mediakit.demo import Outcome


def test_demo_exits_zero_with_outputs(tmp_path: Path) -> None:
    # GIVEN an empty output folder
    out = tmp_path / "demo-out"
    # WHEN the demo runs
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--no-keep-running"])
    # THEN every sample behaved as expected, derivatives were downloaded, the contact sheet
    # is a PNG, and the bus events were shown
    assert result.exit_code == 0, result.output
    assert "demo OK" in result.output
    assert "MISMATCH" not in result.output
    assert "media.upload.completed" in result.output
    assert "media.upload.failed" in result.output
    assert (out / "camera-photo.jpg" / "thumb.jpeg").is_file()
    # audio and video are on for the demo: the MP4's poster and the voice memo's waveform
    assert (out / "short-clip.mp4" / "thumb.jpeg").is_file()
    with Image.open(out / "voice-memo.m4a" / "waveform.png") as waveform:
        assert waveform.size == (1200, 200)
    assert "not_media" in result.output
    with Image.open(out / "contact-sheet.png") as sheet:
        assert sheet.format == "PNG"


def _outcome(expected: str, code: str | None, **kw: object) -> Outcome:
    o = Outcome(
        filename="f.jpg",
        path=Path("f.jpg"),
        content_type="image/jpeg",
        expected_status=expected,
        expected_code=code,
        description="d",
    )
    for k, v in kw.items():
        setattr(o, k, v)
    return o


@pytest.mark.parametrize(
    ("outcome", "problem"),
    [
        (_outcome("completed", None, record={"status": "completed", "derivatives": [{}]}), None),
        (_outcome("completed", None, record={"status": "completed", "derivatives": []}), "without"),
        (_outcome("completed", None, record={"status": "processing"}), "got processing"),
        (
            _outcome(
                "failed", "truncated", record={"status": "failed", "error": {"code": "truncated"}}
            ),
            None,
        ),
        (
            _outcome("failed", "truncated", record={"status": "failed", "error": {"code": "x"}}),
            "got x",
        ),
        (_outcome("failed", "truncated", record={"status": "completed"}), "got completed"),
        (
            _outcome(
                "failed", "unsupported_media_type", api_error={"code": "unsupported_media_type"}
            ),
            None,
        ),
    ],
)
def test_demo_outcome_mismatch(outcome: Outcome, problem: str | None) -> None:
    # GIVEN an expectation and what happened / WHEN compared / THEN a mismatch is named or not
    found = outcome.mismatch()
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_demo_exits_non_zero_on_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a sample set whose one valid JPEG is (wrongly) expected to fail
    from mediakit.corpus import samples
    from tests.emulator.conftest import jpeg_bytes

    def one_sample(out_dir: Path) -> list[samples.Sample]:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "ok.jpg"
        path.write_bytes(jpeg_bytes((64, 48)))
        return [samples.Sample(path, "ok.jpg", "image/jpeg", "failed", "truncated", "valid")]

    monkeypatch.setattr(samples, "generate_samples", one_sample)
    # WHEN the demo runs
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "out")])
    # THEN it names the mismatch and exits non-zero
    assert result.exit_code == 1, result.output
    assert "MISMATCH ok.jpg" in result.output
    assert "expected failed (truncated), got completed" in result.output
    assert "demo FAILED" in result.output


def test_demo_keep_running_prints_a_status_command_that_finds_its_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a demo of one image, kept running with its env file
    from mediakit.corpus import samples
    from mediakit.demo import run_demo
    from tests.emulator.conftest import jpeg_bytes

    def one_sample(out_dir: Path) -> list[samples.Sample]:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "ok.jpg"
        path.write_bytes(jpeg_bytes((64, 48)))
        return [samples.Sample(path, "ok.jpg", "image/jpeg", "completed", None, "valid")]

    monkeypatch.setattr(samples, "generate_samples", one_sample)
    monkeypatch.setenv("MEDIAKIT_MEDIA_KINDS", "image")
    env_file = tmp_path / "dev.json"
    lines: list[str] = []
    seen: dict[str, Any] = {}

    def follow_it() -> None:
        # Beside the demo: run the status command it printed, then stop it like Ctrl-C would.
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                printed = [ln.strip() for ln in "\n".join(lines).splitlines()]
                commands = [ln for ln in printed if ln.startswith("mediakit status ")]
                if commands and env_file.exists():
                    seen["command"] = commands[0]
                    args = shlex.split(commands[0])[1:]
                    seen["result"] = CliRunner().invoke(cli, args)
                    return
                time.sleep(0.1)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=follow_it)
    thread.start()
    # WHEN the demo runs and its follow-up command is run from "another shell"
    code = run_demo(tmp_path / "out", keep_running=True, env_file=env_file, echo=lines.append)
    thread.join(timeout=10)
    # THEN the demo printed its tenant, and the command it printed shows the completed upload
    assert code == 0, "\n".join(lines)
    assert "uploading as tenant 'demo'" in lines
    assert seen["command"].startswith(f"mediakit status --tenant demo --env-file {env_file} ")
    result = seen["result"]
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "completed"
    assert not env_file.exists()

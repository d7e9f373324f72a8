"""The README's curl flow, run as the README prints it (the fenced block after its
`readme-curl-flow` marker) with bash against the `mediakit dev` it starts: a JPEG ends
completed; a 0-byte file and an emulator that cannot start stop it at once with the error.
Each run has a hard deadline, so a flow that hangs fails the test instead of the suite."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mediakit.corpus.hostile import valid_jpeg

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKER = "<!-- readme-curl-flow: tests/test_readme_curl.py runs this block -->"
# The curl that first has --fail-with-body (the flow needs it).
CURL_MIN = (7, 76)


def _tools_missing() -> str | None:
    """Why the flow cannot run here (jq or a recent enough curl missing), or None."""
    for tool in ("bash", "jq", "curl", "sha256sum"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (`make test` installs jq and curl on Debian)"
    version = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
    found = re.match(r"curl (\d+)\.(\d+)", version)
    if found is None or tuple(map(int, found.groups())) < CURL_MIN:
        return f"curl >= 7.76 is needed for --fail-with-body, found {version.splitlines()[:1]}"
    return None


@pytest.fixture(scope="module", autouse=True)
def _tools() -> None:
    why = _tools_missing()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the README's curl flow cannot run in CI: {why}")
    pytest.skip(why)


def flow() -> str:
    """The README's block after the marker, as printed."""
    text = README.read_text(encoding="utf-8")
    found = re.search(re.escape(MARKER) + r"\n```sh\n(.*?)\n```\n", text, re.S)
    assert found is not None, f"README.md has no ```sh block right after {MARKER}"
    return found.group(1) + "\n"


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def _run(tmp_path: Path, file: str, data: bytes, *, timeout: float, **env: str) -> Run:
    """`bash upload.sh FILE` in an empty folder, the kit's venv first on PATH as `source
    .venv/bin/activate` puts it, in a session of its own: after `timeout` seconds it and
    everything it started are killed and the test fails."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "upload.sh").write_text(flow(), encoding="utf-8")
    (work / file).write_bytes(data)
    temp = tmp_path / "tmp"
    temp.mkdir()
    environ = {
        k: v for k, v in os.environ.items() if k not in ("API", "TOKEN") and "MEDIAKIT_" not in k
    }
    environ.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{environ.get('PATH', '')}",
        TMPDIR=str(temp),
        **env,
    )
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        # Files, not pipes: a background `mediakit dev` left running would hold a pipe open.
        proc = subprocess.Popen(
            ["bash", "upload.sh", file],
            cwd=work,
            env=environ,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            left = _kill_group(proc.pid)
    run = Run(code if code is not None else -1, out.read_text(), err.read_text())
    assert code is not None, f"the flow hung for {timeout} s: {run}"
    # THEN it stopped what it started, removed its temporary files, wrote nothing else
    assert not left, f"the flow left processes running: {run}"
    assert list(temp.iterdir()) == []
    assert sorted(p.name for p in work.iterdir()) == sorted(["upload.sh", file])
    assert "Traceback" not in run.stdout + run.stderr
    return run


def _kill_group(pgid: int) -> bool:
    """Kill the session's process group; whether anything was still in it."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_the_readme_flow_uploads_a_jpeg_to_completed(tmp_path: Path) -> None:
    # GIVEN a JPEG WHEN the README's flow runs on it
    run = _run(tmp_path, "cat.jpg", valid_jpeg(1), timeout=180)
    # THEN it exits 0 printing the completed record with its derivatives
    assert run.code == 0, run
    assert '"status": "completed"' in run.stdout
    assert '"name": "thumb"' in run.stdout


@pytest.mark.slow
def test_the_readme_flow_stops_at_once_on_an_empty_file(tmp_path: Path) -> None:
    # GIVEN a 0-byte file WHEN the README's flow runs on it
    run = _run(tmp_path, "cat.jpg", b"", timeout=90)
    # THEN it stops non-zero at the first request, showing the API's error code, and never
    # feeds `null` onwards (the old flow's `jq: null has no keys` and endless retries)
    assert run.code != 0, run
    assert '"code":"invalid_field"' in run.stderr, run
    assert "null" not in run.stderr.replace('"error":null', "")
    assert "Could not resolve host" not in run.stderr


@pytest.mark.slow
def test_the_readme_flow_stops_when_mediakit_dev_cannot_start(tmp_path: Path) -> None:
    # GIVEN a setting `mediakit dev` refuses WHEN the README's flow runs
    run = _run(
        tmp_path, "cat.jpg", valid_jpeg(1), timeout=90, MEDIAKIT_MAX_UPLOAD_BYTES="not-a-number"
    )
    # THEN it stops non-zero, quoting dev's own error, instead of waiting for its env file
    assert run.code != 0, run
    assert "upload.sh: mediakit dev exited" in run.stderr, run
    assert "MEDIAKIT_MAX_UPLOAD_BYTES" in run.stderr, run


def test_the_readme_flow_states_what_it_needs_and_writes_only_to_a_temp_dir() -> None:
    # GIVEN the README's flow WHEN read THEN it stops on any error, checks its tools, and
    # never writes a file into the folder it runs in (its outputs go under mktemp -d)
    text = flow()
    assert "set -euo pipefail" in text
    assert "curl >= 7.76" in text
    assert "command -v jq" in text
    assert "tmp=$(mktemp -d)" in text
    assert "trap cleanup EXIT" in text
    for out in re.findall(r"^\s*call (\S+)", text, re.M):
        assert out.startswith('"$tmp/'), out
    for target in re.findall(r"(?:>|-o)\s+(\"?[^\s\"]+\"?)", text):
        # (`call`'s "$out" is always a "$tmp/..." path)
        assert target == '"$out"' or target.startswith(('"$tmp/', "/dev/")), target

"""`mediakit dev` owns its env file: removed on every exit it controls (SIGINT, SIGTERM,
SIGHUP), detected as stale by every reader after one it cannot (SIGKILL), never taken over from
a live emulator, never removed from under another; readers find it from a subdirectory, and
`--api-url` without `--token` asks for a token.

The emulators here are real `mediakit dev` subprocesses (signals reach them as they reach a
user's); each boots in a few seconds and every wait is bounded."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mediakit.cli import cli
from mediakit.errors import SetupError
from mediakit.local.emulator import (
    DEFAULT_ENV_FILE,
    DevEnv,
    EnvFileInUse,
    StaleEnvFile,
    claim_env_file,
    find_env_file,
    release_env_file,
)

MEDIAKIT = str(Path(sys.executable).with_name("mediakit"))
BOOT_SECONDS = 60
# A well-formed upload id that names no upload.
NO_UPLOAD = "01" + "z" * 24  # a generous bound on a loaded 2-CPU machine; typically 3-5 s


class Dev:
    """A `mediakit dev --quiet` subprocess writing `env_file`."""

    def __init__(self, env_file: Path, *args: str) -> None:
        self.env_file = env_file
        self.proc = subprocess.Popen(
            [MEDIAKIT, "dev", "--quiet", "--env-file", str(env_file), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Its own session: a signal sent to it does not reach pytest.
            start_new_session=True,
        )

    def wait_serving(self) -> DevEnv:
        deadline = time.monotonic() + BOOT_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"mediakit dev exited {self.proc.returncode}: {out}{err}")
            if self.env_file.exists():
                env = DevEnv.read(self.env_file, running=False)
                if env.pid == self.proc.pid:
                    return env
            time.sleep(0.05)
        self.kill()
        pytest.fail("mediakit dev did not write its env file in time")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str]:
        self.proc.send_signal(sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"mediakit dev did not stop within {timeout} s of signal {sig}")
        return self.proc.returncode, out + err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=30)


@pytest.fixture
def dev_factory() -> Iterator[list[Dev]]:
    started: list[Dev] = []
    yield started
    for dev in started:
        dev.kill()


def _start(started: list[Dev], env_file: Path, *args: str) -> tuple[Dev, DevEnv]:
    dev = Dev(env_file, *args)
    started.append(dev)
    return dev, dev.wait_serving()


def _clean(result: Result) -> str:
    text = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in text
    return text


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT])
def test_dev_removes_its_env_file_on_every_signal_it_can_catch(
    tmp_path: Path, dev_factory: list[Dev], sig: signal.Signals
) -> None:
    # GIVEN a serving `mediakit dev` (SIGHUP: the terminal of `mediakit dev &` closed)
    env_file = tmp_path / ".mediakit" / "dev.json"
    dev, _ = _start(dev_factory, env_file)
    # WHEN it gets the signal
    code, output = dev.stop(sig)
    # THEN it shut down cleanly and took its env file with it
    assert code == 0, output
    assert "Traceback" not in output
    assert not env_file.exists()


def test_closing_the_terminal_of_dev_removes_its_env_file(tmp_path: Path) -> None:
    # GIVEN `mediakit dev` serving in a terminal (a pseudo-terminal it writes its banner to)
    # (stderr goes to a file, which the hangup must leave alone: it is where the threads'
    # tracebacks land if stopping ever hangs, for the failure message)
    env_file = tmp_path / "dev.json"
    log = tmp_path / "stderr.log"
    done = (0, 0)
    pid, master = pty.fork()
    if pid == 0:  # the child: nothing but exec
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o600)
            os.dup2(fd, 2)
            env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
            os.execve(MEDIAKIT, [MEDIAKIT, "dev", "--env-file", str(env_file)], env)  # noqa: S606
        finally:
            os._exit(127)  # never back into pytest
    try:
        banner = b""
        deadline = time.monotonic() + BOOT_SECONDS
        while b"Ctrl-C to stop" not in banner:
            assert time.monotonic() < deadline, banner.decode(errors="replace")
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                banner += os.read(master, 65536)
        assert env_file.exists()
        # WHEN the terminal goes away (the kernel hangs up its session: SIGHUP, then every
        # write to it fails)
        os.close(master)
        deadline = time.monotonic() + 30
        while (done := os.waitpid(pid, os.WNOHANG)) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGABRT)  # faulthandler: every thread's stack to the log
                time.sleep(2)
                stacks = log.read_text(errors="replace")[-8000:]
                raise AssertionError(f"mediakit dev did not stop after the hangup:\n{stacks}")
            time.sleep(0.1)
    finally:
        if done == (0, 0):  # not reaped: never leave it running
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    # THEN it shut down cleanly (exit 0, the stop messages going nowhere) and removed its file
    assert os.waitstatus_to_exitcode(done[1]) == 0, log.read_text(errors="replace")
    assert not env_file.exists()
    # AND its stderr, a file and not the terminal, still got the stop message
    assert "mediakit dev: stopping" in log.read_text()


def test_sigkilled_dev_leaves_a_file_every_reader_calls_stale(
    tmp_path: Path, dev_factory: list[Dev]
) -> None:
    # GIVEN a `mediakit dev` killed with SIGKILL (it cannot remove its file)
    env_file = tmp_path / "dev.json"
    dev, env = _start(dev_factory, env_file)
    dev.proc.kill()
    dev.proc.communicate(timeout=30)
    assert env_file.exists()
    runner = CliRunner()
    stale = (
        f"the emulator recorded in {env_file} (pid {env.pid}, port {env.api_port}) is not "
        "running: start `mediakit dev` again"
    )
    # WHEN the readers use it: a token (the signing key of a dead run), status, upload, dlq
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"\xff\xd8\xff")
    for args in (
        ["token", "--tenant", "acme"],
        ["status", NO_UPLOAD],
        ["upload", str(photo)],
    ):
        result = runner.invoke(cli, [*args, "--env-file", str(env_file)])
        # THEN each refuses with one clean line, exit 2 (could not run), naming the pid and port
        assert result.exit_code == 2, (args, result.output)
        assert stale in _clean(result), (args, result.output)
        assert "Connection refused" not in result.output
    dlq = runner.invoke(cli, ["dlq", "--env-file", str(env_file), "list"])
    assert dlq.exit_code == 2
    assert stale in _clean(dlq)

    # AND a new `mediakit dev` replaces the stale file, saying so, and serves the readers
    again, _ = _start(dev_factory, env_file)
    token = runner.invoke(cli, ["token", "--tenant", "acme", "--env-file", str(env_file)])
    assert token.exit_code == 0, token.output
    code, output = again.stop()
    assert code == 0
    assert f"replacing {env_file} of an emulator no longer running (pid {env.pid}" in output


def test_second_dev_refuses_a_live_env_file_and_leaves_it_alone(
    tmp_path: Path, dev_factory: list[Dev]
) -> None:
    # GIVEN a serving `mediakit dev`
    env_file = tmp_path / "dev.json"
    first, env = _start(dev_factory, env_file)
    before = env_file.read_text()
    # WHEN a second one is started on another port with the same env file
    second = subprocess.run(
        [MEDIAKIT, "dev", "--quiet", "--port", "0", "--env-file", str(env_file)],
        capture_output=True,
        text=True,
        timeout=BOOT_SECONDS,
    )
    # THEN it refuses at once, naming the live emulator and both ways on
    assert second.returncode == 2
    message = second.stdout + second.stderr
    assert "Traceback" not in message
    assert f"{env_file} belongs to the running emulator (pid {env.pid}, port {env.api_port}" in (
        message
    )
    assert f"kill {env.pid}" in message
    assert "--env-file" in message
    # AND the first emulator's file is untouched and still works
    assert env_file.read_text() == before
    token = CliRunner().invoke(cli, ["token", "--tenant", "a", "--env-file", str(env_file)])
    assert token.exit_code == 0, token.output
    code, _ = first.stop()
    assert code == 0
    assert not env_file.exists()


def test_stopping_dev_leaves_another_runs_file_alone(
    tmp_path: Path, dev_factory: list[Dev]
) -> None:
    # GIVEN a serving `mediakit dev` whose env file another run has since rewritten (same API
    # URL: e.g. a new dev on the same --port), which that other run still owns
    env_file = tmp_path / "dev.json"
    dev, env = _start(dev_factory, env_file)
    other = replace(env, pid=os.getpid(), run_id="another-run")
    other.write(env_file)
    # WHEN the first one stops
    code, output = dev.stop()
    # THEN the other run's file is still there, unchanged
    assert code == 0, output
    assert DevEnv.read(env_file, running=False) == other
    # (and the owner's own release does remove it)
    assert release_env_file(other, env_file)
    assert not env_file.exists()


def test_readers_find_the_env_file_from_a_subdirectory(
    tmp_path: Path, dev_factory: list[Dev], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN `mediakit dev` run from the project's root (the default .mediakit/dev.json)
    project = tmp_path / "project"
    sub = project / "photos" / "2026"
    sub.mkdir(parents=True)
    env_file = project / ".mediakit" / "dev.json"
    dev, _ = _start(dev_factory, env_file)
    # WHEN a command without --env-file runs from a subdirectory
    monkeypatch.chdir(sub)
    monkeypatch.delenv("MEDIAKIT_ENV_FILE", raising=False)
    runner = CliRunner()
    token = runner.invoke(cli, ["token", "--tenant", "acme"])
    status = runner.invoke(cli, ["status", NO_UPLOAD])
    # THEN it found the project's env file: a token, and the API's own 404
    assert token.exit_code == 0, token.output
    assert token.output.count(".") == 2  # a JWT
    assert status.exit_code == 1
    assert '"code": "not_found"' in _clean(status)  # the API answered
    dev.stop()


def test_missing_env_file_message_names_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a directory with no .mediakit/dev.json in it or above it
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MEDIAKIT_ENV_FILE", raising=False)
    runner = CliRunner()
    # WHEN a reader runs without --env-file, and with one that does not exist
    default = runner.invoke(cli, ["status", NO_UPLOAD])
    explicit = runner.invoke(cli, ["token", "--tenant", "a", "--env-file", "nope.json"])
    # THEN each says which path was looked for and how to get one
    assert default.exit_code == 2
    assert (
        f"no .mediakit/dev.json in {tmp_path} or any parent directory: start the emulator "
        "with `mediakit dev` first"
    ) in _clean(default)
    assert explicit.exit_code == 2
    assert f"{tmp_path / 'nope.json'} not found" in _clean(explicit)


def test_api_url_without_token_asks_for_a_token(tmp_path: Path) -> None:
    # GIVEN no emulator (no env file), then a stale env file
    env_file = tmp_path / "dev.json"
    runner = CliRunner()
    args = [
        "status",
        NO_UPLOAD,
        "--api-url",
        "https://api.example.test",
        "--env-file",
        str(env_file),
    ]
    missing = runner.invoke(cli, args)
    # (pid above Linux's pid_max: never alive)
    DevEnv(**_placeholder_env(), api_url="http://127.0.0.1:9", pid=2**22 + 1).write(env_file)
    with_stale = runner.invoke(cli, args)
    # THEN both say a token is needed, not to start the emulator
    for result in (missing, with_stale):
        assert result.exit_code == 2
        text = _clean(result)
        assert "--api-url https://api.example.test needs a token: pass --token" in text
        assert "mediakit token" in text
        assert "start the emulator" not in text


def test_api_url_of_another_api_with_a_live_emulator_asks_for_a_token(
    tmp_path: Path, dev_factory: list[Dev]
) -> None:
    # GIVEN a serving `mediakit dev`
    env_file = tmp_path / "dev.json"
    dev, env = _start(dev_factory, env_file)
    runner = CliRunner()
    base = ["status", NO_UPLOAD, "--env-file", str(env_file)]
    # WHEN --api-url names another API without --token, then the emulator's own
    other = runner.invoke(cli, [*base, "--api-url", "https://api.example.test"])
    own = runner.invoke(cli, [*base, "--api-url", env.api_url])
    # THEN a dev token is not sent elsewhere: a token is asked for; for its own API it is minted
    assert other.exit_code == 2
    assert "needs a token: pass --token" in _clean(other)
    assert f"serves {env.api_url}" in other.output
    assert own.exit_code == 1
    assert '"code": "not_found"' in _clean(own)  # the API answered
    dev.stop()


def _placeholder_env() -> dict[str, str]:
    skip = ("pid", "api_url", "run_id")
    return {f.name: f"value-{f.name}" for f in fields(DevEnv) if f.name not in skip}


# --- the ownership rules, without a subprocess ---------------------------------------------


@pytest.fixture
def listening() -> Iterator[str]:
    """The URL of a port that accepts connections (stands for a live emulator's API)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _run(api_url: str, run_id: str, pid: int | None = None) -> DevEnv:
    return DevEnv(**_placeholder_env(), api_url=api_url, pid=pid or os.getpid(), run_id=run_id)


def test_claim_refuses_a_live_file_replaces_a_stale_one_and_release_checks_the_run(
    tmp_path: Path, listening: str
) -> None:
    path = tmp_path / "dev.json"
    first, second = _run(listening, "first"), _run(listening, "second")
    # GIVEN a file claimed by a live run
    assert claim_env_file(first, path) is None
    # WHEN another run claims it THEN it is refused, the file unchanged
    with pytest.raises(EnvFileInUse, match=f"pid {os.getpid()}, port "):
        claim_env_file(second, path)
    assert DevEnv.read(path).run_id == "first"
    # AND the other run's release leaves it; the owner's removes it
    assert not release_env_file(second, path)
    assert path.exists()
    assert release_env_file(first, path)
    assert not path.exists()
    # GIVEN a stale file (its pid gone) WHEN claimed THEN replaced, and the stale env returned
    dead = _run(listening, "dead", pid=2**22 + 1)
    dead.write(path)
    assert claim_env_file(second, path) == dead
    assert DevEnv.read(path).run_id == "second"


def test_claim_never_eats_a_file_that_is_not_an_env_file(tmp_path: Path) -> None:
    # GIVEN `mediakit dev --env-file .env` (docker's meaning of the flag) over a user's file
    path = tmp_path / ".env"
    path.write_text("DATABASE_URL=postgres://me\n")
    # WHEN claimed THEN refused, the file untouched (it used to be overwritten, then deleted)
    with pytest.raises(SetupError, match="it is not replaced: remove it, or pass another"):
        claim_env_file(_run("http://127.0.0.1:9", "a"), path)
    assert path.read_text() == "DATABASE_URL=postgres://me\n"
    # AND an empty file is free to take
    empty = tmp_path / "empty.json"
    empty.touch(mode=0o600)
    assert claim_env_file(_run("http://127.0.0.1:9", "a"), empty) is None
    assert DevEnv.read(empty, running=False).run_id == "a"


def test_claim_over_a_dangling_symlink_is_refused_at_once(tmp_path: Path) -> None:
    # GIVEN .mediakit/dev.json a symlink to nothing (it made the old claim loop for ever)
    path = tmp_path / "dev.json"
    path.symlink_to(tmp_path / "gone.json")
    # WHEN claimed THEN one clean refusal, nothing written, no temp file left
    with pytest.raises(SetupError, match="not replaced"):
        claim_env_file(_run("http://127.0.0.1:9", "a"), path)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "dev.json"
    ]


def test_concurrent_claims_take_turns(tmp_path: Path, listening: str) -> None:
    # GIVEN two live runs claiming one free file at the same moment
    import threading

    path = tmp_path / "dev.json"
    runs = [_run(listening, "first"), _run(listening, "second")]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def claim(env: DevEnv) -> None:
        barrier.wait()
        try:
            claim_env_file(env, path)
            outcomes.append("claimed")
        except EnvFileInUse:
            outcomes.append("refused")

    threads = [threading.Thread(target=claim, args=(env,)) for env in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    # THEN exactly one holds it and the other was told so: never both "claimed"
    assert sorted(outcomes) == ["claimed", "refused"]
    assert DevEnv.read(path).run_id in {"first", "second"}


def test_an_env_file_others_can_write_is_not_trusted(tmp_path: Path) -> None:
    # GIVEN an env file anybody may have written (world-writable)
    path = tmp_path / "dev.json"
    _run("http://127.0.0.1:9", "a").write(path)
    path.chmod(0o666)
    # WHEN read THEN refused with how to fix it: its API gets the uploads, its key the tokens
    with pytest.raises(SetupError, match=r"writable by other users .* `chmod 600 "):
        DevEnv.read(path, running=False)


def test_the_search_stops_at_the_project_and_never_reads_a_planted_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an env file in a folder above a project (e.g. /tmp/.mediakit/dev.json planted by
    # another user) and a command run inside the project, which has none
    _run("http://127.0.0.1:9", "planted").write(tmp_path / DEFAULT_ENV_FILE)
    project = tmp_path / "work" / "repo"
    (project / "sub").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: mediakit\n")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(project / "sub")
    # WHEN the default file is looked for THEN the search ends at the project: not found
    assert find_env_file() == Path(DEFAULT_ENV_FILE)
    # AND a file in the project is found from its subfolder
    _run("http://127.0.0.1:9", "ours").write(project / DEFAULT_ENV_FILE)
    assert find_env_file() == project / DEFAULT_ENV_FILE


def test_env_file_of_a_dead_port_is_stale_even_with_a_live_pid(tmp_path: Path) -> None:
    # GIVEN a file naming this (live) process but a port nothing listens on (a reused pid)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "dev.json"
    _run(f"http://127.0.0.1:{port}", "x").write(path)
    # WHEN / THEN it is stale
    with pytest.raises(StaleEnvFile, match=f"pid {os.getpid()}, port {port}"):
        DevEnv.read(path)

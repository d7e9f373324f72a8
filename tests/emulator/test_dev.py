"""`mediakit dev`: the env file, and the emulator's start, serve and clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mediakit.cli import cli
from mediakit.client import request
from mediakit.local.emulator import DevEnv

ENV_KEYS = {
    "api_url",
    "aws_endpoint_url",
    "region",
    "bucket",
    "table",
    "queue_url",
    "dlq_url",
    "event_bus",
    "jwt_signing_key",
    "jwt_issuer",
    "jwt_audience",
    "tenant_claim",
}


def _env(**overrides: Any) -> DevEnv:
    values: dict[str, Any] = {f.name: f"value-{f.name}" for f in fields(DevEnv)}
    values["pid"] = 4242
    values.update(overrides)
    return DevEnv(**values)


def test_env_file_written_with_every_key_owner_only(tmp_path: Path) -> None:
    # GIVEN an env and a path in a folder that does not exist yet
    path = tmp_path / ".mediakit" / "dev.json"
    # WHEN it is written
    _env().write(path)
    # THEN the JSON has every documented key, is private, and reads back equal
    data = json.loads(path.read_text())
    assert set(data) >= ENV_KEYS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert DevEnv.read(path, running=False) == _env()
    assert [p.name for p in path.parent.iterdir()] == ["dev.json"]


def test_env_file_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an existing env file and a write that fails half-way
    path = tmp_path / "dev.json"
    _env(api_url="http://old").write(path)

    def broken_dump(obj: Any, fh: Any, **kwargs: Any) -> None:
        fh.write('{"api_url": "http://ne')
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", broken_dump)
    # WHEN the new env is written
    with pytest.raises(OSError, match="disk full"):
        _env(api_url="http://new").write(path)
    # THEN readers still see the complete old file and no temp file is left behind
    assert DevEnv.read(path, running=False).api_url == "http://old"
    assert [p.name for p in tmp_path.iterdir()] == ["dev.json"]


def test_env_file_missing_is_a_clear_error(tmp_path: Path) -> None:
    # GIVEN no emulator running (no env file)
    runner = CliRunner()
    # WHEN a client command needs it
    result = runner.invoke(cli, ["token", "--tenant", "a", "--env-file", str(tmp_path / "x.json")])
    # THEN it says how to start the emulator
    assert result.exit_code != 0
    assert "mediakit dev" in result.output


def test_dev_starts_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    # GIVEN `mediakit dev` with a settings override from the environment
    env_file = tmp_path / "dev.json"
    seen: dict[str, Any] = {}

    def probe() -> None:
        # Runs beside the command: wait for the env file, call the API, then stop the server.
        try:
            deadline = time.monotonic() + 20
            while not env_file.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            env = DevEnv.read(env_file)
            seen["env"] = env
            seen["unauthorized"] = request("GET", f"{env.api_url}/v1/uploads")
            seen["redrive"] = env.client("sqs").get_queue_attributes(
                QueueUrl=env.queue_url, AttributeNames=["RedrivePolicy"]
            )["Attributes"]["RedrivePolicy"]
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=probe)
    thread.start()
    # WHEN it runs until SIGTERM
    result = CliRunner().invoke(
        cli,
        ["dev", "--env-file", str(env_file), "--quiet"],
        env={"MEDIAKIT_DLQ_MAX_RECEIVE_COUNT": "3", "MEDIAKIT_TENANT_CLAIM": "org"},
    )
    thread.join(timeout=10)
    # THEN it served the API (401 without a token), provisioned from the settings,
    # exited cleanly and removed its env file
    assert result.exit_code == 0, result.output
    assert "mediakit dev: API" in result.output
    assert seen["unauthorized"].status == 401
    assert seen["unauthorized"].json() == {"message": "Unauthorized"}
    assert json.loads(seen["redrive"])["maxReceiveCount"] == 3
    assert seen["env"].tenant_claim == "org"
    assert not env_file.exists()
    with pytest.raises(ConnectionRefusedError):
        request("GET", f"{seen['env'].api_url}/v1/uploads", timeout=2)


def test_dev_rejects_invalid_settings(tmp_path: Path) -> None:
    # GIVEN an invalid MEDIAKIT_* override
    # WHEN dev starts
    result = CliRunner().invoke(
        cli,
        ["dev", "--env-file", str(tmp_path / "dev.json")],
        env={"MEDIAKIT_DLQ_MAX_RECEIVE_COUNT": "0"},
    )
    # THEN it refuses, naming the variable
    assert result.exit_code != 0
    assert "MEDIAKIT_DLQ_MAX_RECEIVE_COUNT" in result.output


def test_dev_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    # GIVEN a port another process already listens on
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # WHEN dev is asked to serve on it
        result = CliRunner().invoke(
            cli, ["dev", "--port", str(port), "--env-file", str(tmp_path / "dev.json")]
        )
    # THEN it fails cleanly, leaves no env file, and a later emulator can start
    assert result.exit_code == 2
    assert "cannot start the emulator" in result.output
    assert not (tmp_path / "dev.json").exists()
    from mediakit.local.emulator import Emulator

    later = Emulator()
    later.start()
    later.stop()


def test_dev_command_refuses_a_plain_http_issuer() -> None:
    # GIVEN / WHEN `mediakit dev` is pointed at an issuer over plain HTTP
    result = CliRunner().invoke(cli, ["dev", "--issuer", "http://127.0.0.1:9/pool", "--quiet"])
    # THEN it stops before starting anything, saying why (a JWKS over plain HTTP could be
    # swapped in transit)
    assert result.exit_code != 0
    assert "https" in result.output

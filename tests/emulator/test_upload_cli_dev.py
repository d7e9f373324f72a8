"""`mediakit upload`, `status`, `token` and `demo --keep-running` as a newcomer meets them
(issue 14): every sentence true, every mistake a clean usage error, no traceback."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner, Result

import mediakit.client as client_module
from mediakit.cli import cli
from mediakit.cli import uploads as uploads_cli
from mediakit.client import ApiClient, ApiError
from mediakit.local.emulator import DevEnv, Emulator, mint_token
from runtime import processor
from runtime.keys import new_upload_id
from runtime.settings import Settings
from tests.emulator.conftest import jpeg_bytes

STALLED = threading.Event()


def _processor(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The real processor (in this process), or, while STALLED, one that acknowledges every S3
    event without processing it: records stay `pending_upload`, as they do on AWS until S3's
    event reaches the function."""
    if STALLED.is_set():
        return {"batchItemFailures": []}
    result: dict[str, Any] = processor.handler(event, context)
    return result


@pytest.fixture(scope="module")
def emulator() -> Iterator[DevEnv]:
    """The emulator with the real presign handler and a processor that can be stalled."""
    with Emulator(Settings(), processor_handler=_processor) as env:
        yield env


@pytest.fixture(scope="module")
def env_file(emulator: DevEnv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dev") / "dev.json"
    emulator.write(path)
    return path


@pytest.fixture
def stalled_env_file(env_file: Path) -> Iterator[Path]:
    """The env file of the emulator, its processor getting nothing done during the test."""
    STALLED.set()
    try:
        yield env_file
    finally:
        STALLED.clear()


@pytest.fixture
def requests_sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every (method, URL) the client sends, still sent."""
    sent: list[tuple[str, str]] = []
    real = client_module.request

    def recording(method: str, url: str, **kwargs: Any) -> Any:
        sent.append((method, url))
        return real(method, url, **kwargs)

    monkeypatch.setattr(client_module, "request", recording)
    return sent


def _jpegs(folder: Path, count: int) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"photo-{i}.jpg"
        path.write_bytes(jpeg_bytes((64 + i, 48)))
        paths.append(path)
    return paths


def _records(stdout: str) -> list[dict[str, Any]]:
    """The JSON documents printed one after another (less the metrics lines the processor,
    running in this process, prints to the same stdout)."""
    decoder = json.JSONDecoder()
    found, at = [], 0
    while at < len(stdout.rstrip()):
        while stdout[at].isspace():
            at += 1
        record, at = decoder.raw_decode(stdout, at)
        if "_aws" not in record:
            found.append(record)
    return found


def _clean(result: Result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


# --- upload without --wait: what is printed is true -----------------------------------------


def test_upload_without_wait_reads_the_record_again_once_processing_started(
    env_file: Path, tmp_path: Path
) -> None:
    # GIVEN a running emulator that processes uploads
    (photo,) = _jpegs(tmp_path, 1)
    # WHEN a file is uploaded without --wait
    result = CliRunner().invoke(
        cli, ["upload", str(photo), "--env-file", str(env_file), "--tenant", "t1"]
    )
    # THEN the record printed is the one after S3's event reached the processor (no longer
    # pending_upload), or the command says why it still is
    _clean(result)
    assert result.exit_code == 0, result.output
    records = _records(result.stdout)
    assert len(records) == 1, result.stdout
    (record,) = records
    assert record["status"] != "pending_upload" or "until S3's event" in result.stderr


def test_upload_without_wait_says_pending_upload_is_only_until_the_event(
    stalled_env_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an emulator whose processor never starts, and a short re-read
    monkeypatch.setattr(uploads_cli, "SETTLE_SECONDS", 0.3)
    (photo,) = _jpegs(tmp_path, 1)
    # WHEN a file is uploaded without --wait
    result = CliRunner().invoke(
        cli, ["upload", str(photo), "--env-file", str(stalled_env_file), "--tenant", "t1"]
    )
    # THEN the record still says pending_upload, and stderr says the bytes are in S3 and how
    # to follow the upload, with the tenant and env file it was made with
    _clean(result)
    assert result.exit_code == 0, result.output
    records = _records(result.stdout)
    assert len(records) == 1, result.stdout
    (record,) = records
    assert record["status"] == "pending_upload"
    follow = f"mediakit status --tenant t1 --env-file {stalled_env_file} {record['upload_id']}"
    assert f"{photo}: sent to S3; its record says pending_upload until S3's event" in (
        result.stderr
    )
    assert follow in result.stderr


# --- upload --wait: timed out is timed out, and several files wait together -------------------


def test_upload_wait_timeout_says_timed_out_with_its_own_exit_code(
    stalled_env_file: Path, tmp_path: Path
) -> None:
    # GIVEN an upload that will not be processed within the timeout
    (photo,) = _jpegs(tmp_path, 1)
    # WHEN it is uploaded with --wait and a short --timeout
    result = CliRunner().invoke(
        cli,
        [
            "upload", str(photo), "--env-file", str(stalled_env_file), "--tenant", "t1",
            "--wait", "--timeout", "0.5",
        ],
    )  # fmt: skip
    # THEN it says it timed out (not failed), with the last status and how to keep watching,
    # and exits 124
    _clean(result)
    assert result.exit_code == uploads_cli.EXIT_TIMED_OUT == 124, result.output
    records = _records(result.stdout)
    assert len(records) == 1, result.stdout
    (record,) = records
    upload_id = record["upload_id"]
    assert (
        f"{photo}: timed out after 0.5 s, last status pending_upload; keep watching: "
        f"mediakit status --tenant t1 --env-file {stalled_env_file} {upload_id}"
    ) in result.stderr
    assert "Error: timed out: 1 of 1 upload(s) still processing after --timeout 0.5 s" in (
        result.stderr
    )
    assert "failed" not in result.stderr


def test_upload_wait_of_several_files_waits_for_them_at_once(
    stalled_env_file: Path, tmp_path: Path
) -> None:
    # GIVEN three uploads that will not be processed
    photos = _jpegs(tmp_path, 3)
    # WHEN they are uploaded with --wait --timeout 1.5
    started = time.monotonic()
    result = CliRunner().invoke(
        cli,
        [
            "upload", *map(str, photos), "--env-file", str(stalled_env_file),
            "--wait", "--timeout", "1.5",
        ],
    )  # fmt: skip
    elapsed = time.monotonic() - started
    # THEN the one timeout covers them all (one after another would take 4.5 s of waiting),
    # and each file gets its own record and its own line
    _clean(result)
    assert result.exit_code == 124, result.output
    assert elapsed < 4.0, elapsed
    records = _records(result.stdout)
    assert len({r["upload_id"] for r in records}) == 3
    for photo in photos:
        assert f"{photo}: timed out after 1.5 s, last status pending_upload" in result.stderr
    assert "3 of 3 upload(s) still processing" in result.stderr
    assert "waiting for 3 upload(s) to be processed (--timeout 1.5 s)" in result.stderr


def test_upload_wait_of_several_files_prints_every_final_record(
    env_file: Path, tmp_path: Path
) -> None:
    # GIVEN three valid images and one that is not an image, on a working emulator
    photos = _jpegs(tmp_path, 3)
    bogus = tmp_path / "bogus.jpg"
    bogus.write_bytes(b"not a jpeg at all " * 20)
    # WHEN all are uploaded with --wait
    result = CliRunner().invoke(
        cli, ["upload", *map(str, [*photos, bogus]), "--env-file", str(env_file), "--wait"]
    )
    # THEN every record is printed whole, once, final; the bad one fails with its code and the
    # command says one of four failed
    _clean(result)
    assert result.exit_code == 1, result.output
    records = _records(result.stdout)
    assert sorted(r["status"] for r in records) == ["completed"] * 3 + ["failed"]
    assert len({r["upload_id"] for r in records}) == 4
    assert f"{bogus}: failed (" in result.stderr
    assert "Error: 1 of 4 upload(s) failed" in result.stderr


# --- ids never leave /v1/uploads/ ---------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile", ["../../etc", "..", ".", "a/b", "x?y#z", "http://evil.example/x", "%2e%2e", ""]
)
def test_status_of_a_hostile_id_is_a_usage_error_and_requests_nothing(
    env_file: Path, hostile: str, requests_sent: list[tuple[str, str]]
) -> None:
    # GIVEN / WHEN `status` and `abort` are given something that is not an upload id
    for command in ("status", "abort"):
        result = CliRunner().invoke(cli, [command, hostile, "--env-file", str(env_file)])
        # THEN it is a usage error naming the argument, and no request was made
        _clean(result)
        assert result.exit_code == 2, result.output
        assert "is not an upload id" in result.output
    assert requests_sent == []


@pytest.mark.parametrize(
    ("hostile", "segment"),
    [
        ("../../etc", "..%2F..%2Fetc"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a/b", "a%2Fb"),
        ("x?y#z", "x%3Fy%23z"),
        ("http://evil.example/x", "http%3A%2F%2Fevil.example%2Fx"),
        ("%2e%2e", "%252e%252e"),
    ],
)
def test_client_keeps_every_id_one_segment_under_v1_uploads(
    emulator: DevEnv, hostile: str, segment: str, requests_sent: list[tuple[str, str]]
) -> None:
    # GIVEN the client of a running API
    client = ApiClient(emulator.api_url, mint_token(emulator, "t1"))
    # WHEN it is asked for, and to delete, an upload with a hostile id
    for call in (client.get_upload, client.delete_upload):
        with pytest.raises(ApiError) as refused:
            call(hostile)
        # THEN the API answers 404 for that id: it was asked about nothing else
        assert refused.value.status == 404
    # AND both requests went to exactly one encoded segment below /v1/uploads/, same host
    api = urlsplit(emulator.api_url)
    for _method, url in requests_sent:
        sent = urlsplit(url)
        assert (sent.netloc, sent.path, sent.query) == (api.netloc, f"/v1/uploads/{segment}", "")
    assert [m for m, _ in requests_sent] == ["GET", "DELETE"]


def test_client_refuses_an_empty_id() -> None:
    # GIVEN / WHEN an empty id / THEN no request can be built (it would be the listing route)
    with pytest.raises(ValueError, match="empty path segment"):
        ApiClient("http://127.0.0.1:9", "t").get_upload("")


# --- content types that cannot be guessed ---------------------------------------------------------


def test_upload_of_a_file_without_extension_asks_for_content_type_before_sending(
    env_file: Path, tmp_path: Path, requests_sent: list[tuple[str, str]]
) -> None:
    # GIVEN a JPEG whose name has no extension, next to a named one
    (photo,) = _jpegs(tmp_path, 1)
    bare = tmp_path / "IMG0001"
    bare.write_bytes(photo.read_bytes())
    # WHEN both are uploaded without --content-type
    result = CliRunner().invoke(cli, ["upload", str(photo), str(bare), "--env-file", str(env_file)])
    # THEN it is a usage error naming the file and the option, and nothing was sent
    _clean(result)
    assert result.exit_code == 2, result.output
    assert (
        f"cannot tell the type of {bare} from its name: pass --content-type, "
        "e.g. --content-type image/jpeg"
    ) in result.output
    assert requests_sent == []
    # AND with --content-type it goes through
    named = CliRunner().invoke(
        cli,
        [
            "upload",
            str(bare),
            "--env-file",
            str(env_file),
            "--content-type",
            "image/jpeg",
            "--wait",
        ],
    )
    assert named.exit_code == 0, named.output
    assert _records(named.stdout)[0]["status"] == "completed"


def test_upload_refused_for_its_guessed_type_hints_at_content_type(
    env_file: Path, tmp_path: Path
) -> None:
    # GIVEN a JPEG named .txt (guessed text/plain, which the API refuses)
    (photo,) = _jpegs(tmp_path, 1)
    notes = tmp_path / "scan.txt"
    notes.write_bytes(photo.read_bytes())
    # WHEN it is uploaded
    result = CliRunner().invoke(cli, ["upload", str(notes), "--env-file", str(env_file)])
    # THEN the API's 415 is shown with the hint to pass --content-type
    _clean(result)
    assert result.exit_code == 1, result.output
    assert '"status": 415' in result.stderr
    assert (
        f"{notes}: its type was guessed from its name as text/plain; if that is wrong, "
        "pass --content-type"
    ) in result.stderr


# --- tenants the API would refuse -------------------------------------------------------------


@pytest.mark.parametrize("tenant", ["", "   ", "[acme]", "ac\x01me", "a" * 129])
def test_token_and_upload_refuse_a_tenant_the_api_refuses(
    env_file: Path, tmp_path: Path, tenant: str
) -> None:
    # GIVEN a tenant the API refuses in a token (blank, list-shaped, control characters, long)
    (photo,) = _jpegs(tmp_path, 1)
    # WHEN a token is minted, or a file uploaded, for it
    minted = CliRunner().invoke(cli, ["token", "--tenant", tenant, "--env-file", str(env_file)])
    uploaded = CliRunner().invoke(
        cli, ["upload", str(photo), "--tenant", tenant, "--env-file", str(env_file)]
    )
    # THEN both are usage errors naming --tenant, and no token is printed
    for result in (minted, uploaded):
        _clean(result)
        assert result.exit_code == 2, result.output
        assert "Invalid value for '--tenant'" in result.output
        assert "is not a tenant the API accepts" in result.output
    assert "eyJ" not in minted.output


def test_token_for_a_tenant_with_spaces_and_unicode_is_accepted(
    emulator: DevEnv, env_file: Path
) -> None:
    # GIVEN / WHEN a token is minted for a tenant the API sanitises (space, non-ASCII)
    result = CliRunner().invoke(
        cli, ["token", "--tenant", "acme corp é", "--env-file", str(env_file)]
    )
    # THEN the API accepts it
    assert result.exit_code == 0, result.output
    client = ApiClient(emulator.api_url, result.stdout.strip())
    assert client.call("GET", "/v1/uploads")["items"] == []


def test_status_of_another_tenants_upload_says_uploads_are_per_tenant(
    env_file: Path, tmp_path: Path
) -> None:
    # GIVEN an upload made as tenant t1
    (photo,) = _jpegs(tmp_path, 1)
    made = CliRunner().invoke(
        cli, ["upload", str(photo), "--env-file", str(env_file), "--tenant", "t1"]
    )
    upload_id = _records(made.stdout)[0]["upload_id"]
    # WHEN its status is asked without --tenant (the default tenant), and with a well-formed id
    # nobody made
    for asked in (upload_id, new_upload_id()):
        result = CliRunner().invoke(cli, ["status", asked, "--env-file", str(env_file)])
        # THEN the API's own 404 is shown (the id check lets real ids through), and the error
        # says uploads are per tenant and which tenant was asked
        _clean(result)
        assert result.exit_code == 1
        assert '"status": 404' in result.stderr
        assert (
            f"Error: no upload {asked} for tenant 'dev': uploads are per tenant, pass the "
            "--tenant it was made with (the demo's is 'demo')"
        ) in result.stderr


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_status_and_upload_against_an_api_that_does_not_answer_say_which(tmp_path: Path) -> None:
    # GIVEN an --api-url nothing listens on, and a token
    api = f"http://127.0.0.1:{_closed_port()}"
    photos = [str(path) for path in _jpegs(tmp_path, 2)]
    given = ["--api-url", api, "--token", "t"]
    # WHEN status and an upload of two files are run against it
    status = CliRunner().invoke(cli, ["status", new_upload_id(), *given])
    upload = CliRunner().invoke(cli, ["upload", *photos, *given])
    # THEN each says in one line that nothing answers there (exit 2), the upload without
    # trying every other file
    for result in (status, upload):
        _clean(result)
        assert result.exit_code == 2, result.output
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error: ")]
        assert errors == [
            f"Error: no emulator answers at {api}: start `mediakit dev` (or pass --env-file "
            "with the file of the one that is running)"
        ], result.stderr
    assert "upload failed" not in upload.stderr

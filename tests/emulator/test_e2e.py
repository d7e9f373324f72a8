"""End to end on the emulator with the real handlers: JWT -> presign -> PUT -> queue ->
processor -> status record with fetchable derivatives; and the CLI commands over it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from mediakit.cli import cli
from mediakit.client import ApiClient, ApiError, request
from mediakit.local import oidc as jwt
from mediakit.local.emulator import DevEnv, mint_token


@pytest.fixture(scope="module")
def env_file(emulator: DevEnv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dev") / "dev.json"
    emulator.write(path)
    return path


def test_upload_valid_jpeg_completes_with_fetchable_derivatives(
    emulator: DevEnv, jpeg_file: Path
) -> None:
    # GIVEN a client holding a dev token for tenant acme
    client = ApiClient(emulator.api_url, mint_token(emulator, "acme"))
    # WHEN a JPEG goes through presign -> PUT and processing
    created = client.upload(jpeg_file)
    record = client.wait(created, timeout=30)
    # THEN the record completed with its dimensions and camera, and every derivative URL is
    # a presigned GET on the emulator that returns a decodable, metadata-free image
    assert created["method"] == "PUT"
    assert record["status"] == "completed", record
    assert (record["width"], record["height"]) == (800, 600)
    assert record["exif"]["make"] == "Mediakit"
    assert {d["name"] for d in record["derivatives"]} == {"thumb", "medium", "large"}
    for d in record["derivatives"]:
        assert d["url"].startswith(emulator.aws_endpoint_url)
        # private delivery (the default) without CloudFront: a GET living deliveryUrlTtlSeconds
        assert "X-Amz-Expires=3600&" in d["url"]
        resp = request("GET", d["url"])
        assert resp.status == 200
        assert resp.headers["cache-control"] == "private, max-age=300"
        image = Image.open(io.BytesIO(resp.body))
        assert image.size == (d["width"], d["height"])
        assert not image.getexif()


def test_other_tenant_cannot_read_upload(emulator: DevEnv, jpeg_file: Path) -> None:
    # GIVEN an upload by tenant acme
    created = ApiClient(emulator.api_url, mint_token(emulator, "acme")).upload(jpeg_file)
    # WHEN tenant globex asks for it
    other = ApiClient(emulator.api_url, mint_token(emulator, "globex"))
    with pytest.raises(ApiError) as caught:
        other.status(created)
    # THEN it is not visible
    assert caught.value.status in (403, 404)


def test_cli_token_is_accepted_by_the_emulator(emulator: DevEnv, env_file: Path) -> None:
    # GIVEN / WHEN a token is minted with the CLI
    result = CliRunner().invoke(cli, ["token", "--tenant", "acme", "--env-file", str(env_file)])
    # THEN it verifies against the emulator's authorizer settings, for that tenant
    assert result.exit_code == 0, result.output
    issuer = jwt.DevIssuer.from_pem(emulator.jwt_issuer, emulator.jwt_signing_key)
    claims = jwt.verify(
        result.output.strip(),
        keys=issuer.keys(),
        issuer=emulator.jwt_issuer,
        audiences=(emulator.jwt_audience,),
    )
    assert claims[emulator.tenant_claim] == "acme"


def test_cli_upload_wait_then_status(env_file: Path, jpeg_file: Path) -> None:
    # GIVEN a running emulator and its env file
    runner = CliRunner()
    # WHEN a file is uploaded with --wait
    result = runner.invoke(
        cli, ["upload", str(jpeg_file), "--env-file", str(env_file), "--tenant", "t1", "--wait"]
    )
    # THEN the final record is printed as JSON and the command succeeds
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["status"] == "completed"
    # AND `status` prints the same record for that tenant
    status = runner.invoke(
        cli, ["status", record["upload_id"], "--env-file", str(env_file), "--tenant", "t1"]
    )
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["upload_id"] == record["upload_id"]


def test_cli_upload_invalid_image_fails_non_zero(env_file: Path, tmp_path: Path) -> None:
    # GIVEN a file named .jpg that is not an image
    bogus = tmp_path / "bogus.jpg"
    bogus.write_bytes(b"definitely not a jpeg " * 20)
    # WHEN it is uploaded with --wait
    result = CliRunner().invoke(cli, ["upload", str(bogus), "--env-file", str(env_file), "--wait"])
    # THEN the record is failed with a code and the exit code says so
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "failed"
    assert "1 of 1 upload(s) failed" in result.stderr


def test_cli_upload_api_error_shows_json_error(env_file: Path, jpeg_file: Path) -> None:
    # GIVEN a content type the settings do not allow
    # WHEN the upload is attempted
    result = CliRunner().invoke(
        cli,
        ["upload", str(jpeg_file), "--env-file", str(env_file), "--content-type", "image/gif"],
    )
    # THEN the API's 415 JSON error is shown and the exit code is non-zero
    assert result.exit_code == 1
    assert '"code": "unsupported_media_type"' in result.stderr
    assert '"status": 415' in result.stderr


def test_cli_status_unknown_id_fails_with_json_error(env_file: Path) -> None:
    # GIVEN / WHEN the status of an id that does not exist is asked
    result = CliRunner().invoke(
        cli, ["status", "01aaaaaaaaaaaaaaaaaaaaaaaa", "--env-file", str(env_file)]
    )
    # THEN the command fails and shows the API's error body
    assert result.exit_code == 1
    assert '"error"' in result.stderr


def test_cli_upload_form_post_with_metadata(env_file: Path, jpeg_file: Path) -> None:
    # GIVEN the browser-style form POST and a metadata pair
    # WHEN the file is uploaded with --method POST
    result = CliRunner().invoke(
        cli,
        [
            "upload", str(jpeg_file), "--env-file", str(env_file),
            "--method", "post", "--meta", "album=summer", "--wait",
        ],
    )  # fmt: skip
    # THEN it completes like a PUT and keeps the metadata
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["status"] == "completed"
    assert record["metadata"] == {"album": "summer"}

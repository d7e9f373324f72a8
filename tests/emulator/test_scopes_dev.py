"""Roles through `mediakit dev`: the real presign function enforces the scope of each operation
with our JSON 403 insufficient_scope, for tokens minted by `mediakit token --scope`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mediakit.cli import cli
from mediakit.client import ApiClient, ApiError
from mediakit.local.emulator import DevEnv
from tests.emulator.conftest import jpeg_bytes


def _token(env_file: Path, *scopes: str) -> str:
    args = ["token", "--tenant", "clinic", "--env-file", str(env_file)]
    for scope in scopes:
        args += ["--scope", scope]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result.output.strip()


@pytest.fixture
def env_file(emulator: DevEnv, tmp_path: Path) -> Path:
    path = tmp_path / "dev.json"
    emulator.write(path)
    return path


def test_dev_delete_of_a_completed_upload_needs_the_admin_scope(
    emulator: DevEnv, env_file: Path, tmp_path: Path
) -> None:
    # GIVEN a completed upload of tenant clinic, and two tokens of that tenant
    member = ApiClient(emulator.api_url, _token(env_file, "media:read"))
    admin = ApiClient(emulator.api_url, _token(env_file, "media:read", "media:admin"))
    image = tmp_path / "photo.jpg"
    image.write_bytes(jpeg_bytes())
    record = member.wait(member.upload(image), timeout=60)
    assert record["status"] == "completed", record
    path = f"/v1/uploads/{record['upload_id']}"
    # WHEN the member deletes it THEN our JSON 403, and the upload is untouched
    with pytest.raises(ApiError) as refused:
        member.call("DELETE", path)
    assert (refused.value.status, refused.value.code) == (403, "insufficient_scope")
    assert "media:admin" in refused.value.message
    assert member.get_upload(record["upload_id"])["status"] == "completed"
    # WHEN the admin deletes it THEN it is deleted
    assert admin.call("DELETE", path)["status"] == "deleted"


def test_dev_owner_aborts_its_pending_upload_without_a_scope(
    emulator: DevEnv, env_file: Path
) -> None:
    # GIVEN an upload created and never sent, by a token with no scope at all
    owner = ApiClient(emulator.api_url, _token(env_file))
    body = {"filename": "x.jpg", "content_type": "image/jpeg", "size": 1000}
    created = owner.call("POST", "/v1/uploads", body)
    # WHEN its owner deletes it THEN it is aborted: no admin needed to clean up
    deleted = owner.call("DELETE", f"/v1/uploads/{created['upload_id']}")
    assert deleted["status"] == "deleted"

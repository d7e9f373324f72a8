"""`mediakit erase --tenant`: on `mediakit dev`, every object version, delete marker and record
of one tenant goes, after a confirmation that shows the counts; nothing of any other tenant is
touched, a declined confirmation changes nothing, and failures are one clean line."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mediakit.cli import cli
from mediakit.client import ApiClient
from mediakit.local import oidc as jwt
from mediakit.local.emulator import DevEnv
from mediakit.ops import erase
from runtime.records import TENANT_INDEX
from tests.emulator.conftest import dev_client, jpeg_bytes

DOOMED, NEIGHBOUR = "clinic", "clinicx"  # one is a prefix of the other's key segment


def _admin(env: DevEnv, tenant: str) -> ApiClient:
    token = jwt.issue(
        signing_key=env.jwt_signing_key, issuer=env.jwt_issuer, audience=env.jwt_audience,
        tenant_claim=env.tenant_claim, tenant=tenant, scopes=("media:admin",),
    )  # fmt: skip
    return ApiClient(env.api_url, token)


def _versions(env: DevEnv, tenant: str) -> list[tuple[str, str, bool]]:
    """(key, version id, is delete marker) under the tenant's two prefixes."""
    s3 = env.client("s3")
    out = []
    for prefix in (f"originals/{tenant}/", f"derivatives/{tenant}/"):
        listed = s3.list_object_versions(Bucket=env.bucket, Prefix=prefix)
        out += [(v["Key"], v["VersionId"], False) for v in listed.get("Versions", [])]
        out += [(m["Key"], m["VersionId"], True) for m in listed.get("DeleteMarkers", [])]
    return sorted(out)


def _records(env: DevEnv, tenant: str) -> list[str]:
    items = env.client("dynamodb").query(
        TableName=env.table,
        IndexName=TENANT_INDEX,
        KeyConditionExpression="tenant = :t",
        ExpressionAttributeValues={":t": {"S": tenant}},
    )["Items"]
    return sorted(i["upload_id"]["S"] for i in items)


@pytest.fixture(scope="module")
def tenants(emulator: DevEnv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Tenant clinic: two completed uploads (one then deleted: noncurrent versions and delete
    markers) and one pending; tenant clinicx: one completed upload."""
    image = tmp_path_factory.mktemp("erase") / "photo.jpg"
    image.write_bytes(jpeg_bytes())
    made: dict[str, Any] = {}
    for tenant, count in ((DOOMED, 2), (NEIGHBOUR, 1)):
        client = dev_client(emulator, tenant)
        done = [client.wait(client.upload(image), timeout=60) for _ in range(count)]
        assert all(r["status"] == "completed" for r in done), done
        made[tenant] = done
    _admin(emulator, DOOMED).call("DELETE", f"/v1/uploads/{made[DOOMED][0]['upload_id']}")
    body = {"filename": "late.jpg", "content_type": "image/jpeg", "size": 100}
    dev_client(emulator, DOOMED).call("POST", "/v1/uploads", body)
    return made


@pytest.fixture
def env_file(emulator: DevEnv, tmp_path: Path) -> Path:
    path = tmp_path / "dev.json"
    emulator.write(path)
    return path


def _erase(env_file: Path, *extra: str, tenant: str = DOOMED, stdin: str | None = None) -> Any:
    args = ["erase", "--tenant", tenant, "--env-file", str(env_file), *extra]
    return CliRunner().invoke(cli, args, input=stdin)


def test_erase_declined_changes_nothing(
    emulator: DevEnv, tenants: dict[str, Any], env_file: Path
) -> None:
    # GIVEN the tenant's versions, delete markers and records
    before = (_versions(emulator, DOOMED), _records(emulator, DOOMED))
    assert any(marker for *_, marker in before[0])
    assert len(before[1]) == 3
    # WHEN the operator answers no
    result = _erase(env_file, stdin="n\n")
    # THEN the counts were shown, the command aborted, and everything is still there
    assert result.exit_code == 1
    versions = sum(1 for *_, marker in before[0] if not marker)
    assert f"{versions} object versions" in result.output
    assert "3 upload records" in result.output
    assert (_versions(emulator, DOOMED), _records(emulator, DOOMED)) == before


def test_erase_removes_every_version_marker_and_record_of_one_tenant_only(
    emulator: DevEnv, tenants: dict[str, Any], env_file: Path
) -> None:
    # GIVEN both tenants' holdings
    doomed = _versions(emulator, DOOMED)
    neighbour = (_versions(emulator, NEIGHBOUR), _records(emulator, NEIGHBOUR))
    assert doomed
    assert neighbour[0]
    assert neighbour[1]
    # WHEN the operator confirms the erase of one
    result = _erase(env_file, stdin="y\n")
    # THEN it lists each removal, and nothing of the tenant is left, not even a delete marker
    assert result.exit_code == 0, result.output
    for key, version, _ in doomed:
        assert f"removed {key} " in result.output
        assert version in result.output
    assert result.output.count("removed upload record") == 3
    assert _versions(emulator, DOOMED) == []
    assert _records(emulator, DOOMED) == []
    # AND the other tenant, whose segment starts with the same letters, keeps everything
    assert (_versions(emulator, NEIGHBOUR), _records(emulator, NEIGHBOUR)) == neighbour
    survivor = tenants[NEIGHBOUR][0]["upload_id"]
    assert dev_client(emulator, NEIGHBOUR).get_upload(survivor)["status"] == "completed"
    # AND a second run finds nothing to do
    again = _erase(env_file, "--yes")
    assert (again.exit_code, "nothing to erase" in again.output) == (0, True)


def test_erase_partial_failure_exits_non_zero_with_what_remains(
    emulator: DevEnv, tenants: dict[str, Any], env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a tenant with objects, and S3 refusing the first key of every delete
    client = dev_client(emulator, "refused")
    image = env_file.parent / "p.jpg"
    image.write_bytes(jpeg_bytes())
    assert client.wait(client.upload(image), timeout=60)["status"] == "completed"
    real = erase.EraseTarget.from_env_file

    class Refusing:
        def __init__(self, s3: Any) -> None:
            self._s3 = s3

        def __getattr__(self, name: str) -> Any:
            return getattr(self._s3, name)

        def delete_objects(self, **kwargs: Any) -> Any:
            first, *rest = kwargs["Delete"]["Objects"]
            answer = self._s3.delete_objects(
                Bucket=kwargs["Bucket"], Delete={**kwargs["Delete"], "Objects": rest}
            )
            refusal = {**first, "Code": "AccessDenied", "Message": "Access Denied"}
            return {**answer, "Errors": [*answer.get("Errors", []), refusal]}

    def refusing_target(path: Path) -> erase.EraseTarget:
        target = real(path)
        return erase.EraseTarget(**{**target.__dict__, "s3": Refusing(target.s3)})

    monkeypatch.setattr(erase.EraseTarget, "from_env_file", staticmethod(refusing_target))
    # WHEN it is erased
    result = _erase(env_file, "--yes", tenant="refused")
    # THEN the command fails, naming the refusal and the one version that remains
    assert result.exit_code == 1
    assert "AccessDenied" in result.output
    remains = [line for line in result.output.splitlines() if line.startswith("remains: ")]
    assert len(remains) == 1
    assert len(_versions(emulator, "refused")) == 1
    assert "not fully erased" in result.output
    assert "Traceback" not in result.output


# --- errors: one clean line, no traceback ------------------------------------------------


def test_erase_missing_env_file_is_one_line(tmp_path: Path) -> None:
    result = _erase(tmp_path / "absent.json", "--yes")
    assert result.exit_code == 2  # could not run (mediakit.errors.SetupError)
    assert "not found: start the emulator with `mediakit dev` first" in result.output
    assert "Traceback" not in result.output
    assert result.exception is not None
    assert isinstance(result.exception, SystemExit)


def test_erase_dead_emulator_is_one_line(emulator: DevEnv, tmp_path: Path) -> None:
    # GIVEN an env file whose emulator is gone (its port closed)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = emulator.to_json()
    data["aws_endpoint_url"] = f"http://127.0.0.1:{port}"
    path = tmp_path / "dead.json"
    DevEnv(**data).write(path)
    # WHEN erasing THEN one line says it cannot reach it
    result = _erase(path, "--yes")
    assert result.exit_code == 2
    assert "no emulator answers at" in result.output
    assert "mediakit dev" in result.output
    assert isinstance(result.exception, SystemExit)


def test_erase_outputs_without_credentials_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a deployed stack's outputs and no AWS credentials anywhere
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {
                "bucket_name": "media-bucket",
                "table_name": "uploads",
                "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/abc",
            }
        )
    )
    # WHEN erasing THEN one line asks for credentials
    result = CliRunner().invoke(cli, ["erase", "--tenant", "t", "--outputs", str(outputs)])
    assert result.exit_code == 2
    assert "no AWS credentials" in result.output
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "cannot read stack outputs"), ("[]", "not a JSON object"), ("{}", "lacks")],
)
def test_erase_unusable_outputs_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(content)
    result = CliRunner().invoke(cli, ["erase", "--tenant", "t", "--outputs", str(outputs)])
    assert result.exit_code == 2
    assert message in result.output
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("tenant", ["", "   ", "a\x00b", "x" * 200])
def test_erase_unusable_tenant_is_a_usage_error(tmp_path: Path, tenant: str) -> None:
    # GIVEN a tenant no token could carry WHEN erasing THEN a usage error, before any call
    result = _erase(tmp_path / "absent.json", "--yes", tenant=tenant)
    assert result.exit_code == 2
    assert "--tenant" in result.output

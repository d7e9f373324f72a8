"""`mediakit reprocess` on `mediakit dev`: after the derivative specs change (the processor's
MEDIAKIT_DERIVATIVES, as `aws lambda update-function-configuration` would set it), completed
uploads get the new derivatives and lose the dropped ones, scoped by --tenant and --since, once
however often it runs; forged messages and deleted uploads are left alone."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mediakit.cli import cli
from mediakit.client import ApiClient
from mediakit.local import oidc as jwt
from mediakit.local.emulator import DevEnv, Emulator
from runtime.records import from_item
from runtime.settings import Settings
from tests.emulator.conftest import dev_client, jpeg_bytes

OLD, NEW = "studio", "gallery"
NEW_SPECS = [
    {"name": "thumb", "max_edge": 320, "format": "jpeg"},
    {"name": "card", "max_edge": 480, "format": "avif", "quality": 60, "speed": 9},
]


@dataclass
class Running:
    emulator: Emulator
    env: DevEnv
    env_file: Path
    lines: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    uploads: dict[str, list[str]] = field(default_factory=dict)
    cut: str = ""

    def log(self, line: str) -> None:
        with self.lock:
            self.lines.append(line)

    def outcomes(self, upload_id: str) -> list[str]:
        """The processor's reprocess outcomes for `upload_id`, from its JSON log lines."""
        prefix = f"reprocess {upload_id}: "
        with self.lock:
            lines = list(self.lines)
        found = []
        for line in lines:
            start = line.find("{")
            if start < 0 or prefix not in line:
                continue
            message = str(json.loads(line[start:]).get("message", ""))
            if message.startswith(prefix):
                found.append(message[len(prefix) :])
        return found

    def record(self, upload_id: str) -> dict[str, Any]:
        item = self.env.client("dynamodb").get_item(
            TableName=self.env.table, Key={"upload_id": {"S": upload_id}}, ConsistentRead=True
        )["Item"]
        return dict(from_item(item))

    def objects(self, tenant: str, upload_id: str) -> list[str]:
        listed = self.env.client("s3").list_objects_v2(
            Bucket=self.env.bucket, Prefix=f"derivatives/{tenant}/{upload_id}/"
        )
        return sorted(o["Key"].rsplit("/", 1)[1] for o in listed.get("Contents", []))

    def wait_outcome(self, upload_id: str, count: int = 1, timeout: float = 40) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.outcomes(upload_id)
            if len(found) >= count:
                return found[count - 1]
            time.sleep(0.1)
        raise AssertionError(f"no reprocess outcome for {upload_id}: {self.outcomes(upload_id)}")

    def send(self, body: dict[str, Any]) -> None:
        self.env.client("sqs").send_message(
            QueueUrl=self.env.queue_url, MessageBody=json.dumps(body)
        )


def _reprocess(running: Running, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["reprocess", *args, "--env-file", str(running.env_file)])
    return result


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One upload of tenant gallery, then (a second later) two of studio, all completed under
    the default specs; then the processor's specs change to thumb (jpeg) + card (avif)."""
    directory = tmp_path_factory.mktemp("reprocess")
    holder: list[Running] = []
    emulator = Emulator(Settings(), function_log=lambda line: holder[0].log(line))
    with emulator as env:
        run = Running(emulator, env, directory / "dev.json")
        holder.append(run)
        env.write(run.env_file)
        image = directory / "photo.jpg"
        image.write_bytes(jpeg_bytes())
        first = dev_client(env, NEW)
        run.uploads[NEW] = [first.wait(first.upload(image), timeout=60)["upload_id"]]
        created = datetime.strptime(
            run.record(run.uploads[NEW][0])["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        cut = created.replace(microsecond=0) + timedelta(seconds=1)
        time.sleep(max(0.0, (cut - datetime.now(UTC).replace(tzinfo=None)).total_seconds()) + 0.05)
        run.cut = cut.strftime("%Y-%m-%dT%H:%M:%S")
        second = dev_client(env, OLD)
        done = [second.wait(second.upload(image), timeout=60) for _ in range(2)]
        assert [r["status"] for r in done] == ["completed", "completed"], done
        run.uploads[OLD] = [r["upload_id"] for r in done]
        emulator.update_function_environment(
            "processor", {"MEDIAKIT_DERIVATIVES": json.dumps(NEW_SPECS)}
        )
        yield run


def test_reprocess_tenant_renders_new_specs_and_removes_dropped(running: Running) -> None:
    # GIVEN studio's uploads with the default derivatives
    first, second = running.uploads[OLD]
    assert running.objects(OLD, first) == ["large.jpeg", "medium.jpeg", "thumb.jpeg"]
    other = running.uploads[NEW][0]
    rendered_before = running.record(other)["rendered_specs"]
    # WHEN the operator reprocesses tenant studio
    result = _reprocess(running, "--tenant", OLD)
    # THEN both are queued, re-rendered under the new specs, and the dropped ones are gone
    assert result.exit_code == 0, result.output
    assert "2 completed upload(s)" in result.output
    assert "queued 2 re-render(s)" in result.output
    for upload_id in (first, second):
        assert running.wait_outcome(upload_id) == "reprocessed", running.outcomes(upload_id)
        record = running.record(upload_id)
        assert record["status"] == "completed"
        assert sorted((d["name"], d["format"]) for d in record["derivatives"]) == [
            ("card", "avif"),
            ("thumb", "jpeg"),
        ]
        card = next(d for d in record["derivatives"] if d["name"] == "card")
        assert max(card["width"], card["height"]) == 480
        assert running.objects(OLD, upload_id) == ["card.avif", "thumb.jpeg"]
        assert "stale_derivatives" not in record
        assert "reprocess_claim" not in record
    # AND the record as the API shows it lists the new derivatives
    shown = dev_client(running.env, OLD).get_upload(first)
    assert sorted(d["name"] for d in shown["derivatives"]) == ["card", "thumb"]
    # AND the other tenant was not touched
    assert running.objects(NEW, other) == ["large.jpeg", "medium.jpeg", "thumb.jpeg"]
    assert running.record(other)["rendered_specs"] == rendered_before


def test_reprocess_rerun_does_no_work_twice(running: Running) -> None:
    # GIVEN studio already reprocessed under these specs
    first, _ = running.uploads[OLD]
    before = running.record(first)
    # WHEN the command runs again
    result = _reprocess(running, "--tenant", OLD)
    # THEN the messages are acknowledged as duplicates and nothing is rendered or written
    assert result.exit_code == 0, result.output
    assert running.wait_outcome(first, count=2) == "duplicate"
    after = running.record(first)
    assert after["reprocessed_at"] == before["reprocessed_at"]
    assert after["derivatives"] == before["derivatives"]


def test_reprocess_since_selects_newer_uploads_and_all_reaches_every_tenant(
    running: Running,
) -> None:
    old = running.uploads[NEW][0]
    # GIVEN a gallery upload made after the specs changed (rendered under them already)
    image = running.env_file.parent / "photo.jpg"
    client = dev_client(running.env, NEW)
    fresh = client.wait(client.upload(image), timeout=60)
    assert sorted(d["name"] for d in fresh["derivatives"]) == ["card", "thumb"]
    # WHEN --all --since is after gallery's first upload: studio's two and the fresh one
    dry = _reprocess(running, "--all", "--since", running.cut, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "every tenant" in dry.output
    assert "3 completed upload(s)" in dry.output
    result = _reprocess(running, "--all", "--since", running.cut)
    assert result.exit_code == 0, result.output
    assert "queued 3 re-render(s)" in result.output
    # THEN the fresh upload needs no work, and gallery's older upload keeps its old derivatives
    assert running.wait_outcome(fresh["upload_id"]) == "duplicate"
    for upload_id in running.uploads[OLD]:
        running.wait_outcome(upload_id, count=3)
    assert running.outcomes(old) == []
    assert running.objects(NEW, old) == ["large.jpeg", "medium.jpeg", "thumb.jpeg"]
    # WHEN --all runs without --since
    assert _reprocess(running, "--all").exit_code == 0
    # THEN gallery's upload is re-rendered too
    assert running.wait_outcome(old) == "reprocessed"
    assert running.objects(NEW, old) == ["card.avif", "thumb.jpeg"]


def _admin(env: DevEnv, tenant: str) -> ApiClient:
    token = jwt.issue(
        signing_key=env.jwt_signing_key, issuer=env.jwt_issuer, audience=env.jwt_audience,
        tenant_claim=env.tenant_claim, tenant=tenant, scopes=("media:admin",),
    )  # fmt: skip
    return ApiClient(env.api_url, token)


def test_reprocess_forged_or_stale_messages_are_ignored(running: Running) -> None:
    # GIVEN a completed upload of studio and one that is deleted afterwards
    first, second = running.uploads[OLD]
    record = running.record(first)
    _admin(running.env, OLD).call("DELETE", f"/v1/uploads/{second}")
    deleted = running.record(second)
    assert deleted["status"] == "deleted"
    seen = {u: len(running.outcomes(u)) for u in (first, second)}
    # WHEN messages name another tenant, a version that is not the validated one, a deleted
    # upload, and a shape that is not a request at all
    base = {"mediakit": "reprocess", "upload_id": first, "version_id": record["version_id"]}
    running.send({**base, "tenant": NEW})
    running.send({**base, "tenant": OLD, "version_id": "not-the-validated-version"})
    running.send({**base, "tenant": OLD, "upload_id": second, "version_id": deleted["version_id"]})
    running.send({**base, "tenant": OLD, "extra": "field"})
    # THEN each is acknowledged and ignored, and nothing changes
    running.wait_outcome(first, seen[first] + 2)
    assert set(running.outcomes(first)[seen[first] :]) == {
        "ignored:tenant_mismatch",
        "ignored:version_mismatch",
    }
    assert running.wait_outcome(second, seen[second] + 1) == "ignored:deleted"
    assert running.record(first) == record
    assert running.objects(OLD, second) == []
    attributes = running.env.client("sqs").get_queue_attributes(
        QueueUrl=running.env.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"


def test_reprocess_dead_emulator_or_missing_env_file_is_one_line(
    running: Running, tmp_path: Path
) -> None:
    # GIVEN an env file whose endpoint nothing listens on, and one that does not exist
    dead = tmp_path / "dead.json"
    data = json.loads(running.env_file.read_text())
    dead.write_text(json.dumps({**data, "aws_endpoint_url": "http://127.0.0.1:9"}))
    for path, expected in (
        (dead, "no emulator answers at http://127.0.0.1:9"),
        (tmp_path / "no.json", "not found"),
    ):
        # WHEN the command runs against it
        result = CliRunner().invoke(cli, ["reprocess", "--all", "--env-file", str(path)])
        # THEN it could not run (exit 2), saying so in one line, no traceback
        assert result.exit_code == 2, result.output
        assert expected in result.output
        assert "Traceback" not in result.output
    # AND the selection options are checked first
    both = CliRunner().invoke(cli, ["reprocess", "--all", "--tenant", OLD])
    assert both.exit_code == 2
    assert "exactly one of --tenant T or --all" in both.output

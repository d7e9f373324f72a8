"""Documents on `mediakit dev` (mediaKinds includes document): a PDF is stored, hashed and never
rendered; a PDF declared as an image, HTML declared as a PDF, polyglots and a cut PDF fail with
their codes (the kind being opt-in is tests/runtime/test_documents.py's)."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mediakit.client import ApiError
from mediakit.local.emulator import DevEnv, Emulator
from runtime.settings import Settings
from tests.emulator.conftest import dev_client

TENANT = "records"
SETTINGS = Settings(media_kinds=("image", "document"))


def pdf_bytes() -> bytes:
    """A real one-page PDF (Pillow's writer: header, objects, xref, trailer, %%EOF)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buf, "PDF")
    return buf.getvalue()


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    return buf.getvalue()


@pytest.fixture(scope="module")
def env() -> Iterator[DevEnv]:
    with Emulator(SETTINGS) as running:
        yield running


def _upload(env: DevEnv, tmp_path: Path, data: bytes, content_type: str) -> dict[str, Any]:
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    client = dev_client(env, TENANT)
    return client.wait(client.upload(path, content_type=content_type), timeout=60)


def test_document_pdf_is_stored_hashed_and_never_rendered(env: DevEnv, tmp_path: Path) -> None:
    # GIVEN a real PDF
    data = pdf_bytes()
    # WHEN it is uploaded as application/pdf (declared through an alias)
    done = _upload(env, tmp_path, data, "application/x-pdf")
    # THEN it completes as a document, with its streamed sha256 and no derivatives
    assert done["status"] == "completed", done
    assert done["content_type"] == "application/pdf"
    assert done["sha256"] == hashlib.sha256(data).hexdigest()
    assert done["bytes"] == len(data)
    assert done["derivatives"] == []
    assert done["media"]["kind"] == "document"
    assert done["key"].endswith(".pdf")
    s3 = env.client("s3")
    listed = s3.list_objects_v2(Bucket=env.bucket, Prefix=f"derivatives/{TENANT}/")
    assert listed.get("KeyCount", 0) == 0


HOSTILE: dict[str, tuple[Callable[[], bytes], str, str]] = {
    # The image path sniffs it: no image format claims a PDF.
    "pdf_declared_as_image": (lambda: pdf_bytes(), "image/jpeg", "not_an_image"),
    "html_declared_as_pdf": (
        lambda: b"<!doctype html><html><script>alert(1)</script></html>\n",
        "application/pdf",
        "type_mismatch",
    ),
    "pdf_with_html_header": (
        lambda: pdf_bytes().replace(b"\n", b"\n<html><script>alert(1)</script>\n", 1),
        "application/pdf",
        "polyglot",
    ),
    "pdf_zip_polyglot": (lambda: pdf_bytes() + zip_bytes(), "application/pdf", "polyglot"),
    "truncated_pdf": (lambda: pdf_bytes()[:-40], "application/pdf", "truncated"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_document_hostile_files_fail_with_their_code(
    env: DevEnv, tmp_path: Path, case: str
) -> None:
    # GIVEN a hostile file and the type it is declared as
    make, declared, code = HOSTILE[case]
    # WHEN it is uploaded
    done = _upload(env, tmp_path, make(), declared)
    # THEN it fails with its code, and nothing of it is served
    assert done["status"] == "failed", done
    assert done["error"]["code"] == code, done["error"]
    assert not done.get("derivatives")


def test_document_reprocess_message_is_acknowledged_without_work(
    env: DevEnv, tmp_path: Path
) -> None:
    # GIVEN a completed document
    done = _upload(env, tmp_path, pdf_bytes(), "application/pdf")
    record = env.client("dynamodb").get_item(
        TableName=env.table, Key={"upload_id": {"S": done["upload_id"]}}
    )["Item"]
    # WHEN a reprocess request names it
    body = {
        "mediakit": "reprocess",
        "upload_id": done["upload_id"],
        "version_id": record["version_id"]["S"],
        "tenant": TENANT,
    }
    env.client("sqs").send_message(QueueUrl=env.queue_url, MessageBody=json.dumps(body))
    # THEN the queue drains with nothing left for retry and the record is unchanged
    sqs = env.client("sqs")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        attrs = sqs.get_queue_attributes(
            QueueUrl=env.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if attrs == {
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
        }:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"queue did not drain: {attrs}")
    after = env.client("dynamodb").get_item(
        TableName=env.table, Key={"upload_id": {"S": done["upload_id"]}}
    )["Item"]
    assert after == record
    with pytest.raises(ApiError):
        dev_client(env, "someone-else").get_upload(done["upload_id"])

"""`mediakit import DIR` through `mediakit dev`: 50 generated files (valid and invalid),
interrupted once and resumed from the manifest, Retry-After honoured, and a manifest edited by
hand never makes a file look imported that the API does not know."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image

from mediakit import bulk_import
from mediakit import client as client_module
from mediakit.cli import cli
from mediakit.client import ApiClient, Response
from mediakit.corpus.hostile import truncated_jpeg
from mediakit.local.emulator import DevEnv, Emulator, mint_token
from runtime.settings import Settings

TENANT = "importer"
_REQUEST = client_module.request
_IMPORT_ONE = bulk_import.Importer.import_one


@pytest.fixture(scope="module")
def dev() -> Iterator[DevEnv]:
    with Emulator(Settings()) as env:
        yield env


def _image(index: int, fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (48 + index, 32), (index * 5 % 256, 90, 200)).save(out, fmt)
    return out.getvalue()


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """50 files in nested folders: 40 images, 5 texts named .jpg, 5 truncated JPEGs; plus a
    hidden file and a symbolic link the import leaves out. Returns the folder and the expected
    outcome of each relative path ("completed" or the failure code)."""
    root = tmp_path / "photos"
    expected: dict[str, str] = {}
    for i in range(50):
        sub = root / ("2019" if i % 2 else "2020/summer")
        sub.mkdir(parents=True, exist_ok=True)
        if i % 10 == 3:
            name, data, outcome = f"note-{i:02d}.jpg", b"not an image " * 20, "not_an_image"
        elif i % 10 == 7:
            name, data, outcome = f"cut-{i:02d}.jpg", truncated_jpeg(), "truncated"
        elif i % 3:
            name, data, outcome = f"img-{i:02d}.jpg", _image(i, "JPEG"), "completed"
        else:
            name, data, outcome = f"img-{i:02d}.png", _image(i, "PNG"), "completed"
        (sub / name).write_bytes(data)
        os.utime(sub / name, (1_500_000_000 + i, 1_500_000_000 + i))
        expected[(sub / name).relative_to(root).as_posix()] = outcome
    (root / ".DS_Store").write_bytes(b"hidden")
    (root / "link.jpg").symlink_to(next(root.rglob("img-*.jpg")))
    return root, expected


class Tap:
    """Counts the creates; answers the first `throttle` of them 429 with Retry-After: 2."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, throttle: int = 0) -> None:
        self.creates = 0
        self.throttled = 0
        self.waits: list[float] = []

        def tapped(method: str, url: str, **kwargs: Any) -> Any:
            if method == "POST" and url.endswith("/v1/uploads"):
                if self.throttled < throttle:
                    self.throttled += 1
                    return Response(429, {"retry-after": "2"}, b'{"message":"Too Many Requests"}')
                self.creates += 1
            return _REQUEST(method, url, **kwargs)

        monkeypatch.setattr(client_module, "request", tapped)
        monkeypatch.setattr(bulk_import, "_sleep", self.waits.append)


def _import(dev: DevEnv, root: Path, manifest: Path, *args: str) -> Any:
    return CliRunner().invoke(
        cli,
        [
            "import",
            str(root),
            "--tenant",
            TENANT,
            "--api-url",
            dev.api_url,
            "--token",
            mint_token(dev, TENANT),
            "--manifest",
            str(manifest),
            "--state-dir",
            str(manifest.parent / "state"),
            *args,
        ],
    )


def test_import_interrupted_then_resumed_ends_with_the_right_summary(
    dev: DevEnv,
    folder: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, expected = folder
    manifest = tmp_path / "manifest.json"
    started: list[str] = []

    def interrupt_at_eleventh(self: Any, source: Any, record: Any) -> Any:
        started.append(source.relative)
        if len(started) == 11:
            raise KeyboardInterrupt  # Ctrl-C, as the main thread gets it
        return _IMPORT_ONE(self, source, record)

    # GIVEN an import, throttled on its first create (429, Retry-After: 2), interrupted by
    # Ctrl-C as its eleventh file starts
    tap = Tap(monkeypatch, throttle=1)
    monkeypatch.setattr(bulk_import.Importer, "import_one", interrupt_at_eleventh)
    first = _import(dev, root, manifest, "--parallel", "1")
    # THEN it waited as told, stopped with exit 130, and its manifest holds the ten files done
    assert first.exit_code == 130, first.output
    assert "Traceback" not in first.output
    assert "40 files left" in first.output
    assert tap.waits == [2.0]
    assert tap.creates == 10
    written = json.loads(manifest.read_text())["files"]
    assert sorted(written) == sorted(started[:10])
    assert {e["status"] for e in written.values()} <= {"completed", "failed"}
    first_ids = {path: e["upload_id"] for path, e in written.items()}
    # WHEN it is run again
    monkeypatch.setattr(bulk_import.Importer, "import_one", _IMPORT_ONE)
    tap = Tap(monkeypatch)
    second = _import(dev, root, manifest, "--parallel", "8")
    # THEN the ten are skipped, the forty others created once each, and the summary is right
    assert second.exit_code == 1, second.output
    assert tap.creates == 40
    valid = sum(1 for outcome in expected.values() if outcome == "completed")
    done_before = sum(1 for path in started[:10] if expected[path] == "completed")
    assert (
        f"50 of 50 files done: {valid} completed ({done_before} already imported), "
        f"{50 - valid} failed"
    ) in second.output
    for path, outcome in expected.items():
        if outcome != "completed":
            assert re.search(rf"  {re.escape(path)}  failed  {outcome}: ", second.output), path
    assert ".DS_Store" not in second.output
    assert "link.jpg" not in second.output
    final = json.loads(manifest.read_text())["files"]
    assert sorted(final) == sorted(expected)
    assert {path: final[path]["upload_id"] for path in first_ids} == first_ids
    assert {p: e["status"] for p, e in final.items()} == {
        p: "completed" if o == "completed" else "failed" for p, o in expected.items()
    }
    # AND each upload carries its file's relative path and mtime in its metadata
    api = ApiClient(dev.api_url, mint_token(dev, TENANT))
    path = next(p for p, o in expected.items() if o == "completed")
    record = api.get_upload(final[path]["upload_id"])
    assert record["metadata"]["source_path"] == path
    index = int(re.search(r"-(\d\d)\.", path).group(1))  # type: ignore[union-attr]
    assert record["metadata"]["source_mtime"].startswith(
        f"2017-07-14T02:{40 + index // 60:02d}:{index % 60:02d}"
    )
    assert record["filename"] == Path(path).name


def test_import_does_not_trust_a_manifest_edited_by_hand(
    dev: DevEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a folder of three images imported once
    root = tmp_path / "few"
    root.mkdir()
    for i in range(3):
        (root / f"p{i}.jpg").write_bytes(_image(i, "JPEG"))
    manifest = tmp_path / "manifest.json"
    done = _import(dev, root, manifest)
    assert done.exit_code == 0, done.output
    # WHEN the manifest is edited: one entry names another tenant's upload, one a made-up id,
    # and one says its upload was sent but not yet processed (a run stopped while waiting)
    other = ApiClient(dev.api_url, mint_token(dev, "globex")).create_upload(
        filename="x.jpg", content_type="image/jpeg", size=10
    )
    raw = json.loads(manifest.read_text())
    raw["files"]["p0.jpg"].update(upload_id=other["upload_id"], status="completed")
    raw["files"]["p1.jpg"].update(upload_id="../../v1/uploads", status="completed")
    raw["files"]["p2.jpg"].update(status="sent")
    manifest.write_text(json.dumps(raw))
    tap = Tap(monkeypatch)
    again = _import(dev, root, manifest)
    # THEN exactly the first two are imported again, under new upload ids of this tenant, and
    # the sent one is waited for, not sent again
    assert again.exit_code == 0, again.output
    assert tap.creates == 2, again.output
    assert "3 completed (0 already imported)" in again.output
    fixed = json.loads(manifest.read_text())["files"]
    assert fixed["p0.jpg"]["upload_id"] != other["upload_id"]
    assert fixed["p1.jpg"]["upload_id"] != "../../v1/uploads"
    assert fixed["p2.jpg"] == {**raw["files"]["p2.jpg"], "status": "completed"}
    # AND a manifest that is not JSON, or another folder's, stops the import before any upload
    manifest.write_text("{broken")
    broken = _import(dev, root, manifest)
    assert broken.exit_code == 2  # could not start: nothing was imported
    assert "unreadable manifest" in broken.output
    manifest.write_text(json.dumps({**raw, "root": "/elsewhere"}))
    elsewhere = _import(dev, root, manifest)
    assert elsewhere.exit_code == 2
    assert "is the manifest of '/elsewhere'" in elsewhere.output
    assert tap.creates == 2


@pytest.mark.parametrize(
    ("status", "code", "retried"),
    [
        (429, "throttled", True),
        (503, "unavailable", True),
        (409, "idempotency_in_progress", True),  # the same key's first request still runs
        (409, "idempotency_conflict", False),  # a different request under the key: final
        (409, "not_deleted", False),
        (400, "invalid_field", False),
    ],
)
def test_retry_decision_honours_retry_after_on_idempotency_in_progress(
    status: int, code: str, retried: bool
) -> None:
    # GIVEN a call whose first answer is `status`/`code` with Retry-After: 3, then a success
    answers: list[Any] = [
        client_module.ApiError(
            status, {"error": {"code": code, "message": "m"}}, headers={"retry-after": "3"}
        ),
        "created",
    ]
    waits: list[float] = []

    def call() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    # WHEN it is made with retries
    if retried:
        # THEN a retryable answer is waited out for its Retry-After and the call tried again
        assert bulk_import.call_with_retries(call, sleep=waits.append) == "created"
        assert waits == [3.0]
    else:
        # THEN any other answer is final at once
        with pytest.raises(client_module.ApiError) as raised:
            bulk_import.call_with_retries(call, sleep=waits.append)
        assert (raised.value.status, raised.value.code, waits) == (status, code, [])

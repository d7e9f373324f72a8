"""The hostile-file corpus through the real processor path: S3 put on moto -> S3 notification on
the ingest queue -> event source mapping -> `runtime.processor.handler` -> status record."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageFile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from moto_stack import GPS_TENANT, HOSTILE_SETTINGS, MotoStack

from mediakit.corpus.hostile import (
    BY_NAME,
    COMPLETED,
    CORPUS,
    LEAK_MARKERS,
    ZIP_MAGIC,
    HostileFile,
    write_corpus,
)
from runtime.settings import Settings

# Pillow `info` keys that carry metadata a derivative must never have.
_METADATA_INFO = ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "photoshop")


def _assert_clean_derivative(body: bytes, *, original: bytes) -> None:
    for marker in LEAK_MARKERS:
        if marker in original:
            assert marker not in body, marker
    assert ZIP_MAGIC not in body
    with Image.open(io.BytesIO(body)) as image:
        image.load()
        assert not image.getexif()
        assert not set(_METADATA_INFO) & set(image.info)


@pytest.mark.parametrize("entry", CORPUS, ids=[f.name for f in CORPUS])
def test_corpus_file_reaches_its_defined_outcome(entry: HostileFile, stack: MotoStack) -> None:
    # GIVEN a hostile file, declared the way the corpus says, written to the originals prefix
    created = stack.upload(entry.data, entry.declared_type, size=entry.size)

    # WHEN the ingest queue is drained through the real processor handler
    mapping = stack.drain()

    # THEN the record is terminal with the file's defined outcome, the worker never crashed or
    # asked for a retry, nothing was dead-lettered, and completed derivatives are clean
    record = stack.record(created["upload_id"])
    status, code = entry.expected_for(stack.settings)
    assert record["status"] == status, record.get("error")
    assert record.get("error", {}).get("code") == code
    assert mapping.stats.batch_failures == mapping.stats.timeouts == 0
    assert all(r == {"batchItemFailures": []} for r in stack.responses)
    assert stack.visible(stack.queue_url) == 0
    assert stack.dlq_depth() == 0
    if status == COMPLETED:
        assert "gps" not in record["exif"]
        assert len(json.dumps(record["exif"])) < 300
        assert len(record["derivatives"]) == len(stack.settings.derivatives)
        for derivative in record["derivatives"]:
            _assert_clean_derivative(stack.body(derivative["key"]), original=entry.data)
    else:
        assert "derivatives" not in record
        assert stack.derivative_keys() == []


def test_corpus_bomb_is_refused_before_any_pixel_is_decoded(
    stack: MotoStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the 30000x30000 PNG bomb and a spy on Pillow's pixel decoding
    decoded: list[object] = []
    original_load = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        decoded.append(self.size)
        return original_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    bomb = BY_NAME["bomb-30000.png"]
    created = stack.upload(bomb.data, bomb.declared_type)

    # WHEN it is processed through the pipeline
    stack.drain()

    # THEN it failed as a decompression bomb from its header: load() never ran
    record = stack.record(created["upload_id"])
    assert record["error"]["code"] == "decompression_bomb"
    assert decoded == []
    assert len(bomb.data) < 200_000


def test_corpus_gps_only_in_the_record_of_an_allowed_tenant(stack: MotoStack) -> None:
    # GIVEN the camera photo (GPS + maker note) uploaded by a tenant allowed GPS and one not
    photo = BY_NAME["huge-maker-note.jpg"]
    allowed = stack.upload(photo.data, photo.declared_type, tenant=GPS_TENANT)
    other = stack.upload(photo.data, photo.declared_type)

    # WHEN both are processed
    stack.drain()

    # THEN only the allowed tenant's record carries GPS, and neither tenant's derivatives do
    with_gps = stack.record(allowed["upload_id"])
    without = stack.record(other["upload_id"])
    assert with_gps["exif"]["gps"] == {"lat": 52.516275, "lon": 13.3777028, "alt": 34.0}
    assert "gps" not in without["exif"]
    for record in (with_gps, without):
        for derivative in record["derivatives"]:
            _assert_clean_derivative(stack.body(derivative["key"]), original=photo.data)


def test_corpus_bad_gps_rationals_dropped_even_where_gps_allowed(stack: MotoStack) -> None:
    # GIVEN EXIF with zero-denominator GPS rationals, uploaded by a tenant allowed GPS
    entry = BY_NAME["bad-gps-exif.jpg"]
    created = stack.upload(entry.data, entry.declared_type, tenant=GPS_TENANT)

    # WHEN processed
    stack.drain()

    # THEN it completed with the readable camera fields and no GPS at all
    record = stack.record(created["upload_id"])
    assert record["status"] == "completed"
    assert record["exif"]["make"] == "Mediakit"
    assert "gps" not in record["exif"]


def test_corpus_disabled_type_declared_as_jpeg_is_unsupported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the default settings (no GIF, no TIFF) and those files declared as image/jpeg
    from moto_stack import moto_stack

    defaults = Settings(dlq_max_receive_count=3)
    with moto_stack(defaults, monkeypatch) as stack:
        gif = stack.upload(BY_NAME["animated.gif"].data, "image/jpeg")
        tif = stack.upload(BY_NAME["lzw.tiff"].data, "image/jpeg")

        # WHEN processed
        stack.drain()

        # THEN both fail as unsupported_type (the allow-list comes before the type comparison)
        for created in (gif, tif):
            assert stack.record(created["upload_id"])["error"]["code"] == "unsupported_type"
        assert BY_NAME["animated.gif"].expected_for(defaults) == ("failed", "unsupported_type")


def test_corpus_expected_outcomes_are_all_defined() -> None:
    # GIVEN the corpus / WHEN its table is read
    names = [f.name for f in CORPUS]

    # THEN every entry is unique, has bytes and a definite outcome with a code when failed
    assert len(names) == len(set(names))
    for entry in CORPUS:
        status, code = entry.expected_for(HOSTILE_SETTINGS)
        assert status in ("completed", "failed")
        assert (code is None) == (status == "completed"), entry.name


def test_write_corpus_writes_every_file_byte_identical(tmp_path: Path) -> None:
    # GIVEN an empty folder / WHEN the corpus is written there twice
    first = {entry.name: path.read_bytes() for entry, path in write_corpus(tmp_path / "a")}
    second = {entry.name: path.read_bytes() for entry, path in write_corpus(tmp_path / "b")}

    # THEN every entry is a file with its bytes, the same on every run
    assert set(first) == set(BY_NAME)
    assert first == second
    assert all(first[name] == BY_NAME[name].data for name in first)


def test_corpus_bytes_other_than_the_declared_sha256_fail_checksum_mismatch(
    stack: MotoStack,
) -> None:
    # GIVEN an upload declared with the sha256 of one image, and another image of the same
    # length written in its place (S3 itself would refuse this PUT; the processor checks anyway)
    declared, swapped = BY_NAME["one-pixel.jpg"].data, BY_NAME["bomb-header.jpg"].data
    assert len(declared) == len(swapped)
    created = stack.create("image/jpeg", len(declared), sha256=hashlib.sha256(declared).hexdigest())
    stack.put(created["key"], swapped, "image/jpeg")

    # WHEN processed
    stack.drain()

    # THEN it failed before any decoding, with checksum_mismatch
    record = stack.record(created["upload_id"])
    assert record["error"]["code"] == "checksum_mismatch"
    assert stack.derivative_keys() == []

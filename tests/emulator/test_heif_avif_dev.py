"""HEIC and AVIF through the emulator with the real handlers: a browser alias at the API, the
processing child decoding with pi-heif / Pillow, AVIF derivatives served without metadata."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from mediakit.client import request
from mediakit.corpus import hostile
from mediakit.corpus.samples import camera_photo_avif, camera_photo_heic
from mediakit.local.emulator import DevEnv, Emulator
from runtime.settings import DerivativeSpec, Settings
from tests.emulator.conftest import dev_client

SPECS = (DerivativeSpec("thumb", 320, "jpeg", 80), DerivativeSpec("view", 640, "avif", 60))


@pytest.fixture(scope="module")
def avif_emulator() -> Iterator[DevEnv]:
    """The emulator with default types and one JPEG and one AVIF derivative."""
    with Emulator(Settings(derivatives=SPECS)) as env:
        yield env


@pytest.mark.parametrize(
    ("build", "declared", "extension"),
    [
        (camera_photo_heic, "image/heic-sequence", "heic"),
        (camera_photo_heic, "image/heif", "heif"),
        (camera_photo_avif, "image/avif", "avif"),
    ],
    ids=["heic-as-ios-alias", "heic-as-heif", "avif"],
)
def test_phone_photo_completes_upright_with_clean_avif_derivative(
    avif_emulator: DevEnv, tmp_path: Path, build: object, declared: str, extension: str
) -> None:
    # GIVEN a phone-style photo (irot + EXIF Orientation=6, GPS) declared the way clients do
    path = tmp_path / f"IMG_0001.{extension}"
    path.write_bytes(build())  # type: ignore[operator]
    client = dev_client(avif_emulator, "acme")
    # WHEN it goes through presign -> PUT -> processing
    created = client.upload(path, content_type=declared)
    record = client.wait(created, timeout=60)
    # THEN the key carries the canonical type's extension, the record is upright portrait, and
    # the derivatives are portrait, the AVIF one an AVIF, none with metadata
    assert created["key"].endswith(f".{extension}")
    assert record["status"] == "completed", record.get("error")
    assert (record["width"], record["height"]) == (800, 1200)
    assert record["exif"]["make"] == "Mediakit"
    assert "gps" not in record["exif"]
    by_name = {d["name"]: d for d in record["derivatives"]}
    assert by_name["view"]["format"] == "avif"
    for derivative in record["derivatives"]:
        body = request("GET", derivative["url"]).body
        assert b"Exif" not in body
        with Image.open(io.BytesIO(body)) as image:
            assert image.size == (derivative["width"], derivative["height"])
            assert image.height > image.width
            assert not image.getexif()
            assert not {"exif", "icc_profile", "xmp"} & set(image.info)
    assert by_name["view"]["height"] == 640


def test_heic_declared_avif_fails_type_mismatch(avif_emulator: DevEnv, tmp_path: Path) -> None:
    # GIVEN a real HEIC declared as image/avif / WHEN uploaded and processed
    path = tmp_path / "photo.avif"
    path.write_bytes(hostile.small_heic())
    client = dev_client(avif_emulator, "acme")
    record = client.wait(client.upload(path, content_type="image/avif"), timeout=60)
    # THEN failed with its code, no derivative
    assert record["status"] == "failed"
    assert record["error"]["code"] == "type_mismatch"
    assert not record.get("derivatives")


def test_ispe_bomb_fails_decompression_bomb(avif_emulator: DevEnv, tmp_path: Path) -> None:
    path = tmp_path / "bomb.heic"
    path.write_bytes(hostile.ispe_bomb("HEIC"))
    client = dev_client(avif_emulator, "acme")
    record = client.wait(client.upload(path, content_type="image/heic"), timeout=60)
    assert record["status"] == "failed"
    assert record["error"]["code"] == "decompression_bomb"

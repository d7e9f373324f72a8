"""Sniffing, validation and the guards that run before any pixel is decoded."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable

import pytest
from PIL import Image, ImageFile

from runtime import imaging
from runtime.errors import PermanentFault
from runtime.imaging import process_image, sniff_type
from runtime.settings import Settings

Encode = Callable[..., bytes]


def _fault(data: bytes, declared: str, settings: Settings) -> PermanentFault:
    with pytest.raises(PermanentFault) as caught:
        process_image(data, declared, settings, include_gps=False)
    return caught.value


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("photo.jpg", b"\xff\xd8\xff not really")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("TIFF", "image/tiff"),
    ],
)
def test_sniff_type_recognises_magic_bytes(fmt: str, expected: str, encode: Encode) -> None:
    # GIVEN a real image of each known format
    data = encode(Image.new("RGB", (8, 8), (10, 20, 30)), fmt)

    # WHEN it is sniffed
    # THEN the magic bytes name its type
    assert sniff_type(data) == expected


@pytest.mark.parametrize(
    "header",
    [b"MM\x00*\x00\x00\x00\x08", b"GIF87a\x01\x00", b"RIFF\x00\x00\x00\x00WEBPVP8 "],
    ids=["tiff-big-endian", "gif87a", "webp"],
)
def test_sniff_type_header_variants(header: bytes) -> None:
    # GIVEN header variants a round trip through Pillow does not produce
    # WHEN sniffed
    # THEN each is recognised
    assert sniff_type(header) is not None


def test_process_image_empty_file(settings: Settings) -> None:
    # GIVEN zero bytes
    # WHEN processed
    # THEN the fault is empty_file
    assert _fault(b"", "image/jpeg", settings).code == imaging.EMPTY_FILE


@pytest.mark.parametrize(
    "data",
    [
        b"<!doctype html><html><body>hi</body></html>",
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
        b"just some text\n",
        _zip(),
        b"RIFF\x10\x00\x00\x00WAVEfmt ",
        b"\xff\xd8",
    ],
    ids=["html", "svg", "text", "zip", "wav", "two-bytes"],
)
def test_process_image_not_an_image(data: bytes, settings: Settings) -> None:
    # GIVEN bytes that are not one of the known image formats
    # WHEN processed as a declared JPEG
    # THEN the fault is not_an_image
    assert _fault(data, "image/jpeg", settings).code == imaging.NOT_AN_IMAGE


def test_process_image_unsupported_type(settings: Settings, encode: Encode) -> None:
    # GIVEN a real GIF while the settings allow only jpeg/png/webp
    data = encode(Image.new("P", (8, 8)), "GIF")

    # WHEN processed, declared honestly
    fault = _fault(data, "image/gif", settings)

    # THEN the fault is unsupported_type
    assert fault.code == imaging.UNSUPPORTED_TYPE


def test_process_image_type_mismatch(settings: Settings, encode: Encode) -> None:
    # GIVEN a PNG declared as image/jpeg
    data = encode(Image.new("RGB", (8, 8)), "PNG")

    # WHEN processed
    fault = _fault(data, "image/jpeg", settings)

    # THEN the fault is type_mismatch and names both types
    assert fault.code == imaging.TYPE_MISMATCH
    assert "image/jpeg" in fault.message
    assert "image/png" in fault.message


def test_process_image_declared_type_parameters_ignored(settings: Settings, encode: Encode) -> None:
    # GIVEN a JPEG declared with odd case and a parameter
    data = encode(Image.new("RGB", (8, 8)), "JPEG")

    # WHEN processed
    result = process_image(data, "Image/JPEG; charset=binary", settings, include_gps=False)

    # THEN it is accepted as image/jpeg
    assert result.content_type == "image/jpeg"


def test_process_image_bomb_rejected_from_header_without_decoding(
    sample_bytes: Callable[[str], bytes], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the 64 MP bomb sample and a decoder that records any attempt to decode pixels
    decoded: list[str] = []
    original_load = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        decoded.append(self.format or "?")
        return original_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)

    # WHEN processed
    fault = _fault(sample_bytes("bomb.png"), "image/png", settings)

    # THEN it is a decompression bomb and not one pixel was decoded
    assert fault.code == imaging.DECOMPRESSION_BOMB
    assert decoded == []


def test_process_image_bomb_limit_is_the_setting(encode: Encode) -> None:
    # GIVEN a 100x100 image and a 9,999 pixel budget
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    tight = Settings(max_pixels=9_999)

    # WHEN processed
    # THEN it is a bomb under that budget, and fine under one pixel more
    assert _fault(data, "image/png", tight).code == imaging.DECOMPRESSION_BOMB
    assert process_image(data, "image/png", Settings(max_pixels=10_000), include_gps=False)


@pytest.mark.parametrize("limit", [50 * 50 - 1, 50 * 50 // 2 - 1], ids=["warning", "error"])
def test_process_image_pillow_bomb_guard_maps_to_code(
    limit: int, encode: Encode, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Pillow's own guard set below the image size (warning above 1x, error above 2x)
    data = encode(Image.new("RGB", (50, 50)), "PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)

    # WHEN processed with a generous setting
    fault = _fault(data, "image/png", Settings())

    # THEN Pillow's warning or error is the same decompression_bomb fault
    assert fault.code == imaging.DECOMPRESSION_BOMB


def test_process_image_truncated_jpeg(
    sample_bytes: Callable[[str], bytes], settings: Settings
) -> None:
    # GIVEN a JPEG cut off part way
    data = sample_bytes("truncated.jpg")

    # WHEN processed
    # THEN the fault is truncated (Pillow must not fill the rest with grey)
    assert _fault(data, "image/jpeg", settings).code == imaging.TRUNCATED


def test_process_image_truncated_even_if_switch_flipped(
    sample_bytes: Callable[[str], bytes], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN some other library turned on Pillow's LOAD_TRUNCATED_IMAGES
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)

    # WHEN the truncated sample is processed
    fault = _fault(sample_bytes("truncated.jpg"), "image/jpeg", settings)

    # THEN it still fails as truncated
    assert fault.code == imaging.TRUNCATED


@pytest.mark.parametrize("keep", [0.5, 0.9], ids=["half", "most"])
def test_process_image_truncated_png(keep: float, settings: Settings, encode: Encode) -> None:
    # GIVEN a noisy PNG (so its data spans many bytes) cut off part way
    full = encode(Image.effect_noise((200, 200), 60).convert("RGB"), "PNG")
    data = full[: int(len(full) * keep)]

    # WHEN processed
    # THEN the fault is truncated
    assert _fault(data, "image/png", settings).code == imaging.TRUNCATED


def test_process_image_truncated_header(settings: Settings, encode: Encode) -> None:
    # GIVEN a PNG cut inside its header chunk: the magic bytes are right, the rest is missing
    data = encode(Image.new("RGB", (8, 8)), "PNG")[:20]

    # WHEN processed
    # THEN the fault is truncated, not a crash
    assert _fault(data, "image/png", settings).code == imaging.TRUNCATED


def test_process_image_pillow_restricted_to_sniffed_format(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, encode: Encode
) -> None:
    # GIVEN a JPEG and a spy on Image.open
    data = encode(Image.new("RGB", (8, 8)), "JPEG")
    seen: list[object] = []
    original_open = Image.open

    def spy(fp: object, mode: str = "r", formats: object = None) -> Image.Image:
        seen.append(formats)
        return original_open(fp, mode, formats)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", spy)

    # WHEN processed
    process_image(data, "image/jpeg", settings, include_gps=False)

    # THEN Pillow was allowed exactly the JPEG plugin
    assert seen == [["JPEG"]]


def test_process_image_reports_size_hash_and_format(settings: Settings, encode: Encode) -> None:
    # GIVEN a 30x20 PNG
    data = encode(Image.new("RGB", (30, 20), (1, 2, 3)), "PNG")

    # WHEN processed
    result = process_image(data, "image/png", settings, include_gps=False)

    # THEN the facts about the original are reported
    assert (result.width, result.height, result.format) == (30, 20, "png")
    assert result.content_type == "image/png"
    assert result.bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.exif == {}

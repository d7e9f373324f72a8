"""EXIF summary: the camera fields, GPS only on request, and hostile EXIF never raising."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from mediakit.corpus.samples import CAMERA_MAKE, CAMERA_MODEL, camera_exif
from runtime.imaging import process_image
from runtime.metadata import orientation_of, read_exif, summarise
from runtime.settings import Settings

Encode = Callable[..., bytes]


def _jpeg_with(exif: Image.Exif, encode: Encode) -> bytes:
    return encode(Image.new("RGB", (24, 16), (90, 90, 90)), "JPEG", exif=exif)


def test_read_exif_camera_sample(sample_bytes: Callable[[str], bytes]) -> None:
    # GIVEN the camera sample
    with Image.open(io.BytesIO(sample_bytes("camera-photo.jpg"))) as photo:
        # WHEN its EXIF is summarised with GPS allowed
        info = read_exif(photo, include_gps=True)

    # THEN every field is there as plain JSON values
    assert info == {
        "make": CAMERA_MAKE,
        "model": CAMERA_MODEL,
        "orientation": 6,
        "taken_at": "2024-05-17T14:32:10+02:00",
        "gps": {"lat": pytest.approx(52.516275), "lon": pytest.approx(13.3777028), "alt": 34.0},
    }
    json.dumps(info)


def test_read_exif_gps_omitted_unless_allowed(sample_bytes: Callable[[str], bytes]) -> None:
    # GIVEN the camera sample
    # WHEN processed for a tenant without the GPS setting
    result = process_image(
        sample_bytes("camera-photo.jpg"), "image/jpeg", Settings(), include_gps=False
    )

    # THEN the record has camera fields but no GPS
    assert "gps" not in result.exif
    assert result.exif["make"] == CAMERA_MAKE


def test_read_exif_southern_western_and_below_sea_level(encode: Encode) -> None:
    # GIVEN GPS in the southern and western hemispheres, 10 m below sea level
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "S", (IFDRational(33, 1), IFDRational(30, 1), IFDRational(0, 1))
    gps[3], gps[4] = "W", (IFDRational(70, 1), IFDRational(15, 1), IFDRational(0, 1))
    gps[5], gps[6] = b"\x01", IFDRational(10, 1)

    # WHEN summarised
    with Image.open(io.BytesIO(_jpeg_with(exif, encode))) as im:
        info = read_exif(im, include_gps=True)

    # THEN the signs follow the references
    assert info["gps"] == {"lat": -33.5, "lon": -70.25, "alt": -10.0}


def test_read_exif_zero_denominator_gps_skipped(encode: Encode) -> None:
    # GIVEN GPS rationals with zero denominators (a classic broken-camera output)
    exif = Image.Exif()
    exif[0x010F] = "Broken"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (IFDRational(52, 0), IFDRational(1, 1), IFDRational(0, 0))
    gps[3], gps[4] = "E", (IFDRational(13, 1), IFDRational(0, 1), IFDRational(0, 1))
    gps[6] = IFDRational(5, 0)
    data = _jpeg_with(exif, encode)

    # WHEN processed with GPS allowed
    result = process_image(data, "image/jpeg", Settings(), include_gps=True)

    # THEN the upload completes, GPS is skipped and the rest is kept
    assert result.exif == {"make": "Broken"}
    json.dumps(result.exif)


def test_read_exif_huge_maker_note_ignored(encode: Encode) -> None:
    # GIVEN a 60 KB maker note next to the camera fields
    exif = camera_exif(orientation=1)
    exif.get_ifd(0x8769)[0x927C] = b"\xde\xad" * 30_000
    data = _jpeg_with(exif, encode)

    # WHEN processed
    result = process_image(data, "image/jpeg", Settings(), include_gps=False)

    # THEN it completes and the summary is small and JSON-safe
    assert result.exif["model"] == CAMERA_MODEL
    assert len(json.dumps(result.exif)) < 200


def test_read_exif_wrong_types_and_values_skipped(encode: Encode) -> None:
    # GIVEN an out-of-range orientation, a non-date date, a control-character model
    exif = Image.Exif()
    exif[0x0112] = 9
    exif[0x0110] = "\x01\x02\x03"
    exif[0x0132] = "0000:00:00 00:00:00"
    exif.get_ifd(0x8769)[0x9003] = "yesterday"
    data = _jpeg_with(exif, encode)

    # WHEN processed
    result = process_image(data, "image/jpeg", Settings(), include_gps=True)

    # THEN every bad field is simply absent and no rotation is applied
    assert result.exif == {}
    assert (result.width, result.height) == (24, 16)


def test_read_exif_corrupt_block_does_not_raise(encode: Encode) -> None:
    # GIVEN a JPEG whose APP1 Exif segment is garbage after its header
    good = encode(Image.new("RGB", (24, 16)), "JPEG")
    garbage = b"Exif\x00\x00MM\x00*\x00\x00\xff\xf0" + b"\xff" * 64
    segment = b"\xff\xe1" + (len(garbage) + 2).to_bytes(2, "big") + garbage
    data = good[:2] + segment + good[2:]

    # WHEN processed
    result = process_image(data, "image/jpeg", Settings(), include_gps=True)

    # THEN the upload completes with an empty summary
    assert result.exif == {}


class _Hostile:
    """An Exif stand-in whose every accessor raises, as a buggy parser might."""

    def get(self, tag: int) -> Any:
        raise ValueError(tag)

    def get_ifd(self, tag: int) -> Any:
        raise OSError(tag)


def test_summarise_never_raises_on_parser_errors() -> None:
    # GIVEN an EXIF object that fails on every access
    # WHEN summarised
    info = summarise(_Hostile(), include_gps=True)  # type: ignore[arg-type]

    # THEN the summary is empty, not an exception
    assert info == {}
    assert orientation_of(_Hostile()) is None  # type: ignore[arg-type]

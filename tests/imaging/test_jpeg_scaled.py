"""JPEGs decode DCT-scaled to any eighth through simplejpeg (`imaging._decode_jpeg_scaled`), and
whatever that path does not decode cleanly goes back to Pillow, which decides as it always did."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import simplejpeg
from PIL import Image, ImageStat

from mediakit.corpus.samples import camera_exif, large_jpeg
from runtime import imaging
from runtime.errors import PermanentFault
from runtime.imaging import ProcessedImage, process_image
from runtime.settings import DerivativeSpec, Settings

Encode = Callable[..., bytes]
Reopen = Callable[[bytes], Image.Image]


def _run(data: bytes, settings: Settings) -> ProcessedImage:
    return process_image(data, "image/jpeg", settings, include_gps=False)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The (width, height) of every simplejpeg decode during the test."""
    seen: list[tuple[int, int]] = []
    real = simplejpeg.decode_jpeg

    def spy(*args: Any, **kwargs: Any) -> Any:
        pixels = real(*args, **kwargs)
        seen.append((pixels.shape[1], pixels.shape[0]))
        return pixels

    monkeypatch.setattr(imaging.simplejpeg, "decode_jpeg", spy)
    return seen


def _pillow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imaging, "_decode_jpeg_scaled", lambda *args: None)


def test_a_12_mp_photo_decodes_at_five_eighths_not_whole(
    decodes: list[tuple[int, int]], settings: Settings, reopen: Reopen
) -> None:
    # GIVEN a 4000x3000 photo and the default 2048 derivative (1/2 would be 2000x1500: too small)
    data = large_jpeg((4000, 3000))
    # WHEN processed
    result = _run(data, settings)
    # THEN libjpeg decoded it once at 5/8 (2500x1875), never whole, never below 2048x1536
    assert decodes == [(2500, 1875)]
    # AND the record keeps the header's size, the derivatives their exact sizes
    assert (result.width, result.height) == (4000, 3000)
    sizes = {d.name: reopen(d.body).size for d in result.derivatives}
    assert sizes == {"thumb": (320, 240), "medium": (1280, 960), "large": (2048, 1536)}


def test_scaled_and_pillow_decodes_render_the_same_picture(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, reopen: Reopen
) -> None:
    # GIVEN the same photo rendered through both decoders
    data = large_jpeg((4000, 3000))
    fast = {d.name: reopen(d.body) for d in _run(data, settings).derivatives}
    _pillow_only(monkeypatch)
    slow = {d.name: reopen(d.body) for d in _run(data, settings).derivatives}
    # THEN every derivative has the same colours (channel means within 2 of 255: a swapped
    # channel order or a wrong colour space would be off by tens)
    for name, image in fast.items():
        assert image.mode == slow[name].mode == "RGB"
        for a, b in zip(ImageStat.Stat(image).mean, ImageStat.Stat(slow[name]).mean, strict=True):
            assert abs(a - b) < 2, name


def test_orientation_still_applied_once(
    decodes: list[tuple[int, int]], settings: Settings, encode: Encode, reopen: Reopen
) -> None:
    # GIVEN a portrait shot stored landscape with EXIF Orientation 6
    image = Image.open(io.BytesIO(large_jpeg((4000, 3000))))
    data = encode(image, "JPEG", quality=85, exif=camera_exif(6))
    result = _run(data, settings)
    # THEN decoded scaled, and the derivatives stand upright (portrait)
    assert decodes
    assert (result.width, result.height) == (3000, 4000)
    large = next(d for d in result.derivatives if d.name == "large")
    assert reopen(large.body).size == (1536, 2048)


def test_greyscale_jpeg_renders_its_tones(
    decodes: list[tuple[int, int]],
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    encode: Encode,
    reopen: Reopen,
) -> None:
    # GIVEN a greyscale JPEG (one component)
    data = encode(Image.linear_gradient("L").resize((3000, 2000)), "JPEG", quality=85)
    fast = reopen(next(d for d in _run(data, settings).derivatives if d.name == "large").body)
    # THEN it went through simplejpeg's GRAY output, at 3/4 (2250x1500 >= 2048x1365)
    assert decodes == [(2250, 1500)]
    _pillow_only(monkeypatch)
    slow = reopen(next(d for d in _run(data, settings).derivatives if d.name == "large").body)
    # AND renders as Pillow's decode does: same size and mode, the same grey ramp
    assert fast.size == slow.size == (2048, 1365)
    assert fast.mode == slow.mode
    for a, b in zip(ImageStat.Stat(fast).mean, ImageStat.Stat(slow).mean, strict=True):
        assert abs(a - b) < 2
    assert fast.convert("L").getextrema() == pytest.approx(slow.convert("L").getextrema(), abs=3)


def test_cmyk_jpeg_is_left_to_pillow(
    decodes: list[tuple[int, int]], settings: Settings, encode: Encode, reopen: Reopen
) -> None:
    data = encode(Image.new("CMYK", (1200, 900), (0, 255, 255, 0)), "JPEG", quality=90)
    result = _run(data, settings)
    assert decodes == []
    assert reopen(result.derivatives[0].body).mode == "RGB"


def test_truncated_jpeg_still_fails_truncated(
    decodes: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    # GIVEN a photo cut off half way (libjpeg would pad the rest with grey and only warn)
    data = large_jpeg((1600, 1200))
    cut = data[: len(data) // 2]
    # WHEN processed THEN it fails exactly as Pillow alone decides: the scaled decode refused
    # it (strict) and gave it back, nothing padded was rendered
    with pytest.raises(PermanentFault) as fast:
        _run(cut, settings)
    assert decodes == []
    _pillow_only(monkeypatch)
    with pytest.raises(PermanentFault) as slow:
        _run(cut, settings)
    assert fast.value.code == slow.value.code == imaging.TRUNCATED


def test_a_jpeg_libjpeg_only_warns_about_still_completes(
    decodes: list[tuple[int, int]], settings: Settings, reopen: Reopen
) -> None:
    # GIVEN a JPEG with junk bytes before its end-of-image marker (libjpeg: "Corrupt JPEG data:
    # N extraneous bytes before marker 0xd9"), which Pillow has always accepted
    data = large_jpeg((1600, 1200))
    assert data.endswith(b"\xff\xd9")
    junk = data[:-2] + b"\x00" * 7 + b"\xff\xd9"
    # WHEN processed THEN strict simplejpeg refused it and Pillow rendered it, as before
    result = _run(junk, settings)
    assert decodes == []
    assert reopen(result.derivatives[0].body).size == (320, 240)


def test_small_jpeg_decodes_whole(
    decodes: list[tuple[int, int]], encode: Encode, reopen: Reopen
) -> None:
    # GIVEN a photo smaller than the one derivative: nothing to scale away
    settings = Settings(derivatives=(DerivativeSpec("large", 2048, "jpeg", 82),))
    data = encode(Image.new("RGB", (900, 600), (200, 30, 60)), "JPEG", quality=90)
    result = _run(data, settings)
    assert decodes == [(900, 600)]
    assert reopen(result.derivatives[0].body).size == (900, 600)


def test_a_decode_larger_than_the_header_is_not_trusted(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, encode: Encode, reopen: Reopen
) -> None:
    # GIVEN a decoder that hands back more pixels than the header (which the pixel budget was
    # checked against) claimed: a file whose frames disagree
    import numpy as np

    monkeypatch.setattr(
        imaging.simplejpeg, "decode_jpeg", lambda *a, **k: np.zeros((4000, 6000, 3), np.uint8)
    )
    data = encode(Image.new("RGB", (1200, 800), (10, 200, 30)), "JPEG", quality=90)
    # WHEN processed THEN Pillow's decode of the header's 1200x800 is what renders
    result = _run(data, settings)
    large = reopen(next(d for d in result.derivatives if d.name == "large").body)
    assert large.size == (1200, 800)
    assert large.getpixel((600, 400))[1] > 150  # the green picture, not the decoder's zeros


def test_a_frame_size_libjpeg_reads_differently_from_pillow_is_left_to_pillow(
    monkeypatch: pytest.MonkeyPatch, decodes: list[tuple[int, int]], settings: Settings
) -> None:
    # GIVEN a file whose frame libjpeg sizes otherwise than the header Pillow read (and the
    # pixel budget was checked against): libjpeg would allocate for its own size
    monkeypatch.setattr(
        imaging.simplejpeg, "decode_jpeg_header", lambda data: (40_000, 60_000, "YCbCr", "420")
    )
    data = large_jpeg((1600, 1200))
    # WHEN processed THEN nothing is decoded at libjpeg's size: Pillow's path renders it
    result = _run(data, settings)
    assert decodes == []
    assert (result.width, result.height) == (1600, 1200)

"""Every exception raised while handling an upload's bytes is a PermanentFault: what a decoder
raises is `corrupt_image`, a failed allocation or thread start is `processing_limit`."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PIL import Image

from mediakit.corpus.hostile import float_strip_offsets_tiff, plte_less_png
from runtime import imaging, metadata
from runtime.errors import PermanentFault, TransientFault
from runtime.imaging import process_image
from runtime.settings import Settings

Encode = Callable[..., bytes]


def _fault(data: bytes, declared: str, settings: Settings) -> PermanentFault:
    with pytest.raises(PermanentFault) as caught:
        process_image(data, declared, settings, include_gps=False)
    return caught.value


@pytest.fixture
def jpeg(encode: Encode) -> bytes:
    return encode(Image.new("RGB", (40, 30), (10, 200, 30)), "JPEG")


def _raising(exc: BaseException) -> Callable[..., object]:
    def raise_(*_args: object, **_kwargs: object) -> object:
        raise exc

    return raise_


def test_process_image_palette_png_without_plte_is_corrupt(settings: Settings) -> None:
    # GIVEN the 77-byte palette PNG without a PLTE chunk (Pillow asserts on it)
    data = plte_less_png()
    assert len(data) == 77

    # WHEN processed
    fault = _fault(data, "image/png", settings)

    # THEN the AssertionError became corrupt_image, named in the message
    assert fault.code == imaging.CORRUPT_IMAGE
    assert "AssertionError" in fault.message


def test_process_image_tiff_with_float_strip_offsets_is_corrupt(
    every_type_settings: Settings,
) -> None:
    # GIVEN a TIFF whose StripOffsets tag is typed FLOAT (Pillow raises TypeError)
    # WHEN processed with TIFF allowed
    fault = _fault(float_strip_offsets_tiff(), "image/tiff", every_type_settings)

    # THEN it is corrupt_image and says TypeError
    assert fault.code == imaging.CORRUPT_IMAGE
    assert fault.message.startswith("the image could not be processed: TypeError: ")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (MemoryError(), imaging.PROCESSING_LIMIT),
        (RuntimeError("can't start new thread"), imaging.PROCESSING_LIMIT),
        (OSError(12, "Cannot allocate memory"), imaging.PROCESSING_LIMIT),
        (RuntimeError("generator raised StopIteration"), imaging.CORRUPT_IMAGE),
        (KeyError("mode"), imaging.CORRUPT_IMAGE),
        (ZeroDivisionError("division by zero"), imaging.CORRUPT_IMAGE),
        (RecursionError("maximum recursion depth exceeded"), imaging.CORRUPT_IMAGE),
    ],
    ids=["memory", "thread", "enomem", "runtime", "key", "zero-division", "recursion"],
)
def test_process_image_exception_while_rendering_is_classified(
    exc: BaseException,
    code: str,
    jpeg: bytes,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a valid JPEG and a resize step that raises
    monkeypatch.setattr(imaging, "_resize", _raising(exc))

    # WHEN processed
    fault = _fault(jpeg, "image/jpeg", settings)

    # THEN the fault is permanent with the code that says whose limit it was
    assert fault.code == code
    assert type(exc).__name__ in fault.message or code == imaging.PROCESSING_LIMIT


@pytest.mark.parametrize(
    "target",
    [
        (Image.Image, "convert"),
        (Image.Image, "save"),
        (metadata, "read_exif"),
    ],
    ids=["convert", "encode", "exif"],
)
def test_process_image_any_step_raising_is_corrupt_image(
    target: tuple[object, str], settings: Settings, monkeypatch: pytest.MonkeyPatch, encode: Encode
) -> None:
    # GIVEN a palette PNG (so converting runs) and one processing step raising AssertionError
    data = encode(Image.new("P", (20, 20)), "PNG")
    monkeypatch.setattr(*target, _raising(AssertionError("inside the decoder")))

    # WHEN processed
    fault = _fault(data, "image/png", settings)

    # THEN it is corrupt_image, whichever step it was
    assert fault.code == imaging.CORRUPT_IMAGE
    assert "AssertionError: inside the decoder" in fault.message


def test_process_image_specific_codes_are_kept(
    sample_bytes: Callable[[str], bytes], settings: Settings
) -> None:
    # GIVEN files with a specific fault / WHEN processed
    # THEN they keep their codes (the catch-all does not swallow them)
    assert _fault(sample_bytes("truncated.jpg"), "image/jpeg", settings).code == "truncated"
    assert _fault(sample_bytes("bomb.png"), "image/png", settings).code == "decompression_bomb"


def test_process_image_pillow_bomb_error_from_any_step_is_a_bomb(
    jpeg: bytes, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Pillow's bomb error raised from a later step than open/load
    monkeypatch.setattr(imaging, "_resize", _raising(Image.DecompressionBombError("too big")))

    # WHEN processed / THEN it is still decompression_bomb
    assert _fault(jpeg, "image/jpeg", settings).code == imaging.DECOMPRESSION_BOMB


def test_process_image_transient_fault_stays_transient(
    jpeg: bytes, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a step raising one of our own transient faults
    monkeypatch.setattr(imaging, "_resize", _raising(TransientFault("try later")))

    # WHEN processed / THEN it is not turned into a permanent one
    with pytest.raises(TransientFault):
        process_image(jpeg, "image/jpeg", settings, include_gps=False)


def test_process_image_fault_message_is_bounded(
    jpeg: bytes, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a decoder error with a 10,000-character message
    monkeypatch.setattr(imaging, "_resize", _raising(ValueError("x" * 10_000)))

    # WHEN processed / THEN the record's message stays short
    fault = _fault(jpeg, "image/jpeg", settings)
    assert fault.code == imaging.CORRUPT_IMAGE
    assert len(fault.message) < 300


def test_fault_codes_name_every_code() -> None:
    # GIVEN the module's code constants / WHEN collected / THEN FAULT_CODES has each of them
    constants = {
        value
        for name, value in vars(imaging).items()
        if name.isupper() and isinstance(value, str) and value.islower() and "_" in value
    }
    assert constants <= imaging.FAULT_CODES
    assert {"corrupt_image", "processing_limit", "too_many_scans"} <= imaging.FAULT_CODES

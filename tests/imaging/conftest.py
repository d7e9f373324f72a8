"""Fixtures for the image core tests: settings, the generated samples and small image builders."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mediakit.corpus.samples import Sample, generate_samples
from runtime.settings import KNOWN_TYPES, DerivativeSpec, Settings

Encode = Callable[..., bytes]
Reopen = Callable[[bytes], Image.Image]


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Sample]:
    """Every demo sample, generated once per session, by filename."""
    out = tmp_path_factory.mktemp("samples")
    return {s.filename: s for s in generate_samples(out)}


@pytest.fixture
def settings() -> Settings:
    """The defaults: jpeg/png/webp allowed, thumb 320 / medium 1280 / large 2048 JPEG."""
    return Settings()


@pytest.fixture
def every_type_settings() -> Settings:
    """All known types allowed and one derivative per output format, small for speed."""
    return Settings(
        allowed_types=tuple(KNOWN_TYPES),
        derivatives=(
            DerivativeSpec("thumb", 64, "jpeg", 80),
            DerivativeSpec("alpha-png", 48, "png"),
            DerivativeSpec("alpha-webp", 32, "webp", 75),
        ),
    )


@pytest.fixture
def encode() -> Encode:
    """encode(image, "PNG", **save_options) -> bytes."""

    def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
        buf = io.BytesIO()
        image.save(buf, fmt, **options)
        return buf.getvalue()

    return _encode


@pytest.fixture
def reopen() -> Reopen:
    """reopen(body) -> a fully loaded Pillow image of an encoded derivative."""

    def _reopen(body: bytes) -> Image.Image:
        image = Image.open(io.BytesIO(body))
        image.load()
        return image

    return _reopen


@pytest.fixture
def sample_bytes(samples: dict[str, Sample]) -> Callable[[str], bytes]:
    def _read(filename: str) -> bytes:
        return Path(samples[filename].path).read_bytes()

    return _read


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + _s15(x) + _s15(y) + _s15(z)


def _desc(text: str) -> bytes:
    ascii_ = text.encode() + b"\x00"
    return (
        b"desc\x00\x00\x00\x00"
        + struct.pack(">I", len(ascii_))
        + ascii_
        + b"\x00" * 8  # no Unicode description
        + b"\x00" * 70  # no ScriptCode description
    )


@pytest.fixture(scope="session")
def swapped_rgb_profile() -> bytes:
    """An ICC v2 RGB profile whose red and green primaries are sRGB's green and red.

    Pixels tagged with it must come out with red and green exchanged once converted to sRGB:
    an unmistakable sign that the profile was applied (no such profile ships with Pillow).
    """
    gamma = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, 0x0233) + b"\x00\x00"  # 2.2
    red, green, blue = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)
    tags = [
        (b"desc", _desc("Swapped red/green test RGB")),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(*green)),
        (b"gXYZ", _xyz(*red)),
        (b"bXYZ", _xyz(*blue)),
        (b"rTRC", gamma),
        (b"gTRC", gamma),
        (b"bTRC", gamma),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += b"\x00" * (-len(data) % 4)  # tag data is 4-byte aligned
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"\x00" * 4
        + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ "
        + b"\x00" * 12
        + b"acsp"
        + b"\x00" * 28
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\x00" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body

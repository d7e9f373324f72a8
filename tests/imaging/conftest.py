"""Fixtures for the image core tests: settings, the generated samples and small image builders."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mediakit.samples import Sample, generate_samples
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

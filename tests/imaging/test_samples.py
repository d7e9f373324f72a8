"""The demo samples: each one ends the way it says it will, and generation is deterministic."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from mediakit.corpus.samples import Sample, contact_sheet, generate_samples
from runtime.errors import PermanentFault
from runtime.imaging import process_image
from runtime.settings import Settings

SAMPLE_NAMES = [
    "phone-photo.heic",
    "camera-photo.avif",
    "camera-photo.jpg",
    "transparent.png",
    "large-12mp.jpg",
    "truncated.jpg",
    "not-an-image.jpg",
    "png-declared-jpeg.jpg",
    "bomb.png",
]


@pytest.mark.parametrize("filename", SAMPLE_NAMES)
def test_sample_outcome_matches_expectation(
    filename: str, samples: dict[str, Sample], settings: Settings
) -> None:
    # GIVEN a generated sample and what it declares
    sample = samples[filename]
    data = Path(sample.path).read_bytes()

    # WHEN the processor's core runs on it
    try:
        result = process_image(data, sample.content_type, settings, include_gps=False)
    except PermanentFault as fault:
        status, code = "failed", fault.code
    else:
        status, code = "completed", None
        assert [d.name for d in result.derivatives] == ["thumb", "medium", "large"]

    # THEN the outcome is the one the sample promises
    assert (status, code) == (sample.expected_status, sample.expected_code)


def test_generate_samples_required_set_present(samples: dict[str, Sample]) -> None:
    # GIVEN the generated samples
    # WHEN we look at them by name
    # THEN the set is the documented one, with the required properties
    assert sorted(samples) == sorted(SAMPLE_NAMES)
    with Image.open(samples["large-12mp.jpg"].path) as large:
        assert (large.format, large.size) == ("JPEG", (4000, 3000))
    with Image.open(samples["transparent.png"].path) as alpha:
        assert alpha.mode == "RGBA"
    with Image.open(samples["camera-photo.jpg"].path) as photo:
        assert photo.getexif()[0x0112] == 6
        assert photo.width != photo.height
    assert samples["not-an-image.jpg"].path.read_bytes().startswith(b"<!doctype html>")
    assert len(samples["bomb.png"].path.read_bytes()) < 16 * 1024


def test_generate_samples_is_deterministic(tmp_path: Path, samples: dict[str, Sample]) -> None:
    # GIVEN a second generation into another folder
    # WHEN the files are compared byte for byte with the session's
    again = {s.filename: s for s in generate_samples(tmp_path)}

    # THEN they are identical
    for name, sample in samples.items():
        assert again[name].path.read_bytes() == sample.path.read_bytes(), name


def test_contact_sheet_grid_with_placeholder(
    tmp_path: Path, sample_bytes: Callable[[str], bytes]
) -> None:
    # GIVEN two images and one unreadable body
    images = [
        ("photo", sample_bytes("camera-photo.jpg")),
        ("alpha", sample_bytes("transparent.png")),
        ("junk", b"not an image"),
    ]

    # WHEN a contact sheet is written
    out = contact_sheet(images, tmp_path / "sheet.png")

    # THEN it is a PNG wide enough for three cells in one row
    with Image.open(out) as sheet:
        assert sheet.format == "PNG"
        assert sheet.width > 3 * 240 > sheet.height

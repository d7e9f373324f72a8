"""The seekable S3 reader: correct bytes, bounded bytes and requests, stable codes, and a large
generated video probed and postered with a few ranged GETs (moto)."""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media_support import BUCKET

from mediakit.corpus import media
from runtime.errors import PermanentFault, TransientFault
from runtime.media import faults
from runtime.media.poster import poster
from runtime.media.probe import probe
from runtime.media.ranged import Budget, RangedReader, sha256_file, sha256_object

BLOB = os.urandom(300_000)


@pytest.fixture(scope="module")
def long_mp4() -> bytes:
    """12 s of 1080p H.264 at about 1.6 MB/s (~19 MB), moov at the end."""
    return media.long_video(seconds=12, detail=8)


def _put(s3: Any, key: str, body: bytes) -> str:
    return str(s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(st.integers(0, len(BLOB) + 10), st.integers(-1, 70_000)),
        min_size=1,
        max_size=8,
    )
)
def test_reader_reads_what_a_bytesio_reads(s3: Any, steps: list[tuple[int, int]]) -> None:
    _put(s3, "blob", BLOB)
    reader = RangedReader(s3, BUCKET, "blob", block_size=4096, cache_blocks=4)
    reference = io.BytesIO(BLOB)
    for position, size in steps:
        assert reader.seek(position) == reference.seek(position)
        assert reader.read(size) == reference.read(size)
        assert reader.tell() == reference.tell()
    assert reader.seek(-10, io.SEEK_END) == len(BLOB) - 10


def test_reader_memory_is_bounded_by_its_cache(s3: Any) -> None:
    _put(s3, "blob", BLOB)
    reader = RangedReader(s3, BUCKET, "blob", block_size=4096, cache_blocks=3)
    while reader.read(5000):
        assert len(reader._blocks) <= 3
    assert reader.bytes_fetched == len(BLOB)  # sequential reads never fetch a byte twice


def test_reader_refuses_past_its_request_budget_and_remembers(s3: Any) -> None:
    _put(s3, "blob", BLOB)
    reader = RangedReader(
        s3, BUCKET, "blob", block_size=4096, read_ahead_blocks=0, budget=Budget(max_requests=2)
    )
    reader.read(4096)
    reader.read(4096)
    with pytest.raises(PermanentFault) as caught:
        reader.read(4096)
    assert caught.value.code == faults.READ_BUDGET_EXCEEDED
    assert reader.requests == 2
    reader.seek(0)
    with pytest.raises(PermanentFault):
        reader.read(1)  # a failed reader stays failed, even for cached bytes


def test_reader_refuses_past_its_byte_budget(s3: Any) -> None:
    _put(s3, "blob", BLOB)
    reader = RangedReader(s3, BUCKET, "blob", block_size=4096, budget=Budget(max_bytes=20_000))
    with pytest.raises(PermanentFault) as caught:
        reader.read(50_000)
    assert caught.value.code == faults.READ_BUDGET_EXCEEDED
    assert reader.bytes_fetched <= 20_000


def test_a_read_budget_overrun_inside_ffmpeg_keeps_its_code(s3: Any, long_mp4: bytes) -> None:
    # GIVEN a budget that covers the probe (2 GETs: the head and the moov at the end) but not
    # the poster's seek  THEN FFmpeg's failed read comes out as the reader's code, not as
    # FFmpeg's "invalid data"
    _put(s3, "long.mp4", long_mp4)
    assert probe(RangedReader(s3, BUCKET, "long.mp4", budget=Budget(max_requests=2)), "video/mp4")
    reader = RangedReader(s3, BUCKET, "long.mp4", budget=Budget(max_requests=2))
    with pytest.raises(PermanentFault) as caught:
        poster(reader, "video/mp4")
    assert caught.value.code == faults.READ_BUDGET_EXCEEDED
    assert reader.requests == 2


def test_large_video_is_probed_and_postered_with_a_few_ranged_gets(
    s3: Any, long_mp4: bytes
) -> None:
    # GIVEN a ~19 MB 1080p MP4 in S3 (moov at the end)
    _put(s3, "long.mp4", long_mp4)
    reader = RangedReader(s3, BUCKET, "long.mp4")
    # WHEN its poster is taken through ranged reads
    result = poster(reader, "video/mp4")
    # THEN the same poster as from the whole file, for a few GETs and a small share of bytes
    whole = poster(io.BytesIO(long_mp4), "video/mp4")
    assert result.info == whole.info
    assert result.info["duration_seconds"] == 12.0
    assert (result.info["width"], result.info["height"]) == (1920, 1080)
    assert result.seconds == whole.seconds == pytest.approx(1.2, abs=0.25)
    assert result.image.tobytes() == whole.image.tobytes()
    assert reader.requests <= 6
    assert reader.bytes_fetched <= 2_500_000
    assert reader.bytes_fetched < len(long_mp4) / 7


def test_reader_pins_the_first_version_it_saw(s3: Any) -> None:
    _put(s3, "blob", BLOB)
    reader = RangedReader(s3, BUCKET, "blob", block_size=4096, read_ahead_blocks=0)
    reader.read(10)
    _put(s3, "blob", os.urandom(len(BLOB)))  # replaced while we read
    reader.seek(100_000)
    with pytest.raises(TransientFault):
        reader.read(10)


def test_reader_with_a_version_id_reads_that_version(s3: Any) -> None:
    first = _put(s3, "blob", BLOB)
    _put(s3, "blob", b"newer")
    reader = RangedReader(s3, BUCKET, "blob", version_id=first, block_size=4096)
    assert reader.size == len(BLOB)
    reader.seek(200_000)
    assert reader.read(100) == BLOB[200_000:200_100]


def test_reader_of_a_missing_object_is_permanent(s3: Any) -> None:
    reader = RangedReader(s3, BUCKET, "nothing-here")
    with pytest.raises(PermanentFault) as caught:
        reader.read(10)
    assert caught.value.code == "object_missing"


def test_sha256_streams_the_object(s3: Any) -> None:
    version = _put(s3, "blob", BLOB)
    _put(s3, "blob", b"other")
    digest = sha256_object(s3, BUCKET, "blob", version_id=version, chunk=8192)
    assert digest.sha256 == hashlib.sha256(BLOB).hexdigest()
    assert digest.size == len(BLOB)
    assert sha256_file(io.BytesIO(BLOB), chunk=1000) == digest


def test_reader_rejects_bad_geometry(s3: Any) -> None:
    with pytest.raises(ValueError, match="block_size"):
        RangedReader(s3, BUCKET, "blob", block_size=100)


class _SlicingS3:
    """GetObject with S3's Range / Content-Range answers over bytes in memory. For the 1 GB case
    only: moto copies an object's whole value on every GET (minutes per request at 1 GB); the
    semantics are covered against moto on the 19 MB file above."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def get_object(self, *, Bucket: str, Key: str, Range: str, **_: Any) -> dict[str, Any]:
        first, last = (int(v) for v in Range.removeprefix("bytes=").split("-"))
        chunk = self.data[first : last + 1]
        return {
            "Body": io.BytesIO(chunk),
            "ContentRange": f"bytes {first}-{first + len(chunk) - 1}/{len(self.data)}",
            "ETag": '"stub"',
        }


@pytest.mark.media_long
def test_a_gigabyte_video_costs_a_few_requests() -> None:
    # 10 minutes of 1080p at ~1.6 MB/s: ~960 MB, probed and postered by ranged reads
    data = media.long_video(seconds=600, detail=8)
    reader = RangedReader(_SlicingS3(data), BUCKET, "huge.mp4")
    result = poster(reader, "video/mp4")
    assert result.info["duration_seconds"] == 600.0
    assert result.seconds == pytest.approx(60.0, abs=1.0)
    assert reader.requests <= 4
    assert reader.bytes_fetched <= 2_000_000

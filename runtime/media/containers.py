"""The real container of an audio/video upload, read from its bytes, and the one table that says
which declared types it may carry.

Why a hand-written sniffer: FFmpeg's own format probing is the attack surface we avoid (its
probe scores pick HLS, ffconcat or image2 from content), and no small maintained library reads
these signatures without pulling in a decoder. Every check here is a bounded read of a few
header bytes: ISO BMFF `ftyp` brands (MP4/M4A/MOV), the EBML header's DocType (Matroska/WebM),
`OggS`, `RIFF`/`RF64`..`WAVE`, `fLaC`, and MPEG audio / ADTS frame syncs (after an ID3v2 tag),
confirmed by a second frame header where the file has one.

The container decides the FFmpeg demuxer (`Sniffed.demuxer`), so FFmpeg never guesses. The
kind (audio or video) is decided later by the streams present (`decide_kind`): WebM, Matroska
and MP4 hold either.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import BinaryIO

from runtime import mediatypes
from runtime.media.faults import (
    NO_MEDIA_STREAMS,
    NOT_MEDIA,
    TRUNCATED,
    TYPE_MISMATCH,
    UNSUPPORTED_TYPE,
    fault,
)

AUDIO = "audio"
VIDEO = "video"

# Container -> FFmpeg demuxer, the only one `runtime.media.opening` will run on it.
DEMUXERS: dict[str, str] = {
    "mp4": "mov",
    "mov": "mov",
    "webm": "matroska",
    "matroska": "matroska",
    "ogg": "ogg",
    "wav": "wav",
    "flac": "flac",
    "mp3": "mp3",
    "aac": "aac",
}


@dataclass(frozen=True)
class MediaType:
    """A canonical declared type: the kind it announces and the containers it may be."""

    kind: str
    containers: frozenset[str]


def _type(kind: str, *containers: str) -> MediaType:
    return MediaType(kind, frozenset(containers))


# Canonical declared type -> what it may be. MP4 and QuickTime are one ISO BMFF family read by
# one demuxer, so each admits the other's brands (phones and browsers mix them up; no parser
# changes with the label). `audio/aac` is mostly ADTS, but browsers also give it to `.m4a`.
MEDIA_TYPES: dict[str, MediaType] = {
    "audio/mpeg": _type(AUDIO, "mp3"),
    "audio/mp4": _type(AUDIO, "mp4", "mov"),
    "audio/aac": _type(AUDIO, "aac", "mp4"),
    "audio/wav": _type(AUDIO, "wav"),
    "audio/ogg": _type(AUDIO, "ogg"),
    "audio/webm": _type(AUDIO, "webm"),
    "audio/flac": _type(AUDIO, "flac"),
    "video/mp4": _type(VIDEO, "mp4", "mov"),
    "video/quicktime": _type(VIDEO, "mov", "mp4"),
    "video/webm": _type(VIDEO, "webm"),
    "video/x-matroska": _type(VIDEO, "matroska", "webm"),
}
# What browsers, phones and upload widgets declare instead: the audio/video part of the one alias
# table (`runtime.mediatypes.ALIASES`, which also holds the images').
ALIASES: dict[str, str] = {
    alias: target for alias, target in mediatypes.ALIASES.items() if target in MEDIA_TYPES
}

# ISO BMFF brands of still images (HEIF/AVIF): the image path's, never media.
_IMAGE_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"mif2"}
    | {b"msf1", b"avif", b"avis", b"avio"}
)
# Top-level atoms an old QuickTime file may start with when it has no `ftyp`.
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_EBML_DOCTYPE = 0x4282
_MAX_EBML_HEADER = 4096
_HEAD = 4096
# An ID3v2 tag can hold cover art; past this we do not look for the audio behind it.
_MAX_ID3_BYTES = 16 * 1024 * 1024
# Zero padding some encoders leave between an ID3 tag and the first frame.
_MAX_PADDING = 4096


@dataclass(frozen=True)
class Sniffed:
    """What the bytes are: `container` (a DEMUXERS key), the FFmpeg `demuxer` fixed for it, and
    a `detail` (the MP4 major brand, the Ogg codec, the MPEG audio layer) for logs."""

    container: str
    demuxer: str
    detail: str = ""


def normalise(value: str) -> str:
    """`Audio/WebM; codecs=opus` -> `audio/webm`: MediaRecorder's parameters never matter."""
    return value.split(";", 1)[0].strip().lower()


def canonical_type(declared: str) -> str | None:
    """The canonical audio/video type for a declared one, or None when it names no such type."""
    name = normalise(declared)
    name = ALIASES.get(name, name)
    return name if name in MEDIA_TYPES else None


def sniff(source: BinaryIO) -> Sniffed | None:
    """The container of a seekable file object (read from offset 0; the position is left
    wherever the sniff ended), or None when it is nothing we accept."""
    source.seek(0)
    head = source.read(_HEAD)
    if len(head) < 4:
        return None
    found = _sniff_fixed(head)
    if found is not None:
        return found
    return _sniff_mpeg_audio(source, head)


def sniff_bytes(data: bytes) -> Sniffed | None:
    """`sniff` over bytes already in memory."""
    return sniff(io.BytesIO(data))


def check_declared(declared: str, sniffed: Sniffed | None) -> str:
    """The canonical declared type, once the bytes are known to be a container it may be.

    Raises `unsupported_type` (not an audio/video type), `not_media` (the bytes are no container
    we accept) or `type_mismatch` (a container the declared type cannot be).
    """
    canonical = canonical_type(declared)
    if canonical is None:
        raise fault(UNSUPPORTED_TYPE, f"{normalise(declared)!r} is not an audio or video type")
    if sniffed is None:
        raise fault(NOT_MEDIA, f"the file is not audio or video (declared {canonical})")
    if sniffed.container not in MEDIA_TYPES[canonical].containers:
        raise fault(
            TYPE_MISMATCH,
            f"declared {canonical} but the file is {sniffed.container}",
        )
    return canonical


def decide_kind(canonical: str, *, has_video: bool, has_audio: bool) -> str:
    """`video` when a video stream is present (cover art does not count), else `audio`.

    A video type holding only audio is audio (a WebM or MP4 recording without a camera); an
    audio type holding video is a mismatch: it would get audio's budgets and a waveform.
    """
    declared_kind = MEDIA_TYPES[canonical].kind
    if has_video:
        if declared_kind == AUDIO:
            raise fault(TYPE_MISMATCH, f"declared {canonical} but the file holds video")
        return VIDEO
    if has_audio:
        return AUDIO
    raise fault(NO_MEDIA_STREAMS, "the file holds neither audio nor video")


# --- signatures


def _sniff_fixed(head: bytes) -> Sniffed | None:
    """Signatures at fixed offsets: ISO BMFF, EBML, Ogg, RIFF/RF64 WAVE, FLAC."""
    if head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
    first_size = struct.unpack(">I", head[:4])[0]
    if head[4:8] in _QUICKTIME_ATOMS and (first_size in (0, 1) or first_size >= 8):
        # 0: the atom runs to the end of the file; 1: a 64-bit size follows.
        return Sniffed("mov", DEMUXERS["mov"], head[4:8].decode("latin-1"))
    if head[:4] == _EBML_MAGIC:
        return _sniff_ebml(head)
    if head[:4] == b"OggS" and len(head) >= 28 and head[4] == 0:
        return Sniffed("ogg", DEMUXERS["ogg"], _ogg_codec(head))
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return Sniffed("wav", DEMUXERS["wav"], head[:4].decode("latin-1"))
    if head[:4] == b"fLaC":
        return Sniffed("flac", DEMUXERS["flac"])
    return None


def _sniff_ftyp(head: bytes) -> Sniffed | None:
    size = struct.unpack(">I", head[:4])[0]
    if size < 16 or size > len(head) or (size - 16) % 4:
        return None
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, size, 4)}
    if major in _IMAGE_BRANDS:
        return None  # HEIF/AVIF: a still image, the image path's
    container = "mov" if major == b"qt  " else "mp4"
    if not brands - _IMAGE_BRANDS:
        return None
    return Sniffed(container, DEMUXERS[container], major.decode("latin-1").strip())


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at `pos`: (value, next position), or None."""
    if pos >= len(data) or data[pos] == 0:
        return None
    first = data[pos]
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        return None
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, pos + length


def _sniff_ebml(head: bytes) -> Sniffed | None:
    size = _vint(head, 4, keep_marker=False)
    if size is None:
        return None
    length, pos = size
    end = min(pos + length, len(head), _MAX_EBML_HEADER)
    while pos < end:
        element = _vint(head, pos, keep_marker=True)
        if element is None:
            return None
        element_id, pos = element
        element_size = _vint(head, pos, keep_marker=False)
        if element_size is None:
            return None
        size_value, pos = element_size
        if element_id == _EBML_DOCTYPE:
            doctype = head[pos : pos + size_value].rstrip(b"\x00")
            if doctype == b"webm":
                return Sniffed("webm", DEMUXERS["webm"], "webm")
            if doctype == b"matroska":
                return Sniffed("matroska", DEMUXERS["matroska"], "matroska")
            return None
        pos += size_value
    return None


def _ogg_codec(head: bytes) -> str:
    """The codec named by the first Ogg packet (a hint for logs; the probe decides)."""
    segments = head[26]
    payload = head[27 + segments : 27 + segments + 8]
    for prefix, name in (
        (b"OpusHead", "opus"),
        (b"\x01vorbis", "vorbis"),
        (b"\x7fFLAC", "flac"),
        (b"\x80theora", "theora"),
        (b"Speex   ", "speex"),
    ):
        if payload.startswith(prefix):
            return name
    return "unknown"


# --- MPEG audio and ADTS

_MPEG_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {1: (44100, 48000, 32000), 2: (22050, 24000, 16000), 25: (11025, 12000, 8000)}
_MPEG_VERSIONS = {3: 1, 2: 2, 0: 25}  # header bits -> MPEG-1, MPEG-2, MPEG-2.5
_MPEG_LAYERS = {3: 1, 2: 2, 1: 3}  # header bits -> layer I, II, III
_ADTS_RATES = 13  # sampling frequency indexes 0..12 are defined


def _mpeg_frame(header: bytes) -> tuple[str, int, tuple[int, ...]] | None:
    """(`mp3` or `aac`, frame length, fields the next frame must repeat) for a frame header."""
    if len(header) < 7 or header[0] != 0xFF:
        return None
    b1, b2 = header[1], header[2]
    if b1 & 0xF6 == 0xF0:  # ADTS: 12-bit sync, layer 00
        rate = (b2 >> 2) & 0x0F
        length = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
        if rate >= _ADTS_RATES or length < 7:
            return None
        return "aac", length, (b1 & 0xF8, rate)
    if b1 & 0xE0 != 0xE0:
        return None
    version = _MPEG_VERSIONS.get((b1 >> 3) & 0x03)
    layer = _MPEG_LAYERS.get((b1 >> 1) & 0x03)
    bitrate_index, rate_index = b2 >> 4, (b2 >> 2) & 0x03
    if version is None or layer is None or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved fields, or free format (which no one writes)
    bitrate = _MPEG_BITRATES[(1 if version == 1 else 2, layer)][bitrate_index] * 1000
    rate = _MPEG_RATES[version][rate_index]
    padding = (b2 >> 1) & 0x01
    if layer == 1:
        length = (12 * bitrate // rate + padding) * 4
    elif layer == 3 and version != 1:
        length = 72 * bitrate // rate + padding
    else:
        length = 144 * bitrate // rate + padding
    return "mp3", length, (b1 & 0xFE, rate_index)


def _sniff_mpeg_audio(source: BinaryIO, head: bytes) -> Sniffed | None:
    offset = 0
    if head[:3] == b"ID3" and len(head) >= 10:
        sizes = head[6:10]
        if any(b & 0x80 for b in sizes):
            return None  # not a syncsafe size: not an ID3v2 tag
        tag = (sizes[0] << 21) | (sizes[1] << 14) | (sizes[2] << 7) | sizes[3]
        offset = 10 + tag + (10 if head[5] & 0x10 else 0)
        if offset > _MAX_ID3_BYTES:
            return None
    source.seek(offset)
    window = source.read(_MAX_PADDING + 8)
    start = 0
    if offset:
        while start < min(len(window), _MAX_PADDING) and window[start] == 0:
            start += 1
    frame = _mpeg_frame(window[start : start + 7])
    if frame is None:
        return None
    name, length, fields = frame
    source.seek(offset + start + length)
    following = source.read(7)
    if len(following) >= 7:
        second = _mpeg_frame(following)
        if second is None or second[0] != name or second[2] != fields:
            return None
    elif size_of(source) < offset + start + length:
        return None  # shorter than its one frame: two sync bytes by chance, not audio
    detail = "adts" if name == "aac" else f"layer {_MPEG_LAYERS[(window[start + 1] >> 1) & 3]}"
    return Sniffed(name, DEMUXERS[name], detail)


# --- what exists, for tests and docs


def declared_types() -> dict[str, str]:
    """Every accepted declared name (canonical types and aliases) -> its canonical type."""
    table = {name: name for name in MEDIA_TYPES}
    table.update(ALIASES)
    return table


def _check_tables() -> None:
    for alias, target in ALIASES.items():
        if target not in MEDIA_TYPES or alias in MEDIA_TYPES:
            raise AssertionError(f"alias {alias!r} -> {target!r} is not a canonical type")
    for name, media_type in MEDIA_TYPES.items():
        unknown = media_type.containers - DEMUXERS.keys()
        if unknown:
            raise AssertionError(f"{name} names unknown containers {sorted(unknown)}")


_check_tables()


# --- layout: the few structural facts FFmpeg would only report as "invalid data"

_MAX_TOP_LEVEL = 64


def size_of(source: BinaryIO) -> int:
    """The length of a seekable file object (its position is left at the end)."""
    return source.seek(0, io.SEEK_END)


def check_layout(source: BinaryIO, sniffed: Sniffed) -> None:
    """Refuse, with a stable code, the truncations FFmpeg reports only as invalid data: an
    ISO BMFF file without a complete `moov`, a RIFF WAVE whose data chunk claims more bytes
    than the file holds. A bounded walk of top-level headers (seeks, a few bytes each)."""
    size = size_of(source)
    if sniffed.demuxer == "mov":
        _check_moov(source, size)
    elif sniffed.container == "wav":
        _check_wave(source, size)


def _check_moov(source: BinaryIO, size: int) -> None:
    position = 0
    for _ in range(_MAX_TOP_LEVEL):
        if position + 8 > size:
            break
        source.seek(position)
        header = source.read(16)
        box_size, kind = struct.unpack(">I4s", header[:8])
        if box_size == 1 and len(header) == 16:
            box_size = struct.unpack(">Q", header[8:16])[0]
        elif box_size == 0:
            box_size = size - position
        if box_size < 8:
            break
        if kind == b"moov":
            if position + box_size > size:
                raise fault(TRUNCATED, "the file ends inside its moov atom")
            return
        position += box_size
    raise fault(TRUNCATED, "the file has no moov atom (an MP4/MOV cut short, or still uploading)")


def _check_wave(source: BinaryIO, size: int) -> None:
    source.seek(0)
    if source.read(4) != b"RIFF":
        return  # RF64/BW64 carry their real sizes in a ds64 chunk; FFmpeg reads those
    position = 12
    for _ in range(_MAX_TOP_LEVEL):
        source.seek(position)
        header = source.read(8)
        if len(header) < 8:
            break
        kind, chunk_size = struct.unpack("<4sI", header)
        if kind == b"data":
            if position + 8 + chunk_size > size:
                raise fault(
                    TRUNCATED,
                    f"the WAV data chunk claims {chunk_size} bytes; {size - position - 8} follow",
                )
            return
        position += 8 + chunk_size + (chunk_size & 1)
    raise fault(TRUNCATED, "the WAV file has no data chunk")

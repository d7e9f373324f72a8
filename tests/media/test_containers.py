"""The real container from the bytes, checked against the declared type through one table."""

from __future__ import annotations

import io
import struct

import pytest

from mediakit.corpus import media
from runtime.errors import PermanentFault
from runtime.media import containers, faults
from runtime.media.containers import (
    ALIASES,
    MEDIA_TYPES,
    canonical_type,
    check_declared,
    decide_kind,
    sniff_bytes,
)


@pytest.mark.parametrize("entry", media.SAMPLES, ids=lambda s: s.name)
def test_sniff_finds_each_samples_container(entry: media.MediaSample) -> None:
    # GIVEN a sample encoded by FFmpeg  WHEN sniffed  THEN its real container, fixed demuxer
    found = sniff_bytes(entry.data)
    assert found is not None
    assert found.container == entry.container
    assert found.demuxer == containers.DEMUXERS[entry.container]


@pytest.mark.parametrize(
    ("declared", "canonical"),
    [
        ("audio/x-m4a", "audio/mp4"),
        ("audio/x-wav", "audio/wav"),
        ("audio/vnd.wave", "audio/wav"),
        ("audio/wave", "audio/wav"),
        ("audio/mp3", "audio/mpeg"),
        ("audio/x-flac", "audio/flac"),
        ("Audio/WebM; codecs=opus", "audio/webm"),
        ("video/webm;codecs=vp8,opus", "video/webm"),
        ("video/x-m4v", "video/mp4"),
        ("VIDEO/QUICKTIME", "video/quicktime"),
        ("image/jpeg", None),
        ("application/x-mpegurl", None),
        ("", None),
    ],
)
def test_canonical_type_resolves_browser_aliases(declared: str, canonical: str | None) -> None:
    assert canonical_type(declared) == canonical


def test_alias_table_names_only_canonical_types() -> None:
    assert set(ALIASES.values()) <= set(MEDIA_TYPES)
    assert not set(ALIASES) & set(MEDIA_TYPES)
    assert set(containers.declared_types()) == set(ALIASES) | set(MEDIA_TYPES)


@pytest.mark.parametrize(
    ("sample_name", "declared"),
    [
        ("song.m4a", "audio/x-m4a"),
        ("song.m4a", "audio/aac"),  # browsers give .m4a this name too
        ("song.wav", "audio/vnd.wave"),
        ("song.mp3", "audio/mpeg"),
        ("clip.mp4", "video/quicktime"),  # one ISO BMFF family, one demuxer
        ("rotated.mov", "video/mp4"),
        ("clip.webm", "video/x-matroska"),  # WebM is Matroska
    ],
)
def test_check_declared_accepts_compatible_declarations(sample_name: str, declared: str) -> None:
    assert check_declared(declared, sniff_bytes(media.sample(sample_name).data))


@pytest.mark.parametrize(
    ("sample_name", "declared", "code"),
    [
        ("song.mp3", "video/mp4", faults.TYPE_MISMATCH),
        ("clip.mkv", "video/webm", faults.TYPE_MISMATCH),  # Matroska is not WebM
        ("song.flac", "audio/ogg", faults.TYPE_MISMATCH),
        ("song.wav", "audio/mpeg", faults.TYPE_MISMATCH),
        ("clip.mp4", "image/png", faults.UNSUPPORTED_TYPE),
        ("clip.mp4", "application/vnd.apple.mpegurl", faults.UNSUPPORTED_TYPE),
    ],
)
def test_check_declared_refuses_mismatches(sample_name: str, declared: str, code: str) -> None:
    with pytest.raises(PermanentFault) as caught:
        check_declared(declared, sniff_bytes(media.sample(sample_name).data))
    assert caught.value.code == code


@pytest.mark.parametrize(
    "data",
    [
        b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n",
        b"ffconcat version 1.0\nfile /etc/passwd\n",
        b"\x89PNG\r\n\x1a\n" + bytes(64),
        b"\xff\xd8\xff\xe0" + bytes(64),
        b"RIFF\x10\x00\x00\x00AVI LIST",
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",  # a HEIC photo: the image path's
        b"\x00\x00\x00\x14ftypavif\x00\x00\x00\x00avif",
        b"\x1a\x45\xdf\xa3\x84\x42\x82\x81x",  # EBML of another DocType
        b"\xff\xfb\x90\x00" + bytes(40),  # one MP3 frame header followed by no second one
        b"ID3\x04\x00\x00\x00\x00\x00\x10" + bytes(16) + b"not audio",
        b"",
        b"OggS",
    ],
    ids=[
        "hls",
        "ffconcat",
        "png",
        "jpeg",
        "avi",
        "heic",
        "avif",
        "ebml-other",
        "lone-sync",
        "id3-no-audio",
        "empty",
        "ogg-stub",
    ],
)
def test_sniff_refuses_what_is_not_an_accepted_container(data: bytes) -> None:
    assert sniff_bytes(data) is None


def test_sniff_finds_mp3_behind_a_large_id3_tag() -> None:
    # GIVEN an MP3 with 300 KB of cover art in an ID3v2 tag (past the sniff's first read)
    mp3 = media.sample("song.mp3").data
    body = mp3[10 + _id3_size(mp3) :] if mp3[:3] == b"ID3" else mp3
    art = bytes(300_000)
    tag = b"ID3\x04\x00\x00" + _syncsafe(len(art)) + art
    # WHEN sniffed  THEN the frame behind the tag decides
    found = sniff_bytes(tag + body)
    assert found is not None
    assert found.container == "mp3"


def test_sniff_tells_webm_from_matroska_by_doctype() -> None:
    webm = sniff_bytes(media.sample("clip.webm").data)
    mkv = sniff_bytes(media.sample("clip.mkv").data)
    assert webm is not None
    assert mkv is not None
    assert (webm.container, mkv.container) == ("webm", "matroska")
    assert webm.demuxer == mkv.demuxer == "matroska"


@pytest.mark.parametrize(
    ("declared", "has_video", "has_audio", "kind"),
    [
        ("video/webm", True, True, "video"),
        ("video/webm", False, True, "audio"),  # a recording without a camera
        ("video/mp4", False, True, "audio"),
        ("audio/webm", False, True, "audio"),
    ],
)
def test_decide_kind_follows_the_streams(
    declared: str, has_video: bool, has_audio: bool, kind: str
) -> None:
    assert decide_kind(declared, has_video=has_video, has_audio=has_audio) == kind


def test_decide_kind_refuses_video_in_an_audio_type_and_empty_files() -> None:
    with pytest.raises(PermanentFault) as video:
        decide_kind("audio/mp4", has_video=True, has_audio=True)
    with pytest.raises(PermanentFault) as nothing:
        decide_kind("video/mp4", has_video=False, has_audio=False)
    assert video.value.code == faults.TYPE_MISMATCH
    assert nothing.value.code == faults.NO_MEDIA_STREAMS


def test_check_layout_finds_moov_after_a_large_mdat() -> None:
    # GIVEN FFmpeg's default layout (moov last) WHEN checked THEN fine; cut before it: truncated
    data = media.sample("clip.mp4").data
    sniffed = sniff_bytes(data)
    assert sniffed is not None
    containers.check_layout(io.BytesIO(data), sniffed)
    with pytest.raises(PermanentFault) as caught:
        containers.check_layout(io.BytesIO(data[: data.find(b"moov") + 64]), sniffed)
    assert caught.value.code == faults.TRUNCATED


def _id3_size(data: bytes) -> int:
    s = data[6:10]
    return (s[0] << 21) | (s[1] << 14) | (s[2] << 7) | s[3]


def _syncsafe(n: int) -> bytes:
    return struct.pack("4B", (n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F)

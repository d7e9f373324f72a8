"""The one way runtime/media opens uploaded bytes with FFmpeg: custom IO over a file object, the
demuxer fixed from the sniffed container, allow-listed decoders, no protocols, bounded probing.

FFmpeg is a large attack surface: its demuxers can follow nested URLs and files (an HLS playlist
or an ffconcat list inside an ".mp4" can make it read `/proc/self/environ`, which holds the
role's credentials on Lambda, and render it into a poster). Layers, each enough on its own for
the published attacks:

1. The bytes are sniffed first (`containers.sniff`): a playlist, a concat list or an image is
   `not_media` before FFmpeg sees a byte.
2. The demuxer is fixed (`format=`) and must be one of ALLOWED_DEMUXERS; `format_whitelist`
   names it again, so no nested demuxer (HLS, concat, image2, subfile...) can be chosen.
3. Input is a Python file object (FFmpeg custom IO): FFmpeg is given no URL, and
   `protocol_whitelist` names no protocol, so `file:`, `http:`, `concat:`, `subfile:` and friends
   cannot be opened by the URL layer.
4. Every nested open a demuxer attempts goes through `io_open`, which refuses and records it;
   a file that tried fails `nested_reference` even if the demuxer carried on.
5. `enable_drefs=0` / `use_absolute_path=0`: QuickTime data references are not followed.
6. Decoders: `codec_whitelist` for FFmpeg's own probing and DECODERS for everything we decode;
   `max_pixels` bounds every frame a decoder allocates, `threads=1` keeps memory predictable.
7. `probesize`, `analyzeduration` and `max_streams` bound the work done while opening.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, BinaryIO

import av
import av.error
from av.container import InputContainer

from runtime.errors import MediakitError, PermanentFault
from runtime.media.containers import DEMUXERS, Sniffed
from runtime.media.faults import (
    CORRUPT_MEDIA,
    NESTED_REFERENCE,
    NOT_MEDIA,
    PROCESSING_LIMIT,
    TRUNCATED,
    UNSUPPORTED_CODEC,
    MediaLimits,
    fault,
)

ALLOWED_DEMUXERS = frozenset(DEMUXERS.values())
# FFmpeg decoder names (AVCodec.name) we run on uploads. Video: the codecs phones, cameras,
# browsers and screen recorders write; audio: the same plus lossless and PCM.
VIDEO_DECODERS = frozenset({"h264", "hevc", "vp8", "vp9", "libdav1d", "av1", "mpeg4", "prores"})
AUDIO_DECODERS = frozenset(
    {"aac", "aac_fixed", "mp3float", "mp3", "mp2float", "mp2", "opus", "vorbis", "flac", "alac"}
    | {"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le", "pcm_u8"}
    | {"pcm_alaw", "pcm_mulaw"}
)
DECODERS = VIDEO_DECODERS | AUDIO_DECODERS
# Bytes FFmpeg asks of the file object per read (and so the largest read it makes).
IO_BUFFER_BYTES = 64 * 1024
# No protocol is called this: every URL FFmpeg's URL layer is handed is refused.
NO_PROTOCOL = "none"
_MAX_MESSAGE = 300


class NestedOpenRefused(PermissionError):
    """Raised to FFmpeg from `io_open`: a demuxer asked for another file or URL."""


class _Guard:
    """Refuses and remembers every nested open FFmpeg attempts."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def io_open(self, url: str, flags: int, options: dict[str, Any]) -> Any:
        self.attempts.append(url[:200])
        raise NestedOpenRefused(f"nested open refused: {url[:200]}")


def container_options(demuxer: str, limits: MediaLimits) -> dict[str, str]:
    """avformat_open_input's options: the security switches and the probing bounds."""
    return {
        "protocol_whitelist": NO_PROTOCOL,
        "format_whitelist": demuxer,
        "codec_whitelist": ",".join(sorted(DECODERS)),
        "probesize": str(limits.probe_bytes),
        "analyzeduration": str(limits.analyze_microseconds),
        # One more than we accept, so a file over the limit is seen as such (and no more).
        "max_streams": str(limits.max_streams + 1),
        "enable_drefs": "0",
        "use_absolute_path": "0",
    }


def codec_options(limits: MediaLimits) -> dict[str, str]:
    """Options every decoder gets (FFmpeg's probing decoders and ours). FFmpeg checks
    `max_pixels` against the coded size (macroblock-aligned: 1080 lines are coded as 1088),
    so it gets headroom; the exact limit is ours, on the stream's size, before decoding."""
    headroom = limits.max_frame_pixels // 4 + 128 * 128
    return {"threads": "1", "max_pixels": str(limits.max_frame_pixels + headroom)}


@contextlib.contextmanager
def open_media(source: BinaryIO, sniffed: Sniffed, limits: MediaLimits) -> Iterator[InputContainer]:
    """An FFmpeg container over `source` with the sniffed demuxer and every guard above.

    Errors raised inside the block (and while opening) come out as PermanentFault with a
    `runtime.media.faults` code; our own faults (a read budget, a limit) pass through.
    """
    if sniffed.demuxer not in ALLOWED_DEMUXERS:
        raise fault(NOT_MEDIA, f"no demuxer is allowed for {sniffed.container}")
    guard = _Guard()
    source.seek(0)
    with translated(guard, source):
        container = av.open(
            source,
            mode="r",
            format=sniffed.demuxer,
            options=codec_options(limits),
            container_options=container_options(sniffed.demuxer, limits),
            metadata_errors="replace",
            buffer_size=IO_BUFFER_BYTES,
            io_open=guard.io_open,
        )
        try:
            yield container
        finally:
            container.close()
    if guard.attempts:
        raise _nested(guard)
    _raise_source_failure(source)


def _raise_source_failure(source: object) -> None:
    """A reader that failed (a read budget, S3) may have been seen by FFmpeg as an early end of
    file; its own error is the truth (`ranged.RangedReader.failure`)."""
    failure = getattr(source, "failure", None)
    if isinstance(failure, MediakitError):
        raise failure


def prepare_decoder(stream: av.stream.Stream, limits: MediaLimits) -> None:
    """Bound a stream's decoder before its first packet: one thread, `max_pixels` per frame."""
    context = stream.codec_context
    if context is None or context.name not in DECODERS:
        name = context.name if context is not None else "none"
        raise fault(UNSUPPORTED_CODEC, f"stream {stream.index}: decoder {name} is not allowed")
    if not context.is_open:
        context.thread_count = 1
        context.options = codec_options(limits)


def _nested(guard: _Guard) -> PermanentFault:
    return fault(
        NESTED_REFERENCE,
        f"the file asked FFmpeg to open {len(guard.attempts)} other file(s) or URL(s); refused",
    )


@contextlib.contextmanager
def translated(guard: _Guard | None = None, source: object = None) -> Iterator[None]:
    """FFmpeg's and PyAV's exceptions as permanent media faults. Ours pass through, and so does
    the error of a `source` that failed underneath FFmpeg (a read budget, S3)."""
    try:
        yield
    except MediakitError:
        raise
    except Exception as exc:
        _raise_source_failure(source)
        raise _as_fault(exc, guard) from None


def _as_fault(exc: Exception, guard: _Guard | None) -> PermanentFault:
    if isinstance(exc, NestedOpenRefused) or (guard is not None and guard.attempts):
        return _nested(guard or _Guard())
    if isinstance(exc, MemoryError | av.error.MemoryError):
        return fault(PROCESSING_LIMIT, "decoding ran out of its memory budget")
    if isinstance(exc, av.error.EOFError):
        return fault(TRUNCATED, f"the file ends early: {_describe(exc)}")
    # Whatever FFmpeg refuses on these bytes it refuses on every retry.
    return fault(CORRUPT_MEDIA, f"the file could not be read: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."

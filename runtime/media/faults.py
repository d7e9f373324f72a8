"""The error codes of runtime/media and the limits its functions take (with their defaults).

Every code is permanent: the same bytes fail the same way on every retry. The processor records
it on the upload (`failed`, `code`). The limits are arguments, not settings reads, so the
functions stay pure; the settings model can hand its values in when this package is wired.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.errors import PermanentFault

EMPTY_FILE = "empty_file"
# The bytes are no audio/video container we accept (an HLS or ffconcat playlist, an image,
# HTML...), whatever was declared.
NOT_MEDIA = "not_media"
# The declared type is no audio/video type we know.
UNSUPPORTED_TYPE = "unsupported_type"
# The bytes are a container the declared type cannot be, or hold a kind it cannot hold.
TYPE_MISMATCH = "type_mismatch"
# A stream coded with a decoder outside the allow-list, or no decoder at all.
UNSUPPORTED_CODEC = "unsupported_codec"
# Neither an audio nor a video stream.
NO_MEDIA_STREAMS = "no_media_streams"
TOO_MANY_STREAMS = "too_many_streams"
# The container states no duration, or zero.
ZERO_DURATION = "zero_duration"
DURATION_TOO_LONG = "duration_too_long"
# A frame over the pixel limit (or a non-positive dimension).
FRAME_TOO_LARGE = "frame_too_large"
# A container cut short: an MP4 without `moov`, a WAV whose header claims more samples than it
# carries, a stream that ends before its first frame.
TRUNCATED = "truncated"
# Whatever else FFmpeg refuses to demux or decode.
CORRUPT_MEDIA = "corrupt_media"
# The demuxer tried to open another file or URL (a data reference, a playlist entry): refused.
NESTED_REFERENCE = "nested_reference"
# More bytes or GET requests than the ranged reader's budget.
READ_BUDGET_EXCEEDED = "read_budget_exceeded"
# Decoding work over its frame or packet budget.
PROCESSING_LIMIT = "processing_limit"

FAULT_CODES = frozenset(
    {
        EMPTY_FILE,
        NOT_MEDIA,
        UNSUPPORTED_TYPE,
        TYPE_MISMATCH,
        UNSUPPORTED_CODEC,
        NO_MEDIA_STREAMS,
        TOO_MANY_STREAMS,
        ZERO_DURATION,
        DURATION_TOO_LONG,
        FRAME_TOO_LARGE,
        TRUNCATED,
        CORRUPT_MEDIA,
        NESTED_REFERENCE,
        READ_BUDGET_EXCEEDED,
        PROCESSING_LIMIT,
    }
)


def fault(code: str, message: str) -> PermanentFault:
    """A permanent fault with one of FAULT_CODES."""
    assert code in FAULT_CODES, code
    return PermanentFault(message, code=code)


@dataclass(frozen=True)
class MediaLimits:
    """What a probe accepts and how much work FFmpeg may do to find out.

    max_duration_seconds: longest accepted duration (default 4 h, a long recording or a film).
    max_frame_pixels: width x height of one video frame (default 8192x4320, 8K UHD).
    max_streams: streams of any type in the container (default 16; phones write 2-5).
    probe_bytes: FFmpeg's `probesize`, bytes read to find the streams (default 5 MB, FFmpeg's).
    analyze_microseconds: FFmpeg's `analyzeduration` (default 5 s of media, FFmpeg's).
    max_packets: packets demuxed to find one poster frame (default 2,000, about a minute at 30 fps
    even when seeking lands far before the target).
    max_audio_seconds: seconds of audio decoded for a waveform (default 600); longer audio is
    sampled at evenly spaced windows that add up to this.
    """

    max_duration_seconds: float = 4 * 3600.0
    max_frame_pixels: int = 8192 * 4320
    max_streams: int = 16
    probe_bytes: int = 5_000_000
    analyze_microseconds: int = 5_000_000
    max_packets: int = 2_000
    max_audio_seconds: float = 600.0

    def __post_init__(self) -> None:
        for name in (
            "max_duration_seconds",
            "max_frame_pixels",
            "max_streams",
            "probe_bytes",
            "analyze_microseconds",
            "max_packets",
            "max_audio_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"MediaLimits.{name} must be positive")
        if self.probe_bytes < 32:
            raise ValueError("MediaLimits.probe_bytes must be at least 32 (FFmpeg's minimum)")


DEFAULT_LIMITS = MediaLimits()

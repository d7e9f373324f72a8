"""What an audio/video upload is: a typed, JSON-safe description, or a permanent fault with a code.

`probe` reads the container (through `opening.open_media`, never FFmpeg's own guessing) and
decodes the first frame of the primary stream: that proves the decoder accepts the stream,
and for video it yields the display rotation (the display matrix the decoder attaches to
frames). `inspected` is the same work as a context manager, so `poster` and `waveform` reuse the
open container instead of reading the file twice (on S3 that would be twice the requests).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO, TypedDict

import av
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from runtime.media import containers
from runtime.media.containers import AUDIO, VIDEO, Sniffed
from runtime.media.faults import (
    DEFAULT_LIMITS,
    DURATION_TOO_LONG,
    EMPTY_FILE,
    FRAME_TOO_LARGE,
    PROCESSING_LIMIT,
    TOO_MANY_STREAMS,
    TRUNCATED,
    ZERO_DURATION,
    MediaLimits,
    fault,
)
from runtime.media.opening import open_media, prepare_decoder, translated

# Demuxers whose files may state no duration (streamed or recorded live), and how much of the
# tail is read to find the last timestamp instead.
_TAIL_TIMED = frozenset({"matroska", "ogg", "mp3", "aac", "flac"})
_TAIL_BYTES = 2 * 1024 * 1024
_TAIL_PACKETS = 50_000


class MediaInfo(TypedDict):
    """The probe's answer (every value JSON-safe; None where the kind has no such field).

    `width`/`height` are as displayed (rotation applied), like an image record's; `rotation` is
    the clockwise quarter turn applied (0, 90, 180, 270). `bit_rate` is bits per second of the
    whole file; `frame_rate` frames per second.
    """

    kind: str
    content_type: str
    container: str
    duration_seconds: float
    bit_rate: int | None
    streams: int
    video_codec: str | None
    width: int | None
    height: int | None
    rotation: int | None
    frame_rate: float | None
    audio_codec: str | None
    sample_rate: int | None
    channels: int | None


@dataclass
class Inspected:
    """An open container and what the probe found in it (for the derivative builders)."""

    container: InputContainer
    info: MediaInfo
    sniffed: Sniffed
    video: VideoStream | None
    audio: AudioStream | None
    first_frame: VideoFrame | None


def probe(source: BinaryIO, declared_type: str, limits: MediaLimits = DEFAULT_LIMITS) -> MediaInfo:
    """Describe the upload in `source` (a seekable, readable binary file object).

    Raises PermanentFault with a code from `runtime.media.faults.FAULT_CODES`.
    """
    with inspected(source, declared_type, limits) as found:
        return found.info


@contextlib.contextmanager
def inspected(
    source: BinaryIO, declared_type: str, limits: MediaLimits = DEFAULT_LIMITS
) -> Iterator[Inspected]:
    """Probe `source` and keep its container open for more decoding inside the block."""
    size = containers.size_of(source)
    if size == 0:
        raise fault(EMPTY_FILE, "the uploaded file is empty")
    sniffed = containers.sniff(source)
    canonical = containers.check_declared(declared_type, sniffed)
    assert sniffed is not None  # check_declared refused None
    containers.check_layout(source, sniffed)
    with open_media(source, sniffed, limits) as container:
        found = _inspect(container, canonical, sniffed, limits, size)
        yield found


def _inspect(
    container: InputContainer, canonical: str, sniffed: Sniffed, limits: MediaLimits, size: int
) -> Inspected:
    streams = list(container.streams)
    if len(streams) > limits.max_streams:
        raise fault(
            TOO_MANY_STREAMS,
            f"the file has more than {limits.max_streams} streams (limit {limits.max_streams})",
        )
    videos = [
        s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
    ]
    audios = list(container.streams.audio)
    for stream in (*videos, *audios):
        prepare_decoder(stream, limits)
    kind = containers.decide_kind(canonical, has_video=bool(videos), has_audio=bool(audios))
    video = videos[0] if kind == VIDEO else None
    audio = audios[0] if audios else None
    if video is not None:
        _check_frame_size(video.codec_context.width, video.codec_context.height, limits)
    primary = video or audio
    duration = _duration(container, primary)
    if duration <= 0 and primary is not None and sniffed.demuxer in _TAIL_TIMED:
        duration = _duration_from_tail(container, primary, size)
    if duration <= 0:
        raise fault(ZERO_DURATION, "the file has no duration")
    if duration > limits.max_duration_seconds:
        raise fault(
            DURATION_TOO_LONG,
            f"the file lasts {duration:.0f} s, over the {limits.max_duration_seconds:.0f} s limit",
        )
    first = _first_frame(container, video, limits) if video is not None else None
    if audio is not None and kind == AUDIO:
        _first_frame(container, audio, limits)
        container.seek(0)
    rotation = _rotation(first) if first is not None else None
    width = height = None
    if first is not None:
        _check_frame_size(first.width, first.height, limits)
        width, height = (
            (first.height, first.width)
            if rotation in (90, 270)
            else (
                first.width,
                first.height,
            )
        )
    info: MediaInfo = {
        "kind": kind,
        "content_type": canonical,
        "container": sniffed.container,
        "duration_seconds": round(duration, 3),
        # A file that states no bit rate (a live WebM) gets its average.
        "bit_rate": container.bit_rate or round(size * 8 / duration),
        "streams": len(streams),
        "video_codec": video.codec_context.name if video is not None else None,
        "width": width,
        "height": height,
        "rotation": rotation,
        "frame_rate": _rate(video) if video is not None else None,
        "audio_codec": audio.codec_context.name if audio is not None else None,
        "sample_rate": audio.codec_context.sample_rate or None if audio is not None else None,
        "channels": audio.codec_context.layout.nb_channels or None if audio is not None else None,
    }
    return Inspected(container, info, sniffed, video, audio, first)


def _check_frame_size(width: int, height: int, limits: MediaLimits) -> None:
    if width <= 0 or height <= 0 or width * height > limits.max_frame_pixels:
        raise fault(
            FRAME_TOO_LARGE,
            f"a {width}x{height} frame is outside 1..{limits.max_frame_pixels} pixels",
        )


def _duration(container: InputContainer, stream: av.stream.Stream | None) -> float:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    if stream is not None and stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


def _duration_from_tail(container: InputContainer, stream: av.stream.Stream, size: int) -> float:
    """The end of the last packet, for files that state no duration (MediaRecorder's WebM, a
    live Ogg): a byte seek to the last `_TAIL_BYTES`, demuxing (not decoding) at most
    `_TAIL_PACKETS` packets, then back to the start."""
    end = 0.0
    with translated():
        container.seek(max(0, size - _TAIL_BYTES), unsupported_byte_offset=True, any_frame=True)
        for count, packet in enumerate(container.demux(stream)):
            if count >= _TAIL_PACKETS:
                break
            if packet.pts is None or packet.time_base is None:
                continue
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        container.seek(0)
    start = (
        float(stream.start_time * stream.time_base)
        if stream.start_time and stream.time_base
        else 0.0
    )
    return max(0.0, end - start)


def _rate(video: VideoStream) -> float | None:
    rate: Fraction | None = video.average_rate or video.guessed_rate
    if not rate or not math.isfinite(float(rate)) or rate <= 0:
        return None
    return round(float(rate), 3)


def _rotation(frame: VideoFrame) -> int:
    """The clockwise quarter turn that displays the frame upright (FFmpeg reports the display
    matrix's counter-clockwise angle; odd angles snap to the nearest quarter)."""
    return (-round(frame.rotation / 90) * 90) % 360


def first_frame_after(
    container: InputContainer,
    stream: av.stream.Stream,
    limits: MediaLimits,
) -> av.frame.Frame | None:
    """The first frame `stream` decodes from the container's current position, demuxing at
    most `limits.max_packets` packets (a PermanentFault beyond)."""
    with translated():
        for count, packet in enumerate(container.demux(stream)):
            if count >= limits.max_packets:
                raise fault(
                    PROCESSING_LIMIT,
                    f"no frame within {limits.max_packets} packets",
                )
            for frame in packet.decode():
                if isinstance(frame, av.frame.Frame):
                    return frame
    return None


def _first_frame(
    container: InputContainer, stream: av.stream.Stream, limits: MediaLimits
) -> VideoFrame | None:
    frame = first_frame_after(container, stream, limits)
    if frame is None:
        raise fault(TRUNCATED, f"stream {stream.index} ends before its first frame")
    return frame if isinstance(frame, VideoFrame) else None

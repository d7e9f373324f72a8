"""An audio upload's waveform: a PNG-ready Pillow image (1200x200 by default) of peak amplitude
over time, from decoded samples, with bounded work.

Work is bounded twice: samples are resampled to mono 8 kHz 16-bit before they are looked at
(peaks survive; the per-sample work of a 48 kHz stereo file drops 12x), and at most
`limits.max_audio_seconds` of audio are decoded. Longer audio is sampled: WINDOWS evenly spaced
windows (one seek each) that add up to that budget, each drawn across its share of the width.
No numpy: the per-column peak is `max`/`min` over `array` slices, which run in C.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import BinaryIO

import av
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from PIL import Image, ImageDraw

from runtime.media.faults import (
    DEFAULT_LIMITS,
    NO_MEDIA_STREAMS,
    PROCESSING_LIMIT,
    MediaLimits,
    fault,
)
from runtime.media.opening import translated
from runtime.media.probe import MediaInfo, inspected

SIZE = (1200, 200)
RATE = 8000
WINDOWS = 60
FOREGROUND = (37, 99, 235)
BACKGROUND = (255, 255, 255)
# Packets per decoded second beyond which a file is a flood of tiny packets, not audio
# (AAC is ~47/s, Opus 50/s, PCM in 4 KiB packets ~43/s at 44.1 kHz stereo).
_MAX_PACKETS_PER_SECOND = 400
# Undecodable packets tolerated per window (plus 1% of those demuxed).
_MAX_DAMAGED = 10


@dataclass(frozen=True)
class Waveform:
    """The probe's description, the image (RGB, no metadata), the seconds of audio decoded, and
    whether the audio was sampled in windows (longer than the decode budget)."""

    info: MediaInfo
    image: Image.Image
    decoded_seconds: float
    sampled: bool


@dataclass
class _Segment:
    start: float
    length: float
    first_column: int
    columns: int


def waveform(
    source: BinaryIO,
    declared_type: str,
    limits: MediaLimits = DEFAULT_LIMITS,
    *,
    size: tuple[int, int] = SIZE,
    foreground: tuple[int, int, int] = FOREGROUND,
    background: tuple[int, int, int] = BACKGROUND,
) -> Waveform:
    """Probe an upload with audio and draw its waveform.

    Raises PermanentFault with a `runtime.media.faults` code (`no_media_streams` when the file
    has no audio stream).
    """
    width, height = size
    if width < 1 or height < 2:
        raise ValueError("a waveform needs at least 1x2 pixels")
    with inspected(source, declared_type, limits) as found:
        audio = found.audio
        if audio is None:
            raise fault(NO_MEDIA_STREAMS, "the file holds no audio to draw")
        duration = found.info["duration_seconds"]
        sampled = duration > limits.max_audio_seconds
        peaks = [0] * width
        decoded = 0.0
        for segment in _segments(duration, width, limits.max_audio_seconds, sampled):
            decoded += _decode_segment(found.container, audio, segment, peaks, limits)
    image = _draw(peaks, size, foreground, background)
    return Waveform(found.info, image, round(decoded, 3), sampled)


def _segments(duration: float, width: int, budget: float, sampled: bool) -> list[_Segment]:
    if not sampled:
        return [_Segment(0.0, duration, 0, width)]
    windows = min(WINDOWS, width)
    length = budget / windows
    segments = []
    for k in range(windows):
        first = k * width // windows
        segments.append(
            _Segment(k * duration / windows, length, first, (k + 1) * width // windows - first)
        )
    return segments


def _decode_segment(
    container: av.container.InputContainer,
    audio: av.audio.stream.AudioStream,
    segment: _Segment,
    peaks: list[int],
    limits: MediaLimits,
) -> float:
    """Decode one segment into `peaks`; the seconds of audio it decoded."""
    time_base = audio.time_base
    with translated():
        offset = int(segment.start / time_base) if time_base else 0
        container.seek(offset + (audio.start_time or 0), stream=audio, backward=True)
        audio.codec_context.flush_buffers()
    resampler = AudioResampler(format="s16", layout="mono", rate=RATE)
    end = segment.start + segment.length
    scale = segment.columns / segment.length
    clock: float | None = None
    max_packets = max(1000, int(segment.length * _MAX_PACKETS_PER_SECOND))
    damaged = 0
    with translated():
        for count, packet in enumerate(container.demux(audio)):
            if count >= max_packets:
                raise fault(PROCESSING_LIMIT, f"over {max_packets} packets in one window")
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                # A damaged frame here and there (a glitch, concatenated files) leaves a gap
                # in the drawing, as players skip it; a file of them is corrupt.
                damaged += 1
                if damaged > _MAX_DAMAGED + count // 100:
                    raise
                continue
            for frame in frames:
                if clock is None:
                    clock = float(frame.time) if frame.time is not None else segment.start
                for mono in resampler.resample(frame):
                    clock = _accumulate(mono, clock, segment, scale, peaks)
                if clock >= end:
                    return segment.length
    if clock is None:
        return 0.0
    return max(0.0, min(clock, end) - segment.start)


def _accumulate(
    frame: AudioFrame, clock: float, segment: _Segment, scale: float, peaks: list[int]
) -> float:
    """Fold one mono s16 frame starting at `clock` seconds into the peaks; the clock after it."""
    count = frame.samples
    samples = array("h")
    samples.frombytes(bytes(frame.planes[0])[: count * 2])
    end = segment.start + segment.length
    last = segment.first_column + segment.columns - 1
    i = 0
    while i < count:
        at = clock + i / RATE
        if at >= end:
            break
        offset = at - segment.start
        if offset < 0:  # decoding started at the key frame before the window
            i = min(count, i + max(1, math.ceil(-offset * RATE)))
            continue
        column = min(last, segment.first_column + int(offset * scale))
        boundary = segment.start + (column - segment.first_column + 1) / scale
        j = min(count, max(i + 1, math.ceil((boundary - clock) * RATE)))
        chunk = samples[i:j]
        peak = max(max(chunk), -min(chunk))
        if peak > peaks[column]:
            peaks[column] = peak
        i = j
    return clock + count / RATE


def _draw(
    peaks: list[int],
    size: tuple[int, int],
    foreground: tuple[int, int, int],
    background: tuple[int, int, int],
) -> Image.Image:
    height = size[1]
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    middle = (height - 1) / 2
    loudest = max(peaks) or 1
    for x, peak in enumerate(peaks):
        half = max(0.5, peak / loudest * middle)
        draw.line([(x, round(middle - half)), (x, round(middle + half))], fill=foreground)
    return image

"""A video's poster frame: a representative picture, upright, as a Pillow image the derivative
specs render like any photo (`runtime.imaging.render_derivatives`).

Which frame: the key frame at or before `position` of the duration (10% by default, at least
`min_seconds` in, so a fade from black or a title card is skipped). Key frames are complete
pictures that decode without their neighbours, so the work is one seek (the container's index)
and one decoded frame; on S3 that is a ranged read of one GOP's first packet, whatever the
file's size. The rotation the container declares (its display matrix) is applied here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from av.video.frame import VideoFrame
from PIL import Image

from runtime.media.faults import DEFAULT_LIMITS, NO_MEDIA_STREAMS, MediaLimits, fault
from runtime.media.opening import translated
from runtime.media.probe import MediaInfo, first_frame_after, inspected

POSITION = 0.1
MIN_SECONDS = 1.0
_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,  # Pillow's angles are counter-clockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Poster:
    """The probe's description and the poster frame (RGB, no metadata, rotation applied)."""

    info: MediaInfo
    image: Image.Image
    seconds: float


def poster(
    source: BinaryIO,
    declared_type: str,
    limits: MediaLimits = DEFAULT_LIMITS,
    *,
    position: float = POSITION,
    min_seconds: float = MIN_SECONDS,
) -> Poster:
    """Probe a video upload and take its poster frame (one open, one seek, one decoded frame).

    Raises PermanentFault with a `runtime.media.faults` code; an audio upload is
    `no_media_streams` here (audio gets a waveform instead).
    """
    if not 0.0 <= position < 1.0:
        raise ValueError("position must be in [0, 1)")
    with inspected(source, declared_type, limits) as found:
        if found.video is None:
            raise fault(NO_MEDIA_STREAMS, "the file holds no video to take a poster from")
        duration = found.info["duration_seconds"]
        target = min(max(duration * position, min_seconds), duration * 0.5)
        frame = found.first_frame
        stream = found.video
        if target > 0 and stream.time_base:
            with translated():
                offset = int(target / stream.time_base) + (stream.start_time or 0)
                found.container.seek(offset, stream=stream, backward=True, any_frame=False)
            stream.codec_context.flush_buffers()
            later = first_frame_after(found.container, stream, limits)
            if isinstance(later, VideoFrame):
                frame = later
        assert frame is not None  # inspected() decoded the first frame of every video
        with translated():
            image = frame.to_image()  # type: ignore[no-untyped-call]
            seconds = float(frame.time or 0.0)
        rotation = found.info["rotation"] or 0
        if rotation in _TRANSPOSE:
            image = image.transpose(_TRANSPOSE[rotation])
        image.info.clear()
        return Poster(found.info, image.convert("RGB"), round(seconds, 3))

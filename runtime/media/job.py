"""One audio/video upload's work inside the processing child (`runtime.sandbox`): read the
original through ranged GETs, probe it, draw its derivative, and hand back only bytes and facts.

The child makes its own S3 client (`runtime.aws` forgets the parent's at fork: their sockets are
the parent's). Everything FFmpeg reads comes through the `RangedReader`, so the read budget
bounds the bytes fetched whatever the object's size, and the reader's counters travel back with
the result (the function's `MediaBytesRead`/`MediaReadRequests` metrics).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image

from runtime.errors import PermanentFault
from runtime.imaging import RenderedDerivative, render_derivatives
from runtime.media import containers
from runtime.media.containers import AUDIO, VIDEO
from runtime.media.faults import DURATION_TOO_LONG, NO_MEDIA_STREAMS, MediaLimits, fault
from runtime.media.probe import MediaInfo
from runtime.media.ranged import Budget, RangedReader
from runtime.settings import DerivativeSpec

# The audio derivative's name and format (issue 12: a PNG waveform, 1200x200 by default).
WAVEFORM = "waveform"


@dataclass(frozen=True)
class MediaJob:
    """Which object version to read, as what, and under which limits (picklable)."""

    bucket: str
    key: str
    version_id: str | None
    size: int
    declared_type: str
    limits: MediaLimits
    read_budget: Budget
    # Per kind: the duration limit applies to the kind the streams decide (a video type holding
    # only audio is audio), so the job carries both.
    max_audio_seconds: float
    max_video_seconds: float
    specs: tuple[DerivativeSpec, ...]
    max_pixels: int | None = None


@dataclass(frozen=True)
class MediaOutcome:
    """The probe's facts, the encoded derivatives and what the reads cost."""

    info: MediaInfo
    derivatives: list[RenderedDerivative] = field(repr=False)
    bytes_fetched: int
    requests: int
    poster_seconds: float | None = None


def run(job: MediaJob) -> MediaOutcome:
    """Probe and render one upload over ranged GETs; PermanentFault with a media code."""
    from runtime import aws

    reader = RangedReader(
        aws.s3(),
        job.bucket,
        job.key,
        version_id=job.version_id,
        size=job.size,
        budget=job.read_budget,
    )
    info, rendered, seconds = _render(reader, job)
    return MediaOutcome(info, rendered, reader.bytes_fetched, reader.requests, seconds)


def _render(
    source: RangedReader, job: MediaJob
) -> tuple[MediaInfo, list[RenderedDerivative], float | None]:
    from runtime.media.poster import poster
    from runtime.media.waveform import waveform

    canonical = containers.canonical_type(job.declared_type)
    declared_kind = containers.MEDIA_TYPES[canonical].kind if canonical else AUDIO
    if declared_kind == VIDEO:
        try:
            taken = poster(source, job.declared_type, job.limits)  # type: ignore[arg-type]  # a raw file
        except PermanentFault as exc:
            if exc.code != NO_MEDIA_STREAMS:
                raise
            # A video type holding only audio is audio (a recording without a camera).
        else:
            _check_duration(taken.info, job)
            rendered = render_derivatives(taken.image, job.specs, max_pixels=job.max_pixels)
            return taken.info, rendered, taken.seconds
    drawn = waveform(source, job.declared_type, job.limits)  # type: ignore[arg-type]  # a raw file
    _check_duration(drawn.info, job)
    return drawn.info, [_png(drawn.image)], None


def _check_duration(info: MediaInfo, job: MediaJob) -> None:
    limit = job.max_video_seconds if info["kind"] == VIDEO else job.max_audio_seconds
    if info["duration_seconds"] > limit:
        raise fault(
            DURATION_TOO_LONG,
            f"{info['kind']} of {info['duration_seconds']:.0f} s is over the limit of "
            f"{limit:.0f} s",
        )


def _png(image: Image.Image) -> RenderedDerivative:
    """The waveform as a PNG with no metadata (a fresh image: nothing of the upload's tags)."""
    clean = Image.new("RGB", image.size)
    clean.paste(image.convert("RGB"))
    out = io.BytesIO()
    clean.save(out, format="PNG", optimize=True)
    return RenderedDerivative(
        WAVEFORM, "png", "image/png", clean.width, clean.height, out.getvalue()
    )

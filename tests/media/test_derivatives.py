"""Poster frames and waveforms: Pillow images the existing derivative specs render."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from mediakit.corpus import media
from runtime.errors import PermanentFault
from runtime.imaging import render_derivatives
from runtime.media import faults
from runtime.media.faults import MediaLimits
from runtime.media.poster import poster
from runtime.media.waveform import BACKGROUND, waveform
from runtime.settings import DerivativeSpec, Settings

VIDEOS = [s for s in media.SAMPLES if s.kind == "video"]
AUDIO = [s for s in media.SAMPLES if s.audio_codec is not None]


def _red(pixel: tuple[int, ...]) -> bool:
    return pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60


@pytest.mark.parametrize("entry", VIDEOS, ids=lambda s: s.name)
def test_poster_is_an_rgb_frame_of_the_displayed_size(entry: media.MediaSample) -> None:
    result = poster(io.BytesIO(entry.data), entry.declared_type)
    assert result.image.mode == "RGB"
    assert result.image.size == (result.info["width"], result.info["height"])
    assert result.image.info == {}  # no metadata rides along
    assert 0 <= result.seconds <= result.info["duration_seconds"]


def test_poster_applies_the_display_rotation() -> None:
    # GIVEN a 160x96 frame with a red marker at its top-left, displayed turned 90 degrees
    # clockwise  THEN the poster is 96x160 and the marker sits at the top-right
    result = poster(io.BytesIO(media.sample("rotated.mov").data), "video/quicktime")
    image = result.image
    assert image.size == (96, 160)
    assert _red(image.getpixel((image.width - 3, 2)))  # type: ignore[arg-type]
    assert not _red(image.getpixel((2, 2)))  # type: ignore[arg-type]
    assert not _red(image.getpixel((image.width - 3, image.height - 3)))  # type: ignore[arg-type]


def test_poster_of_an_unrotated_video_keeps_its_marker_top_left() -> None:
    image = poster(io.BytesIO(media.sample("clip.mp4").data), "video/mp4").image
    assert _red(image.getpixel((2, 2)))  # type: ignore[arg-type]


def test_poster_is_taken_past_the_start_of_a_longer_video() -> None:
    # GIVEN a 6 s clip with a key frame every second  THEN the poster is the key frame at or
    # before max(10%, 1 s): 1 s in, not the first frame
    data = _keyframed_clip(seconds=6)
    result = poster(io.BytesIO(data), "video/mp4")
    assert result.seconds == pytest.approx(1.0, abs=0.01)


def test_poster_renders_through_the_derivative_specs() -> None:
    image = poster(io.BytesIO(media.sample("clip.webm").data), "video/webm").image
    specs = (DerivativeSpec("thumb", 64, "jpeg", 80), DerivativeSpec("card", 100, "webp", 75))
    rendered = render_derivatives(image, specs)  # type: ignore[arg-type]
    assert [(d.name, d.width, d.height) for d in rendered] == [
        ("thumb", 64, 48),
        ("card", 100, 75),
    ]
    for derivative in rendered:
        reopened = Image.open(io.BytesIO(derivative.body))
        assert reopened.getexif() == {}


def test_poster_of_audio_is_refused() -> None:
    with pytest.raises(PermanentFault) as caught:
        poster(io.BytesIO(media.sample("song.mp3").data), "audio/mpeg")
    assert caught.value.code == faults.NO_MEDIA_STREAMS


@pytest.mark.parametrize("entry", AUDIO, ids=lambda s: s.name)
def test_waveform_draws_every_audio_sample(entry: media.MediaSample) -> None:
    result = waveform(io.BytesIO(entry.data), entry.declared_type)
    image = result.image
    assert image.size == (1200, 200)
    assert image.mode == "RGB"
    assert not result.sampled
    assert result.decoded_seconds == pytest.approx(result.info["duration_seconds"], abs=0.1)
    # The tone swells three times: the drawn height varies along the width
    heights = [_drawn_height(image, x) for x in range(0, 1200, 50)]
    assert max(heights) > 150
    assert min(heights) < max(heights) * 0.6


def test_waveform_renders_as_png_derivative() -> None:
    image = waveform(io.BytesIO(media.sample("song.ogg").data), "audio/ogg").image
    rendered = render_derivatives(image, (DerivativeSpec("wave", 600, "png"),))  # type: ignore[arg-type]
    assert (rendered[0].width, rendered[0].height, rendered[0].content_type) == (
        600,
        100,
        "image/png",
    )


def test_waveform_samples_long_audio_in_windows_within_its_budget() -> None:
    # GIVEN a 3 s file and a decode budget of 0.6 s  THEN 60 windows of 10 ms each are decoded
    entry = media.sample("song.flac")
    result = waveform(
        io.BytesIO(entry.data), entry.declared_type, MediaLimits(max_audio_seconds=0.6)
    )
    assert result.sampled
    assert result.decoded_seconds <= 0.6 + 0.01
    assert sum(_drawn_height(result.image, x) > 2 for x in range(1200)) > 600


def test_waveform_of_a_video_without_audio_is_refused() -> None:
    with pytest.raises(PermanentFault) as caught:
        waveform(io.BytesIO(media.sample("clip.mkv").data), "video/x-matroska")
    assert caught.value.code == faults.NO_MEDIA_STREAMS


def test_default_settings_derivatives_render_a_poster() -> None:
    image = poster(io.BytesIO(media.sample("clip.mp4").data), "video/mp4").image
    rendered = render_derivatives(image, Settings().derivatives)  # type: ignore[arg-type]
    assert {d.name for d in rendered} == {s.name for s in Settings().derivatives}


def _drawn_height(image: Image.Image, x: int) -> int:
    return sum(image.getpixel((x, y)) != BACKGROUND for y in range(image.height))


def _keyframed_clip(seconds: int) -> bytes:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height = 64, 48  # type: ignore[union-attr]
        stream.pix_fmt = "yuv420p"  # type: ignore[union-attr]
        stream.options = {"preset": "ultrafast", "g": "10", "keyint_min": "10", "bf": "0"}
        for index in range(seconds * 10):
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 48), (index * 4, 0, 0)))
            frame.pts = index
            for packet in stream.encode(frame):  # type: ignore[union-attr]
                container.mux(packet)
        for packet in stream.encode(None):  # type: ignore[union-attr]
            container.mux(packet)
    return buffer.getvalue()

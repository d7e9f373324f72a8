"""The probe: a typed, JSON-safe description of every valid sample, and the limits' codes."""

from __future__ import annotations

import io
import json

import pytest

from mediakit.corpus import media
from runtime.errors import PermanentFault
from runtime.media import faults
from runtime.media.faults import MediaLimits
from runtime.media.probe import MediaInfo, probe

FIELDS = set(MediaInfo.__annotations__)


@pytest.mark.parametrize("entry", media.SAMPLES, ids=lambda s: s.name)
def test_probe_describes_each_sample(entry: media.MediaSample) -> None:
    # GIVEN a sample  WHEN probed  THEN kind, container, codecs and the kind's fields
    info = probe(io.BytesIO(entry.data), entry.declared_type)
    assert set(info) == FIELDS
    assert json.loads(json.dumps(info)) == info  # JSON-safe as it is
    assert info["kind"] == entry.kind
    assert info["container"] == entry.container
    assert info["duration_seconds"] > 0
    assert (info["bit_rate"] or 0) > 0
    if entry.video_codec is not None:
        assert info["video_codec"] == entry.video_codec
    if entry.audio_codec is not None:
        assert info["audio_codec"] is not None
        assert info["audio_codec"].startswith(entry.audio_codec)
        assert info["sample_rate"] in (8000, 22050, 44100, 48000)
        assert info["channels"] in (1, 2)
    if entry.kind == "video":
        assert (info["width"] or 0) * (info["height"] or 0) > 0
        assert info["frame_rate"] == 15.0
        assert info["rotation"] == entry.rotation
    else:
        assert (info["width"], info["rotation"], info["frame_rate"]) == (None, None, None)


def test_probe_reports_the_clip_exactly() -> None:
    info = probe(io.BytesIO(media.sample("clip.mp4").data), "video/mp4")
    assert info == info | {
        "kind": "video",
        "content_type": "video/mp4",
        "container": "mp4",
        "duration_seconds": 2.0,
        "streams": 2,
        "video_codec": "h264",
        "width": 160,
        "height": 120,
        "rotation": 0,
        "frame_rate": 15.0,
        "audio_codec": "aac",
        "sample_rate": 48000,
        "channels": 2,
    }


def test_probe_applies_rotation_to_the_displayed_size() -> None:
    # GIVEN a 160x96 MOV whose display matrix says: turn 90 degrees clockwise (a phone held
    # upright)  THEN it is 96 wide and 160 tall as displayed
    info = probe(io.BytesIO(media.sample("rotated.mov").data), "video/quicktime")
    assert (info["width"], info["height"], info["rotation"]) == (96, 160, 90)


def test_probe_takes_the_mime_parameters_browsers_send() -> None:
    info = probe(io.BytesIO(media.sample("voice.webm").data), "audio/webm;codecs=opus")
    assert info["content_type"] == "audio/webm"
    assert info["kind"] == "audio"


@pytest.mark.parametrize(
    ("name", "declared", "limits", "code"),
    [
        ("clip.mp4", "video/mp4", MediaLimits(max_duration_seconds=1.5), faults.DURATION_TOO_LONG),
        ("song.wav", "audio/wav", MediaLimits(max_duration_seconds=2.0), faults.DURATION_TOO_LONG),
        ("clip.mp4", "video/mp4", MediaLimits(max_frame_pixels=160 * 119), faults.FRAME_TOO_LARGE),
        ("clip.mp4", "video/mp4", MediaLimits(max_streams=1), faults.TOO_MANY_STREAMS),
    ],
    ids=["video-duration", "audio-duration", "pixels", "streams"],
)
def test_probe_limits_refuse_with_their_codes(
    name: str, declared: str, limits: MediaLimits, code: str
) -> None:
    with pytest.raises(PermanentFault) as caught:
        probe(io.BytesIO(media.sample(name).data), declared, limits)
    assert caught.value.code == code


def test_probe_limit_edges_are_inclusive() -> None:
    # exactly at each limit is accepted
    limits = MediaLimits(max_duration_seconds=2.0, max_frame_pixels=160 * 120, max_streams=2)
    assert probe(io.BytesIO(media.sample("clip.mp4").data), "video/mp4", limits)["streams"] == 2


def test_probe_refuses_an_empty_file() -> None:
    with pytest.raises(PermanentFault) as caught:
        probe(io.BytesIO(b""), "video/mp4")
    assert caught.value.code == faults.EMPTY_FILE


def test_probe_refuses_a_decoder_outside_the_allow_list() -> None:
    # GIVEN an MP4 of PNG frames (valid, but png is no video decoder we run on uploads)
    data = media.encode_video("mp4", "png", size=(32, 32), seconds=0.2, pix_fmt="rgb24")
    with pytest.raises(PermanentFault) as caught:
        probe(io.BytesIO(data), "video/mp4")
    assert caught.value.code == faults.UNSUPPORTED_CODEC


def test_media_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="max_streams"):
        MediaLimits(max_streams=0)
    with pytest.raises(ValueError, match="probe_bytes"):
        MediaLimits(probe_bytes=8)


def test_probe_times_a_recording_that_states_no_duration() -> None:
    # GIVEN WebM as MediaRecorder writes it (no Duration element, no cues)
    data = media.sample("recorder.webm").data
    # WHEN probed  THEN the duration comes from the last packets, and the first frame still
    # decodes from the start
    info = probe(io.BytesIO(data), "audio/webm;codecs=opus")
    assert info["duration_seconds"] == pytest.approx(3.0, abs=0.05)
    assert info["bit_rate"] == round(len(data) * 8 / info["duration_seconds"])

"""The media settings (mediaKinds, per-kind limits, the media function's budgets): hostile and
inconsistent values are refused once, naming the key the user wrote; the alias table is one."""

from __future__ import annotations

import pytest

from runtime import mediatypes
from runtime.errors import SettingsError
from runtime.media import containers
from runtime.settings import KNOWN_TYPES, Settings, kind_of

MIB = 1024 * 1024
ON = ("image", "audio", "video")


@pytest.mark.parametrize(
    ("environ", "key", "problem"),
    [
        ({"MEDIAKIT_MEDIA_KINDS": "image,pdfs"}, "MEDIAKIT_MEDIA_KINDS", "unknown kind"),
        ({"MEDIAKIT_MEDIA_KINDS": "audio,audio"}, "MEDIAKIT_MEDIA_KINDS", "twice"),
        ({"MEDIAKIT_MEDIA_KINDS": ","}, "MEDIAKIT_MEDIA_KINDS", "at least one"),
        (
            {"MEDIAKIT_MEDIA_KINDS": "image,video", "MEDIAKIT_ALLOWED_TYPES": "image/jpeg"},
            "MEDIAKIT_ALLOWED_TYPES",
            "names no video type",
        ),
        ({"MEDIAKIT_MAX_VIDEO_UPLOAD_BYTES": "0"}, "MEDIAKIT_MAX_VIDEO_UPLOAD_BYTES", "between"),
        (
            {"MEDIAKIT_MAX_VIDEO_UPLOAD_BYTES": str(6 * 1024**4)},
            "MEDIAKIT_MAX_VIDEO_UPLOAD_BYTES",
            "between",
        ),
        (
            # 2 TiB in 16 MiB parts is 131,072 parts: S3 takes 10,000
            {"MEDIAKIT_MAX_VIDEO_UPLOAD_BYTES": str(2 * 1024**4)},
            "MEDIAKIT_MAX_VIDEO_UPLOAD_BYTES",
            "10000 parts",
        ),
        ({"MEDIAKIT_MAX_MEDIA_STREAMS": "65"}, "MEDIAKIT_MAX_MEDIA_STREAMS", "between"),
        (
            {"MEDIAKIT_MAX_AUDIO_DURATION_SECONDS": "-1"},
            "MEDIAKIT_MAX_AUDIO_DURATION_SECONDS",
            "between",
        ),
        (
            {"MEDIAKIT_MEDIA_PROCESSOR_TIMEOUT_SECONDS": "901"},
            "MEDIAKIT_MEDIA_PROCESSOR_TIMEOUT_SECONDS",
            "between",
        ),
        (
            {"MEDIAKIT_MEDIA_PROCESSING_CPU_SECONDS": "301"},
            "MEDIAKIT_MEDIA_PROCESSING_CPU_SECONDS",
            "must not exceed",
        ),
        (
            {"MEDIAKIT_MEDIA_PROCESSING_MEMORY_MB": "2900"},
            "MEDIAKIT_MEDIA_PROCESSING_MEMORY_MB",
            "must leave 256 MB",
        ),
        (
            # an 8K frame (x 8 bytes: 270 MB) does not fit a 256 MB processing budget: the
            # variable the user set is named, beside the default it conflicts with
            {"MEDIAKIT_MEDIA_PROCESSING_MEMORY_MB": "256"},
            "MEDIAKIT_MEDIA_PROCESSING_MEMORY_MB",
            "conflicts with MEDIAKIT_MAX_VIDEO_FRAME_PIXELS, which is not set",
        ),
        ({"MEDIAKIT_MEDIA_READ_MAX_BYTES": "1024"}, "MEDIAKIT_MEDIA_READ_MAX_BYTES", "between"),
        (
            {"MEDIAKIT_MEDIA_PROCESSOR_BATCH_SIZE": "11"},
            "MEDIAKIT_MEDIA_PROCESSOR_BATCH_SIZE",
            "between",
        ),
    ],
)
def test_media_settings_refuse_hostile_values_naming_the_key(
    environ: dict[str, str], key: str, problem: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    assert caught.value.key == key
    assert problem in str(caught.value)


def test_media_function_timeout_must_fit_a_batch_of_video_budgets_and_hashes() -> None:
    # GIVEN video on: 5 GiB hash at 50 MB/s is 108 s, plus the 300 s budget, times 2 messages
    with pytest.raises(SettingsError, match="must fit a batch") as caught:
        Settings.from_env(
            {"MEDIAKIT_MEDIA_KINDS": "image,video", "MEDIAKIT_MEDIA_PROCESSOR_BATCH_SIZE": "3"}
        )
    # THEN the variable set is named, and the unset one it must fit
    assert caught.value.key == "MEDIAKIT_MEDIA_PROCESSOR_BATCH_SIZE"
    assert "MEDIAKIT_MEDIA_PROCESSOR_TIMEOUT_SECONDS, which is not set" in str(caught.value)
    # the same settings with the kinds off carry no media function, so nothing to fit
    assert Settings.from_env(
        {"MEDIAKIT_MEDIA_PROCESSOR_BATCH_SIZE": "3"}
    ).media_processor_batch_size


def test_media_kinds_are_off_by_default_and_gate_the_allowed_types() -> None:
    default = Settings()
    assert default.media_kinds == ("image",)
    assert not default.media_enabled
    assert all(kind_of(t) == "image" for t in default.accepted_types)
    # audio and video types are listed, and accepted once their kind is on
    on = Settings(media_kinds=ON)
    assert on.media_enabled
    assert {"audio/mpeg", "video/mp4", "video/x-matroska"} <= set(on.accepted_types)
    assert (on.max_bytes_for("audio/wav"), on.max_bytes_for("video/mp4")) == (
        200 * MIB,
        5 * 1024 * MIB,
    )
    assert on.max_bytes_for("image/jpeg") == 50 * MIB


def test_media_settings_round_trip_through_the_environment() -> None:
    s = Settings(media_kinds=("audio",), allowed_types=("audio/webm",), max_audio_upload_bytes=MIB)
    assert Settings.from_env(s.to_env()) == s
    assert s.accepted_types == ("audio/webm",)


def test_one_alias_table_serves_images_audio_and_video() -> None:
    # every media alias is in the one table, and the media view is derived from it
    assert {
        a: t for a, t in mediatypes.ALIASES.items() if t in containers.MEDIA_TYPES
    } == containers.ALIASES
    for alias, target in mediatypes.ALIASES.items():
        assert target in KNOWN_TYPES, alias
        assert alias not in KNOWN_TYPES, alias
    assert mediatypes.canonical("Audio/X-M4A; foo=bar") == "audio/mp4"
    assert mediatypes.canonical("image/pjpeg") == "image/jpeg"
    # every canonical audio/video type has its own key extension, never an image's
    media_ext = {KNOWN_TYPES[t] for t in containers.MEDIA_TYPES}
    image_ext = {e for t, e in KNOWN_TYPES.items() if kind_of(t) == "image"}
    assert len(media_ext) == len(containers.MEDIA_TYPES)
    assert not media_ext & image_ext

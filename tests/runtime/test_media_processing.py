"""Audio and video through the runtime on moto: the API accepts them only when their kind is on,
the media path records probed facts and its derivative, hostile files fail with their codes, and
the original is never read whole (ranged GETs counted, sha256 streamed)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rt_support import Pipeline

from mediakit.corpus import media
from runtime import ingest, sandbox, telemetry
from runtime.media_processor import refuse_images
from runtime.settings import Settings

MIB = 1024 * 1024
ON = ("image", "audio", "video")


@pytest.fixture
def settings() -> Settings:
    return Settings(
        media_kinds=ON,
        multipart_threshold_bytes=64 * MIB,
        max_audio_upload_bytes=2 * MIB,
        media_processing_timeout_seconds=60,
        media_processing_cpu_seconds=30,
        media_processing_memory_mb=1024,
    )


@pytest.fixture
def media_pipeline(pipeline: Pipeline) -> Iterator[Pipeline]:
    # The media function's deps: images refused, audio/video in the processing child.
    sandbox.retire()  # a warm child forked before PyAV was imported would import it in budget
    pipeline.ingest = dataclasses.replace(
        pipeline.ingest,
        process=refuse_images,
        media=ingest.isolated_media(pipeline.settings),
        metrics=telemetry.Recorder(telemetry.MEDIA),
    )
    yield pipeline
    sandbox.retire()


def _upload(p: Pipeline, data: bytes, declared: str, **extra: Any) -> dict[str, Any]:
    created = p.create(data, content_type=declared, filename="f.bin", **extra)
    assert p.put(created, data).status_code == 200
    assert p.process(p.event_for(created["key"])) == {"batchItemFailures": []}
    return created


def test_video_completes_with_probed_fields_poster_derivatives_and_a_thin_event(
    media_pipeline: Pipeline,
) -> None:
    # GIVEN a rotated QuickTime clip declared as such, with its sha256
    entry = media.sample("rotated.mov")
    digest = hashlib.sha256(entry.data).hexdigest()
    # WHEN it is uploaded and processed
    created = _upload(media_pipeline, entry.data, entry.declared_type, sha256=digest)
    # THEN completed with the probe's facts, the displayed size and a poster per spec
    record = media_pipeline.record(created["upload_id"])
    assert record["status"] == "completed", record.get("error")
    assert created["key"].endswith(".mov")
    m = record["media"]
    assert (m["kind"], m["container"], m["video_codec"], m["rotation"]) == (
        "video",
        "mov",
        "h264",
        90,
    )
    assert (record["width"], record["height"]) == (96, 160)
    assert m["duration_seconds"] > 0
    assert m["frame_rate"] > 0
    assert "content_type" not in m
    assert record["sha256"] == digest
    assert [d["name"] for d in record["derivatives"]] == ["thumb", "medium", "large"]
    poster = record["derivatives"][0]
    assert (poster["width"], poster["height"]) == (96, 160)  # never upscaled, upright
    body = media_pipeline.s3.get_object(Bucket=media_pipeline.resources.bucket, Key=poster["key"])
    assert body["Body"].read()[:3] == b"\xff\xd8\xff"  # a JPEG, re-encoded from pixels
    # AND the event carries the media facts, no file name
    (event,) = [e for e in media_pipeline.published() if e["detail"]["status"] == "completed"]
    assert event["detail"]["media"]["kind"] == "video"
    assert event["detail"]["media"]["duration_seconds"] == m["duration_seconds"]
    assert "filename" not in event["detail"]


def test_audio_declared_by_a_browser_alias_gets_a_waveform(media_pipeline: Pipeline) -> None:
    entry = media.sample("song.m4a")  # declared audio/x-m4a, as browsers do
    created = _upload(media_pipeline, entry.data, entry.declared_type)
    record = media_pipeline.record(created["upload_id"])
    assert record["status"] == "completed", record.get("error")
    assert record["content_type"] == "audio/mp4"  # canonical in the record and the key
    assert created["key"].endswith(".m4a")
    assert record["media"]["kind"] == "audio"
    assert record["media"]["sample_rate"] > 0
    assert record["media"]["channels"] >= 1
    assert "width" not in record
    (waveform,) = record["derivatives"]
    assert (waveform["name"], waveform["format"], waveform["width"], waveform["height"]) == (
        "waveform",
        "png",
        1200,
        200,
    )


def test_webm_recording_without_video_is_audio(media_pipeline: Pipeline) -> None:
    entry = media.sample("recording.mp4")  # video/mp4 holding only AAC
    created = _upload(media_pipeline, entry.data, entry.declared_type)
    record = media_pipeline.record(created["upload_id"])
    assert record["status"] == "completed", record.get("error")
    assert record["media"]["kind"] == "audio"
    assert [d["name"] for d in record["derivatives"]] == ["waveform"]


@pytest.mark.parametrize("name", media.hostile_names())
def test_hostile_media_ends_failed_with_its_code(
    media_pipeline: Pipeline, name: str, tmp_path: Path
) -> None:
    entry = next(h for h in media.HOSTILE if h.name == name)
    data = entry.data(tmp_path / "canary.ts")
    created = _upload(media_pipeline, data, entry.declared_type)
    record = media_pipeline.record(created["upload_id"])
    assert record["status"] == "failed"
    assert record["error"]["code"] == entry.code
    assert "derivatives" not in record
    (event,) = [e for e in media_pipeline.published() if e["detail"]["status"] == "failed"]
    assert event["detail"]["error"] == {"code": entry.code}


def test_declared_type_mismatch_fails(media_pipeline: Pipeline) -> None:
    entry = media.sample("song.mp3")
    created = _upload(media_pipeline, entry.data, "video/webm")
    record = media_pipeline.record(created["upload_id"])
    assert record["error"]["code"] == "type_mismatch"


def test_duration_over_the_kind_limit_fails(media_pipeline: Pipeline) -> None:
    media_pipeline.ingest = dataclasses.replace(
        media_pipeline.ingest,
        settings=dataclasses.replace(media_pipeline.settings, max_audio_duration_seconds=1),
    )
    entry = media.sample("song.flac")
    created = _upload(media_pipeline, entry.data, entry.declared_type)
    assert media_pipeline.record(created["upload_id"])["error"]["code"] == "duration_too_long"


def test_a_long_video_is_probed_with_bounded_ranged_reads(media_pipeline: Pipeline) -> None:
    # GIVEN a 20 s 1080p MP4 (moov at the end) of several MB
    data = media.long_video(seconds=20, detail=8)
    created = _upload(media_pipeline, data, "video/mp4")
    record = media_pipeline.record(created["upload_id"])
    assert record["status"] == "completed", record.get("error")
    assert (record["width"], record["height"]) == (1920, 1080)
    # THEN the ranged reader fetched a small share of it, in a few GETs
    metrics = media_pipeline.ingest.metrics
    assert metrics is not None
    fetched = metrics._totals[(telemetry.MEDIA_BYTES_READ, "Bytes")]
    requests = metrics._totals[(telemetry.MEDIA_READ_REQUESTS, "Count")]
    assert fetched < len(data) / 4, (fetched, len(data))
    assert requests <= 8
    # AND the sha256 (streamed) is of the whole file
    assert record["sha256"] == hashlib.sha256(data).hexdigest()


def test_read_budget_exceeded_fails_with_its_code(media_pipeline: Pipeline) -> None:
    media_pipeline.ingest = dataclasses.replace(
        media_pipeline.ingest,
        settings=dataclasses.replace(media_pipeline.settings, media_read_max_bytes=MIB),
    )
    data = media.long_video(seconds=20, detail=8)
    created = _upload(media_pipeline, data, "video/mp4")
    assert media_pipeline.record(created["upload_id"])["error"]["code"] == "read_budget_exceeded"


def test_image_processor_refuses_audio_it_was_never_routed(pipeline: Pipeline) -> None:
    # The image function has no media runner: a misrouted audio event fails, never decodes.
    entry = media.sample("song.wav")
    created = _upload(pipeline, entry.data, entry.declared_type)
    assert pipeline.record(created["upload_id"])["error"]["code"] == "unsupported_type"


# --- the API -----------------------------------------------------------------------------------


def test_api_refuses_audio_and_video_while_their_kind_is_off(pipeline: Pipeline) -> None:
    off = dataclasses.replace(pipeline.settings, media_kinds=("image",))
    pipeline.api = dataclasses.replace(pipeline.api, settings=off)
    for declared in ("audio/mpeg", "video/mp4", "audio/x-m4a"):
        status, body = pipeline.call(
            "POST", "/v1/uploads", {"filename": "a", "content_type": declared, "size": 10}
        )
        assert status == 415, body
        assert body["error"]["code"] == "unsupported_media_type"


def test_api_applies_the_per_kind_size_limit(pipeline: Pipeline) -> None:
    # audio is limited to 2 MiB here, video keeps 5 GiB (multipart), images 50 MiB
    status, body = pipeline.call(
        "POST",
        "/v1/uploads",
        {"filename": "a", "content_type": "audio/mpeg", "size": 2 * MIB + 1},
    )
    assert status == 413, body
    status, body = pipeline.call(
        "POST", "/v1/uploads", {"filename": "a", "content_type": "video/mp4", "size": 4 * 1024**3}
    )
    assert status == 201, body
    assert body["method"] == "MULTIPART"
    status, body = pipeline.call(
        "POST", "/v1/uploads", {"filename": "a", "content_type": "image/jpeg", "size": 51 * MIB}
    )
    assert status == 413, body


@pytest.mark.parametrize(
    ("declared", "canonical"),
    [
        ("audio/x-wav", "audio/wav"),
        ("audio/mp3", "audio/mpeg"),
        ("audio/webm;codecs=opus", "audio/webm"),
        ("video/x-m4v", "video/mp4"),
        ("video/mkv", "video/x-matroska"),
    ],
)
def test_api_accepts_browser_aliases_as_their_canonical_type(
    pipeline: Pipeline, declared: str, canonical: str
) -> None:
    status, body = pipeline.call(
        "POST", "/v1/uploads", {"filename": "a", "content_type": declared, "size": 1000}
    )
    assert status == 201, body
    record = pipeline.record(body["upload_id"])
    assert record["content_type"] == canonical


def test_media_messages_start_only_with_their_whole_budget_left(media_pipeline: Pipeline) -> None:
    # GIVEN a video upload's message and a function with 100 s left: less than the media
    # budget (60 s here) plus its 5 GiB hash (108 s)
    from rt_support import sqs_event

    from runtime.processor import process_batch
    from runtime.settings import media_seconds_per_message

    entry = media.sample("clip.mp4")
    created = media_pipeline.create(entry.data, content_type="video/mp4", filename="f")
    assert media_pipeline.put(created, entry.data).status_code == 200
    event = sqs_event(media_pipeline.event_for(created["key"]))
    needed = media_seconds_per_message(media_pipeline.settings)
    assert needed == 60 + 108
    # WHEN the batch is offered THEN the message goes back unstarted, the record untouched
    response = process_batch(
        event, media_pipeline.ingest, lambda: 100_000, seconds_per_message=needed
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert media_pipeline.record(created["upload_id"])["status"] == "pending_upload"
    # and with the whole budget left it completes
    response = process_batch(
        event, media_pipeline.ingest, lambda: 900_000, seconds_per_message=needed
    )
    assert response == {"batchItemFailures": []}
    assert media_pipeline.record(created["upload_id"])["status"] == "completed"


def test_an_expired_audio_upload_loses_its_waveform_and_its_media_facts(
    media_pipeline: Pipeline,
) -> None:
    # GIVEN a completed audio upload whose original a retention rule expires (the delete marker's
    # notification reaches the media queue: its key ends in the audio extension)
    from rt_support import s3_body

    entry = media.sample("song.ogg")
    created = _upload(media_pipeline, entry.data, entry.declared_type)
    upload_id = created["upload_id"]
    bucket = media_pipeline.resources.bucket
    prefix = f"derivatives/tenant-a/{upload_id}/"
    listed = media_pipeline.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    assert [o["Key"] for o in listed["Contents"]] == [f"{prefix}waveform.png"]
    media_pipeline.published()
    marker = media_pipeline.s3.delete_object(Bucket=bucket, Key=created["key"])
    body = s3_body(bucket, created["key"], version_id=marker["VersionId"], sequencer="FF", size=0)
    body["Records"][0]["eventName"] = "LifecycleExpiration:DeleteMarkerCreated"
    # WHEN the media function handles it
    assert media_pipeline.process(body) == {"batchItemFailures": []}
    # THEN expired, the waveform removed, the probed facts erased, a thin event without them
    record = media_pipeline.record(upload_id)
    assert record["status"] == "expired"
    assert "media" not in record
    assert "Contents" not in media_pipeline.s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    (event,) = media_pipeline.published()
    assert event["detail-type"] == "media.upload.expired"
    assert "media" not in event["detail"]


def test_a_video_claim_holds_its_lease_for_the_whole_media_budget(
    media_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the media function's settings (the image processor's timeout is 60 s)
    s = media_pipeline.settings
    store = media_pipeline.ingest.store
    leases: list[int] = []
    claim = store.claim

    def spy(upload_id: str, ref: Any, now: Any, lease_seconds: int) -> Any:
        leases.append(lease_seconds)
        return claim(upload_id, ref, now, lease_seconds)

    monkeypatch.setattr(store, "claim", spy)
    # WHEN a video is uploaded and processed
    entry = media.sample("rotated.mov")
    created = _upload(media_pipeline, entry.data, entry.declared_type)
    assert media_pipeline.record(created["upload_id"])["status"] == "completed"
    # THEN its claim outlasts the media budget (a duplicate event cannot run it again meanwhile):
    # the media function's timeout, as reprocessing leases it
    assert leases == [s.media_processor_timeout_seconds]
    assert leases[0] >= s.media_processing_timeout_seconds
    assert leases[0] > s.processor_timeout_seconds
    # AND an image record keeps the image processor's timeout
    image = {**media_pipeline.record(created["upload_id"]), "content_type": "image/png"}
    assert ingest.claim_lease(image, s) == s.processor_timeout_seconds

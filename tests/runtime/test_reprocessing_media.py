"""Reprocessing audio/video in the media function (moto): a video's poster is rendered again to
the changed specs, the dropped ones go; each function leaves the other's kind alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from rt_support import Pipeline, image_bytes, sqs_event

from mediakit.corpus import media
from runtime import ingest, sandbox, telemetry
from runtime.media_processor import refuse_images
from runtime.processor import process_batch
from runtime.records import UploadRecord
from runtime.reprocessing import ReprocessRequest
from runtime.settings import DerivativeSpec, Settings

MIB = 1024 * 1024
NEW_SPECS = (DerivativeSpec("poster", 64, "webp"),)


@pytest.fixture
def settings() -> Settings:
    return Settings(
        media_kinds=("image", "audio", "video"),
        multipart_threshold_bytes=64 * MIB,
        media_processing_timeout_seconds=60,
        media_processing_cpu_seconds=30,
        media_processing_memory_mb=1024,
    )


@pytest.fixture
def media_deps(pipeline: Pipeline) -> Iterator[ingest.Deps]:
    """The media function's deps (images refused, audio/video in the processing child)."""
    sandbox.retire()
    yield dataclasses.replace(
        pipeline.ingest,
        process=refuse_images,
        media=ingest.isolated_media(pipeline.settings),
        metrics=telemetry.Recorder(telemetry.MEDIA),
    )
    sandbox.retire()


def _body(record: UploadRecord) -> str:
    return ReprocessRequest(record["upload_id"], record["version_id"], record["tenant"]).body()


def _completed(pipeline: Pipeline, deps: ingest.Deps, data: bytes, declared: str) -> UploadRecord:
    created = pipeline.create(data, content_type=declared, filename="f.bin")
    assert pipeline.put(created, data).status_code == 200
    event = pipeline.event_for(created["key"])
    assert process_batch(sqs_event(event), deps) == {"batchItemFailures": []}
    record = pipeline.record(created["upload_id"])
    assert record["status"] == "completed", record.get("error")
    return record


def test_reprocess_video_renders_its_poster_to_the_new_specs(
    pipeline: Pipeline, media_deps: ingest.Deps
) -> None:
    # GIVEN a completed video with posters under the default specs
    entry = media.sample("rotated.mov")
    record = _completed(pipeline, media_deps, entry.data, entry.declared_type)
    assert [d["name"] for d in record["derivatives"]] == ["thumb", "medium", "large"]
    # WHEN the media function handles a reprocess under changed specs
    settings = dataclasses.replace(pipeline.settings, derivatives=NEW_SPECS)
    changed = dataclasses.replace(media_deps, settings=settings)
    assert ingest.handle_message(_body(record), changed) == ["reprocessed"]
    # THEN the record lists the new poster only, upright, and the old objects are gone
    after = pipeline.record(record["upload_id"])
    (poster,) = after["derivatives"]
    assert (poster["name"], poster["format"]) == ("poster", "webp")
    assert poster["height"] > poster["width"]  # the rotation is applied again
    prefix = f"derivatives/{record['tenant']}/{record['upload_id']}/"
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.resources.bucket, Prefix=prefix)
    assert [o["Key"].rsplit("/", 1)[1] for o in listed.get("Contents", [])] == ["poster.webp"]
    assert after["media"] == record["media"]


def test_reprocess_messages_reach_only_their_kinds_function(
    pipeline: Pipeline, media_deps: ingest.Deps
) -> None:
    # GIVEN a completed image (image processor) and a completed audio upload (media function)
    image = pipeline.upload(image_bytes(40, 30))
    image_record = pipeline.record(image["upload_id"])
    entry = media.sample("song.m4a")
    audio_record = _completed(pipeline, media_deps, entry.data, entry.declared_type)
    # WHEN each is sent to the other function THEN both are acknowledged and ignored
    assert ingest.handle_message(_body(image_record), media_deps) == ["ignored:image_function"]
    assert ingest.handle_message(_body(audio_record), pipeline.ingest) == ["ignored:media_function"]
    assert pipeline.record(image["upload_id"]) == image_record
    assert pipeline.record(audio_record["upload_id"]) == audio_record

"""Audio and video through `mediakit dev` with the real handlers: the media function in its own
Lambda worker pool on its own queue (provisioned from the stack's graph), the processing child
reading the original through ranged GETs on the emulator's S3, and the status record and event
shapes a client and a subscriber see."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from mediakit.client import request
from mediakit.corpus import media
from mediakit.local.emulator import DevEnv, Emulator
from runtime import telemetry
from runtime.settings import Settings
from tests.emulator.conftest import dev_client

ON = ("image", "audio", "video")


@pytest.fixture(scope="module")
def media_emulator() -> Iterator[tuple[Emulator, DevEnv]]:
    """The emulator with audio and video on, as `mediakit dev --stack example-media` runs."""
    emulator = Emulator(
        Settings(
            media_kinds=ON,
            media_processing_timeout_seconds=60,
            media_processing_cpu_seconds=30,
            media_processing_memory_mb=1024,
            media_processor_timeout_seconds=240,
        )
    )
    env = emulator.start()
    try:
        yield emulator, env
    finally:
        emulator.stop()


def _events(env: DevEnv, upload_id: str, timeout: float = 20) -> list[dict[str, Any]]:
    sqs = boto3.client(
        "sqs",
        endpoint_url=env.aws_endpoint_url,
        region_name=env.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = sqs.receive_message(
            QueueUrl=env.events_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        found = []
        for message in batch.get("Messages", []):
            event = json.loads(message["Body"])
            if event["detail"].get("upload_id") == upload_id:
                found.append(event)
                sqs.delete_message(
                    QueueUrl=env.events_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        if found:
            return found
    return []


def _send(env: DevEnv, tmp_path: Path, name: str, data: bytes, declared: str) -> Any:
    path = tmp_path / name
    path.write_bytes(data)
    client = dev_client(env, "studio")
    created = client.upload(path, content_type=declared)
    return created, client.wait(created, timeout=90)


def test_emulator_provisions_the_media_function_and_queue_from_the_graph(
    media_emulator: tuple[Emulator, DevEnv],
) -> None:
    emulator, _ = media_emulator
    assert emulator.plan.media is not None
    assert emulator.functions["media"].handler == "runtime.media_processor.handler"
    assert emulator.functions["media"].timeout_seconds == 240
    assert emulator.media_mapping is not None
    assert emulator.plan.media_mapping is not None
    assert emulator.plan.media_mapping.batch_size == 1
    assert emulator.resources is not None
    assert emulator.resources.media_queue_url != emulator.resources.queue_url


def test_video_completes_with_probed_fields_a_poster_and_a_thin_event(
    media_emulator: tuple[Emulator, DevEnv], tmp_path: Path
) -> None:
    _, env = media_emulator
    entry = media.sample("clip.mp4")
    created, record = _send(env, tmp_path, "holiday.mp4", entry.data, entry.declared_type)
    assert record["status"] == "completed", record.get("error")
    assert created["key"].endswith(".mp4")
    m = record["media"]
    assert m["kind"] == "video"
    assert m["container"] == "mp4"
    assert (m["video_codec"], m["audio_codec"]) == ("h264", "aac")
    assert m["duration_seconds"] > 0
    assert (record["width"], record["height"]) == (m["width"], m["height"])
    for derivative in record["derivatives"]:
        body = request("GET", derivative["url"]).body
        with Image.open(io.BytesIO(body)) as image:
            assert image.format == "JPEG"
            assert image.size == (derivative["width"], derivative["height"])
            assert not image.getexif()
    (event,) = _events(env, created["upload_id"])
    assert event["detail-type"] == "media.upload.completed"
    detail = event["detail"]
    assert detail["media"]["kind"] == "video"
    assert detail["media"]["duration_seconds"] == m["duration_seconds"]
    assert "holiday" not in json.dumps(detail)  # no file names in events
    assert "url" not in json.dumps(detail)


def test_audio_by_browser_alias_gets_a_waveform(
    media_emulator: tuple[Emulator, DevEnv], tmp_path: Path
) -> None:
    _, env = media_emulator
    entry = media.sample("song.wav")  # declared audio/x-wav
    _, record = _send(env, tmp_path, "take1.wav", entry.data, entry.declared_type)
    assert record["status"] == "completed", record.get("error")
    assert record["content_type"] == "audio/wav"
    assert record["media"]["kind"] == "audio"
    assert record["media"]["sample_rate"] == 22050
    (waveform,) = record["derivatives"]
    body = request("GET", waveform["url"]).body
    with Image.open(io.BytesIO(body)) as image:
        assert (image.format, image.size) == ("PNG", (1200, 200))


@pytest.mark.parametrize("name", ["hls-playlist.mp4", "2-32-samples.wav"])
def test_hostile_media_ends_failed_with_its_code(
    media_emulator: tuple[Emulator, DevEnv], tmp_path: Path, name: str
) -> None:
    _, env = media_emulator
    entry = next(h for h in media.HOSTILE if h.name == name)
    created, record = _send(
        env, tmp_path, name, entry.data(tmp_path / "canary.ts"), entry.declared_type
    )
    assert record["status"] == "failed"
    assert record["error"]["code"] == entry.code
    assert not record.get("derivatives")
    (event,) = _events(env, created["upload_id"])
    assert event["detail"]["error"] == {"code": entry.code}


def test_declared_type_mismatch_fails(
    media_emulator: tuple[Emulator, DevEnv], tmp_path: Path
) -> None:
    _, env = media_emulator
    _, record = _send(env, tmp_path, "a.webm", media.sample("song.mp3").data, "video/webm")
    assert record["error"]["code"] == "type_mismatch"


def test_a_large_video_is_probed_with_a_bounded_number_of_bytes_fetched(
    media_emulator: tuple[Emulator, DevEnv], tmp_path: Path
) -> None:
    # GIVEN a 30 s 1080p MP4 (moov at the end, as FFmpeg writes it)
    emulator, env = media_emulator
    data = media.long_video(seconds=30, detail=8)
    before = _bytes_read(emulator)
    _, record = _send(env, tmp_path, "long.mp4", data, "video/mp4")
    assert record["status"] == "completed", record.get("error")
    assert (record["width"], record["height"]) == (1920, 1080)
    assert record["media"]["duration_seconds"] == 30.0
    # THEN the media function's ranged reads fetched a small share of the file
    fetched = _bytes_read(emulator) - before
    assert 0 < fetched < len(data) / 10, (fetched, len(data))


def _bytes_read(emulator: Emulator) -> float:
    return sum(
        value
        for _, name, dims, value in emulator.emitted_metrics()
        if name == telemetry.MEDIA_BYTES_READ and dims.get("service") == telemetry.MEDIA
    )

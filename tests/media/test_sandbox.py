"""runtime/media runs inside the processing sandbox (runtime.sandbox): pure functions survive
its budgets, and an over-budget file is a clean `processing_limit`, not a crash."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import media_support
import pytest
from media_support import BUCKET

from mediakit.corpus import media
from runtime import sandbox
from runtime.errors import PermanentFault
from runtime.media import faults
from runtime.media.faults import MediaLimits
from runtime.media.poster import Poster, poster
from runtime.media.probe import probe
from runtime.media.waveform import waveform

ROOMY = sandbox.Budget(cpu_seconds=8, wall_seconds=20, memory_mb=512)


@pytest.fixture(autouse=True)
def _fresh_child() -> Iterator[None]:
    # A warm child forked before PyAV was imported would import it inside the budget.
    sandbox.retire()
    yield
    sandbox.retire()


def test_probe_in_the_sandbox_answers_as_in_process() -> None:
    entry = media.sample("clip.mp4")
    inside = sandbox.run(probe, io.BytesIO(entry.data), entry.declared_type, budget=ROOMY)
    assert inside == probe(io.BytesIO(entry.data), entry.declared_type)


def test_poster_comes_back_from_the_sandbox_as_an_image() -> None:
    entry = media.sample("rotated.mov")
    result = sandbox.run(poster, io.BytesIO(entry.data), entry.declared_type, budget=ROOMY)
    assert isinstance(result, Poster)
    assert result.image.size == (96, 160)


def test_hostile_file_in_the_sandbox_keeps_its_code() -> None:
    entry = next(h for h in media.HOSTILE if h.name == "absurd-dimensions.webm")
    with pytest.raises(PermanentFault) as caught:
        sandbox.run(
            probe, io.BytesIO(entry.data("/nonexistent")), entry.declared_type, budget=ROOMY
        )
    assert caught.value.code == faults.FRAME_TOO_LARGE


# The memory budget is address space above the parent's size at fork: memory the parent has
# freed but still maps is reusable by the child on top of it. Under pytest that slack varies
# from run to run, so the over-budget case forks from a fresh, small interpreter.
_OVER_BUDGET_PROBE = """
import io, sys
from mediakit.corpus import media
from runtime import sandbox
from runtime.errors import PermanentFault
from runtime.media.poster import poster
data = media.encode_video("mp4", "libx264", size=(3840, 2160), seconds=0.2, fps=10)
try:
    sandbox.run(poster, io.BytesIO(data), "video/mp4",
                budget=sandbox.Budget(cpu_seconds=8, wall_seconds=20, memory_mb=16))
except PermanentFault as exc:
    print(exc.code, sandbox.last_report.signal if sandbox.last_report else "no-report")
else:
    print("no-fault")
roomy = sandbox.Budget(cpu_seconds=8, wall_seconds=20, memory_mb=512)
print(sandbox.run(poster, io.BytesIO(data), "video/mp4", budget=roomy).image.width)
"""


def test_a_frame_over_the_memory_budget_is_a_clean_limit() -> None:
    # GIVEN a 4K video (a 12 MB decoded frame, 24 MB as RGB) and 16 MiB of memory budget
    # WHEN its poster is taken in the sandbox, forked from a fresh interpreter
    result = subprocess.run(
        [sys.executable, "-c", _OVER_BUDGET_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # THEN processing_limit, answered by the child (no segfault, no kill: a MemoryError) ...
    verdict, width = result.stdout.split("\n")[:2]
    assert verdict == f"{faults.PROCESSING_LIMIT} None"
    # ... and the same file within a roomy budget is fine
    assert width == "3840"


def test_audio_over_the_cpu_budget_is_a_clean_limit() -> None:
    # GIVEN 20 minutes of MP3 (one 3 s file's frames repeated) and a 1 s CPU budget, with the
    # decode budget raised so the waveform really decodes all of it
    mp3 = media.sample("song.mp3").data
    tag = 10 + ((mp3[6] << 21) | (mp3[7] << 14) | (mp3[8] << 7) | mp3[9])
    long_mp3 = mp3 + mp3[tag:] * 399
    limits = MediaLimits(max_audio_seconds=3600)
    budget = sandbox.Budget(cpu_seconds=1, wall_seconds=20, memory_mb=256)
    with pytest.raises(PermanentFault) as caught:
        sandbox.run(waveform, io.BytesIO(long_mp3), "audio/mpeg", limits, budget=budget)
    assert caught.value.code == sandbox.PROCESSING_LIMIT
    # a decode budget of 60 s (sampled in windows) fits the same CPU budget
    sampled = MediaLimits(max_audio_seconds=60)
    result = sandbox.run(waveform, io.BytesIO(long_mp3), "audio/mpeg", sampled, budget=budget)
    assert result.sampled
    assert result.decoded_seconds <= 60.5


def test_ranged_poster_runs_in_the_sandbox_with_its_own_client(s3: Any) -> None:
    # GIVEN a 6 s 1080p MP4 in (moto) S3; the child makes its own client, as the processor's
    # child must (moto's state is inherited by the fork)
    data = media.long_video(seconds=6, detail=8)
    s3.put_object(Bucket=BUCKET, Key="clip.mp4", Body=data)
    info, requests, fetched = sandbox.run(
        media_support.poster_over_s3, BUCKET, "clip.mp4", "video/mp4", budget=ROOMY
    )
    assert (info["width"], info["height"], info["duration_seconds"]) == (1920, 1080, 6.0)
    assert requests <= 4
    assert fetched < len(data) / 3

"""`mediakit demo`: the whole pipeline on sample images, once, with its verdict."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from mediakit.cli import cli
from mediakit.demo import Outcome


def test_demo_exits_zero_with_outputs(tmp_path: Path) -> None:
    # GIVEN an empty output folder
    out = tmp_path / "demo-out"
    # WHEN the demo runs
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "--no-keep-running"])
    # THEN every sample behaved as expected, derivatives were downloaded, the contact sheet
    # is a PNG, and the bus events were shown
    assert result.exit_code == 0, result.output
    assert "demo OK" in result.output
    assert "MISMATCH" not in result.output
    assert "media.upload.completed" in result.output
    assert "media.upload.failed" in result.output
    assert (out / "camera-photo.jpg" / "thumb.jpeg").is_file()
    # audio and video are on for the demo: the MP4's poster and the voice memo's waveform
    assert (out / "short-clip.mp4" / "thumb.jpeg").is_file()
    with Image.open(out / "voice-memo.m4a" / "waveform.png") as waveform:
        assert waveform.size == (1200, 200)
    assert "not_media" in result.output
    with Image.open(out / "contact-sheet.png") as sheet:
        assert sheet.format == "PNG"


def _outcome(expected: str, code: str | None, **kw: object) -> Outcome:
    o = Outcome(
        filename="f.jpg",
        path=Path("f.jpg"),
        content_type="image/jpeg",
        expected_status=expected,
        expected_code=code,
        description="d",
    )
    for k, v in kw.items():
        setattr(o, k, v)
    return o


@pytest.mark.parametrize(
    ("outcome", "problem"),
    [
        (_outcome("completed", None, record={"status": "completed", "derivatives": [{}]}), None),
        (_outcome("completed", None, record={"status": "completed", "derivatives": []}), "without"),
        (_outcome("completed", None, record={"status": "processing"}), "got processing"),
        (
            _outcome(
                "failed", "truncated", record={"status": "failed", "error": {"code": "truncated"}}
            ),
            None,
        ),
        (
            _outcome("failed", "truncated", record={"status": "failed", "error": {"code": "x"}}),
            "got x",
        ),
        (_outcome("failed", "truncated", record={"status": "completed"}), "got completed"),
        (
            _outcome(
                "failed", "unsupported_media_type", api_error={"code": "unsupported_media_type"}
            ),
            None,
        ),
    ],
)
def test_demo_outcome_mismatch(outcome: Outcome, problem: str | None) -> None:
    # GIVEN an expectation and what happened / WHEN compared / THEN a mismatch is named or not
    found = outcome.mismatch()
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_demo_exits_non_zero_on_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a sample set whose one valid JPEG is (wrongly) expected to fail
    from mediakit.corpus import samples
    from tests.emulator.conftest import jpeg_bytes

    def one_sample(out_dir: Path) -> list[samples.Sample]:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "ok.jpg"
        path.write_bytes(jpeg_bytes((64, 48)))
        return [samples.Sample(path, "ok.jpg", "image/jpeg", "failed", "truncated", "valid")]

    monkeypatch.setattr(samples, "generate_samples", one_sample)
    # WHEN the demo runs
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "out")])
    # THEN it names the mismatch and exits non-zero
    assert result.exit_code == 1, result.output
    assert "MISMATCH ok.jpg" in result.output
    assert "expected failed (truncated), got completed" in result.output
    assert "demo FAILED" in result.output

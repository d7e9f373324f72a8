"""`mediakit demo`: the whole pipeline on sample images, once, with its verdict."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from mediakit.cli import cli


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
    with Image.open(out / "contact-sheet.png") as sheet:
        assert sheet.format == "PNG"

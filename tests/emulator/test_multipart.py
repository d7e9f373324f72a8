"""Multipart uploads end to end: an emulator with the smallest multipart threshold."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from mediakit.client import ApiClient
from mediakit.local.emulator import Emulator, mint_token
from runtime.settings import MIB, Settings


def test_upload_above_threshold_goes_multipart(tmp_path: Path) -> None:
    # GIVEN an emulator whose multipart threshold is the 5 MiB minimum, and a 6+ MiB PNG
    big = tmp_path / "noise.png"
    Image.frombytes("RGB", (1500, 1500), os.urandom(1500 * 1500 * 3)).save(big)
    assert big.stat().st_size > 5 * MIB
    settings = Settings(multipart_threshold_bytes=5 * MIB, multipart_part_bytes=5 * MIB)
    with Emulator(settings) as env:
        client = ApiClient(env.api_url, mint_token(env, "acme"))
        # WHEN it is uploaded
        created = client.upload(big)
        record = client.wait(created, timeout=30)
    # THEN the API chose multipart, the client sent every part and completed it, and the
    # processor handled the assembled object
    assert created["method"] == "MULTIPART"
    assert len(created["parts"]) == 2
    assert record["status"] == "completed", record
    assert (record["width"], record["height"]) == (1500, 1500)

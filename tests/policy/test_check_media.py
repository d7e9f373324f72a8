"""`mediakit check` on the audio/video stack (Pulumi.example-media.yaml): the shipped graph passes
(one of `check_all`'s shipped graphs) with the media function, its queue and the artifacts bucket
scanned, and weakened copies of the artifacts bucket and the media role fail their checks."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.usefixtures("checkov_venv")

Variants = dict[str, tuple[Any, list[tuple[str, str]]]]


def test_check_media_stack_passes_with_its_media_resources_scanned(
    check_all: tuple[int, dict[str, Any], float], shipped: tuple[str, ...]
) -> None:
    _, reports, _ = check_all
    assert "shipped-example-media" in shipped
    report = reports["shipped-example-media"]
    assert report["ok"], (report["failed"], report["unused_suppressions"])
    assert report["failed"] == []
    # the artifacts bucket is checked like the media bucket (its waivers are the reviewed ones)
    waived = {(s["check_id"], s["resource"]) for s in report["suppressed"]}
    assert ("CKV2_AWS_62", "aws_s3_bucket.media-media-artifacts") in waived


def test_check_weakened_media_resources_fail_with_the_guarding_check(
    check_all: tuple[int, dict[str, Any], float], media_variants: Variants
) -> None:
    code, reports, _ = check_all
    assert code == 1
    for key, (_, expected) in media_variants.items():
        report = reports[key]
        failed = {(f["check_id"], f["resource"]) for f in report["failed"]}
        assert not report["ok"], key
        assert set(expected) <= failed, (key, report["failed"])

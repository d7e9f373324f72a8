"""bench/costs.py's arithmetic: Lambda GB-s and requests, a year of S3 with and without the
lifecycle rule of originals, checked by hand against the dated price constants."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import costs
from runtime.settings import Settings

GIB = 1024**3


def test_lambda_cost_is_memory_times_duration_plus_batched_requests() -> None:
    settings = Settings(
        processor_memory_mb=2048, processor_batch_size=10, processor_timeout_seconds=120
    )
    requests, duration = costs.lambda_cost(500.0, settings, "arm64")
    # 1,000 uploads x 2 GB x 0.5 s = 1,000 GB-s; 100 invocations.
    assert duration == pytest.approx(1000 * costs.LAMBDA_GB_SECOND["arm64"])
    assert requests == pytest.approx(100 * costs.LAMBDA_REQUEST)
    _, x86 = costs.lambda_cost(500.0, settings, "x86_64")
    assert x86 > duration


def test_a_year_in_standard_against_the_lifecycle() -> None:
    up = costs.Upload(original_bytes=GIB // 1000, derivative_bytes=0, derivatives=3)
    settings = Settings()  # IA at 30 days, Glacier IR at 365
    plain = costs.storage_year(up, settings, lifecycle=False)
    tiered = costs.storage_year(up, settings, lifecycle=True)
    gb = 1000 * (GIB // 1000) / GIB
    assert plain["originals"] == pytest.approx(gb * 0.023 * 12)
    expected = gb * (30 * 0.023 + 335 * 0.0125) / (365 / 12)
    assert tiered["originals"] == pytest.approx(expected)
    # One transition into each class per original, none without the rule.
    assert tiered["transitions"] == pytest.approx(1000 * (0.01 + 0.02) / 1000)
    assert "transitions" not in plain
    # 4 PUTs (original + 3 derivatives) and the processor's GET per upload.
    assert plain["requests"] == pytest.approx(4 * 0.005 + 0.0004)


def test_later_years_keep_originals_in_glacier_ir() -> None:
    up = costs.Upload(original_bytes=GIB // 1000, derivative_bytes=GIB // 1000, derivatives=3)
    gb = 1000 * (GIB // 1000) / GIB
    assert costs.later_year(up, lifecycle=True) == pytest.approx(gb * 12 * (0.004 + 0.023))
    assert costs.later_year(up, lifecycle=False) == pytest.approx(gb * 12 * (0.023 + 0.023))

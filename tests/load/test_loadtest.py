"""The load run through `mediakit dev` (in-process): 200 uploads, 8 concurrent clients, a seeded
mix of valid images and hostile files; nothing lost, nothing misclassified, DLQ unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mediakit.cli import cli
from mediakit.corpus.hostile import BY_NAME
from mediakit.loadtest import Job, Report, Result, format_report, plan
from mediakit.local.emulator import Emulator
from runtime.mediatypes import canonical
from runtime.settings import Settings


@pytest.mark.load
def test_loadtest_200_uploads_8_clients_nothing_lost_or_misclassified() -> None:
    # GIVEN the loadtest command with N=200, C=8 and a fifth of hostile files
    args = ["loadtest", "--uploads", "200", "--concurrency", "8", "--invalid-ratio", "0.2"]

    # WHEN it runs against an emulator started in-process
    result = CliRunner().invoke(cli, [*args, "--seed", "7", "--json"])

    # THEN it exits 0 and its summary accounts for every upload, each with its expected outcome
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["uploads"] == 200
    assert sum(summary["outcomes"].values()) == 200
    assert summary["lost"] == summary["misclassified"] == summary["dlq_growth"] == 0
    assert summary["outcomes"]["completed"] > 100
    assert any(k.startswith("failed:") for k in summary["outcomes"])
    assert summary["p95_seconds"] >= summary["p50_seconds"] > 0


def test_loadtest_against_a_running_dev_through_its_env_file(tmp_path: Path) -> None:
    # GIVEN a running `mediakit dev` and its env file
    with Emulator(Settings()) as env:
        env_file = tmp_path / "dev.json"
        env.write(env_file)

        # WHEN a small all-hostile run uses it
        result = CliRunner().invoke(
            cli,
            ["loadtest", "--env-file", str(env_file), "--uploads", "12", "--concurrency", "4",
             "--invalid-ratio", "1", "--seed", "3"],
        )  # fmt: skip

        # AND a small mixed run whose client sends every create twice with one Idempotency-Key
        retried = CliRunner().invoke(
            cli,
            ["loadtest", "--env-file", str(env_file), "--uploads", "12", "--concurrency", "4",
             "--invalid-ratio", "0.25", "--seed", "5", "--retry-creates", "--json"],
        )  # fmt: skip

    # THEN every upload failed with its expected code and the text report says PASS
    assert result.exit_code == 0, result.output
    assert "lost         0" in result.output
    assert "completed" not in result.output.split("outcomes", 1)[1].split("\n", 1)[0]
    assert result.output.rstrip().endswith("PASS")
    # AND each key of the retried run made one upload (the answers agree, and the tenants'
    # listing of the run shows no upload beyond them, the first run's included)
    assert retried.exit_code == 0, retried.output
    summary = json.loads(retried.output)
    assert summary["idempotent_retries"] is True
    assert summary["duplicates"] == summary["lost"] == summary["misclassified"] == 0
    assert sum(summary["outcomes"].values()) == 12


def test_loadtest_plan_is_seeded_and_mixes_expected_outcomes() -> None:
    # GIVEN the default settings
    settings = Settings()

    # WHEN the same plan is made twice and another with a different seed
    first = plan(100, invalid_ratio=0.3, seed=3, settings=settings)
    again = plan(100, invalid_ratio=0.3, seed=3, settings=settings)
    other = plan(100, invalid_ratio=0.3, seed=4, settings=settings)

    # THEN it is deterministic per seed, uses only files the API accepts, and owes both outcomes
    assert [(j.name, j.data) for j in first] == [(j.name, j.data) for j in again]
    assert [j.name for j in first] != [j.name for j in other]
    assert {j.expected[0] for j in first} == {"completed", "failed"}
    # (a declared alias such as image/heic-sequence is accepted as its canonical type)
    assert all(canonical(j.content_type) in settings.allowed_types and j.data for j in first)


def test_loadtest_report_fails_on_lost_or_misclassified_uploads() -> None:
    # GIVEN results with one upload stuck and one failing with the wrong code
    bomb = BY_NAME["bomb-30000.png"]
    job = Job(0, "t", bomb.name, bomb.data, bomb.declared_type, ("failed", "decompression_bomb"))
    stuck = Result(job, "u1", status="processing", problem="still processing after 1 s")
    wrong = Result(job, "u2", status="failed", code="truncated", seconds=1.0)
    right = Result(job, "u3", status="failed", code="decompression_bomb", seconds=2.0)

    # WHEN the report is judged
    report = Report(
        [stuck, wrong, right], wall_seconds=3.0, concurrency=1, dlq_before=0, dlq_after=0
    )

    # THEN both problems are counted and the run does not pass
    assert report.lost == [stuck]
    assert report.misclassified == [wrong]
    assert not report.passed
    assert report.to_json()["outcomes"] == {
        "failed:decompression_bomb": 1,
        "failed:truncated": 1,
        "processing": 1,
    }


def test_loadtest_report_fails_when_the_dlq_grows() -> None:
    # GIVEN every upload right but one more message on the DLQ than before
    job = Job(0, "t", "x.jpg", b"x", "image/jpeg", ("completed", None))
    report = Report([Result(job, "u", "completed", None, 1.0)], 1.0, 1, dlq_before=2, dlq_after=3)

    # WHEN judged / THEN it does not pass
    assert report.dlq_growth == 1
    assert not report.passed


def test_loadtest_report_fails_on_a_duplicate_per_key() -> None:
    # GIVEN a retried create whose two answers named two uploads, and one unanswered upload
    job = Job(0, "t", "x.jpg", b"x", "image/jpeg", ("completed", None))
    twice = Result(
        job, "u2", "completed", None, 1.0, idempotency_key="k", answered_ids=("u1", "u2")
    )
    once = Result(job, "u3", "completed", None, 1.0, idempotency_key="j", answered_ids=("u3", "u3"))
    report = Report([twice, once], 1.0, 1, dlq_before=0, dlq_after=0, retried=True)

    # WHEN judged / THEN the second upload of key k is a duplicate and the run fails
    assert report.duplicates == 1
    assert not report.passed
    report.unanswered_uploads = 2
    assert report.duplicates == 3
    assert "duplicates   3" in format_report(report)

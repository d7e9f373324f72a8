"""Retention per environment (issue 11.5): the media bucket's lifecycle rules, the notification
that turns an expired original into an `expired` record, and the point-in-time recovery window,
synthesized under Pulumi mocks with each environment's config plus the retention settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from policies.synth import load_stack_config, synth
from runtime.errors import SettingsError
from stacks.queues import NOTIFIED_EVENTS

BUCKET = "media-storage-bucket"


def _rules(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (lifecycle,) = [
        r for r in graph["resources"] if r["custom"] and r["name"] == f"{BUCKET}-lifecycle"
    ]
    return {r["id"]: r for r in lifecycle["inputs"]["rules"]}


def _retained(env: str, **settings: Any) -> dict[str, Any]:
    graph: dict[str, Any] = synth(env, load_stack_config(env) | settings)
    return graph


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_retention_off_by_default_keeps_every_current_object(env: str) -> None:
    # GIVEN the shipped environment, WHEN its bucket lifecycle is read
    rules = _rules(synth(env))
    # THEN originals only tier, nothing current expires, and derivatives have no rule
    assert "expiration" not in rules["tier-originals"]
    assert "expire-derivatives" not in rules
    assert rules["housekeeping"]["expiration"] == {"expiredObjectDeleteMarker": True}


@pytest.mark.parametrize(
    ("env", "days", "transitions"),
    [
        # a 30-day retention (one seed system's rule): the IA transition would not come first
        ("dev", 30, []),
        ("prod", 60, [{"storageClass": "STANDARD_IA", "days": 30.0}]),
        (
            "prod",
            455,
            [
                {"storageClass": "STANDARD_IA", "days": 30.0},
                {"storageClass": "GLACIER_IR", "days": 365.0},
            ],
        ),
    ],
)
def test_retention_expires_originals_after_their_transitions(
    env: str, days: int, transitions: list[dict[str, Any]]
) -> None:
    # GIVEN an environment with originalExpirationDays and derivativeExpirationDays
    rules = _rules(_retained(env, originalExpirationDays=days, derivativeExpirationDays=7))
    # WHEN / THEN originals expire after N days, keeping only the transitions that come first
    # (S3 refuses an expiration that is not after a rule's transitions)
    tier = rules["tier-originals"]
    assert tier["expiration"] == {"days": float(days)}
    assert tier.get("transitions", []) == transitions
    # and derivatives expire under their own prefix; noncurrent versions still go after the
    # housekeeping rule's noncurrentExpirationDays (the restore window)
    assert rules["expire-derivatives"] == {
        "id": "expire-derivatives",
        "status": "Enabled",
        "filter": {"prefix": "derivatives/"},
        "expiration": {"days": 7.0},
    }
    assert rules["housekeeping"]["noncurrentVersionExpiration"] == {"noncurrentDays": 30.0}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"originalExpirationDays": 45}, "within 30 days of the STANDARD_IA transition"),
        ({"originalExpirationDays": 400}, "within 90 days of the GLACIER_IR transition"),
        (
            {"originalExpirationDays": 100, "iaTransitionDays": 90, "glacierTransitionDays": 200},
            "within 30 days of the STANDARD_IA transition",
        ),
        ({"originalExpirationDays": -1}, "between 0 and 36500"),
        ({"derivativeExpirationDays": 40000}, "between 0 and 36500"),
        ({"pitrRecoveryDays": 36}, "between 1 and 35"),
        ({"pitrRecoveryDays": 0}, "between 1 and 35"),
    ],
)
def test_retention_settings_refused_against_the_transitions(
    settings: dict[str, Any], message: str
) -> None:
    # GIVEN an expiry inside a storage class's minimum duration, or a value out of range
    # WHEN the stack is synthesized / THEN the settings refuse it, naming the config key
    with pytest.raises(SettingsError, match=message) as refused:
        _retained("prod", **settings)
    assert str(refused.value).split(":")[1] in settings


def test_notification_sends_lifecycle_expiry_of_originals_to_the_ingest_queue() -> None:
    # GIVEN the synthesized notification
    graph = synth("prod")
    (notification,) = [
        r for r in graph["resources"] if r["type"] == "aws:s3/bucketNotification:BucketNotification"
    ]
    (queue,) = notification["inputs"]["queues"]
    # WHEN / THEN created objects and the delete markers retention writes both reach the queue,
    # for originals only
    assert queue["events"] == NOTIFIED_EVENTS
    assert queue["events"] == ["s3:ObjectCreated:*", "s3:LifecycleExpiration:DeleteMarkerCreated"]
    assert queue["filterPrefix"] == "originals/"


@pytest.mark.parametrize(("env", "days"), [("dev", 1), ("prod", 35), ("prod", 7)])
def test_point_in_time_recovery_window_is_a_setting(env: str, days: int) -> None:
    graph = _retained(env, pitrRecoveryDays=days)
    (table,) = [r for r in graph["resources"] if r["name"] == "media-storage-uploads"]
    assert table["inputs"]["pointInTimeRecovery"] == {
        "enabled": True,
        "recoveryPeriodInDays": float(days),
    }


def test_event_archive_keeps_only_the_kits_thin_events() -> None:
    # GIVEN an environment that archives its events
    graph = _retained("prod", eventArchiveDays=30)
    (archive,) = [
        r for r in graph["resources"] if r["type"] == "aws:cloudwatch/eventArchive:EventArchive"
    ]
    # WHEN / THEN the archive takes the kit's own detail types, lifecycle ones included, for
    # the configured days (their details are ids, status, keys, codes: runtime.events.detail)
    assert archive["inputs"]["retentionDays"] == 30
    assert json.loads(archive["inputs"]["eventPattern"]) == {
        "source": ["mediakit"],
        "detail-type": [
            "media.upload.completed",
            "media.upload.failed",
            "media.upload.deleted",
            "media.upload.restored",
            "media.upload.purged",
            "media.upload.expired",
        ],
    }

"""Status records: attribute encoding, cursors, and conditional transitions that never regress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rt_support import Pipeline

from runtime.records import (
    SourceRef,
    from_attr,
    iso,
    to_attr,
)

NOW = datetime(2026, 11, 21, 4, 31, 5, 123456, tzinfo=UTC)
REF = SourceRef("bucket", "originals/t/2026/11/21/01jd0000000000000000000000.jpg", "v1", "0A")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False, width=64).filter(
        lambda f: not f.is_integer()
    )
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(json_values)
def test_to_attr_round_trips_json_values(value: object) -> None:
    # GIVEN any JSON-safe value (EXIF, metadata, derivatives) WHEN stored and read THEN unchanged
    assert from_attr(to_attr(value)) == value


def test_iso_is_utc_milliseconds() -> None:
    assert iso(NOW) == "2026-11-21T04:31:05.123Z"


@pytest.mark.parametrize(
    ("mine", "theirs", "newer"),
    [("0B", "0A", True), ("0A", "0B", False), ("100", "FF", True), ("0FF", "100", False)],
)
def test_source_ref_compares_sequencers_as_padded_hex(mine: str, theirs: str, newer: bool) -> None:
    ref = SourceRef("b", "k", "v", mine)
    assert ref.is_newer_than({"sequencer": theirs}) is newer


# Listing cursors (tenant, filters, MAC) are tested in test_listing.py.


def test_transitions_walk_the_lifecycle_once(pipeline: Pipeline) -> None:
    # GIVEN a pending upload
    upload_id = pipeline.create(b"x" * 10)["upload_id"]
    store = pipeline.store
    # WHEN it moves through its lifecycle, each step tried twice
    assert store.mark_uploaded(upload_id, REF, NOW) is not None
    assert store.mark_uploaded(upload_id, REF, NOW) is None
    assert store.claim(upload_id, REF, NOW, 60) is not None
    assert store.claim(upload_id, REF, NOW, 60) is None
    done = store.complete(upload_id, REF, {"width": 1}, NOW)
    # THEN each step happened exactly once and nothing moves a finished record back
    assert done is not None
    assert done["status"] == "completed"
    assert store.complete(upload_id, REF, {"width": 2}, NOW) is None
    assert store.fail(upload_id, REF, {"code": "x", "message": "y"}, NOW) is None
    assert store.claim(upload_id, REF, NOW + timedelta(hours=1), 60) is None
    assert store.mark_uploaded(upload_id, REF, NOW) is None
    assert pipeline.record(upload_id)["width"] == 1


def test_claim_expired_lease_can_be_taken_over(pipeline: Pipeline) -> None:
    # GIVEN a processing record whose holder crashed
    upload_id = pipeline.create(b"x" * 10)["upload_id"]
    store = pipeline.store
    store.mark_uploaded(upload_id, REF, NOW)
    store.claim(upload_id, REF, NOW, 60)
    # WHEN the lease has run out THEN another attempt may claim, but not before
    assert store.claim(upload_id, REF, NOW + timedelta(seconds=30), 60) is None
    assert store.claim(upload_id, REF, NOW + timedelta(seconds=61), 60) is not None


def test_claim_for_another_version_is_refused(pipeline: Pipeline) -> None:
    upload_id = pipeline.create(b"x" * 10)["upload_id"]
    pipeline.store.mark_uploaded(upload_id, REF, NOW)
    other = SourceRef(REF.bucket, REF.key, "v2", "0B")
    assert pipeline.store.claim(upload_id, other, NOW, 60) is None


def test_mark_deleted_is_tenant_scoped_and_once(pipeline: Pipeline) -> None:
    upload_id = pipeline.create(b"x" * 10)["upload_id"]
    assert pipeline.store.mark_deleted(upload_id, "tenant-b", NOW, by="u", window_days=30) is None
    assert (
        pipeline.store.mark_deleted(upload_id, "tenant-a", NOW, by="u", window_days=30) is not None
    )
    assert pipeline.store.mark_deleted(upload_id, "tenant-a", NOW, by="u", window_days=30) is None
    assert pipeline.store.mark_uploaded(upload_id, REF, NOW) is None

"""Properties of the status lifecycle: no sequence of duplicate, reordered or racing transitions
takes an edge the lifecycle does not have (`records.TRANSITIONS`: statuses never go backwards,
and the one way out of `deleted` is a restore inside its window), leaves a finished record other
than by expiry or delete, or finishes one twice per life; and no order of duplicate or reordered
S3 events for two versions of an upload processes it more than once."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hostile"))
from moto_stack import MotoStack

from mediakit.corpus.hostile import valid_jpeg
from runtime import ingest
from runtime.events import ObjectCreated
from runtime.keys import new_upload_id
from runtime.records import (
    COMPLETED,
    DELETED,
    EXPIRED,
    FAILED,
    PENDING,
    PROCESSING,
    RESTORING,
    TRANSITIONS,
    SourceRef,
    Store,
    parse_iso,
)

TENANT = "t"
WINDOW_DAYS = 2
START = datetime(2026, 11, 21, tzinfo=UTC)
# The machine runs inside one moto stack (see the test below); each run uses a fresh upload.
_STORE: list[Store] = []


class RecordLifecycle(RuleBasedStateMachine):
    """Random transitions, with random object versions and clock jumps, on one record."""

    def __init__(self) -> None:
        super().__init__()
        self.store = _STORE[0]
        self.upload_id = new_upload_id()
        key = f"originals/{TENANT}/2026/11/21/{self.upload_id}.jpg"
        # v1, v2: versions the client wrote; v3: the copy a restore writes.
        self.refs = [
            SourceRef("b", key, "v1", "0010"),
            SourceRef("b", key, "v2", "0020"),
            SourceRef("b", key, "v3", "0030"),
        ]
        self.store.create(
            {
                "upload_id": self.upload_id,
                "tenant": TENANT,
                "status": PENDING,
                "key": key,
                "filename": "holiday.jpg",
                "metadata": {"album": "private"},
                "created_at": "2026-11-21T00:00:00.000Z",
                # Its entry in the tenant's pending count (runtime/limits.py), as a create has.
                "item_tenant": TENANT,
                "item_sort": "pending#001795000000",
            }
        )
        self.now = START
        self.finished = 0
        self.restore_ref: SourceRef | None = None
        self.last: dict[str, Any] = self._get()

    @initialize(start=st.sampled_from([DELETED, COMPLETED, PENDING]))
    def start_from(self, start: str) -> None:
        """Runs also start from a finished or a deleted record, so restores, expiries and
        purges of validated uploads are reached within a run's steps."""
        if start in (COMPLETED, DELETED):
            ref = self.refs[0]
            self.store.mark_uploaded(self.upload_id, ref, self.now)
            self.store.claim(self.upload_id, ref, self.now, 30)
            result = {"width": 1, "height": 1, "derivatives": [], "sha256": ref.version_id}
            assert self.store.complete(self.upload_id, ref, result, self.now) is not None
            self.finished = 1
        if start == DELETED:
            self.now += timedelta(seconds=300)
            deleted = self.store.mark_deleted(
                self.upload_id, TENANT, self.now, by="u", window_days=WINDOW_DAYS
            )
            assert deleted is not None
        self.last = self._get()

    def _get(self) -> dict[str, Any]:
        record = self.store.get(self.upload_id)
        assert record is not None
        return dict(record)

    @rule(seconds=st.integers(min_value=0, max_value=120))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule(hours=st.integers(min_value=1, max_value=30))
    def hours_pass(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule(version=st.sampled_from([0, 1]))
    def s3_event_arrives(self, version: int) -> None:
        ref = self.refs[version]
        self.store.mark_uploaded(self.upload_id, ref, self.now)

    @rule(version=st.sampled_from([0, 1]))
    def newer_version_supersedes(self, version: int) -> None:
        ref = self.refs[version]
        current = self._get()
        if current.get("source_id") and ref.is_newer_than(current.get("source", {})):
            self.store.supersede(self.upload_id, current["source_id"], ref, self.now)

    @rule(version=st.sampled_from([0, 1]), lease=st.integers(min_value=1, max_value=60))
    def worker_claims(self, version: int, lease: int) -> None:
        ref = self.refs[version]
        self.store.claim(self.upload_id, ref, self.now, lease)

    @rule(version=st.sampled_from([0, 1]))
    def worker_completes(self, version: int) -> None:
        ref = self.refs[version]
        result = {"width": 1, "height": 1, "derivatives": [], "sha256": ref.version_id}
        if self.store.complete(self.upload_id, ref, result, self.now) is not None:
            self.finished += 1

    @rule(version=st.sampled_from([0, 1]))
    def worker_fails(self, version: int) -> None:
        ref = self.refs[version]
        error = {"code": "truncated", "message": ref.version_id}
        if self.store.fail(self.upload_id, ref, error, self.now) is not None:
            self.finished += 1

    @rule()
    def transient_fault_noted(self) -> None:
        self.store.note_transient(self.upload_id, {"code": "SlowDown", "message": "x"}, self.now)

    @rule()
    def event_announced(self) -> None:
        self.store.mark_notified(self.upload_id, self.now)

    @precondition(lambda self: self.now > START + timedelta(seconds=200))
    @rule(tenant=st.sampled_from([TENANT, "intruder"]))
    def owner_deletes(self, tenant: str) -> None:
        self.store.mark_deleted(self.upload_id, tenant, self.now, by="u", window_days=WINDOW_DAYS)

    @rule(tenant=st.sampled_from([TENANT, "intruder"]))
    def owner_restores(self, tenant: str) -> None:
        before = self._get()
        restored = self.store.mark_restoring(
            self.upload_id, tenant, self.now, by="u", window_days=WINDOW_DAYS
        )
        if restored is not None:
            # Only inside the window, decided from deleted_at, for a validated, unpurged upload
            deadline = parse_iso(before["deleted_at"]) + timedelta(days=WINDOW_DAYS)
            assert self.now < deadline
            assert before.get("version_id")
            assert not before.get("purged_at")
            self.finished = 0

    @rule()
    def restore_copy_fails(self) -> None:
        # The restore's copy failed (or its retry came after the window): restoring -> deleted,
        # the one compensation, only before a copy was recorded, with the TTL of deleted_at
        record = self._get()
        if record["status"] != RESTORING:
            return
        undone = self.store.unmark_restoring(record, self.now, window_days=WINDOW_DAYS)
        if undone is not None:
            assert not record.get("restore_version_id")
            deadline = parse_iso(record["deleted_at"]) + timedelta(days=WINDOW_DAYS)
            assert undone["ttl"] == int(deadline.timestamp())

    @rule(version=st.sampled_from([1, 2]))
    def restore_copies(self, version: int) -> None:
        ref = self.refs[version]
        if self.store.set_restore_version(self.upload_id, ref.version_id, self.now) is not None:
            self.restore_ref = ref

    @rule(version=st.sampled_from([0, 1, 2]), lease=st.integers(min_value=1, max_value=60))
    def worker_claims_restored(self, version: int, lease: int) -> None:
        self.store.claim_restored(self.upload_id, self.refs[version], self.now, lease)

    @rule()
    def retention_expires(self) -> None:
        record = self.store.get(self.upload_id)
        assert record is not None
        self.store.mark_expired(record, self.now)

    @rule()
    def owner_purges(self) -> None:
        record = self.store.get(self.upload_id)
        assert record is not None
        self.store.purge(record, self.now, by="admin", window_days=WINDOW_DAYS)

    @rule()
    def window_erases(self) -> None:
        record = self.store.get(self.upload_id)
        assert record is not None
        if record["status"] == DELETED:
            self.store.erase(record, self.now)

    @invariant()
    def only_lifecycle_edges_never_twice(self) -> None:
        current = self._get()
        before, now = self.last["status"], current["status"]
        assert now == before or now in TRANSITIONS[before], (self.last, current)
        assert self.finished <= 1
        if before in (COMPLETED, FAILED):
            # A finished record only moves on to expired or deleted, keeping what it finished
            # with while it stays finished.
            assert now in (before, EXPIRED, DELETED)
            if now == before:
                for name in ("error", "derivatives", "sha256", "source_id"):
                    assert current.get(name) == self.last.get(name)
        if before == DELETED and now != DELETED:
            # The one way out of deleted: a restore, inside the window, of an unpurged upload
            assert now == RESTORING
            assert not self.last.get("purged_at")
            assert not self.last.get("expired_at")
        if now == RESTORING:
            assert current["tenant"] == TENANT
        if now == PROCESSING and before == RESTORING:
            # Only the restore's own copy takes the record on
            assert self.restore_ref is not None
            assert current["source_id"] == self.restore_ref.id
        if current.get("purged_at") or current.get("erased_at") or now == EXPIRED:
            assert not {"filename", "metadata", "exif", "derivatives"} & set(current)
        if now == DELETED:
            assert current["tenant"] == TENANT
        if now != PENDING:
            # Out of pending_upload, out of the tenant's pending count, by every edge.
            assert "item_tenant" not in current
            assert "item_sort" not in current
        self.last = current


def test_record_lifecycle_never_regresses_nor_finishes_twice(stack: MotoStack) -> None:
    # GIVEN a record in the moto table, WHEN random sequences of transitions (duplicated,
    # reordered, for either object version, with time passing) are applied, THEN the
    # invariants of RecordLifecycle hold after every step
    _STORE[:] = [stack.store]
    run_state_machine_as_test(
        RecordLifecycle, settings=settings(max_examples=40, stateful_step_count=20, deadline=None)
    )


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(deliveries=st.lists(st.sampled_from([0, 1]), min_size=1, max_size=6))
def test_handle_object_duplicate_and_reordered_events_process_once(
    stack: MotoStack, deliveries: list[int]
) -> None:
    # GIVEN an upload whose object was written twice (two real versions of the declared size),
    # and the S3 events for those versions delivered in any order, any number of times
    data = [valid_jpeg(21), valid_jpeg(21)]
    created = stack.create("image/jpeg", len(data[0]))
    versions = []
    for body in data:
        put = stack.s3.put_object(Bucket=stack.resources.bucket, Key=created["key"], Body=body)
        versions.append(put["VersionId"])
    events = [
        ObjectCreated(
            stack.resources.bucket, created["key"], len(body), versions[i], f"{0x10 * (i + 1):04X}",
            "ObjectCreated:Put", "2026-11-21T00:00:00.000Z",
        )
        for i, body in enumerate(data)
    ]  # fmt: skip
    deps = ingest.default_deps()

    # WHEN each delivery is handled
    outcomes = [ingest.handle_object(events[i], deps) for i in deliveries]

    # THEN exactly one delivery processed the upload, it is completed, and each derivative was
    # written once (one S3 version per derivative key)
    record = stack.record(created["upload_id"])
    assert record["status"] == COMPLETED
    assert outcomes.count("completed") == 1, outcomes
    prefix = f"derivatives/{record['tenant']}/{created['upload_id']}/"
    listing = stack.s3.list_object_versions(Bucket=stack.resources.bucket, Prefix=prefix)
    keys = [v["Key"] for v in listing.get("Versions", [])]
    assert sorted(keys) == sorted({d["key"] for d in record["derivatives"]})
    assert len(keys) == len(stack.settings.derivatives)

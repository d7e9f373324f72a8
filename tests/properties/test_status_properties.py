"""Properties of the status lifecycle: no sequence of duplicate, reordered or racing transitions
regresses a status, leaves a finished record, or finishes one twice; and no order of duplicate or
reordered S3 events for two versions of an upload processes it more than once."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
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
    FAILED,
    PENDING,
    PROCESSING,
    UPLOADED,
    SourceRef,
    Store,
)

RANK = {PENDING: 0, UPLOADED: 1, PROCESSING: 2, COMPLETED: 3, FAILED: 3, DELETED: 4}
TENANT = "t"
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
        self.refs = [SourceRef("b", key, "v1", "0010"), SourceRef("b", key, "v2", "0020")]
        self.store.create(
            {
                "upload_id": self.upload_id,
                "tenant": TENANT,
                "status": PENDING,
                "key": key,
                "created_at": "2026-11-21T00:00:00.000Z",
            }
        )
        self.now = START
        self.finished = 0
        self.last: dict[str, Any] = self._get()

    def _get(self) -> dict[str, Any]:
        record = self.store.get(self.upload_id)
        assert record is not None
        return dict(record)

    @rule(seconds=st.integers(min_value=0, max_value=120))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

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
        self.store.mark_deleted(self.upload_id, tenant, self.now)

    @invariant()
    def never_backwards_never_twice(self) -> None:
        current = self._get()
        assert RANK[current["status"]] >= RANK[self.last["status"]], (self.last, current)
        assert self.finished <= 1
        if self.last["status"] in (COMPLETED, FAILED):
            # A finished record only ever moves on to deleted, and keeps what it finished with.
            assert current["status"] in (self.last["status"], DELETED)
            for name in ("error", "derivatives", "sha256", "source_id"):
                assert current.get(name) == self.last.get(name)
        if self.last["status"] == DELETED:
            assert current["status"] == DELETED
        if current["status"] == DELETED:
            assert current["tenant"] == TENANT
        self.last = current


def test_record_lifecycle_never_regresses_nor_finishes_twice(stack: MotoStack) -> None:
    # GIVEN a record in the moto table, WHEN random sequences of transitions (duplicated,
    # reordered, for either object version, with time passing) are applied, THEN the
    # invariants of RecordLifecycle hold after every step
    _STORE[:] = [stack.store]
    run_state_machine_as_test(
        RecordLifecycle, settings=settings(max_examples=25, stateful_step_count=20, deadline=None)
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

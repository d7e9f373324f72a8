"""No orphans, no expired evidence: whatever happens to an upload's record and however late or
often its events arrive (a DLQ redrive days later), the processor leaves either a terminal
record describing the current original, or no current original at all."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto_stack import MotoStack

from mediakit.corpus.hostile import valid_jpeg
from runtime import ingest
from runtime.events import ObjectCreated
from runtime.records import COMPLETED, FAILED, TTL_ATTRIBUTE

_BROKEN = b"\xff\xd8\xff\xe0" + b"\x00" * 40  # a JPEG that ends before its first frame

steps = st.lists(
    st.sampled_from(["deliver", "redeliver_old", "expire_record", "replay"]),
    min_size=1,
    max_size=7,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=steps, valid=st.booleans())
def test_any_history_ends_terminal_or_without_a_current_original(
    stack: MotoStack, plan: list[str], valid: bool
) -> None:
    # GIVEN an upload whose original arrived (valid or not), then any sequence of deliveries
    # of its events, expiries of its record (DynamoDB TTL) and replays of its upload grant
    data = valid_jpeg(23) if valid else _BROKEN
    created = stack.upload(data, "image/jpeg", size=len(data))
    bucket, key = stack.resources.bucket, created["key"]
    deps = ingest.default_deps()
    events: list[ObjectCreated] = []

    def arrived() -> None:
        head = stack.s3.head_object(Bucket=bucket, Key=key)
        sequencer = f"{0x10 * (len(events) + 1):04X}"
        events.append(
            ObjectCreated(
                bucket, key, len(data), head["VersionId"], sequencer, "ObjectCreated:Put", "t"
            )
        )

    arrived()
    expired = False
    for step in plan:
        if step == "deliver":
            ingest.handle_object(events[-1], deps)
        elif step == "redeliver_old":
            ingest.handle_object(events[0], deps)
        elif step == "expire_record":
            record = stack.store.get(created["upload_id"])
            # TTL only ever removes records that still carry it.
            if record is not None and TTL_ATTRIBUTE in record:
                stack.ddb.delete_item(
                    TableName=stack.resources.table,
                    Key={"upload_id": {"S": created["upload_id"]}},
                )
                expired = True
        else:
            replayed = bytearray(data)
            replayed[-1] ^= 0x55
            stack.put(key, bytes(replayed), "image/jpeg")
            arrived()
    # WHEN every event that exists is finally delivered (a redrive of any age)
    for event in events:
        ingest.handle_object(event, deps)

    # THEN the upload is terminal and its current original is the version it describes, or
    # its record is gone and so is its current original
    record = stack.store.get(created["upload_id"])
    versions = stack.s3.list_object_versions(Bucket=bucket, Prefix=key)
    latest = [v for v in versions.get("Versions", []) if v["IsLatest"]]
    if record is None:
        assert expired
        assert latest == []
        assert any(m["IsLatest"] for m in versions.get("DeleteMarkers", []))
    else:
        assert record["status"] in (COMPLETED, FAILED)
        assert TTL_ATTRIBUTE not in record
        assert [v["VersionId"] for v in latest] == [record["version_id"]]

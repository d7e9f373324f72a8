"""Create order from the engine: the synth graph's `depends_on` is what the program registered
(explicit depends_on, parents, awaited outputs), never a guess, and it holds every ordering AWS
enforces at create time."""

from __future__ import annotations

import pytest

from policies.synth import synth
from tests.stack.conftest import StackGraph

PROGRAM = """
import pulumi
import pulumi_aws as aws

queue = aws.sqs.Queue("queue")
other = aws.sqs.Queue("other")
group = pulumi.ComponentResource("test:index:Group", "group")
inside = aws.sqs.Queue("inside", opts=pulumi.ResourceOptions(parent=group))
# An ARN copied as a plain string: an identifier with no engine dependency behind it.
copied = aws.sqs.QueuePolicy(
    "copied", queue_url="https://sqs.example/q", policy='{"Resource": "%s"}' % "{other_arn}"
)
awaited = aws.sqs.QueuePolicy(
    "awaited",
    queue_url=queue.url,
    policy=queue.arn.apply(lambda arn: '{"Resource": "%s"}' % arn),
    opts=pulumi.ResourceOptions(depends_on=[group]),
)
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> StackGraph:
    first = tmp_path_factory.mktemp("toy") / "first.py"
    first.write_text(PROGRAM.replace("{other_arn}", "unknown"))
    # The plain-string ARN is the other queue's real (mock) ARN, learnt from a first run.
    arn = StackGraph(synth("dev", program=first)).state("other")["arn"]
    program = first.with_name("program.py")
    program.write_text(PROGRAM.replace("{other_arn}", arn))
    return StackGraph(synth("dev", program=program))


def test_synth_records_awaited_outputs_per_input(toy: StackGraph) -> None:
    # GIVEN a policy whose inputs await the queue's url and arn
    # THEN the engine's property dependencies name the queue for each of them
    deps = toy.get("awaited")["property_dependencies"]
    assert deps == {"policy": [toy.urn("queue")], "queueUrl": [toy.urn("queue")]}


def test_synth_records_explicit_depends_on_expanded_to_a_components_children(
    toy: StackGraph,
) -> None:
    # GIVEN depends_on=[a component] THEN the resource waits for the component's children
    assert toy.urn("inside") in toy.get("awaited")["depends_on"]
    assert toy.urn("queue") in toy.get("awaited")["depends_on"]


def test_synth_infers_no_order_from_identifiers_in_strings(toy: StackGraph) -> None:
    # GIVEN an input that holds another queue's ARN as a plain string, not as its output
    assert toy.state("other")["arn"] in toy.inputs("copied")["policy"]
    # THEN no dependency is invented: the engine would not wait for it either
    assert toy.get("copied")["depends_on"] == []
    assert toy.get("copied")["property_dependencies"] == {}


def test_synth_records_parents_and_options(toy: StackGraph) -> None:
    assert toy.get("inside")["parent"] == toy.urn("group")
    assert toy.get("queue")["options"] == {
        "protect": False,
        "retain_on_delete": False,
        "delete_before_replace": False,
        "aliases": [],
    }


# (resource, what must exist first, why): orderings AWS enforces or needs at create time.
ORDERINGS = [
    ("media-queues-bucket-notification", "media-queues-ingest-policy", "S3 test-publishes"),
    ("media-storage-bucket-logging", "media-storage-log-bucket-policy", "logs need the policy"),
    ("media-storage-bucket-policy", "media-storage-bucket-public-access-block", "never public"),
    ("media-storage-bucket-lifecycle", "media-storage-bucket-versioning", "noncurrent rules"),
    ("media-compute-presign", "media-compute-presign-logs", "logs to its own group"),
    ("media-compute-presign", "media-compute-presign-policy", "may write logs at once"),
    ("media-compute-processor", "media-compute-processor-logs", "logs to its own group"),
    ("media-compute-processor", "media-compute-processor-policy", "may write logs at once"),
    ("media-compute-presign", "media-storage-key-policy", "environment encrypted with the key"),
    ("media-compute-processor", "media-storage-key-policy", "environment encrypted"),
    ("media-compute-ingest-mapping", "media-compute-processor-policy", "SQS permissions"),
    ("media-compute-presign-logs", "media-storage-key-policy", "logs encrypt with the key"),
    ("media-compute-processor-logs", "media-storage-key-policy", "logs encrypt with the key"),
    ("media-api-access-logs", "media-storage-key-policy", "logs encrypt with the key"),
    ("media-api-stage", "media-api-access-logs", "access log destination"),
    ("media-alarms-topic", "media-storage-key-policy", "topic encrypted with the key"),
    ("media-alarms-dlq-not-empty", "media-storage-key-policy", "first notification"),
    ("media-alarms-ingest-oldest-message", "media-storage-key-policy", "first notification"),
    ("media-alarms-processor-errors", "media-storage-key-policy", "first notification"),
    ("media-storage-key-policy", "media-compute-presign-role", "KMS checks principals"),
    ("media-storage-key-policy", "media-cdn-distribution", "condition on its ARN"),
]


@pytest.mark.parametrize(("name", "first", "why"), ORDERINGS)
def test_create_order_aws_enforces(stack: StackGraph, name: str, first: str, why: str) -> None:
    # GIVEN the real program's graph THEN the engine creates `name` only after `first`
    assert stack.created_after(name, first), f"{name} must wait for {first}: {why}"

"""Least privilege, proven: every AWS call the runtime makes in end-to-end runs, mapped to IAM
(action, resource) by `policies.callmap`, against each role's grants in the synthesized dev and
prod graphs (its inline role policy, and what the stack key's policy grants it by name).
Nothing granted that is never called, nothing called that is not granted, nothing broader than
the scope the calls need; and the comparison fails when one action is added or removed.

The handlers run as the synthesized functions would: their environment variables from the graph,
on moto resources with the graph's physical names (moto's account and region are the synth's),
so recorded ARNs and granted ARNs are the same strings.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws
from PIL import Image

import runtime.health
import runtime.presign
import runtime.processor
import runtime.sandbox
from mediakit.local import moto_fidelity
from mediakit.local.event_source import LambdaContext, SqsEventSourceMapping
from policies import callmap
from policies import least_privilege as lp
from policies.synth import ACCOUNT_ID, PARTITION, REGION, synth
from runtime import aws
from runtime.records import table_spec
from runtime.reprocessing import ReprocessRequest
from tests.policy.lp_recorder import IMPLICIT, CallRecorder, Recorded
from tests.runtime.rt_support import bearer_token

PRESIGN = "runtime.presign.handler"
PROCESSOR = "runtime.processor.handler"
TENANT = "tenant-lp"
# An admin of the tenant: DELETE of a processed upload, restore and purge need media:admin.
CLAIMS = {"sub": TENANT, "aud": "mediakit-dev", "scope": "media:admin"}
ANSWERED = {"table": "ok", "bucket": "ok"}
ESM_STAND_IN = "SQS event source mapping (mediakit.local.event_source stand-in)"

Graph = dict[str, Any]


# --- the synthesized stack, and moto shaped like it -----------------------------------------------


def function_resource(graph: Graph, handler: str) -> dict[str, Any]:
    (fn,) = [
        r
        for r in graph["resources"]
        if r["type"] == "aws:lambda/function:Function" and r["inputs"]["handler"] == handler
    ]
    return fn


def lambda_environ(graph: Graph) -> dict[str, str]:
    """The variables both synthesized functions carry (one process runs both handlers, so they
    must agree, as they do in the stack)."""
    presign = function_resource(graph, PRESIGN)["inputs"]["environment"]["variables"]
    processor = function_resource(graph, PROCESSOR)["inputs"]["environment"]["variables"]
    assert presign == processor
    return dict(presign)


def by_type(graph: Graph, token: str) -> list[dict[str, Any]]:
    return [r for r in graph["resources"] if r["custom"] and r["type"] == token]


def provision(graph: Graph, environ: dict[str, str]) -> str:
    """Create, with the graph's names and settings, what the handlers touch; returns the ingest
    queue URL. The test's own clients: recorded, but with no role."""
    s3, sqs = boto3.client("s3"), boto3.client("sqs")
    bucket = environ["MEDIAKIT_BUCKET"]
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    (sse,) = [
        r["inputs"]
        for r in by_type(
            graph,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        )
        if r["inputs"]["bucket"] == bucket
    ]
    default = sse["rules"][0]["applyServerSideEncryptionByDefault"]
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": default["sseAlgorithm"],
                        "KMSMasterKeyID": default["kmsMasterKeyId"],
                    },
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )
    (notification,) = by_type(graph, "aws:s3/bucketNotification:BucketNotification")
    (target,) = notification["inputs"]["queues"]
    (queue,) = [
        r for r in by_type(graph, "aws:sqs/queue:Queue") if r["state"]["arn"] == target["queueArn"]
    ]
    queue_url = sqs.create_queue(
        QueueName=queue["state"]["name"],
        Attributes={
            "VisibilityTimeout": str(int(queue["inputs"]["visibilityTimeoutSeconds"])),
            "SqsManagedSseEnabled": str(queue["inputs"].get("sqsManagedSseEnabled", False)).lower(),
        },
    )["QueueUrl"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": target["queueArn"],
                    "Events": target["events"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [{"Name": "prefix", "Value": target["filterPrefix"]}]
                        }
                    },
                }
            ]
        },
    )
    (probe,) = by_type(graph, "aws:s3/bucketObjectv2:BucketObjectv2")
    s3.put_object(
        Bucket=bucket,
        Key=probe["inputs"]["key"],
        Body=probe["inputs"]["content"].encode(),
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=probe["inputs"]["kmsKeyId"],
    )
    boto3.client("dynamodb").create_table(**table_spec(environ["MEDIAKIT_TABLE"]))
    boto3.client("events").create_event_bus(Name=environ["MEDIAKIT_EVENT_BUS"])
    provision_signing_keys(graph)
    return queue_url


def provision_signing_keys(graph: Graph) -> None:
    """The private delivery mode's signing keys, under the graph's key ids (the presign
    function signs with the ARN its environment names). KMS's CreateKey takes no id, so the
    moto key is re-registered under the graph's; made in the backend, so never recorded."""
    from moto.kms.models import kms_backends

    backend = kms_backends[ACCOUNT_ID][REGION]
    for r in by_type(graph, "aws:kms/key:Key"):
        # SIGN_VERIFY: delivery URL signing; GENERATE_VERIFY_MAC: listing cursor MACs.
        usage = r["inputs"].get("keyUsage")
        if usage not in ("SIGN_VERIFY", "GENERATE_VERIFY_MAC"):
            continue
        key = backend.create_key(
            policy=None,
            key_usage=usage,
            key_spec=r["inputs"]["customerMasterKeySpec"],
            description=r["inputs"].get("description", ""),
            tags=None,
        )
        del backend.keys[key.id]
        key.id, key.arn = r["state"]["keyId"], r["state"]["arn"]
        backend.keys[key.id] = key


# --- driving the handlers -------------------------------------------------------------------------


def image_bytes(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "JPEG")
    return buffer.getvalue()


def api_event(
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API v2 event like API Gateway's, with the JWT authorizer's claims."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "queryStringParameters": query,
        "headers": {
            "content-type": "application/json",
            "x-forwarded-proto": "https",
            "authorization": f"Bearer {bearer_token(CLAIMS)}",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "authorizer": {"jwt": {"claims": CLAIMS}},
            "domainName": "api.example.com",
            "http": {"method": method, "path": path},
            "stage": "$default",
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


class OutcomeLog(logging.Handler):
    """Keeps the processor's per-upload outcome lines (`upload <id>: <outcome>`)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.outcomes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("upload "):
            self.outcomes.append(message.split(": ", 1)[1])


@dataclass
class Run:
    """One recorded end-to-end run and everything the assertions need."""

    graph: Graph
    functions: dict[str, callmap.FunctionFacts]
    env: callmap.Environment
    recorder: CallRecorder
    outcomes: list[str]
    statuses: dict[str, str] = field(default_factory=dict)
    processor_events: list[dict[str, Any]] = field(default_factory=list)
    left_for_retry: int = 0

    def role(self, handler: str) -> str:
        return self.functions[handler].role

    def needs(self) -> dict[str, set[callmap.Need]]:
        return self.recorder.needs_by_role(self.env)

    def kms_needs(self) -> dict[str, set[callmap.Need]]:
        return {
            role: {n for n in needs if n.action.startswith("kms:")}
            for role, needs in self.needs().items()
        }

    def records_of(self, handler: str) -> list[Recorded]:
        return [r for r in self.recorder.attributed() if r.role == self.role(handler)]


@dataclass
class Flows:
    """The client's side of the pipeline: API calls through the presign handler, uploads to the
    URLs it returns, and the event source mapping draining the ingest queue."""

    api_handler: Callable[[dict[str, Any], Any], Any]
    mapping: SqsEventSourceMapping
    recorder: CallRecorder
    processor_role: str
    presign_name: str

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        context = LambdaContext(self.presign_name, 10, REGION)
        response = self.api_handler(api_event(method, path, body, query, headers), context)
        return response["statusCode"], json.loads(response["body"])

    def create(self, data: bytes, method: str) -> dict[str, Any]:
        body = {"filename": "x.jpg", "content_type": "image/jpeg", "size": len(data)}
        status, created = self.api("POST", "/v1/uploads", {**body, "method": method})
        assert status == 201, created
        return created

    def upload(self, data: bytes, method: str, *, drop_record: bool = False) -> dict[str, Any]:
        """Create an upload and send its bytes the way a client would; `drop_record` deletes
        its record first, as DynamoDB's TTL would."""
        created = self.create(data, method)
        if drop_record:
            boto3.client("dynamodb").delete_item(
                TableName=os.environ["MEDIAKIT_TABLE"],
                Key={"upload_id": {"S": created["upload_id"]}},
            )
        if created["method"] == "PUT":
            sent = requests.put(created["url"], data=data, headers=created["headers"], timeout=10)
            assert sent.status_code == 200, sent.text
        elif created["method"] == "POST":
            files = {"file": ("x.jpg", data, "image/jpeg")}
            sent = requests.post(created["url"], data=created["fields"], files=files, timeout=10)
            assert sent.status_code in (200, 204), sent.text
        else:
            parts, offset = [], 0
            for part in created["parts"]:
                chunk = data[offset : offset + part["size"]]
                offset += part["size"]
                sent = requests.put(part["url"], data=chunk, timeout=10)
                assert sent.status_code == 200, sent.text
                parts.append({"part_number": part["part_number"], "etag": sent.headers["ETag"]})
            path = f"/v1/uploads/{created['upload_id']}/complete"
            status, done = self.api("POST", path, {"parts": parts})
            assert status == 200, done
        return created

    def replay_post(self, created: dict[str, Any], data: bytes) -> str:
        """Send a POST form again with other bytes; returns the version S3 created."""
        files = {"file": ("x.jpg", data, "image/jpeg")}
        sent = requests.post(created["url"], data=created["fields"], files=files, timeout=10)
        assert sent.status_code in (200, 204), sent.text
        return self.current_version(created["key"])

    def current_version(self, key: str) -> str:
        head = boto3.client("s3").head_object(Bucket=os.environ["MEDIAKIT_BUCKET"], Key=key)
        return str(head["VersionId"])

    def drain(self) -> None:
        """Poll until the queue is empty, as the mapping would (with the function's role)."""
        with self.recorder.acting_as(self.processor_role, ESM_STAND_IN):
            while self.mapping.poll_once():
                pass

    def original_exists(self, key: str) -> bool:
        # The test's own check, unattributed like the status reads.
        bucket = os.environ["MEDIAKIT_BUCKET"]
        listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=key)
        return any(o["Key"] == key for o in listed.get("Contents", []))

    def status(self, upload_id: str) -> str:
        # The test's own read: a raw DynamoDB client, so the check is never attributed to a role.
        table = os.environ["MEDIAKIT_TABLE"]
        item = boto3.client("dynamodb").get_item(
            TableName=table, Key={"upload_id": {"S": upload_id}}
        )["Item"]
        return str(item["status"]["S"])


def run_flows(
    flows: Flows, processor_events: list[dict[str, Any]], queue_url: str
) -> dict[str, str]:
    """Every path of both handlers; returns the final status of each upload by label."""
    ids: dict[str, str] = {}
    # The S3 test event moto sent when the notification was configured: acknowledged, ignored.
    flows.drain()
    ids["put"] = flows.upload(image_bytes((200, 30, 90)), "PUT")["upload_id"]
    post = flows.upload(image_bytes((30, 200, 90)), "POST")
    ids["post"] = post["upload_id"]
    ids["multipart"] = flows.upload(image_bytes((30, 90, 200)), "MULTIPART")["upload_id"]
    ids["invalid"] = flows.upload(b"this is not an image, whatever it claims", "PUT")["upload_id"]
    abandoned = flows.create(image_bytes((9, 9, 9)), "MULTIPART")
    ids["abandoned"] = abandoned["upload_id"]
    # Resuming it lists the parts S3 holds (ListParts) and presigns the missing ones.
    status, resumed = flows.api("GET", f"/v1/uploads/{ids['abandoned']}/parts")
    assert status == 200, resumed
    assert resumed["uploaded"] == [], resumed
    assert flows.api("DELETE", f"/v1/uploads/{ids['abandoned']}")[0] == 200
    flows.drain()

    # At-least-once delivery: S3's notification for the PUT upload, delivered a second time.
    (original,) = [
        r["body"] for e in processor_events for r in e["Records"] if ids["put"] in r["body"]
    ]
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=original)
    flows.drain()

    assert flows.api("GET", f"/v1/uploads/{ids['put']}")[0] == 200
    status, listed = flows.api("GET", "/v1/uploads")
    assert status == 200
    assert len(listed["items"]) == 4  # the abandoned upload is deleted, so filtered out
    # A status-filtered listing (the status index) in pages of one: its cursor carries a KMS
    # HMAC (GenerateMac to make it, and again to check it on the next page).
    status, first = flows.api("GET", "/v1/uploads", query={"status": "completed", "limit": "1"})
    assert status == 200
    assert first["next_cursor"]
    query = {"status": "completed", "limit": "1", "cursor": first["next_cursor"]}
    assert flows.api("GET", "/v1/uploads", query=query)[0] == 200
    # An idempotent create and its retry (the key item's conditional writes, the check that the
    # bytes have not arrived, a fresh grant), then the retry of a validated upload's create.
    keyed = {"idempotency-key": "lp-1"}
    body = {"filename": "k.jpg", "content_type": "image/jpeg", "size": 10}
    assert flows.api("POST", "/v1/uploads", body, headers=keyed)[0] == 201
    status, again = flows.api("POST", "/v1/uploads", body, headers=keyed)
    assert status == 201
    assert again["url"]
    assert flows.api("DELETE", f"/v1/uploads/{ids['put']}")[0] == 200

    # Write once: the validated POST form replayed with other bytes of the same length.
    replayed = flows.replay_post(post, image_bytes((30, 200, 91)))
    flows.drain()
    assert flows.current_version(post["key"]) != replayed

    # A delete racing the processor: derivatives written meanwhile must be removed again. The
    # DELETE runs in this process (the rendering child's moto would be a copy).
    race = flows.upload(image_bytes((120, 120, 0)), "PUT")
    ids["race"] = race["upload_id"]
    real = runtime.sandbox.run

    def deleted_while_rendering(*args: Any, **kwargs: Any) -> Any:
        rendered = real(*args, **kwargs)
        assert flows.api("DELETE", f"/v1/uploads/{ids['race']}")[0] == 200
        return rendered

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runtime.sandbox, "run", deleted_while_rendering)
        flows.drain()

    # An original whose record is gone (expired by TTL before its event was processed).
    orphan = flows.upload(image_bytes((5, 5, 200)), "PUT", drop_record=True)
    flows.drain()
    assert not flows.original_exists(orphan["key"])

    # A presigned URL outlives the DELETE of its pending upload: the late original is removed.
    late_bytes = image_bytes((0, 120, 120))
    late = flows.create(late_bytes, "PUT")
    ids["late"] = late["upload_id"]
    assert flows.api("DELETE", f"/v1/uploads/{ids['late']}")[0] == 200
    sent = requests.put(late["url"], data=late_bytes, headers=late["headers"], timeout=10)
    assert sent.status_code == 200, sent.text
    assert flows.original_exists(late["key"])
    flows.drain()
    assert not flows.original_exists(late["key"])

    # Download the validated original (a presigned GET of its version), then delete it and
    # restore it: the copy's ObjectCreated:Copy event renders it again.
    kept = flows.upload(image_bytes((60, 60, 160)), "PUT")
    ids["restored"] = kept["upload_id"]
    flows.drain()
    status, download = flows.api("GET", f"/v1/uploads/{ids['restored']}/download")
    assert status == 200, download
    assert requests.get(download["url"], timeout=10).status_code == 200
    assert flows.api("DELETE", f"/v1/uploads/{ids['restored']}")[0] == 200
    assert flows.api("POST", f"/v1/uploads/{ids['restored']}/restore")[0] == 202
    flows.drain()

    # `mediakit reprocess`: the operator's message (sent with the test's own credentials)
    # re-renders a completed upload from its validated version with the processor's grants
    # (as if rendered under older specs: the test's own write forgets its spec hash); the same
    # message twice renders once.
    ddb, table = boto3.client("dynamodb"), os.environ["MEDIAKIT_TABLE"]
    key = {"upload_id": {"S": ids["post"]}}
    ddb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE rendered_specs")
    item = ddb.get_item(TableName=table, Key=key)["Item"]
    request = ReprocessRequest(ids["post"], item["version_id"]["S"], item["tenant"]["S"])
    for _ in range(2):
        boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=request.body())
    flows.drain()
    assert "reprocessed_at" in ddb.get_item(TableName=table, Key=key)["Item"]

    # Usage (the tenant index) and health (the sentinel GetItem, the health object's GetObject),
    # probed afresh: a result cached by an earlier test would make no calls.
    assert flows.api("GET", "/v1/usage")[0] == 200
    runtime.health.CACHE.clear()
    assert flows.api("GET", "/v1/health") == (200, {"status": "ok", "checks": ANSWERED})

    # Purge: every version of the original and the derivatives, and the record's personal fields
    purged = flows.upload(image_bytes((160, 60, 60)), "PUT")
    ids["purged"] = purged["upload_id"]
    flows.drain()
    path = f"/v1/uploads/{ids['purged']}"
    assert flows.api("DELETE", path, query={"purge": "true"})[0] == 200
    return {label: flows.status(upload_id) for label, upload_id in ids.items()}


@pytest.fixture(scope="module", params=["dev", "prod"])
def synthesized(request: pytest.FixtureRequest) -> Graph:
    """The real program synthesized offline (`mediakit synth --stack <name>`)."""
    graph: Graph = synth(request.param)
    return graph


FlowsRunner = Callable[[Flows, list[dict[str, Any]], str], dict[str, str]]


@pytest.fixture(scope="module")
def lp_run(synthesized: Graph) -> Iterator[Run]:
    with recorded_run(synthesized, run_flows) as run:
        yield run


@contextlib.contextmanager
def recorded_run(graph: Graph, flows_runner: FlowsRunner) -> Iterator[Run]:
    """`flows_runner` driven against `graph`'s handlers on moto, every AWS call recorded (the
    scan-enabled stack's proof, tests/policy/test_least_privilege_malware.py, reuses it)."""
    functions = lp.lambda_functions(graph)
    env = lp.environment(graph, partition=PARTITION, region=REGION, account_id=ACCOUNT_ID)
    environ = lambda_environ(graph)
    recorder = CallRecorder()
    outcome_log = OutcomeLog()
    ingest_log = logging.getLogger("runtime.ingest")
    processor_events: list[dict[str, Any]] = []

    def processor(event: dict[str, Any], context: Any) -> Any:
        processor_events.append(copy.deepcopy(event))
        return runtime.processor.handler(event, context)

    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith(("AWS_", "MEDIAKIT_")):
                mp.delenv(name)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_REGION", REGION)
        for name, value in environ.items():
            mp.setenv(name, value)
        moto_fidelity.install()  # S3 events name the version, so reads are GetObjectVersion
        # setLevel, not the attribute: it also clears the loggers' cached isEnabledFor answers.
        previous_level = ingest_log.level
        ingest_log.setLevel(logging.INFO)
        ingest_log.addHandler(outcome_log)
        recorder.install()
        aws.reset()
        try:
            with mock_aws():
                queue_url = provision(graph, environ)
                fn = functions[PROCESSOR]
                (queue_arn,) = fn.sqs_sources
                mapping = SqsEventSourceMapping(
                    sqs=boto3.client("sqs"),
                    queue_url=queue_url,
                    queue_arn=queue_arn,
                    handler=recorder.lambda_function(fn, processor),
                    region=REGION,
                    batch_size=int(environ["MEDIAKIT_PROCESSOR_BATCH_SIZE"]),
                    timeout_seconds=float(environ["MEDIAKIT_PROCESSOR_TIMEOUT_SECONDS"]),
                    wait_seconds=0,
                    function_name=fn.name,
                )
                flows = Flows(
                    api_handler=recorder.lambda_function(
                        functions[PRESIGN], runtime.presign.handler
                    ),
                    mapping=mapping,
                    recorder=recorder,
                    processor_role=fn.role,
                    presign_name=functions[PRESIGN].name,
                )
                statuses = flows_runner(flows, processor_events, queue_url)
                yield Run(
                    graph,
                    functions,
                    env,
                    recorder,
                    outcome_log.outcomes,
                    statuses,
                    processor_events,
                    mapping.stats.item_failures + mapping.stats.batch_failures,
                )
        finally:
            ingest_log.removeHandler(outcome_log)
            ingest_log.setLevel(previous_level)
            recorder.uninstall()
            aws.reset()


def role_policy(graph: Graph, role: str) -> dict[str, Any]:
    (policy,) = [
        r for r in by_type(graph, "aws:iam/rolePolicy:RolePolicy") if r["inputs"]["role"] == role
    ]
    return policy


def mutated(graph: Graph, role: str, change: Callable[[list[dict[str, Any]]], None]) -> Graph:
    """A copy of `graph` whose inline policy for `role` went through `change(statements)`."""
    copied = copy.deepcopy(graph)
    policy = role_policy(copied, role)
    document = json.loads(policy["inputs"]["policy"])
    change(document["Statement"])
    policy["inputs"]["policy"] = json.dumps(document)
    return copied


def diffs_for(run: Run, graph: Graph) -> list[lp.RoleDiff]:
    return lp.compare(lp.role_grants(graph), run.needs())


# --- the proof ------------------------------------------------------------------------------------


def test_least_privilege_flows_reach_every_handler_path(lp_run: Run) -> None:
    # GIVEN the recorded run (test event, PUT, POST, multipart, invalid, abandoned, duplicate,
    # get, list, delete, delete racing the processor, original arriving after its delete)
    # WHEN its final states and processor outcomes are read
    statuses, outcomes = lp_run.statuses, set(lp_run.outcomes)
    # THEN every path ran: completed, failed, deleted, duplicate, deleted while rendering
    assert statuses == {
        "put": "deleted",
        "post": "completed",
        "multipart": "completed",
        "invalid": "failed",
        "abandoned": "deleted",
        "race": "deleted",
        "late": "deleted",
        "restored": "completed",
        "purged": "deleted",
    }
    assert {
        "completed",
        "duplicate",
        "ignored:deleted",
        "removed:unvalidated_version",
        "deleted:no_record",
    } <= outcomes
    assert any(o.startswith("failed:") for o in outcomes)
    first_batch = lp_run.processor_events[0]["Records"]
    assert [json.loads(r["body"]).get("Event") for r in first_batch] == ["s3:TestEvent"]
    # Permanent faults are acknowledged: nothing was left on the queue for a retry
    assert lp_run.left_for_retry == 0


def test_least_privilege_every_role_grants_exactly_what_its_calls_need(lp_run: Run) -> None:
    # GIVEN the grants of every role in the synthesized dev graph and the recorded needs
    grants = lp.role_grants(lp_run.graph)
    needed = lp_run.needs()
    # WHEN they are compared by action and resource scope
    diffs = lp.compare(grants, needed)
    # THEN nothing is missing, unused or broader than needed, for both Lambda roles
    assert {d.role for d in diffs} == {lp_run.role(PRESIGN), lp_run.role(PROCESSOR)}
    report = lp.format_diffs(diffs)
    assert report == "", f"\n{report}\n\nrecorded:\n{lp.needs_table(needed)}"


def test_least_privilege_key_policy_grants_each_role_exactly_the_kms_it_uses(lp_run: Run) -> None:
    # GIVEN what the stack key's policy grants each role by name, and the roles' KMS needs
    key_grants = lp.key_policy_grants(lp_run.graph)
    kms_needs = lp_run.kms_needs()
    # WHEN they are compared
    diffs = lp.compare(key_grants, kms_needs)
    # THEN the key policy names both roles, each with exactly the KMS actions S3 uses for it
    assert {d.role for d in diffs} == {lp_run.role(PRESIGN), lp_run.role(PROCESSOR)}
    assert lp.format_diffs(diffs) == ""


def test_least_privilege_key_policy_fails_on_one_added_action(lp_run: Run) -> None:
    # GIVEN the key policy granting the presign role kms:Encrypt too
    graph = copy.deepcopy(lp_run.graph)
    (key_policy,) = by_type(graph, "aws:kms/keyPolicy:KeyPolicy")
    document = json.loads(key_policy["inputs"]["policy"])
    (statement,) = [s for s in document["Statement"] if s["Sid"] == "PresignRoleUseKey"]
    statement["Action"] = [*statement["Action"], "kms:Encrypt"]
    key_policy["inputs"]["policy"] = json.dumps(document)
    kms_needs = lp_run.kms_needs()
    # WHEN it is compared with the recorded KMS needs
    report = lp.format_diffs(lp.compare(lp.key_policy_grants(graph), kms_needs))
    # THEN the extra action is reported as unused, on the presign role
    assert f"role {lp_run.role(PRESIGN)}:\n  UNUSED    kms:Encrypt on arn:aws:kms:" in report


def test_least_privilege_presigned_requests_count_for_the_signer(lp_run: Run) -> None:
    # GIVEN the presign role's recorded calls
    presigned = {
        (r.call.operation, r.call.presigned)
        for r in lp_run.records_of(PRESIGN)
        if r.call.presigned != callmap.DIRECT
    }
    # WHEN / THEN the PUT URL, the POST form, the part URLs and the download's GET of the
    # validated version are there, as the signer's calls
    assert presigned == {
        ("GetObject", callmap.PRESIGNED_URL),
        ("PutObject", callmap.PRESIGNED_URL),
        ("PutObject", callmap.PRESIGNED_POST),
        ("UploadPart", callmap.PRESIGNED_URL),
    }
    needs = lp_run.needs()[lp_run.role(PRESIGN)]
    assert {n.action for n in needs if n.action.startswith("kms:")} == {
        "kms:GenerateDataKey",
        "kms:Decrypt",
        # private delivery: record views sign derivative URLs with the delivery key
        "kms:Sign",
        # listing cursors: an HMAC made (and checked) with the cursor key
        "kms:GenerateMac",
    }
    (signing_key,) = {n.resource for n in needs if n.action == "kms:Sign"}
    assert signing_key == lambda_environ(lp_run.graph)["MEDIAKIT_DELIVERY_KEY_ARN"]
    (mac_key,) = {n.resource for n in needs if n.action == "kms:GenerateMac"}
    assert lambda_environ(lp_run.graph)["MEDIAKIT_CURSOR_KEYS"] == f"1={mac_key}"


def test_least_privilege_processor_writes_derivatives_and_reads_only_originals(
    lp_run: Run,
) -> None:
    # GIVEN the processor role's needs
    needs = lp_run.needs()[lp_run.role(PROCESSOR)]
    s3 = {(n.action, n.scope.rsplit("/", 2)[-2]) for n in needs if n.action.startswith("s3:")}
    # WHEN / THEN it reads originals (HEAD the current object, GET the event's version),
    # removes an original that arrived after its upload was deleted (by key, not by version),
    # and writes and cleans up derivatives, and nothing else in the bucket
    assert s3 == {
        ("s3:GetObject", "originals"),
        ("s3:GetObjectVersion", "originals"),
        ("s3:DeleteObject", "originals"),
        ("s3:DeleteObjectVersion", "originals"),
        ("s3:PutObject", "derivatives"),
        ("s3:DeleteObject", "derivatives"),
    }


def test_least_privilege_unattributed_calls_never_count_for_a_role(lp_run: Run) -> None:
    # GIVEN the calls made outside any handler (provisioning, the test's own reads)
    unattributed = {(r.call.service, r.call.operation) for r in lp_run.recorder.unattributed()}
    # WHEN the roles' recorded operations are collected
    attributed = {(r.call.service, r.call.operation) for r in lp_run.recorder.attributed()}
    # THEN exactly provisioning, the duplicate's re-send, the status reads and the check for the
    # late original were recorded without a role (a runtime call escaping attribution would show
    # up here), and none of it counts for a role, not even as a permission need
    provisioning = {
        ("s3", "CreateBucket"),
        ("s3", "PutBucketVersioning"),
        ("s3", "PutBucketEncryption"),
        ("s3", "PutBucketNotificationConfiguration"),
        ("sqs", "CreateQueue"),
        ("sqs", "SendMessage"),
        ("dynamodb", "CreateTable"),
        ("events", "CreateEventBus"),
    }
    test_reads = {("dynamodb", "GetItem"), ("s3", "ListObjectsV2"), ("s3", "HeadObject")}
    # the test's own stand-in for DynamoDB's TTL expiring a record
    ttl_expiry = {("dynamodb", "DeleteItem")}
    # the object the stack itself writes under health/ (a PutObject the roles also make)
    stack_object = {("s3", "PutObject")}
    # the test's own write forgetting a spec hash before the reprocess, and nothing else: an
    # UpdateItem of the runtime escaping attribution would still show up
    test_writes = {("dynamodb", "UpdateItem")}
    assert [
        r.call.params.get("UpdateExpression")
        for r in lp_run.recorder.unattributed()
        if (r.call.service, r.call.operation) in test_writes
    ] == ["REMOVE rendered_specs"]
    assert unattributed == provisioning | test_reads | ttl_expiry | stack_object | test_writes
    assert not provisioning & attributed
    actions = {n.action for needs in lp_run.needs().values() for n in needs}
    assert not {"s3:CreateBucket", "dynamodb:CreateTable", "sqs:SendMessage"} & actions


def test_least_privilege_lambda_service_calls_come_from_the_one_table(lp_run: Run) -> None:
    # GIVEN the implicit calls and the event source mapping stand-in's real calls
    table = {(row.service, row.operation) for row in callmap.LAMBDA_SERVICE_CALLS}
    implicit = {
        (r.call.service, r.call.operation)
        for r in lp_run.recorder.attributed()
        if r.origin.startswith(IMPLICIT)
    }
    stand_in = {
        (r.call.service, r.call.operation)
        for r in lp_run.recorder.attributed()
        if r.origin == ESM_STAND_IN
    }
    # WHEN / THEN every implicit call is a table row, and the emulator's mapping makes no call
    # the table does not model for the real one
    assert implicit == table
    assert stand_in == {("sqs", "ReceiveMessage"), ("sqs", "DeleteMessageBatch")}
    assert stand_in <= table


# --- the comparison fails when one action is added or removed -------------------------------------


def _add_statement(sid: str, action: str, resource: str) -> Callable[[list[dict[str, Any]]], None]:
    def change(statements: list[dict[str, Any]]) -> None:
        statements.append({"Sid": sid, "Effect": "Allow", "Action": [action], "Resource": resource})

    return change


def _add_action(sid: str, action: str) -> Callable[[list[dict[str, Any]]], None]:
    def change(statements: list[dict[str, Any]]) -> None:
        (statement,) = [s for s in statements if s["Sid"] == sid]
        statement["Action"] = [*statement["Action"], action]

    return change


def _remove_action(action: str) -> Callable[[list[dict[str, Any]]], None]:
    def change(statements: list[dict[str, Any]]) -> None:
        for s in statements:
            s["Action"] = [a for a in s["Action"] if a != action]
        statements[:] = [s for s in statements if s["Action"]]

    return change


def _remove_statement(sid: str) -> Callable[[list[dict[str, Any]]], None]:
    def change(statements: list[dict[str, Any]]) -> None:
        statements[:] = [s for s in statements if s["Sid"] != sid]

    return change


def _widen(sid: str) -> Callable[[list[dict[str, Any]]], None]:
    def change(statements: list[dict[str, Any]]) -> None:
        (statement,) = [s for s in statements if s["Sid"] == sid]
        statement["Resource"] = [r.rsplit("/", 2)[0] + "/*" for r in statement["Resource"]]

    return change


def _without_condition(sid: str) -> Callable[[list[dict[str, Any]]], None]:
    def change(statements: list[dict[str, Any]]) -> None:
        (statement,) = [s for s in statements if s["Sid"] == sid]
        statement.pop("Condition")

    return change


def _prefixes(sid: str, *prefixes: str) -> Callable[[list[dict[str, Any]]], None]:
    def change(statements: list[dict[str, Any]]) -> None:
        (statement,) = [s for s in statements if s["Sid"] == sid]
        statement["Condition"] = {"StringLike": {"s3:prefix": list(prefixes)}}

    return change


@pytest.mark.parametrize(
    ("handler", "change", "expected"),
    [
        pytest.param(
            PROCESSOR, _add_action("WriteDerivatives", "s3:DeleteBucket"),
            "UNUSED    s3:DeleteBucket on", id="processor-add-DeleteBucket",
        ),
        pytest.param(
            PROCESSOR, _add_statement("ReadDerivatives", "s3:GetObject", "{bucket}/derivatives/*"),
            "UNUSED    s3:GetObject on arn:aws:s3:::", id="processor-add-GetObject-derivatives",
        ),
        pytest.param(
            PROCESSOR, _add_action("ConsumeIngestQueue", "sqs:ChangeMessageVisibility"),
            "UNUSED    sqs:ChangeMessageVisibility on", id="processor-add-ChangeMessageVisibility",
        ),
        pytest.param(
            PRESIGN, _add_action("UploadOriginals", "s3:PutObjectAcl"),
            "UNUSED    s3:PutObjectAcl on", id="presign-add-PutObjectAcl",
        ),
        pytest.param(
            PRESIGN, _remove_action("dynamodb:Query"),
            "MISSING   dynamodb:Query on", id="presign-remove-Query",
        ),
        pytest.param(
            PRESIGN, _remove_statement("SignDeliveryUrls"),
            "MISSING   kms:Sign on arn:aws:kms:", id="presign-remove-SignDeliveryUrls",
        ),
        pytest.param(
            PRESIGN, _remove_statement("MacListCursors"),
            "MISSING   kms:GenerateMac on arn:aws:kms:", id="presign-remove-MacListCursors",
        ),
        pytest.param(
            PRESIGN, _add_statement(
                "InvalidateAnything", "cloudfront:CreateInvalidation",
                "arn:aws:cloudfront::123456789012:distribution/*",
            ),
            "UNUSED    cloudfront:CreateInvalidation on", id="presign-add-CreateInvalidation",
        ),
        pytest.param(
            PROCESSOR, _remove_action("kms:Decrypt"),
            "MISSING   kms:Decrypt on", id="processor-remove-Decrypt",
        ),
        pytest.param(
            PROCESSOR, _remove_action("sqs:GetQueueAttributes"),
            "MISSING   sqs:GetQueueAttributes on", id="processor-remove-GetQueueAttributes",
        ),
        pytest.param(
            PROCESSOR, _remove_statement("RemoveLateOriginals"),
            "MISSING   s3:DeleteObject on arn:aws:s3:::", id="processor-remove-RemoveLateOriginals",
        ),
        pytest.param(
            PROCESSOR, _remove_statement("RemoveReplayedOriginals"),
            "MISSING   s3:DeleteObjectVersion on arn:aws:s3:::",
            id="processor-remove-RemoveReplayedOriginals",
        ),
        pytest.param(
            PROCESSOR, _widen("WriteDerivatives"),
            "TOO BROAD s3:PutObject on arn:aws:s3:::", id="processor-widen-PutObject-to-bucket",
        ),
        pytest.param(
            PRESIGN, _remove_statement("ListUploadDerivatives"),
            "MISSING   s3:ListBucket on arn:aws:s3:::", id="presign-remove-ListUploadDerivatives",
        ),
        pytest.param(
            PRESIGN, _without_condition("ListUploadDerivatives"),
            "TOO BROAD s3:ListBucket on arn:aws:s3:::", id="presign-list-without-prefix",
        ),
        pytest.param(
            PRESIGN, _prefixes("ListUploadDerivatives", "*"),
            "TOO BROAD s3:ListBucket on arn:aws:s3:::", id="presign-list-any-prefix",
        ),
        pytest.param(
            PRESIGN, _prefixes("ListUploadDerivatives", "originals/*"),
            "MISSING   s3:ListBucket on arn:aws:s3:::", id="presign-list-wrong-prefix",
        ),
        pytest.param(
            PRESIGN, _prefixes("ListUploadVersions", "originals/*", "derivatives/*", "logs/*"),
            "UNUSED    s3:ListBucketVersions on arn:aws:s3:::", id="presign-versions-extra-prefix",
        ),
        pytest.param(
            PRESIGN, _remove_statement("PurgeUploadVersions"),
            "MISSING   s3:DeleteObjectVersion on arn:aws:s3:::", id="presign-remove-purge",
        ),
        pytest.param(
            PRESIGN, _remove_statement("ReadValidatedOriginals"),
            "MISSING   s3:GetObjectVersion on arn:aws:s3:::", id="presign-remove-read-versions",
        ),
        pytest.param(
            PRESIGN, _remove_statement("PublishLifecycleEvents"),
            "MISSING   events:PutEvents on arn:aws:events:", id="presign-remove-PutEvents",
        ),
    ],
)  # fmt: skip
def test_least_privilege_comparison_fails_on_one_changed_grant(
    lp_run: Run,
    handler: str,
    change: Callable[[list[dict[str, Any]]], None],
    expected: str,
) -> None:
    # GIVEN the synthesized graph with one grant added, removed or widened on one role
    role = lp_run.role(handler)
    bucket_arn = f"arn:aws:s3:::{lambda_environ(lp_run.graph)['MEDIAKIT_BUCKET']}"

    def with_bucket(statements: list[dict[str, Any]]) -> None:
        change(statements)
        for s in statements:
            if isinstance(s["Resource"], str):
                s["Resource"] = s["Resource"].replace("{bucket}", bucket_arn)

    graph = mutated(lp_run.graph, role, with_bucket)
    # WHEN it is compared with the same recorded calls
    diffs = diffs_for(lp_run, graph)
    # THEN exactly that role fails, and the report names the change
    failing = [d for d in diffs if not d.ok]
    assert [d.role for d in failing] == [role]
    report = lp.format_diffs(diffs)
    assert expected in report, report
    assert lp.format_diffs(diffs_for(lp_run, lp_run.graph)) == ""

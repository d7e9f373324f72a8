"""Least privilege of the media function (Pulumi.example-media.yaml): every path of its handler
(a video and an audio upload completed, a hostile file failed, a duplicate delivery, a POST form
replayed after validation, an orphaned original, a late original of a deleted upload) recorded on
moto with the graph's names and compared with the media role's grants. The probe and renders run
in the processing child over its own client: what it reads, the parent reads too (HeadObject, the
streamed hash), so the parent's calls carry every action the child's ranged GETs need."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

import runtime.media_processor
import runtime.presign
import runtime.sandbox
from mediakit.corpus import media
from mediakit.local import moto_fidelity
from mediakit.local.event_source import SqsEventSourceMapping
from policies import least_privilege as lp
from policies.synth import ACCOUNT_ID, PARTITION, REGION, synth
from runtime import aws
from runtime.records import table_spec
from runtime.reprocessing import ReprocessRequest
from tests.policy.lp_recorder import CallRecorder
from tests.policy.test_least_privilege import ESM_STAND_IN, Graph, by_type, function_resource
from tests.policy.test_least_privilege import api_event as _api_event

STACK = "example-media"
MEDIA = "runtime.media_processor.handler"
PRESIGN = "runtime.presign.handler"


def _provision(graph: Graph, environ: dict[str, str]) -> dict[str, str]:
    """The bucket (versioned, SSE-KMS as the graph says), both queues, the notification routing
    by extension, the table and the bus; queue name -> URL."""
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
    queues = {r["state"]["arn"]: r for r in by_type(graph, "aws:sqs/queue:Queue")}
    urls: dict[str, str] = {}
    for target in notification["inputs"]["queues"]:
        queue = queues[target["queueArn"]]
        if queue["state"]["name"] not in urls:
            urls[queue["state"]["name"]] = sqs.create_queue(
                QueueName=queue["state"]["name"],
                Attributes={"VisibilityTimeout": "900", "SqsManagedSseEnabled": "true"},
            )["QueueUrl"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": t["queueArn"],
                    "Events": t["events"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [
                                {"Name": "prefix", "Value": t["filterPrefix"]},
                                {"Name": "suffix", "Value": t["filterSuffix"]},
                            ]
                        }
                    },
                }
                for t in notification["inputs"]["queues"]
            ]
        },
    )
    boto3.client("dynamodb").create_table(**table_spec(environ["MEDIAKIT_TABLE"]))
    boto3.client("events").create_event_bus(Name=environ["MEDIAKIT_EVENT_BUS"])
    return urls


class _Flows:
    def __init__(self, recorder: CallRecorder, presign: Any, mapping: SqsEventSourceMapping,
                 media_role: str, presign_name: str) -> None:  # fmt: skip
        self.recorder, self.presign, self.mapping = recorder, presign, mapping
        self.media_role, self.presign_name = media_role, presign_name

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        import json

        from mediakit.local.event_source import LambdaContext

        response = self.presign(
            _api_event(method, path, body), LambdaContext(self.presign_name, 10, REGION)
        )
        return response["statusCode"], json.loads(response["body"])

    def create(self, data: bytes, declared: str, method: str = "PUT") -> dict[str, Any]:
        body = {"filename": "f", "content_type": declared, "size": len(data), "method": method}
        status, created = self.api("POST", "/v1/uploads", body)
        assert status == 201, created
        return created

    def send(self, created: dict[str, Any], data: bytes) -> None:
        if created["method"] == "PUT":
            sent = requests.put(created["url"], data=data, headers=created["headers"], timeout=10)
        else:
            files = {"file": ("f", data, created["fields"].get("Content-Type", ""))}
            sent = requests.post(created["url"], data=created["fields"], files=files, timeout=10)
        assert sent.status_code in (200, 204), sent.text

    def upload(self, data: bytes, declared: str, method: str = "PUT") -> dict[str, Any]:
        created = self.create(data, declared, method)
        self.send(created, data)
        return created

    def drain(self) -> None:
        with self.recorder.acting_as(self.media_role, ESM_STAND_IN):
            while self.mapping.poll_once():
                pass

    def status(self, upload_id: str) -> str:
        item = boto3.client("dynamodb").get_item(
            TableName=os.environ["MEDIAKIT_TABLE"], Key={"upload_id": {"S": upload_id}}
        )["Item"]
        return str(item["status"]["S"])

    def exists(self, key: str) -> bool:
        listed = boto3.client("s3").list_objects_v2(
            Bucket=os.environ["MEDIAKIT_BUCKET"], Prefix=key
        )
        return any(o["Key"] == key for o in listed.get("Contents", []))


def _media_flows(flows: _Flows, queue_url: str, tmp: Path) -> dict[str, str]:
    ids: dict[str, str] = {}
    flows.drain()  # moto's s3:TestEvent: acknowledged
    video = flows.upload(media.sample("clip.mp4").data, "video/mp4")
    ids["video"] = video["upload_id"]
    song = media.sample("song.wav").data
    audio = flows.upload(song, "audio/x-wav", "POST")
    ids["audio"] = audio["upload_id"]
    hostile = next(h for h in media.HOSTILE if h.name == "hls-playlist.mp4")
    ids["hostile"] = flows.upload(hostile.data(tmp / "canary.ts"), "video/mp4")["upload_id"]
    flows.drain()
    # At-least-once: the video's notification again (acknowledged as a duplicate).
    bucket = os.environ["MEDIAKIT_BUCKET"]
    head = boto3.client("s3").head_object(Bucket=bucket, Key=video["key"])
    import json

    body = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "eventTime": "2026-01-01T00:00:00.000Z",
                "s3": {
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": video["key"],
                        "size": head["ContentLength"],
                        "versionId": head["VersionId"],
                        "sequencer": "0000000000000000FF",
                    },
                },
            }
        ]
    }
    boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(body))
    flows.drain()
    # `mediakit reprocess` of the video as if rendered under older specs (the test's own write
    # forgets its spec hash): re-rendered from its validated version with the media role's
    # grants, and the same message again does nothing.
    ddb, table = boto3.client("dynamodb"), os.environ["MEDIAKIT_TABLE"]
    key = {"upload_id": {"S": video["upload_id"]}}
    ddb.update_item(TableName=table, Key=key, UpdateExpression="REMOVE rendered_specs")
    item = ddb.get_item(TableName=table, Key=key)["Item"]
    request = ReprocessRequest(video["upload_id"], item["version_id"]["S"], item["tenant"]["S"])
    for _ in range(2):
        boto3.client("sqs").send_message(QueueUrl=queue_url, MessageBody=request.body())
    flows.drain()
    assert "reprocessed_at" in ddb.get_item(TableName=table, Key=key)["Item"]
    # Write once: the validated POST form replayed with other bytes of the same length.
    flows.send(audio, song[:-4] + b"\x00\x00\x00\x01")
    flows.drain()
    # An original whose record is gone (DynamoDB's TTL) is deleted.
    orphan = flows.create(song, "audio/wav")
    boto3.client("dynamodb").delete_item(
        TableName=os.environ["MEDIAKIT_TABLE"], Key={"upload_id": {"S": orphan["upload_id"]}}
    )
    flows.send(orphan, song)
    flows.drain()
    assert not flows.exists(orphan["key"])
    # A late original of a deleted pending upload: removed with the upload's derivative keys.
    late = flows.create(song, "audio/wav")
    ids["late"] = late["upload_id"]
    assert flows.api("DELETE", f"/v1/uploads/{late['upload_id']}")[0] == 200
    flows.send(late, song)
    flows.drain()
    assert not flows.exists(late["key"])
    return {label: flows.status(upload_id) for label, upload_id in ids.items()}


@pytest.fixture(scope="module")
def media_graph() -> Graph:
    graph: Graph = synth(STACK)
    return graph


@pytest.fixture(scope="module")
def media_run(media_graph: Graph, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    functions = lp.lambda_functions(media_graph)
    env = lp.environment(media_graph, partition=PARTITION, region=REGION, account_id=ACCOUNT_ID)
    environ = dict(function_resource(media_graph, MEDIA)["inputs"]["environment"]["variables"])
    recorder = CallRecorder()
    runtime.sandbox.retire()
    with pytest.MonkeyPatch.context() as mp, contextlib.ExitStack() as stack:
        for name in list(os.environ):
            if name.startswith(("AWS_", "MEDIAKIT_")):
                mp.delenv(name)
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            **environ,
        }.items():
            mp.setenv(name, value)
        moto_fidelity.install()
        recorder.install()
        stack.callback(recorder.uninstall)
        stack.callback(aws.reset)
        stack.callback(runtime.sandbox.retire)
        aws.reset()
        stack.enter_context(mock_aws())
        urls = _provision(media_graph, environ)
        fn = functions[MEDIA]
        (queue_arn,) = fn.sqs_sources
        queue_name = queue_arn.rsplit(":", 1)[1]
        mapping = SqsEventSourceMapping(
            sqs=boto3.client("sqs"),
            queue_url=urls[queue_name],
            queue_arn=queue_arn,
            handler=recorder.lambda_function(fn, runtime.media_processor.handler),
            region=REGION,
            batch_size=int(environ["MEDIAKIT_MEDIA_PROCESSOR_BATCH_SIZE"]),
            timeout_seconds=float(environ["MEDIAKIT_MEDIA_PROCESSOR_TIMEOUT_SECONDS"]),
            wait_seconds=0,
            function_name=fn.name,
        )
        flows = _Flows(
            recorder,
            recorder.lambda_function(functions[PRESIGN], runtime.presign.handler),
            mapping,
            fn.role,
            functions[PRESIGN].name,
        )
        statuses = _media_flows(flows, urls[queue_name], tmp_path_factory.mktemp("lp-media"))
        yield statuses, recorder.needs_by_role(env), fn.role, mapping


def test_least_privilege_media_flows_reach_every_path(media_run: Any) -> None:
    statuses, _, _, mapping = media_run
    assert statuses == {
        "video": "completed",
        "audio": "completed",
        "hostile": "failed",
        "late": "deleted",
    }
    assert mapping.stats.item_failures + mapping.stats.batch_failures == 0


def test_least_privilege_media_role_grants_exactly_what_its_calls_need(
    media_run: Any, media_graph: Graph
) -> None:
    _, needs, role, _ = media_run
    (diff,) = [d for d in lp.compare(lp.role_grants(media_graph), needs) if d.role == role]
    report = lp.format_diffs([diff])
    assert report == "", f"\n{report}\n\nrecorded:\n{lp.needs_table({role: needs[role]})}"


def test_least_privilege_media_catches_an_unused_grant(media_run: Any, media_graph: Graph) -> None:
    # GIVEN the media role with the processor's scan-status read added (the media function
    # never handles scan results) WHEN compared THEN it is reported unused
    import copy
    import json

    _, needs, role, _ = media_run
    graph = copy.deepcopy(media_graph)
    (policy,) = [
        r for r in by_type(graph, "aws:iam/rolePolicy:RolePolicy") if r["inputs"]["role"] == role
    ]
    document = json.loads(policy["inputs"]["policy"])
    read = next(s for s in document["Statement"] if s["Sid"] == "ReadOriginals")
    document["Statement"].append(
        {**read, "Sid": "ReadScannedOriginalStatus", "Action": ["s3:GetObjectVersionTagging"]}
    )
    policy["inputs"]["policy"] = json.dumps(document)
    (diff,) = [d for d in lp.compare(lp.role_grants(graph), needs) if d.role == role]
    assert "UNUSED    s3:GetObjectVersionTagging" in lp.format_diffs([diff])

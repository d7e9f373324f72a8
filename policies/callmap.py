"""Which IAM permissions an AWS API call needs: recorded botocore calls -> (action, resource).

Pure: a call is (service, operation, API parameters), and the few facts IAM evaluation depends on
beyond the parameters (which KMS key encrypts a bucket's objects or a queue's messages, the
account and region that complete an ARN) come in an `Environment`. The map includes what AWS
evaluates on the caller's behalf: S3 calling KMS for SSE-KMS objects, SQS decrypting messages,
multipart parts authorised as s3:PutObject. Presigned requests are calls by the signer.

Calls AWS makes with a Lambda function's execution role outside the function's code (log
delivery, tracing, the SQS event source mapping) are modelled in `LAMBDA_SERVICE_CALLS`.

Every need also carries a *scope*: the resource pattern a least-privilege grant for it would name
(`bucket/originals/*` for any key under `originals/`, `log-group:NAME:*` for any of its
streams), so grants can be compared with calls by action AND resource scope.
"""

from __future__ import annotations

import datetime
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Presign kinds: not presigned, `generate_presigned_url`, `generate_presigned_post`.
DIRECT = ""
PRESIGNED_URL = "url"
PRESIGNED_POST = "post"


@dataclass(frozen=True)
class Call:
    """One API call as botocore sees it: service name, operation name, API parameters."""

    service: str
    operation: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    presigned: str = DIRECT


@dataclass(frozen=True, order=True)
class Need:
    """A permission a call needs: `action` on the concrete `resource`, grantable as `scope`.
    A listing also needs its `prefix` (the `s3:prefix` condition key's value) to be allowed,
    grantable as `prefix_scope` (its top-level segment: `derivatives/*`); "" for no listing."""

    action: str
    resource: str
    scope: str
    prefix: str = ""
    prefix_scope: str = ""


@dataclass(frozen=True)
class Environment:
    """Account facts and the encryption IAM evaluation depends on.

    `bucket_keys`: bucket name -> ARN of its default SSE-KMS key (buckets encrypted otherwise are
    absent). The media bucket's policy denies any other key, so an object's key is the bucket's.
    `queue_keys`: queue ARN -> ARN of the KMS key encrypting it (SSE-SQS queues are absent).
    """

    partition: str
    region: str
    account_id: str
    bucket_keys: Mapping[str, str] = field(default_factory=dict)
    queue_keys: Mapping[str, str] = field(default_factory=dict)

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region, account = (self.region, self.account_id) if regional else ("", "")
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"

    def key_arn(self, key_id: str) -> str:
        """A KMS key ARN from a key id, alias name or ARN (as S3 and SQS accept them)."""
        if key_id.startswith("arn:"):
            return key_id
        if key_id.startswith("alias/"):
            return self.arn("kms", key_id)
        return self.arn("kms", f"key/{key_id}")


# Maps one call to the permissions it needs.
Mapper = Callable[[Call, Environment], list[Need]]


class UnmappedCall(LookupError):
    """The map does not know this operation: the comparison must fail, never guess."""

    def __init__(self, call: Call) -> None:
        super().__init__(f"no IAM mapping for {call.service}:{call.operation}")
        self.call = call


# --- S3 -------------------------------------------------------------------------------------------


def bucket_arn(env: Environment, bucket: str) -> str:
    return f"arn:{env.partition}:s3:::{bucket}"


def object_need(env: Environment, action: str, bucket: str, key: str) -> Need:
    """An object permission, scoped to the key's top-level prefix (`originals/*`)."""
    base = bucket_arn(env, bucket)
    prefix, slash, _ = key.partition("/")
    scope = f"{base}/{prefix}/*" if slash else f"{base}/{key}"
    return Need(action, f"{base}/{key}", scope)


def key_need(env: Environment, action: str, key_id: str) -> Need:
    arn = env.key_arn(key_id)
    return Need(action, arn, arn)


def _write_key(env: Environment, bucket: str, params: Mapping[str, Any]) -> str | None:
    """The KMS key S3 encrypts a new object with: the named one, aws/s3 for `aws:kms` without a
    key id, none for SSE-S3, else the bucket default."""
    sse = params.get("ServerSideEncryption")
    if sse in ("aws:kms", "aws:kms:dsse"):
        return str(params.get("SSEKMSKeyId") or "alias/aws/s3")
    if sse:
        return None
    return env.bucket_keys.get(bucket)


def _object_write(
    env: Environment, params: Mapping[str, Any], kms_actions: Sequence[str]
) -> list[Need]:
    bucket, key = str(params["Bucket"]), str(params["Key"])
    out = [object_need(env, "s3:PutObject", bucket, key)]
    if params.get("Tagging"):
        out.append(object_need(env, "s3:PutObjectTagging", bucket, key))
    if any(params.get(p) for p in ("ACL", "GrantFullControl", "GrantRead", "GrantReadACP")):
        out.append(object_need(env, "s3:PutObjectAcl", bucket, key))
    key_id = _write_key(env, bucket, params)
    if key_id:
        out.extend(key_need(env, action, key_id) for action in kms_actions)
    return out


def _put_object(call: Call, env: Environment) -> list[Need]:
    # S3 asks KMS for a data key on the caller's behalf (permission checked against the caller).
    return _object_write(env, call.params, ["kms:GenerateDataKey"])


def _upload_part(call: Call, env: Environment) -> list[Need]:
    # Parts are encrypted with the data key made at CreateMultipartUpload, which S3 decrypts with
    # the caller's permission; completing reads the encrypted parts back the same way.
    bucket, key = str(call.params["Bucket"]), str(call.params["Key"])
    out = [object_need(env, "s3:PutObject", bucket, key)]
    key_id = env.bucket_keys.get(bucket)
    if key_id:
        out.append(key_need(env, "kms:Decrypt", key_id))
    return out


def _object_read(action: str, versioned_action: str, kms: bool) -> Mapper:
    def mapper(call: Call, env: Environment) -> list[Need]:
        bucket, key = str(call.params["Bucket"]), str(call.params["Key"])
        named = versioned_action if call.params.get("VersionId") else action
        out = [object_need(env, named, bucket, key)]
        key_id = env.bucket_keys.get(bucket)
        if kms and key_id:
            out.append(key_need(env, "kms:Decrypt", key_id))
        return out

    return mapper


def _object_action(action: str) -> Mapper:
    def mapper(call: Call, env: Environment) -> list[Need]:
        return [object_need(env, action, str(call.params["Bucket"]), str(call.params["Key"]))]

    return mapper


def _delete_objects(call: Call, env: Environment) -> list[Need]:
    # DeleteObjects has no action of its own: each key is authorised as DeleteObject(Version).
    bucket = str(call.params["Bucket"])
    out = []
    for obj in call.params.get("Delete", {}).get("Objects", []):
        action = "s3:DeleteObjectVersion" if obj.get("VersionId") else "s3:DeleteObject"
        out.append(object_need(env, action, bucket, str(obj["Key"])))
    return out


def _delete_object(call: Call, env: Environment) -> list[Need]:
    action = "s3:DeleteObjectVersion" if call.params.get("VersionId") else "s3:DeleteObject"
    return [object_need(env, action, str(call.params["Bucket"]), str(call.params["Key"]))]


def _copy_object(call: Call, env: Environment) -> list[Need]:
    source = call.params["CopySource"]
    if isinstance(source, str):
        path, _, query = urllib.parse.unquote(source).lstrip("/").partition("?")
        src_bucket, _, src_key = path.partition("/")
        src_version = urllib.parse.parse_qs(query).get("versionId", [""])[0]
    else:
        src_bucket, src_key = str(source["Bucket"]), str(source["Key"])
        src_version = str(source.get("VersionId") or "")
    read = Call("s3", "GetObject", {"Bucket": src_bucket, "Key": src_key, "VersionId": src_version})
    return _get_object(read, env) + _put_object(call, env)


def _bucket_action(action: str) -> Mapper:
    def mapper(call: Call, env: Environment) -> list[Need]:
        arn = bucket_arn(env, str(call.params["Bucket"]))
        return [Need(action, arn, arn)]

    return mapper


def _listing(action: str) -> Mapper:
    """A bucket listing: IAM evaluates `s3:prefix` against the request's Prefix ("" without)."""

    def mapper(call: Call, env: Environment) -> list[Need]:
        arn = bucket_arn(env, str(call.params["Bucket"]))
        prefix = str(call.params.get("Prefix") or "")
        top, slash, _ = prefix.partition("/")
        return [Need(action, arn, arn, prefix, f"{top}/*" if slash else prefix)]

    return mapper


_get_object = _object_read("s3:GetObject", "s3:GetObjectVersion", kms=True)

# --- DynamoDB ---------------------------------------------------------------------------------


def table_arn(env: Environment, table: str) -> str:
    return table if table.startswith("arn:") else env.arn("dynamodb", f"table/{table}")


def _table_action(action: str) -> Mapper:
    def mapper(call: Call, env: Environment) -> list[Need]:
        arn = table_arn(env, str(call.params["TableName"]))
        # Query and Scan on an index are authorised on the index ARN, not the table.
        index = call.params.get("IndexName")
        if index:
            arn = f"{arn}/index/{index}"
        return [Need(action, arn, arn)]

    return mapper


def _batch_tables(action: str) -> Mapper:
    def mapper(call: Call, env: Environment) -> list[Need]:
        arns = [table_arn(env, str(t)) for t in call.params.get("RequestItems", {})]
        return [Need(action, arn, arn) for arn in arns]

    return mapper


_TRANSACT_ACTIONS = {
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "Get": "dynamodb:GetItem",
}


def _transact(call: Call, env: Environment) -> list[Need]:
    out = []
    for item in call.params.get("TransactItems", []):
        for kind, body in item.items():
            arn = table_arn(env, str(body["TableName"]))
            out.append(Need(_TRANSACT_ACTIONS[kind], arn, arn))
    return out


# --- SQS, EventBridge, Logs, X-Ray, KMS -----------------------------------------------------------


def queue_arn(env: Environment, url: str) -> str:
    """`https://sqs.<region>.amazonaws.com/<account>/<name>` -> the queue ARN."""
    parts = urllib.parse.urlparse(url).path.strip("/").split("/")
    if len(parts) != 2:
        raise ValueError(f"not an SQS queue URL: {url!r}")
    account, name = parts
    return f"arn:{env.partition}:sqs:{env.region}:{account}:{name}"


def queue_url(arn: str) -> str:
    """The queue URL of a queue ARN (the form SQS API calls name queues by)."""
    *_, region, account, name = arn.split(":")
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


def _queue_action(action: str, kms_actions: Sequence[str] = ()) -> Mapper:
    def mapper(call: Call, env: Environment) -> list[Need]:
        arn = queue_arn(env, str(call.params["QueueUrl"]))
        out = [Need(action, arn, arn)]
        key_id = env.queue_keys.get(arn)
        if key_id:
            out.extend(key_need(env, a, key_id) for a in kms_actions)
        return out

    return mapper


def bus_arn(env: Environment, bus: str) -> str:
    return bus if bus.startswith("arn:") else env.arn("events", f"event-bus/{bus}")


def _put_events(call: Call, env: Environment) -> list[Need]:
    buses = {str(e.get("EventBusName") or "default") for e in call.params.get("Entries", [])}
    return [Need("events:PutEvents", bus_arn(env, b), bus_arn(env, b)) for b in sorted(buses)]


def log_group_arn(env: Environment, group: str) -> str:
    return env.arn("logs", f"log-group:{group}")


def _log_stream_action(action: str) -> Mapper:
    def mapper(call: Call, env: Environment) -> list[Need]:
        group = log_group_arn(env, str(call.params["logGroupName"]))
        stream = f"{group}:log-stream:{call.params['logStreamName']}"
        return [Need(action, stream, f"{group}:*")]

    return mapper


def _unscoped(action: str) -> Mapper:
    # X-Ray has no resource-level permissions: the only grantable resource is "*".
    def mapper(call: Call, env: Environment) -> list[Need]:
        return [Need(action, "*", "*")]

    return mapper


def _kms_action(action: str) -> Mapper:
    def mapper(call: Call, env: Environment) -> list[Need]:
        return [key_need(env, action, str(call.params["KeyId"]))]

    return mapper


def distribution_arn(env: Environment, distribution_id: str) -> str:
    """CloudFront is global: its ARNs name the account, no region."""
    return f"arn:{env.partition}:cloudfront::{env.account_id}:distribution/{distribution_id}"


def _create_invalidation(call: Call, env: Environment) -> list[Need]:
    arn = distribution_arn(env, str(call.params["DistributionId"]))
    return [Need("cloudfront:CreateInvalidation", arn, arn)]


def _nothing(call: Call, env: Environment) -> list[Need]:
    # sts:GetCallerIdentity needs no permission: it cannot be denied.
    return []


_SEND_KMS = ("kms:GenerateDataKey", "kms:Decrypt")

OPERATIONS: Mapping[tuple[str, str], Mapper] = {
    ("s3", "PutObject"): _put_object,
    ("s3", "CreateMultipartUpload"): _put_object,
    ("s3", "UploadPart"): _upload_part,
    ("s3", "CompleteMultipartUpload"): _upload_part,
    ("s3", "AbortMultipartUpload"): _object_action("s3:AbortMultipartUpload"),
    ("s3", "ListParts"): _object_action("s3:ListMultipartUploadParts"),
    ("s3", "GetObject"): _get_object,
    # HEAD reads metadata only; S3 decrypts nothing, so no kms:Decrypt.
    ("s3", "HeadObject"): _object_read("s3:GetObject", "s3:GetObjectVersion", kms=False),
    ("s3", "GetObjectTagging"): _object_read(
        "s3:GetObjectTagging", "s3:GetObjectVersionTagging", kms=False
    ),
    ("s3", "PutObjectTagging"): _object_action("s3:PutObjectTagging"),
    ("s3", "DeleteObject"): _delete_object,
    ("s3", "DeleteObjects"): _delete_objects,
    ("s3", "CopyObject"): _copy_object,
    ("s3", "ListObjects"): _listing("s3:ListBucket"),
    ("s3", "ListObjectsV2"): _listing("s3:ListBucket"),
    ("s3", "ListObjectVersions"): _listing("s3:ListBucketVersions"),
    ("s3", "HeadBucket"): _bucket_action("s3:ListBucket"),
    ("s3", "ListMultipartUploads"): _bucket_action("s3:ListBucketMultipartUploads"),
    ("dynamodb", "GetItem"): _table_action("dynamodb:GetItem"),
    ("dynamodb", "PutItem"): _table_action("dynamodb:PutItem"),
    ("dynamodb", "UpdateItem"): _table_action("dynamodb:UpdateItem"),
    ("dynamodb", "DeleteItem"): _table_action("dynamodb:DeleteItem"),
    ("dynamodb", "Query"): _table_action("dynamodb:Query"),
    ("dynamodb", "Scan"): _table_action("dynamodb:Scan"),
    ("dynamodb", "DescribeTable"): _table_action("dynamodb:DescribeTable"),
    ("dynamodb", "BatchGetItem"): _batch_tables("dynamodb:BatchGetItem"),
    ("dynamodb", "BatchWriteItem"): _batch_tables("dynamodb:BatchWriteItem"),
    ("dynamodb", "TransactWriteItems"): _transact,
    ("dynamodb", "TransactGetItems"): _transact,
    # Receiving from a KMS-encrypted queue decrypts with the receiver's permission; sending
    # needs a data key (and Decrypt, which SQS uses to reuse cached data keys).
    ("sqs", "ReceiveMessage"): _queue_action("sqs:ReceiveMessage", ["kms:Decrypt"]),
    ("sqs", "DeleteMessage"): _queue_action("sqs:DeleteMessage"),
    ("sqs", "DeleteMessageBatch"): _queue_action("sqs:DeleteMessage"),
    ("sqs", "ChangeMessageVisibility"): _queue_action("sqs:ChangeMessageVisibility"),
    ("sqs", "ChangeMessageVisibilityBatch"): _queue_action("sqs:ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): _queue_action("sqs:GetQueueAttributes"),
    ("sqs", "SendMessage"): _queue_action("sqs:SendMessage", _SEND_KMS),
    ("sqs", "SendMessageBatch"): _queue_action("sqs:SendMessage", _SEND_KMS),
    ("events", "PutEvents"): _put_events,
    ("logs", "CreateLogStream"): _log_stream_action("logs:CreateLogStream"),
    ("logs", "PutLogEvents"): _log_stream_action("logs:PutLogEvents"),
    ("xray", "PutTraceSegments"): _unscoped("xray:PutTraceSegments"),
    ("xray", "PutTelemetryRecords"): _unscoped("xray:PutTelemetryRecords"),
    ("kms", "Decrypt"): _kms_action("kms:Decrypt"),
    ("kms", "Encrypt"): _kms_action("kms:Encrypt"),
    ("kms", "GenerateDataKey"): _kms_action("kms:GenerateDataKey"),
    ("kms", "DescribeKey"): _kms_action("kms:DescribeKey"),
    ("kms", "Sign"): _kms_action("kms:Sign"),
    ("kms", "GenerateMac"): _kms_action("kms:GenerateMac"),
    ("cloudfront", "CreateInvalidation"): _create_invalidation,
    ("sts", "GetCallerIdentity"): _nothing,
}


def needs(call: Call, env: Environment) -> tuple[Need, ...]:
    """The permissions `call` needs, deduplicated and sorted; UnmappedCall if unknown."""
    mapper = OPERATIONS.get((call.service, call.operation))
    if mapper is None:
        raise UnmappedCall(call)
    return tuple(sorted(set(mapper(call, env))))


# --- calls the Lambda service makes with a function's execution role ------------------------------


@dataclass(frozen=True)
class ServiceCall:
    """A call AWS makes with a function's execution role, outside the function's own code."""

    caller: str
    when: str
    service: str
    operation: str
    why: str


EVERY_INVOCATION = "every invocation"
TRACING_ACTIVE = "every invocation, tracing Active"
SQS_TRIGGERED = "every poll of an SQS event source mapping"

# The one table of implicit calls. The local emulator's mapping (`mediakit.local.event_source`)
# stands in for the SQS rows it can make (ReceiveMessage, DeleteMessageBatch); the rest nobody
# here can record.
LAMBDA_SERVICE_CALLS: tuple[ServiceCall, ...] = (
    ServiceCall(
        "Lambda runtime", EVERY_INVOCATION, "logs", "CreateLogStream",
        "the runtime opens a stream in the function's log group for each execution environment",
    ),
    ServiceCall(
        "Lambda runtime", EVERY_INVOCATION, "logs", "PutLogEvents",
        "stdout/stderr and the platform's START/END/REPORT lines go to that stream",
    ),
    ServiceCall(
        "Lambda runtime", TRACING_ACTIVE, "xray", "PutTraceSegments",
        "active tracing: the runtime sends the invocation's segments",
    ),
    ServiceCall(
        "Lambda runtime", TRACING_ACTIVE, "xray", "PutTelemetryRecords",
        "active tracing: the X-Ray daemon reports its telemetry",
    ),
    ServiceCall(
        "SQS event source mapping", SQS_TRIGGERED, "sqs", "GetQueueAttributes",
        "the mapping reads the queue's attributes (visibility timeout, redrive) to poll it",
    ),
    ServiceCall(
        "SQS event source mapping", SQS_TRIGGERED, "sqs", "ReceiveMessage",
        "the mapping long-polls the queue for a batch (kms:Decrypt if the queue uses a KMS key)",
    ),
    ServiceCall(
        "SQS event source mapping", SQS_TRIGGERED, "sqs", "DeleteMessageBatch",
        "the mapping deletes the messages not named in batchItemFailures",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class FunctionFacts:
    """What the stack declares about one Lambda function, as far as implicit calls go."""

    name: str
    handler: str
    role: str
    log_group: str
    tracing_active: bool
    sqs_sources: tuple[str, ...] = ()


def lambda_service_calls(
    fn: FunctionFacts, event: Mapping[str, Any], *, now: datetime.date
) -> list[tuple[ServiceCall, Call]]:
    """The `LAMBDA_SERVICE_CALLS` rows one invocation of `fn` with `event` implies, as calls."""
    stream = f"{now:%Y/%m/%d}/[$LATEST]execution-environment"
    records = event.get("Records")
    sources = sorted(
        {
            str(r.get("eventSourceARN"))
            for r in (records if isinstance(records, list) else [])
            if isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs"
        }
        & set(fn.sqs_sources)
    )
    out: list[tuple[ServiceCall, Call]] = []
    for row in LAMBDA_SERVICE_CALLS:
        if row.when == EVERY_INVOCATION or (row.when == TRACING_ACTIVE and fn.tracing_active):
            params: dict[str, Any] = (
                {"logGroupName": fn.log_group, "logStreamName": stream}
                if row.service == "logs"
                else {}
            )
            out.append((row, Call(row.service, row.operation, params)))
        elif row.when == SQS_TRIGGERED:
            out.extend(
                (row, Call(row.service, row.operation, {"QueueUrl": queue_url(arn)}))
                for arn in sources
            )
    return out

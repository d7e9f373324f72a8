"""Fixtures for the policy tests: the synthesized graphs, their weakened copies, and one
`mediakit check` run over all of them (one checkov process keeps the suite fast)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from policies import checkov_runner
from policies.findings import PolicyToolError

FIXTURES = Path(__file__).parent / "fixtures"
Graph = dict[str, Any]


@pytest.fixture(scope="session")
def checkov_venv() -> Path:
    """The checkov virtualenv must exist: a missing scanner is a failure, never a skip.

    Test modules that run checkov or parliament use it (`pytestmark`); tests here that do not
    scan anything do not need the virtualenv."""
    try:
        checkov_runner.tool_path("checkov")
        checkov_runner.tool_path("parliament")
    except PolicyToolError as exc:
        pytest.fail(str(exc), pytrace=False)
    return checkov_runner.CHECKOV_VENV


@pytest.fixture(scope="session")
def graph_min() -> Graph:
    """The hand-made graph (shaped like `mediakit synth` output) for exporter unit tests."""
    data: Graph = json.loads((FIXTURES / "graph_min.json").read_text())
    return data


@pytest.fixture(scope="session")
def dev_graph() -> Graph:
    from policies.synth import synth

    graph: Graph = synth("dev")
    return graph


@pytest.fixture(scope="session")
def prod_graph() -> Graph:
    from policies.synth import synth

    graph: Graph = synth("prod")
    return graph


# An existing key of the account (kmsKeyArn): the stack then creates no key and no key policy.
EXISTING_KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="session")
def example_domains_graph() -> Graph:
    """Pulumi.example-domains.yaml: custom domains, a WAF web ACL and tags on top of prod."""
    from policies.synth import synth

    graph: Graph = synth("example-domains")
    return graph


@pytest.fixture(scope="session")
def example_malware_graph() -> Graph:
    """Pulumi.example-malware.yaml: prod with malwareScanning (GuardDuty plan, scan role, rule)."""
    from policies.synth import synth

    graph: Graph = synth("example-malware")
    return graph


@pytest.fixture(scope="session")
def example_media_graph() -> Graph:
    """Pulumi.example-media.yaml: prod with audio and video on (media function, queue, bucket)."""
    from policies.synth import synth

    graph: Graph = synth("example-media")
    return graph


@pytest.fixture(scope="session")
def public_delivery_graph() -> Graph:
    """Dev with deliveryMode public: no key group, the functions issue plain URLs."""
    from policies.synth import load_stack_config, synth

    graph: Graph = synth("dev", {**load_stack_config("dev"), "deliveryMode": "public"})
    return graph


@pytest.fixture(scope="session")
def existing_key_graph() -> Graph:
    """Prod with kmsKeyArn set."""
    from policies.synth import load_stack_config, synth

    graph: Graph = synth("prod", load_stack_config("prod") | {"kmsKeyArn": EXISTING_KEY_ARN})
    return graph


def resource(graph: Graph, type_suffix: str, name: str) -> dict[str, Any]:
    """The custom resource whose token ends with `type_suffix` and whose name is `name`."""
    matches = [
        r
        for r in graph["resources"]
        if r["custom"] and r["type"].split(":")[1] == type_suffix and r["name"] == name
    ]
    assert len(matches) == 1, f"expected one {type_suffix} named {name}, got {len(matches)}"
    return matches[0]


def set_prop(res: dict[str, Any], key: str, value: Any) -> None:
    """Change an input everywhere the exporter reads it (inputs and mock state)."""
    for part in ("inputs", "state"):
        res[part][key] = value


def del_prop(res: dict[str, Any], key: str) -> None:
    for part in ("inputs", "state"):
        res[part].pop(key, None)


def drop(graph: Graph, type_suffix: str, name: str) -> None:
    target = resource(graph, type_suffix, name)
    graph["resources"] = [r for r in graph["resources"] if r is not target]


def edit_policy(res: dict[str, Any], edit: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads(res["inputs"]["policy"])
    edit(doc)
    set_prop(res, "policy", json.dumps(doc))


def without_sid(sid: str) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        before = len(doc["Statement"])
        doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") != sid]
        assert len(doc["Statement"]) == before - 1, f"no statement {sid}"

    return edit


def with_statement(statement: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        doc["Statement"].append(statement)

    return edit


def weakened(graph: Graph, mutate: Callable[[Graph], None]) -> Graph:
    copy_ = copy.deepcopy(graph)
    mutate(copy_)
    return copy_


def run_cli(args: list[str]) -> tuple[int, str]:
    from mediakit.cli import cli

    result = CliRunner().invoke(cli, ["check", *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="session")
def graph_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("graphs")


def write_graph(directory: Path, key: str, graph: Graph) -> Path:
    path = directory / f"{key}.json"
    path.write_text(json.dumps(graph))
    return path


# --- weakened copies of the dev stack: (mutation, the (check id, resource) it must fail) ----------

BUCKET = "media-storage-bucket"
PROCESSOR_POLICY = "media-compute-processor-policy"
Mutation = Callable[[Graph], None]


def _no_public_access_block(g: Graph) -> None:
    drop(g, "s3/bucketPublicAccessBlock", f"{BUCKET}-public-access-block")


def _public_access_block_off(g: Graph) -> None:
    res = resource(g, "s3/bucketPublicAccessBlock", f"{BUCKET}-public-access-block")
    for key in (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ):
        set_prop(res, key, False)


def _queue_sse_off(g: Graph) -> None:
    res = resource(g, "sqs/queue", "media-queues-ingest")
    set_prop(res, "sqsManagedSseEnabled", False)
    del_prop(res, "kmsMasterKeyId")


def _no_tls_deny(g: Graph) -> None:
    edit_policy(
        resource(g, "s3/bucketPolicy", f"{BUCKET}-policy"), without_sid("DenyInsecureTransport")
    )


def _no_key_deny(g: Graph) -> None:
    edit_policy(resource(g, "s3/bucketPolicy", f"{BUCKET}-policy"), without_sid("DenyOtherKmsKey"))


def _foreign_key_deny(g: Graph) -> None:
    res = resource(g, "s3/bucketPolicy", f"{BUCKET}-policy")
    foreign = "arn:aws:kms:us-east-1:210987654321:key/00000000-0000-0000-0000-000000000000"
    set_prop(res, "policy", res["inputs"]["policy"].replace(_key_arn(g), foreign))


def _key_arn(g: Graph) -> str:
    arn: str = resource(g, "kms/key", "media-storage-key")["state"]["arn"]
    return arn


def _wildcard_action(g: Graph) -> None:
    bucket_arn = resource(g, "s3/bucket", BUCKET)["state"]["arn"]
    stmt = {"Sid": "Debug", "Effect": "Allow", "Action": ["s3:*"], "Resource": [f"{bucket_arn}/*"]}
    edit_policy(resource(g, "iam/rolePolicy", PROCESSOR_POLICY), with_statement(stmt))


def _star_action(g: Graph) -> None:
    stmt = {"Sid": "Admin", "Effect": "Allow", "Action": "*", "Resource": "*"}
    edit_policy(resource(g, "iam/rolePolicy", PROCESSOR_POLICY), with_statement(stmt))


def _star_resource(g: Graph) -> None:
    stmt = {"Sid": "ReadAll", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}
    edit_policy(resource(g, "iam/rolePolicy", PROCESSOR_POLICY), with_statement(stmt))


def _unknown_action(g: Graph) -> None:
    bucket_arn = resource(g, "s3/bucket", BUCKET)["state"]["arn"]
    stmt = {
        "Sid": "Typo",
        "Effect": "Allow",
        "Action": ["s3:GetObjects"],
        "Resource": [f"{bucket_arn}/*"],
    }
    edit_policy(resource(g, "iam/rolePolicy", PROCESSOR_POLICY), with_statement(stmt))


def _resource_mismatch(g: Graph) -> None:
    bucket_arn = resource(g, "s3/bucket", BUCKET)["state"]["arn"]
    stmt = {
        "Sid": "WrongArn",
        "Effect": "Allow",
        "Action": ["dynamodb:GetItem"],
        "Resource": [bucket_arn],
    }
    edit_policy(resource(g, "iam/rolePolicy", PROCESSOR_POLICY), with_statement(stmt))


def _bad_condition_key(g: Graph) -> None:
    bucket_arn = resource(g, "s3/bucket", BUCKET)["state"]["arn"]
    stmt = {
        "Sid": "BadCondition",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": [f"{bucket_arn}/originals/*"],
        "Condition": {"StringEquals": {"dynamodb:LeadingKeys": "tenant"}},
    }
    edit_policy(resource(g, "iam/rolePolicy", PROCESSOR_POLICY), with_statement(stmt))


def _origins(g: Graph) -> list[dict[str, Any]]:
    origins: list[dict[str, Any]] = resource(
        g, "cloudfront/distribution", "media-cdn-distribution"
    )["inputs"]["origins"]
    return origins


def _public_custom_origin(g: Graph) -> None:
    dist = resource(g, "cloudfront/distribution", "media-cdn-distribution")
    bucket = resource(g, "s3/bucket", BUCKET)["state"]["bucket"]
    origin = {
        "originId": "media-bucket",
        "domainName": f"{bucket}.s3-website-us-east-1.amazonaws.com",
        "customOriginConfig": {
            "httpPort": 80.0,
            "httpsPort": 443.0,
            "originProtocolPolicy": "http-only",
            "originSslProtocols": ["TLSv1.2"],
        },
    }
    set_prop(dist, "origins", [origin])


def _legacy_oai(g: Graph) -> None:
    dist = resource(g, "cloudfront/distribution", "media-cdn-distribution")
    origin = dict(_origins(g)[0])
    origin.pop("originAccessControlId")
    origin["s3OriginConfig"] = {
        "originAccessIdentity": "origin-access-identity/cloudfront/E1LEGACYOAI"
    }
    set_prop(dist, "origins", [origin])


def _oac_unsigned(g: Graph) -> None:
    set_prop(
        resource(g, "cloudfront/originAccessControl", "media-cdn-oac"),
        "signingBehavior",
        "no-override",
    )


def _no_security_headers(g: Graph) -> None:
    dist = resource(g, "cloudfront/distribution", "media-cdn-distribution")
    behaviour = dict(dist["inputs"]["defaultCacheBehavior"])
    behaviour.pop("responseHeadersPolicyId")
    set_prop(dist, "defaultCacheBehavior", behaviour)


def _http_viewers(g: Graph) -> None:
    dist = resource(g, "cloudfront/distribution", "media-cdn-distribution")
    behaviour = dict(dist["inputs"]["defaultCacheBehavior"], viewerProtocolPolicy="allow-all")
    set_prop(dist, "defaultCacheBehavior", behaviour)


def _no_redrive(g: Graph) -> None:
    del_prop(resource(g, "sqs/queue", "media-queues-ingest"), "redrivePolicy")


def _redrive(g: Graph, **changes: Any) -> None:
    res = resource(g, "sqs/queue", "media-queues-ingest")
    set_prop(
        res, "redrivePolicy", json.dumps({**json.loads(res["inputs"]["redrivePolicy"]), **changes})
    )


def _receive_count_one(g: Graph) -> None:
    _redrive(g, maxReceiveCount=1)


def _short_dlq_retention(g: Graph) -> None:
    source = resource(g, "sqs/queue", "media-queues-ingest")["inputs"]["messageRetentionSeconds"]
    set_prop(resource(g, "sqs/queue", "media-queues-dlq"), "messageRetentionSeconds", source)


def _no_batch_item_failures(g: Graph) -> None:
    set_prop(
        resource(g, "lambda/eventSourceMapping", "media-compute-ingest-mapping"),
        "functionResponseTypes",
        [],
    )


def _no_versioning(g: Graph) -> None:
    drop(g, "s3/bucketVersioning", f"{BUCKET}-versioning")


def _no_default_encryption(g: Graph) -> None:
    drop(g, "s3/bucketServerSideEncryptionConfiguration", f"{BUCKET}-sse")


def _no_access_logging(g: Graph) -> None:
    drop(g, "s3/bucketLogging", f"{BUCKET}-logging")


def _acls_enabled(g: Graph) -> None:
    set_prop(
        resource(g, "s3/bucketOwnershipControls", f"{BUCKET}-ownership"),
        "rule",
        {"objectOwnership": "ObjectWriter"},
    )


def _no_abort_multipart(g: Graph) -> None:
    res = resource(g, "s3/bucketLifecycleConfiguration", f"{BUCKET}-lifecycle")
    rules = [
        {k: v for k, v in r.items() if k != "abortIncompleteMultipartUpload"}
        for r in res["inputs"]["rules"]
    ]
    set_prop(res, "rules", rules)


def _no_key_rotation(g: Graph) -> None:
    set_prop(resource(g, "kms/key", "media-storage-key"), "enableKeyRotation", False)


def _no_pitr(g: Graph) -> None:
    set_prop(
        resource(g, "dynamodb/table", "media-storage-uploads"),
        "pointInTimeRecovery",
        {"enabled": False},
    )


def _no_tracing(g: Graph) -> None:
    del_prop(resource(g, "lambda/function", "media-compute-processor"), "tracingConfig")


def _unencrypted_logs(g: Graph) -> None:
    del_prop(resource(g, "cloudwatch/logGroup", "media-compute-processor-logs"), "kmsKeyId")


def _route_without_auth(g: Graph) -> None:
    res = resource(g, "apigatewayv2/route", "media-api-route-get-uploads")
    set_prop(res, "authorizationType", "NONE")
    del_prop(res, "authorizerId")


def _unsigned_derivatives(g: Graph) -> None:
    # Private mode (the functions sign URLs) but the derivatives behaviour trusts no key group.
    dist = resource(g, "cloudfront/distribution", "media-cdn-distribution")
    behaviours = [
        {k: v for k, v in b.items() if k != "trustedKeyGroups"}
        for b in dist["inputs"]["orderedCacheBehaviors"]
    ]
    set_prop(dist, "orderedCacheBehaviors", behaviours)


def _unencrypted_topic(g: Graph) -> None:
    del_prop(resource(g, "sns/topic", "media-alarms-topic"), "kmsMasterKeyId")


def _a(type_: str, name: str) -> str:
    return f"{type_}.{name}"


# key -> (mutation, [(check id, plan address)] that must fail)
VARIANTS: dict[str, tuple[Mutation, list[tuple[str, str]]]] = {
    "no-public-access-block": (
        _no_public_access_block,
        [("CKV2_AWS_6", _a("aws_s3_bucket", BUCKET))],
    ),
    "public-access-block-off": (
        _public_access_block_off,
        # The bucket's connection check reads the block's flags too.
        [("CKV2_AWS_6", _a("aws_s3_bucket", BUCKET))]
        + [
            (c, _a("aws_s3_bucket_public_access_block", f"{BUCKET}-public-access-block"))
            for c in ("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56")
        ],
    ),
    "queue-sse-off": (_queue_sse_off, [("CKV_AWS_27", _a("aws_sqs_queue", "media-queues-ingest"))]),
    "no-tls-deny": (
        _no_tls_deny,
        [("MKIT_AWS_001", _a("aws_s3_bucket_policy", f"{BUCKET}-policy"))],
    ),
    "no-key-deny": (
        _no_key_deny,
        [("MKIT_AWS_002", _a("aws_s3_bucket_policy", f"{BUCKET}-policy"))],
    ),
    "foreign-key-deny": (
        _foreign_key_deny,
        [("MKIT_AWS_002", _a("aws_s3_bucket_policy", f"{BUCKET}-policy"))],
    ),
    "wildcard-action": (
        _wildcard_action,
        [("MKIT_AWS_007", _a("aws_iam_role_policy", PROCESSOR_POLICY))],
    ),
    "star-action": (
        _star_action,
        [
            (c, _a("aws_iam_role_policy", PROCESSOR_POLICY))
            for c in ("MKIT_AWS_007", "MKIT_AWS_008", "CKV_AWS_63", "CKV_AWS_62")
        ],
    ),
    "star-resource": (
        _star_resource,
        [
            (c, _a("aws_iam_role_policy", PROCESSOR_POLICY))
            for c in ("MKIT_AWS_008", "CKV_AWS_355", "parliament/RESOURCE_STAR")
        ],
    ),
    "unknown-action": (
        _unknown_action,
        [("parliament/UNKNOWN_ACTION", _a("aws_iam_role_policy", PROCESSOR_POLICY))],
    ),
    "resource-mismatch": (
        _resource_mismatch,
        [("parliament/RESOURCE_MISMATCH", _a("aws_iam_role_policy", PROCESSOR_POLICY))],
    ),
    "bad-condition-key": (
        _bad_condition_key,
        [("parliament/UNKNOWN_CONDITION_FOR_ACTION", _a("aws_iam_role_policy", PROCESSOR_POLICY))],
    ),
    "public-custom-origin": (
        _public_custom_origin,
        [("MKIT_AWS_003", _a("aws_cloudfront_distribution", "media-cdn-distribution"))],
    ),
    "legacy-oai": (
        _legacy_oai,
        [("MKIT_AWS_003", _a("aws_cloudfront_distribution", "media-cdn-distribution"))],
    ),
    "oac-unsigned": (
        _oac_unsigned,
        [("MKIT_AWS_004", _a("aws_cloudfront_origin_access_control", "media-cdn-oac"))],
    ),
    "no-security-headers": (
        _no_security_headers,
        [("MKIT_AWS_009", _a("aws_cloudfront_distribution", "media-cdn-distribution"))],
    ),
    "unsigned-derivatives": (
        _unsigned_derivatives,
        [("MKIT_AWS_010", _a("aws_cloudfront_distribution", "media-cdn-distribution"))],
    ),
    "http-viewers": (
        _http_viewers,
        [("CKV_AWS_34", _a("aws_cloudfront_distribution", "media-cdn-distribution"))],
    ),
    "no-redrive": (
        _no_redrive,
        # Without a source pointing at it the DLQ is an ordinary queue with no redrive either.
        [
            ("MKIT_AWS_005", _a("aws_sqs_queue", "media-queues-ingest")),
            ("MKIT_AWS_005", _a("aws_sqs_queue", "media-queues-dlq")),
        ],
    ),
    "receive-count-one": (
        _receive_count_one,
        [("MKIT_AWS_005", _a("aws_sqs_queue", "media-queues-ingest"))],
    ),
    "short-dlq-retention": (
        _short_dlq_retention,
        [("MKIT_AWS_005", _a("aws_sqs_queue", "media-queues-ingest"))],
    ),
    "no-batch-item-failures": (
        _no_batch_item_failures,
        [("MKIT_AWS_006", _a("aws_lambda_event_source_mapping", "media-compute-ingest-mapping"))],
    ),
    "no-versioning": (_no_versioning, [("CKV_AWS_21", _a("aws_s3_bucket", BUCKET))]),
    "no-default-encryption": (
        _no_default_encryption,
        [("CKV_AWS_145", _a("aws_s3_bucket", BUCKET))],
    ),
    "no-access-logging": (
        _no_access_logging,
        # checkov exempts a bucket that receives another bucket's logs; that ends here too.
        [
            ("CKV_AWS_18", _a("aws_s3_bucket", BUCKET)),
            ("CKV_AWS_18", _a("aws_s3_bucket", "media-storage-log-bucket")),
        ],
    ),
    "acls-enabled": (
        _acls_enabled,
        [("CKV2_AWS_65", _a("aws_s3_bucket_ownership_controls", f"{BUCKET}-ownership"))],
    ),
    "no-abort-multipart": (
        _no_abort_multipart,
        [("CKV_AWS_300", _a("aws_s3_bucket_lifecycle_configuration", f"{BUCKET}-lifecycle"))],
    ),
    "no-key-rotation": (_no_key_rotation, [("CKV_AWS_7", _a("aws_kms_key", "media-storage-key"))]),
    "no-pitr": (_no_pitr, [("CKV_AWS_28", _a("aws_dynamodb_table", "media-storage-uploads"))]),
    "no-tracing": (
        _no_tracing,
        [("CKV_AWS_50", _a("aws_lambda_function", "media-compute-processor"))],
    ),
    "unencrypted-logs": (
        _unencrypted_logs,
        [("CKV_AWS_158", _a("aws_cloudwatch_log_group", "media-compute-processor-logs"))],
    ),
    "route-without-auth": (
        _route_without_auth,
        [("CKV_AWS_309", _a("aws_apigatewayv2_route", "media-api-route-get-uploads"))],
    ),
    "unencrypted-topic": (
        _unencrypted_topic,
        [("CKV_AWS_26", _a("aws_sns_topic", "media-alarms-topic"))],
    ),
}


def _malware_role_wildcard(g: Graph) -> None:
    bucket_arn = resource(g, "s3/bucket", BUCKET)["state"]["arn"]
    stmt = {
        "Sid": "ScanAll",
        "Effect": "Allow",
        "Action": ["s3:*"],
        "Resource": [f"{bucket_arn}/*"],
    }
    edit_policy(resource(g, "iam/rolePolicy", "media-malware-scan-policy"), with_statement(stmt))


# Weakened copies of the scan-enabled graph (tests/policy/test_check_malware.py asserts them).
MALWARE_VARIANTS: dict[str, tuple[Mutation, list[tuple[str, str]]]] = {
    "malware-role-wildcard": (
        _malware_role_wildcard,
        [("MKIT_AWS_007", _a("aws_iam_role_policy", "media-malware-scan-policy"))],
    ),
}


ARTIFACTS = "media-media-artifacts"
MEDIA_POLICY = "media-media-policy"


def _artifacts_public_access_block_off(g: Graph) -> None:
    res = resource(g, "s3/bucketPublicAccessBlock", f"{ARTIFACTS}-public-access-block")
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for key in flags:
        set_prop(res, key, False)


def _artifacts_no_key_deny(g: Graph) -> None:
    policy = resource(g, "s3/bucketPolicy", f"{ARTIFACTS}-policy")
    edit_policy(policy, without_sid("DenyOtherKmsKey"))


def _media_role_wildcard(g: Graph) -> None:
    bucket_arn = resource(g, "s3/bucket", BUCKET)["state"]["arn"]
    stmt = {"Sid": "Debug", "Effect": "Allow", "Action": ["s3:*"], "Resource": [f"{bucket_arn}/*"]}
    edit_policy(resource(g, "iam/rolePolicy", MEDIA_POLICY), with_statement(stmt))


# Weakened copies of the audio/video graph (tests/policy/test_check_media.py asserts them): the
# artifacts bucket and the media role are checked like the rest.
MEDIA_VARIANTS: dict[str, tuple[Mutation, list[tuple[str, str]]]] = {
    "media-artifacts-public": (
        _artifacts_public_access_block_off,
        [
            (c, _a("aws_s3_bucket_public_access_block", f"{ARTIFACTS}-public-access-block"))
            for c in ("CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56")
        ],
    ),
    "media-artifacts-no-key-deny": (
        _artifacts_no_key_deny,
        [("MKIT_AWS_002", _a("aws_s3_bucket_policy", f"{ARTIFACTS}-policy"))],
    ),
    "media-role-wildcard": (
        _media_role_wildcard,
        [("MKIT_AWS_007", _a("aws_iam_role_policy", MEDIA_POLICY))],
    ),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "variant" in metafunc.fixturenames:
        metafunc.parametrize("variant", sorted(VARIANTS))


# The graphs `mediakit check` must pass as shipped: the stacks and the options' paths.
SHIPPED = (
    "shipped-dev",
    "shipped-prod",
    "shipped-example-domains",
    "shipped-existing-key",
    "shipped-example-malware",
    "shipped-public-delivery",
    "shipped-example-media",
)


@pytest.fixture(scope="session")
def check_all(
    dev_graph: Graph,
    prod_graph: Graph,
    example_domains_graph: Graph,
    existing_key_graph: Graph,
    example_malware_graph: Graph,
    public_delivery_graph: Graph,
    example_media_graph: Graph,
    graph_dir: Path,
) -> tuple[int, dict[str, Any], float]:
    """One `mediakit check --graph ... --format json` over the shipped graphs (dev, prod, the
    custom-domain example and prod with an existing key) and every weakened copy: (exit code,
    per-key report, wall seconds)."""
    import time

    files = [
        write_graph(graph_dir, "shipped-dev", dev_graph),
        write_graph(graph_dir, "shipped-prod", prod_graph),
        write_graph(graph_dir, "shipped-example-domains", example_domains_graph),
        write_graph(graph_dir, "shipped-existing-key", existing_key_graph),
        write_graph(graph_dir, "shipped-example-malware", example_malware_graph),
        write_graph(graph_dir, "shipped-public-delivery", public_delivery_graph),
        write_graph(graph_dir, "shipped-example-media", example_media_graph),
    ]
    for key, (mutate, _) in MALWARE_VARIANTS.items():
        files.append(write_graph(graph_dir, key, weakened(example_malware_graph, mutate)))
    for key, (mutate, _) in MEDIA_VARIANTS.items():
        files.append(write_graph(graph_dir, key, weakened(example_media_graph, mutate)))
    for key, (mutate, _) in VARIANTS.items():
        files.append(write_graph(graph_dir, key, weakened(dev_graph, mutate)))
    out = graph_dir / "report.json"
    args = [a for f in files for a in ("--graph", str(f))] + ["--format", "json", "--out", str(out)]
    started = time.perf_counter()
    code, output = run_cli(args)
    seconds = time.perf_counter() - started
    assert out.is_file(), output
    report = json.loads(out.read_text())
    return code, {s["key"]: s for s in report["stacks"]}, seconds


@pytest.fixture(scope="session")
def shipped() -> tuple[str, ...]:
    """Keys of the graphs `check_all` checks as shipped (test modules cannot import conftest)."""
    return SHIPPED


@pytest.fixture(scope="session")
def malware_variants() -> dict[str, tuple[Mutation, list[tuple[str, str]]]]:
    """The weakened copies of the scan-enabled graph and what each must fail."""
    return MALWARE_VARIANTS


@pytest.fixture(scope="session")
def media_variants() -> dict[str, tuple[Mutation, list[tuple[str, str]]]]:
    """The weakened copies of the audio/video graph and what each must fail."""
    return MEDIA_VARIANTS


@pytest.fixture(scope="session")
def variants() -> dict[str, tuple[Mutation, list[tuple[str, str]]]]:
    """The weakened copies and what each must fail (test modules cannot import conftest)."""
    return VARIANTS

"""Offline synth (`mediakit synth`): run the real Pulumi program (stacks/__main__.py) under
mocks and capture the resource graph (inputs, mock state, parents, dependencies, stack
outputs) as JSON.

Mocks see resolved inputs only; the recording monitor adds what the engine would know (parent,
custom, dependency URNs), and `property_dependencies` is completed by finding every resource's
unique mock id/ARN/name inside other resources' inputs (including JSON policy strings).
"""

from __future__ import annotations

import hashlib
import json
import re
import runpy
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from stacks.config import StackConfig

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "mediakit"
PROGRAM = ROOT / "stacks" / "__main__.py"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
# A stack name becomes one path segment (`Pulumi.<stack>.yaml`): letters, digits, `_`, `.`, `-`,
# starting with a letter or digit, so never a separator, `..` or an absolute path.
STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# Computed attributes that identify a resource and that other resources' inputs refer to.
_REFERENCE_KEYS = (
    "id",
    "arn",
    "name",
    "bucket",
    "url",
    "keyId",
    "domainName",
    "bucketRegionalDomainName",
    "apiEndpoint",
    "executionArn",
    "invokeArn",
)

Graph = dict[str, Any]
# Provider functions the program calls, answered as AWS would for the mock account.
INVOKES: dict[str, dict[str, Any]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:user/synth",
        "userId": "AIDASYNTH",
        "id": ACCOUNT_ID,
    },
    "aws:index/getRegion:getRegion": {
        "region": REGION,
        "name": REGION,
        "id": REGION,
        "endpoint": f"ec2.{REGION}.amazonaws.com",
        "description": "US East (N. Virginia)",
    },
    "aws:index/getPartition:getPartition": {
        "partition": PARTITION,
        "id": PARTITION,
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
    },
}


def _digest(typ: str, name: str) -> str:
    # The stack is part of the seed: dev and prod graphs never share an id.
    return hashlib.sha256(f"{pulumi.get_stack()}::{typ}::{name}".encode()).hexdigest()


def mock_state(typ: str, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Deterministic, unique id and computed attributes for a resource, shaped like AWS's.

    Every physical name carries a hash of type + logical name (as Pulumi autonaming would add a
    random suffix), so ids, ARNs and names never collide and can be searched for in inputs.
    """
    h = _digest(typ, name)
    acct, region = ACCOUNT_ID, REGION
    auto = str(inputs.get("name") or f"{name}-{h[:7]}")
    state: dict[str, Any] = dict(inputs)
    service = typ.split(":")[1].split("/")[0] if ":" in typ else "mock"
    kind = typ.rsplit(":", 1)[-1].lower()
    rid = f"{name}-{h[:8]}"
    arn = f"arn:{PARTITION}:{service}:{region}:{acct}:{kind}/{rid}"

    if typ == "aws:s3/bucket:Bucket":
        bucket = str(inputs.get("bucket") or auto).lower()
        rid, arn = bucket, f"arn:{PARTITION}:s3:::{bucket}"
        state |= {
            "bucket": bucket,
            "bucketDomainName": f"{bucket}.s3.amazonaws.com",
            "bucketRegionalDomainName": f"{bucket}.s3.{region}.amazonaws.com",
            "region": region,
        }
    elif typ == "aws:kms/key:Key":
        rid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        arn = f"arn:{PARTITION}:kms:{region}:{acct}:key/{rid}"
        state["keyId"] = rid
    elif typ == "aws:kms/alias:Alias":
        rid = auto
        arn = f"arn:{PARTITION}:kms:{region}:{acct}:{auto}"
    elif typ == "aws:iam/role:Role":
        rid, arn = auto, f"arn:{PARTITION}:iam::{acct}:role/{auto}"
        state |= {"name": auto, "uniqueId": f"AROA{h[:17].upper()}"}
    elif typ == "aws:sqs/queue:Queue":
        url = f"https://sqs.{region}.amazonaws.com/{acct}/{auto}"
        rid, arn = url, f"arn:{PARTITION}:sqs:{region}:{acct}:{auto}"
        state |= {"name": auto, "url": url}
    elif typ == "aws:dynamodb/table:Table":
        rid, arn = auto, f"arn:{PARTITION}:dynamodb:{region}:{acct}:table/{auto}"
        state["name"] = auto
    elif typ == "aws:lambda/function:Function":
        rid, arn = auto, f"arn:{PARTITION}:lambda:{region}:{acct}:function:{auto}"
        state |= {
            "name": auto,
            "invokeArn": (
                f"arn:{PARTITION}:apigateway:{region}:lambda:path/2015-03-31/functions/"
                f"{arn}/invocations"
            ),
            "qualifiedArn": f"{arn}:$LATEST",
            "version": "$LATEST",
        }
    elif typ == "aws:cloudwatch/logGroup:LogGroup":
        rid, arn = auto, f"arn:{PARTITION}:logs:{region}:{acct}:log-group:{auto}"
        state["name"] = auto
    elif typ == "aws:cloudfront/distribution:Distribution":
        rid = "E" + h[:13].upper()
        arn = f"arn:{PARTITION}:cloudfront::{acct}:distribution/{rid}"
        state |= {"domainName": f"d{h[:13]}.cloudfront.net", "hostedZoneId": "Z2FDTNDATAQYW2"}
    elif typ == "aws:cloudfront/originAccessControl:OriginAccessControl":
        rid = "E" + h[:13].upper()
        arn = f"arn:{PARTITION}:cloudfront::{acct}:origin-access-control/{rid}"
        state["name"] = auto
    elif typ == "aws:cloudfront/function:Function":
        rid, arn = auto, f"arn:{PARTITION}:cloudfront::{acct}:function/{auto}"
        state["name"] = auto
    elif typ == "aws:apigatewayv2/api:Api":
        rid = h[:10]
        arn = f"arn:{PARTITION}:apigateway:{region}::/apis/{rid}"
        state |= {
            "name": auto,
            "apiEndpoint": f"https://{rid}.execute-api.{region}.amazonaws.com",
            "executionArn": f"arn:{PARTITION}:execute-api:{region}:{acct}:{rid}",
        }
    elif typ == "aws:apigatewayv2/stage:Stage":
        rid = f"{name}-{h[:8]}"
        state["invokeUrl"] = f"https://{h[:10]}.execute-api.{region}.amazonaws.com/"
    elif typ == "aws:cloudwatch/eventBus:EventBus":
        rid, arn = auto, f"arn:{PARTITION}:events:{region}:{acct}:event-bus/{auto}"
        state["name"] = auto
    elif typ == "aws:cloudwatch/eventArchive:EventArchive":
        rid, arn = auto, f"arn:{PARTITION}:events:{region}:{acct}:archive/{auto}"
        state["name"] = auto
    elif typ == "aws:sns/topic:Topic":
        arn = f"arn:{PARTITION}:sns:{region}:{acct}:{auto}"
        rid = arn
        state["name"] = auto
    elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
        rid, arn = auto, f"arn:{PARTITION}:cloudwatch:{region}:{acct}:alarm:{auto}"
        state["name"] = auto
    state |= {"id": rid, "arn": arn}
    return rid, state


class GraphMocks(pulumi.runtime.Mocks):
    """Mock AWS: unique deterministic ids/ARNs; account, region and partition lookups."""

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            return "", {}
        return mock_state(args.typ, args.name, args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        if args.token not in INVOKES:
            raise NotImplementedError(f"synth mocks do not implement {args.token}")
        return dict(INVOKES[args.token]), []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping what the engine receives: parent, custom, dependencies,
    and the outputs components and the stack register."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.records: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.registered_outputs: dict[str, Any] = {}
        # Resource options the graph format has no place for; tests assert protections on them.
        self.options: dict[str, dict[str, bool]] = {}
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        response = cast(Any, super()).RegisterResource(request)
        urn = response.urn
        record = {
            "urn": urn,
            "type": request.type,
            "name": request.name,
            "parent": request.parent or None,
            "custom": bool(request.custom),
            "inputs": rpc.deserialize_properties(request.object),
            "dependencies": list(request.dependencies),
            "property_dependencies": {
                key: list(deps.urns)
                for key, deps in request.propertyDependencies.items()
                if deps.urns
            },
        }
        options = {
            "protect": bool(request.protect),
            "retain_on_delete": bool(request.retainOnDelete),
        }
        with self._lock:
            self.records[urn] = record
            self.options[urn] = options
            self.order.append(urn)
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        outputs = rpc.deserialize_properties(request.outputs)
        with self._lock:
            self.registered_outputs[request.urn] = outputs
        return cast(Any, super()).RegisterResourceOutputs(request)


def plain(value: Any) -> Any:
    """JSON-safe copy with sorted keys: secrets unwrapped, assets/archives as their path."""
    if isinstance(value, Mapping):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return plain(value.get("value"))
        # Sorted: protobuf maps come back in no fixed order, and the graph must be byte-stable.
        items = sorted((str(k), v) for k, v in value.items() if not str(k).startswith("__"))
        return {k: plain(v) for k, v in items}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        path = getattr(value, "path", None)
        return {"path": str(path)} if path is not None else {}
    if isinstance(value, pulumi.Resource):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def references(resources: list[dict[str, Any]]) -> None:
    """Fill `property_dependencies` by finding other resources' identifiers in each input."""
    tokens: dict[str, str] = {}
    for r in resources:
        if not r["custom"]:
            continue
        for key in _REFERENCE_KEYS:
            value = r["state"].get(key)
            # Only computed identifiers (never inputs such as a stage's "$default").
            if isinstance(value, str) and len(value) >= 8 and value != r["inputs"].get(key):
                tokens[value] = r["urn"]
        tokens[r["id"]] = r["urn"]
    ordered = sorted(tokens.items(), key=lambda kv: -len(kv[0]))
    for r in resources:
        deps: dict[str, list[str]] = {k: list(v) for k, v in r["property_dependencies"].items()}
        for key, value in r["inputs"].items():
            found = set(deps.get(key, []))
            for text in _strings(value):
                for token, urn in ordered:
                    if urn != r["urn"] and token in text:
                        found.add(urn)
            if found:
                deps[key] = sorted(found)
        r["property_dependencies"] = dict(sorted(deps.items()))
        r["depends_on"] = sorted(
            set(r.pop("dependencies")) | {u for urns in deps.values() for u in urns}
        )


def check_stack_name(stack: str) -> str:
    """`stack` if it is a valid stack name (`STACK_NAME`), else ValueError saying why."""
    if not STACK_NAME.fullmatch(stack):
        raise ValueError(
            f"invalid stack name {stack!r}: use letters, digits, '_', '.' and '-', "
            "starting with a letter or digit"
        )
    return stack


def load_stack_config(stack: str, root: Path = ROOT) -> dict[str, Any]:
    """`config:` of Pulumi.<stack>.yaml, keys without the `mediakit:` namespace."""
    path = root / f"Pulumi.{check_stack_name(stack)}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no stack config {path}")
    data = yaml.safe_load(path.read_text()) or {}
    out: dict[str, Any] = {}
    for key, value in (data.get("config") or {}).items():
        namespace, _, name = str(key).partition(":")
        if namespace == PROJECT and name:
            out[name] = value
    return out


def _config_string(value: Any) -> str:
    # The Pulumi CLI hands structured values to programs as JSON strings; do the same.
    return value if isinstance(value, str) else json.dumps(value)


def _lookup(values: Mapping[str, Any], key: str) -> Any:
    value = values.get(key)
    return None if value is None else _config_string(value)


def synth(
    stack: str,
    config: Mapping[str, Any] | None = None,
    program: Path = PROGRAM,
    options_out: dict[str, dict[str, bool]] | None = None,
) -> Graph:
    """Run `program` for `stack` under mocks and return the resource graph.

    `config` (keys without namespace) defaults to Pulumi.<stack>.yaml; `options_out`, if given,
    receives each URN's protect/retain_on_delete. Safe to call repeatedly in one process: each
    run gets a fresh monitor, root stack and config.
    """
    values = dict(load_stack_config(stack) if config is None else config)
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{k}": _config_string(v) for k, v in values.items()}, []
    )
    mocks = GraphMocks()
    monitor = RecordingMonitor(mocks)
    pulumi_settings.ROOT.set(None)  # a fresh root stack per run (set_mocks creates it)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    root = pulumi_settings.get_root_resource()

    outputs: dict[str, Any] = {}

    def program_run() -> None:
        runpy.run_path(str(program), run_name="__main__")
        exported = getattr(root, "outputs", {})
        outputs.update(_sync_await(pulumi.Output.from_input(exported).future()) or {})

    _sync_await(run_pulumi_func(program_run))

    resources: list[dict[str, Any]] = []
    # Registration order depends on thread timing; URN order makes the graph byte-stable.
    for urn in sorted(monitor.order):
        record = monitor.records[urn]
        registration = monitor.resources.get(urn)
        custom = record["custom"]
        state = registration.state if (registration and custom) else {}
        if not custom:
            state = monitor.registered_outputs.get(urn, {})
        resources.append(
            {
                "urn": urn,
                "type": record["type"],
                "name": record["name"],
                "parent": record["parent"],
                "custom": custom,
                "id": registration.id if (registration and custom) else None,
                "inputs": plain(record["inputs"]),
                "state": plain(state),
                "property_dependencies": record["property_dependencies"],
                "dependencies": record["dependencies"],
            }
        )
    references(resources)
    if options_out is not None:
        options_out.update(monitor.options)
    # The effective config: defaults filled in, exactly what the program used.
    effective = StackConfig.from_config(lambda k: _lookup(values, k), stack).values()
    return {
        "project": PROJECT,
        "stack": stack,
        "config": plain(effective),
        "resources": resources,
        "outputs": plain(outputs),
    }

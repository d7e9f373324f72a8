"""Offline synth (`mediakit synth`): run the real Pulumi program (stacks/__main__.py) under
mocks and capture the resource graph (inputs, mock state, parents, dependencies, resource
options, stack outputs) as JSON.

`Mocks.new_resource` only sees resolved inputs (`MockResourceArgs` has no dependencies), so the
graph is taken one level lower, from what the program registers with the engine: the recording
monitor keeps each `RegisterResourceRequest` as the SDK sends it, with `dependencies` (explicit
`depends_on`, expanded to a component's children, plus every resource whose outputs an input
awaited), `propertyDependencies` (those, per input), the parent and the options (protect,
retainOnDelete, aliases). That is exactly what the engine orders creates by, so `depends_on` in
the graph is the create order, and nothing is inferred. The checkov export (policies/tfplan.py)
still matches the mocks' unique ids and ARNs to rebuild Terraform references where an input holds
an identifier without an engine dependency.

Synth never downloads wheels or builds the Lambda zip: the program's `ensure_artifact` is answered
by `source_artifact`, a small manifest of the runtime sources' hashes and the pinned requirements
(so its sha256 changes exactly when the zip's inputs do). `mediakit synth`, `mediakit check` and
`mediakit dev` therefore run offline and fast; `pulumi up` runs the program itself and builds the
real zip (`synth(..., build_artifact=True)` does the same under mocks).
"""

from __future__ import annotations

import hashlib
import json
import re
import runpy
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from runtime.errors import SettingsError
from stacks import artifact as build
from stacks.config import StackConfig, reject_unknown_keys

ROOT = Path(__file__).resolve().parent.parent
STAND_IN_DIR = build.CACHE_DIR / "synth"
PROJECT = "mediakit"
PROGRAM = ROOT / "stacks" / "__main__.py"
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
# A stack name becomes one path segment (`Pulumi.<stack>.yaml`): letters, digits, `_`, `.`, `-`,
# starting with a letter or digit, so never a separator, `..` or an absolute path.
STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
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


# What `kms:GetPublicKey` answers for a delivery signing key (aws.kms.get_public_key): a fixed
# RSA 2048 public key (only ever the public half, as in real state), the same for every key.
MOCK_PUBLIC_KEY_PEM = """\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvprWYTI6xBNXN/ZIfdV7
yyhRk1axbwlR2KulFpDVurXM8NrV6BRXPzC3xMi2hl6aq4Np6hDFTSis846ZGDMk
mYG1k458+1bYyCkaBYMTs+Q13jPPuQHU5SaIBNIBXf2zX3meDfxH5aZClhhbotcq
7YUZ8pgSs8d4Hw6h1G6S6RZ1Joc5QUrXeekMAeDwLbSSmCEc4gTS5gaIf7ZBO6j3
mpLnchs9cVD7M5PFu2Mg2s9oKGyxxtRQKqIQg7xOoltFhgjMTvO79OOXtF4IVNfN
EJefjcgqzixL/X7l12UjvBRN8XtRDP2gCXWETFDzUzhectqfp7PjUgPO2OuLDbDZ
WQIDAQAB
-----END PUBLIC KEY-----
"""
GET_PUBLIC_KEY = "aws:kms/getPublicKey:getPublicKey"


def get_public_key(args: Mapping[str, Any]) -> dict[str, Any]:
    """The getPublicKey answer for the key `args["keyId"]` names (an ARN or id)."""
    key = str(args.get("keyId") or "")
    der = "".join(MOCK_PUBLIC_KEY_PEM.strip().splitlines()[1:-1])
    return {
        "id": key,
        "keyId": key,
        "arn": key,
        "customerMasterKeySpec": "RSA_2048",
        "keySpec": "RSA_2048",
        "keyUsage": "SIGN_VERIFY",
        "publicKey": der,
        "publicKeyPem": MOCK_PUBLIC_KEY_PEM,
        "signingAlgorithms": ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PSS_SHA_256"],
        "encryptionAlgorithms": [],
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
    # An explicit name wins; a namePrefix gets a unique suffix, as the provider's would.
    prefix = inputs.get("namePrefix")
    auto = str(inputs.get("name") or (f"{prefix}{h[:26]}" if prefix else f"{name}-{h[:7]}"))
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
        state["name"] = auto
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
    elif typ == "aws:cloudfront/publicKey:PublicKey":
        rid = "K" + h[:13].upper()
        arn = f"arn:{PARTITION}:cloudfront::{acct}:public-key/{rid}"
        state |= {"name": auto, "etag": h[:14].upper()}
    elif typ in (
        "aws:cloudfront/keyGroup:KeyGroup",
        "aws:cloudfront/cachePolicy:CachePolicy",
        "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy",
    ):
        rid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        arn = f"arn:{PARTITION}:cloudfront::{acct}:{kind}/{rid}"
        state |= {"name": auto, "etag": h[:14].upper()}
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
    elif typ == "aws:cloudwatch/eventRule:EventRule":
        bus = str(inputs.get("eventBusName") or "default")
        path = f"rule/{auto}" if bus == "default" else f"rule/{bus}/{auto}"
        rid, arn = auto, f"arn:{PARTITION}:events:{region}:{acct}:{path}"
        state["name"] = auto
    elif typ == "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan":
        rid = h[:20]
        arn = f"arn:{PARTITION}:guardduty:{region}:{acct}:malware-protection-plan/{rid}"
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
    elif typ == "aws:lambda/eventSourceMapping:EventSourceMapping":
        rid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        arn = f"arn:{PARTITION}:lambda:{region}:{acct}:event-source-mapping:{rid}"
        state["uuid"] = rid
    elif typ == "aws:apigatewayv2/domainName:DomainName":
        rid = str(inputs.get("domainName"))
        arn = f"arn:{PARTITION}:apigateway:{region}::/domainnames/{rid}"
        configuration = dict(inputs.get("domainNameConfiguration") or {})
        configuration |= {
            "targetDomainName": f"d-{h[:10]}.execute-api.{region}.amazonaws.com",
            "hostedZoneId": "Z1UJRXOUMOOFQ8",
        }
        state["domainNameConfiguration"] = configuration
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
        if args.token == GET_PUBLIC_KEY:
            return get_public_key(args.args), []
        if args.token not in INVOKES:
            raise NotImplementedError(f"synth mocks do not implement {args.token}")
        return dict(INVOKES[args.token]), []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, also keeping what the program registers with the engine: parent,
    custom, dependencies, options, and the outputs components and the stack register."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.records: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.registered_outputs: dict[str, Any] = {}
        self.options: dict[str, dict[str, Any]] = {}
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
            # Explicit depends_on (components expanded to their children) plus every resource
            # an input's outputs came from: what the engine waits for before creating this one.
            "dependencies": sorted(set(request.dependencies)),
            "property_dependencies": {
                key: sorted(set(deps.urns))
                for key, deps in sorted(request.propertyDependencies.items())
                if deps.urns
            },
        }
        options = {
            "protect": bool(request.protect),
            "retain_on_delete": bool(request.retainOnDelete),
            "delete_before_replace": bool(request.deleteBeforeReplace),
            "aliases": sorted(
                (_alias(alias) for alias in request.aliases), key=lambda a: json.dumps(a)
            ),
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


def _alias(alias: Any) -> dict[str, Any]:
    """An alias as the SDK sent it: an old URN, or the parts of one that changed."""
    if alias.urn:
        return {"urn": alias.urn}
    spec = alias.spec
    fields = ("name", "type", "stack", "project", "parentUrn")
    out: dict[str, Any] = {f: getattr(spec, f) for f in fields if getattr(spec, f)}
    if spec.noParent:
        out["noParent"] = True
    return out


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


def check_stack_name(stack: str) -> str:
    """`stack` if it is a valid stack name (`STACK_NAME`), else ValueError saying why."""
    if not STACK_NAME.fullmatch(stack):
        raise ValueError(
            f"invalid stack name {stack!r}: use letters, digits, '_', '.' and '-', "
            "starting with a letter or digit"
        )
    return stack


def load_stack_config(stack: str, root: Path | None = None) -> dict[str, Any]:
    """`config:` of Pulumi.<stack>.yaml (in `root`, default the repository), keys without the
    `mediakit:` namespace."""
    path = (root or ROOT) / f"Pulumi.{check_stack_name(stack)}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no stack config {path}")
    # Read from the open file so that a YAML error's mark names it (not "<unicode string>").
    with path.open(encoding="utf-8") as stream:
        data = yaml.safe_load(stream) or {}
    config = (data.get("config") or {}) if isinstance(data, dict) else None
    if not isinstance(config, dict):
        raise SettingsError(path.name, "must be a YAML mapping whose `config:` is a mapping")
    # A typo'd mediakit:/aws: key or one without a namespace would otherwise be dropped here.
    reject_unknown_keys([str(key) for key in config], source=path.name)
    out: dict[str, Any] = {}
    for key, value in config.items():
        namespace, _, name = str(key).partition(":")
        if namespace == PROJECT and name:
            # `key:` with nothing after it is YAML null: an empty value, refused as one (not
            # silently the default) unless empty means none for that key.
            out[name] = "" if value is None else value
    return out


def source_artifact(
    target: build.Target, root: Path = ROOT, out_dir: Path = STAND_IN_DIR
) -> build.Artifact:
    """The stand-in for the Lambda zip in a synthesized graph: a manifest naming the target, the
    pinned requirements and the sha256 of every runtime source, written once (content-addressed,
    atomically). No wheel is downloaded and no zip built; its hash moves when theirs would."""
    manifest = {
        "stand_in_for": target.name,
        "format": build.FORMAT_VERSION,
        "requirements": list(build.requirements(target.function)),
        "sources": {
            name: hashlib.sha256(data).hexdigest()
            for name, data in sorted(build.runtime_files(root).items())
        },
    }
    data = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    digest = hashlib.sha256(data).hexdigest()
    path = out_dir / f"{target.name}-src-{digest[:16]}.json"
    if not path.is_file():
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return build.Artifact(path, digest, len(data))


@contextmanager
def _stand_in_artifact() -> Iterator[None]:
    """The program's `stacks.artifact.ensure_artifact` answered by `source_artifact`."""
    real = build.ensure_artifact
    build.ensure_artifact = lambda target, *args, **kwargs: source_artifact(target)
    try:
        yield
    finally:
        build.ensure_artifact = real


@contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Hold a Ctrl-C until the block ends, then hand it to the handler it would have reached
    (Python's raises KeyboardInterrupt; `mediakit dev`'s own asks it to stop): a
    KeyboardInterrupt inside Pulumi's event loop stops the program half-way and leaves the
    loop waiting for ever (the run takes a second or two). Only the main thread receives
    signals; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held and callable(previous):
        previous(signal.SIGINT, None)
    elif held and previous != signal.SIG_IGN:
        raise KeyboardInterrupt


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
    options_out: dict[str, dict[str, Any]] | None = None,
    *,
    build_artifact: bool = False,
) -> Graph:
    """Run `program` for `stack` under mocks and return the resource graph.

    `config` (keys without namespace) defaults to Pulumi.<stack>.yaml; `options_out`, if given,
    also receives each URN's options (as in the graph). Safe to call repeatedly in one process:
    each run gets a fresh monitor, root stack and config. The functions' code is the offline
    `source_artifact` stand-in unless `build_artifact` (then wheels are fetched and the zip built).
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
        if build_artifact:
            runpy.run_path(str(program), run_name="__main__")
        else:
            with _stand_in_artifact():
                runpy.run_path(str(program), run_name="__main__")
        exported = getattr(root, "outputs", {})
        outputs.update(_sync_await(pulumi.Output.from_input(exported).future()) or {})

    with _ctrl_c_deferred():
        _sync_await(run_pulumi_func(program_run))

    resources: list[dict[str, Any]] = []
    custom_urns = {urn for urn, record in monitor.records.items() if record["custom"]}
    # Registration order depends on thread timing; URN order makes the graph byte-stable.
    for urn in sorted(monitor.order):
        record = monitor.records[urn]
        registration = monitor.resources.get(urn)
        custom = record["custom"]
        state = registration.state if (registration and custom) else {}
        if not custom:
            state = monitor.registered_outputs.get(urn, {})
        # A custom parent is created first too; a component parent orders nothing.
        parent = {record["parent"]} & custom_urns
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
                "depends_on": sorted(set(record["dependencies"]) | parent),
                "options": monitor.options[urn],
            }
        )
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

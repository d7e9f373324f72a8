"""The local emulator: moto's server in-process, provisioned from the stack itself (its program
synthesized under mocks with the stack's config, `provision`), with the HTTP API front
(`gateway`) and the event source mapping (`event_source`) invoking the real Lambda handlers in warm
worker processes (`lambda_pool`) that are killed at the function's timeout or over its memory, as
Lambda does. `mediakit dev` serves it until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from mediakit.errors import SetupError
from mediakit.local.faults import FailRate
from mediakit.local.provision import (
    FunctionSpec,
    Provisioned,
    StackPlan,
    env_config,
    function_spec,
    provision,
    settings_config,
    stack_graph,
)
from mediakit.local.provision import create_queue as create_queue
from runtime.settings import Settings

if TYPE_CHECKING:
    from boto3.session import Session
    from moto.server import ThreadedMotoServer

    from mediakit.local.event_source import SqsEventSourceMapping
    from mediakit.local.gateway import CorsConfig, DevApiServer, JwtAuthorizer
    from mediakit.local.lambda_pool import Function
    from mediakit.local.malware import MalwareScanSimulator
    from mediakit.local.oidc import DevIssuer, KeySource, RemoteKeys
    from mediakit.local.site import DevSite

log = logging.getLogger("mediakit.local.emulator")

Handler = Callable[[dict[str, Any], Any], Any]
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_ENV_FILE = ".mediakit/dev.json"
DEFAULT_REGION = "us-east-1"
# The dev issuer's URL is the API's own origin + /dev/oidc (`mediakit.local.site`), known once the
# API's port is bound; `--issuer` names a real identity provider instead.
DEV_AUDIENCE = "mediakit"
# Presign environments at once. Lambda would start as many as requests arrive; a laptop keeps a
# few warm and queues the rest (presign answers in milliseconds).
PRESIGN_CONCURRENCY = 4
DEFAULT_STACK = "dev"
# The functions' names inside the emulator (their Lambda context and ARNs).
PRESIGN_FUNCTION = "mediakit-presign"
PROCESSOR_FUNCTION = "mediakit-processor"
MEDIA_FUNCTION = "mediakit-media"
_DEV_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "mediakit-dev",
    "AWS_SECRET_ACCESS_KEY": "mediakit-dev",  # the S3 endpoint verifies signatures with it
}


@dataclass(frozen=True)
class DevEnv:
    """What `mediakit dev` writes to its env file: how to reach every emulated resource."""

    api_url: str
    aws_endpoint_url: str
    region: str
    bucket: str
    table: str
    queue_url: str
    dlq_url: str
    event_bus: str
    # PEM private key of this run's dev issuer ("" when a real identity provider issues the
    # tokens): `mediakit token` signs with it, so it stays in this owner-only file and is never
    # served over HTTP.
    jwt_signing_key: str
    jwt_issuer: str
    jwt_audience: str
    tenant_claim: str
    events_queue_url: str
    kms_key_arn: str
    # The claim `mediakit token --scope` puts scopes in (the stack's scopeClaim). Defaulted:
    # an env file written before it existed still reads.
    scope_claim: str = "scope"
    # Audio/video on: the media function's queue and DLQ ("" otherwise; `mediakit dlq --media`).
    media_queue_url: str = ""
    media_dlq_url: str = ""
    # Who wrote the file: the `mediakit dev` process and a token unique to its run. Readers
    # check the pid is alive and the API port answers (a SIGKILLed dev cannot remove its file);
    # a stopping dev removes the file only while it still carries its own run id. 0 and "": a
    # file written before they existed (only the port is checked).
    pid: int = 0
    run_id: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def client(self, service: str) -> Any:
        """A boto3 client for `service` on the emulator's AWS endpoint, with dev credentials."""
        return _dev_session(self.region).client(service, endpoint_url=self.aws_endpoint_url)  # type: ignore[call-overload]

    def write(self, path: Path) -> None:
        """Write atomically: readers never see a half-written file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            # The file holds the dev issuer's private key: owner-only, like a credentials file.
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_json(), fh, indent=2, sort_keys=True)
                fh.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def read(cls, path: Path, *, running: bool = True) -> DevEnv:
        """Load an env file; a missing, incomplete or (with `running`) stale one is a
        `SetupError` (exit 2) saying what to do."""
        try:
            _check_trusted(path)
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EnvFileMissing(path) from None
        except json.JSONDecodeError as exc:
            raise SetupError(f"{path} is not valid JSON: {exc}") from None
        except OSError as exc:
            raise SetupError(f"cannot read {path}: {exc.strerror or exc}") from None
        if not isinstance(data, dict):
            raise SetupError(f"{path} is not an env file written by `mediakit dev`")
        names = [f.name for f in fields(cls) if f.name in data or f.default is MISSING]
        missing = [n for n in names if n not in data]
        if missing:
            raise SetupError(f"{path} lacks {', '.join(missing)}")
        values: dict[str, Any] = {n: str(data[n]) for n in names}
        if "pid" in values:
            try:
                values["pid"] = int(values["pid"])
            except ValueError:
                pid = values["pid"]
                raise SetupError(f"{path}: pid {pid!r} is not a number") from None
        env = cls(**values)
        if running and not env.is_running():
            raise StaleEnvFile(path, env)
        return env

    @property
    def api_port(self) -> int | None:
        return urlsplit(self.api_url).port

    def describe(self) -> str:
        """ "pid N, port P" (what a message names the emulator by)."""
        parts = [f"pid {self.pid}"] if self.pid else []
        if self.api_port is not None:
            parts.append(f"port {self.api_port}")
        return ", ".join(parts) or self.api_url

    def is_running(self, timeout: float = 1.0) -> bool:
        """The process that wrote the file is alive and its API port accepts a connection."""
        if self.pid and not _pid_alive(self.pid):
            return False
        url = urlsplit(self.api_url)
        if not url.hostname or url.port is None:
            return False
        try:
            with socket.create_connection((url.hostname, url.port), timeout=timeout):
                return True
        except OSError:
            return False


class EnvFileMissing(SetupError):
    """No env file where a command looked for one."""

    def __init__(self, path: Path) -> None:
        if path == Path(DEFAULT_ENV_FILE):
            where = f"no {DEFAULT_ENV_FILE} in {Path.cwd()} or any parent directory"
        else:
            where = f"{path.absolute()} not found"
        super().__init__(
            f"{where}: start the emulator with `mediakit dev` first (or pass --env-file with "
            "the file it wrote)"
        )


class StaleEnvFile(SetupError):
    """The env file names an emulator that is no longer running (SIGKILLed, or its machine
    rebooted): its endpoints and signing key are dead."""

    def __init__(self, path: Path, env: DevEnv) -> None:
        super().__init__(
            f"the emulator recorded in {path} ({env.describe()}) is not running: start "
            "`mediakit dev` again"
        )


class EnvFileInUse(SetupError):
    """Another live `mediakit dev` owns the env file."""

    def __init__(self, path: Path, env: DevEnv) -> None:
        super().__init__(
            f"{path} belongs to the running emulator ({env.describe()}, API {env.api_url}): "
            f"stop it first{f' (kill {env.pid})' if env.pid else ''}, or run this one with its "
            "own file, e.g. `mediakit dev --env-file .mediakit/dev-2.json`, and pass the same "
            "--env-file to the commands that should use it"
        )


def _check_trusted(path: Path) -> None:
    """An env file names the API a command sends uploads to and the key its tokens are signed
    with: only one of this user's, that nobody else can write, is read (as ssh treats its
    config)."""
    st = path.stat()
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise SetupError(
            f"{path} belongs to another user (uid {st.st_uid}): not trusted; start your own "
            "`mediakit dev`, or pass --env-file with the file it wrote"
        )
    if st.st_mode & 0o022:
        raise SetupError(
            f"{path} is writable by other users (mode {st.st_mode & 0o777:o}): not trusted; "
            f"`chmod 600 {path}` if it is yours"
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    except OSError:
        return False
    return True


def find_env_file() -> Path:
    """Where the default env file is: `.mediakit/dev.json` in the working directory, else in the
    nearest parent that has one (as git finds `.git`), but never above the project (a folder
    with `.git` or `Pulumi.yaml`) or the home directory: a folder higher up (`/tmp`) may hold a
    file someone else planted. Else the relative default (whose `EnvFileMissing` names the
    search)."""
    default = Path(DEFAULT_ENV_FILE)
    home = Path.home().absolute()
    cwd = Path.cwd().absolute()
    for folder in (cwd, *cwd.parents):
        if (folder / default).is_file():
            return default if folder == cwd else folder / default
        if folder == home or any((folder / mark).exists() for mark in (".git", "Pulumi.yaml")):
            break
    return default


@contextmanager
def _env_file_lock(path: Path) -> Iterator[None]:
    """Held while an emulator decides about `path` and writes or removes it, so two emulators
    starting (or one starting, one stopping) over the same file take turns."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def claim_env_file(env: DevEnv, path: Path) -> DevEnv | None:
    """Write `env` to `path` unless a live emulator of another run owns it (`EnvFileInUse`) or
    it is not an env file at all (`SetupError`: `--env-file .env` must never eat a user's
    file); returns the stale env it replaced, if any."""
    with _env_file_lock(path):
        previous = live_owner(path, env)
        env.write(path)
        return previous


def live_owner(path: Path, env: DevEnv | None = None) -> DevEnv | None:
    """None when `path` is free to write (absent, empty, or `env`'s own); the stale env it
    holds when its emulator is gone; `EnvFileInUse` when another running emulator owns it; a
    `SetupError` when it is something else (not an env file of ours, another user's)."""
    if not os.path.lexists(path) or (path.is_file() and path.stat().st_size == 0):
        return None
    try:
        current = DevEnv.read(path, running=False)
    except SetupError as exc:
        raise SetupError(
            f"{exc.message}; it is not replaced: remove it, or pass another --env-file"
        ) from None
    if env is not None and current.run_id and current.run_id == env.run_id:
        return None
    if current.is_running():
        raise EnvFileInUse(path, current)
    return current


def release_env_file(env: DevEnv, path: Path) -> bool:
    """Delete the env file if it is still `env`'s (same run id and pid), so a stopping emulator
    never strands another's; returns whether it did."""
    with _env_file_lock(path):
        try:
            current = DevEnv.read(path, running=False)
        except SetupError:
            return False
        if (current.run_id, current.pid) != (env.run_id, env.pid):
            return False
        path.unlink(missing_ok=True)
        return True


def _dev_session(region: str) -> Session:
    """A boto3 session with the emulator's credentials: never the user's real ones."""
    import boto3

    return boto3.session.Session(
        aws_access_key_id=_DEV_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=_DEV_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )


def _set_environ(values: Mapping[str, str | None]) -> None:
    """Set each variable (None: unset it), then drop the runtime's cached boto3 clients and
    settings so they follow os.environ."""
    from runtime import aws

    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    aws.reset()


# Stand-in handlers run in this process and read os.environ, which is per process: two emulators
# at once would point each other's Lambdas at the wrong resources, so only one may run at a time.
_running_lock = threading.Lock()
_running: list[Emulator] = []


class Emulator:
    """The whole pipeline, served from this process (one at a time) with the functions in
    worker processes. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = DEFAULT_REGION,
        issuer: str | None = None,
        audiences: tuple[str, ...] = (DEV_AUDIENCE,),
        cors_origins: tuple[str, ...] | None = None,
        visibility_timeout: int | None = None,
        fail_rate: float = 0.0,
        pollers: int = 2,
        presign_handler: Handler | str | None = None,
        processor_handler: Handler | str | None = None,
        presign_timeout_seconds: float | None = None,
        presign_memory_mb: int | None = None,
        presign_concurrency: int = PRESIGN_CONCURRENCY,
        stack: str = DEFAULT_STACK,
        config: Mapping[str, Any] | None = None,
        prefix: str = "mediakit-dev",
        access_log: Callable[[str, str, int, float], None] | None = None,
        processor_log: Callable[[str], None] | None = None,
        function_log: Callable[[str], None] | None = None,
    ) -> None:
        """Handlers are the real entry points by default. A handler given as a dotted name
        ("module.function" or "module:function") runs in worker processes like the real ones;
        a callable (a test's stand-in) runs on a thread of this process, where nothing can kill
        it. `function_log` receives the functions' log lines (their stderr); without it they
        are discarded. Tokens come from a dev issuer with a key generated per run, unless
        `issuer` names a real identity provider (HTTPS) whose JWKS the authorizer reads.

        The resources, the functions' handlers, environment, timeouts and memory, the mapping's
        batch size and concurrency all come from `stack`'s program synthesized with its
        Pulumi.<stack>.yaml, overridden by `settings` (every setting; default: the MEDIAKIT_*
        variables set in this process), `cors_origins` (the stack's corsOrigins) and `config`
        (any stack config key, e.g. {"dlqMaxReceiveCount": 2}). The timeout/memory arguments,
        when given, override the graph's for the emulator only. `fail_rate` (0..1) is the share
        of processor invocations that fail before the handler runs (`mediakit.local.faults`)."""
        overrides: dict[str, Any] = (
            settings_config(settings) if settings is not None else env_config(os.environ)
        )
        if cors_origins is not None:
            overrides["corsOrigins"] = list(cors_origins)
        overrides |= dict(config or {})
        self.stack = stack
        self.plan = StackPlan.from_graph(stack_graph(stack, overrides))
        # The settings the functions read back from the environment the graph gives them.
        self.settings = self.plan.settings
        self.host = host
        self.port = port
        self.region = region
        self.issuer = issuer
        self.audiences = audiences
        self.dev_issuer: DevIssuer | None = None
        # The stack's CORS origins (the API's and the bucket's), as synthesized.
        self.cors_origins = self.plan.api_cors_origins
        # The page's own origin(s), allowed by the API's and the bucket's CORS rules on top of
        # `cors_origins`: an emulator-only difference (the stack allows only configured ones).
        self.page_origins: tuple[str, ...] = ()
        # The graph's ingest queue visibility timeout unless overridden (--visibility-timeout).
        self.visibility_timeout = (
            visibility_timeout if visibility_timeout is not None else self.plan.visibility_timeout
        )
        # `mediakit dev --fail-rate`: the ingest mapping fails this share of invocations.
        self.faults = FailRate(fail_rate) if fail_rate > 0 else None
        # One environment per poller, at most the mapping's MaximumConcurrency.
        self.pollers = max(1, min(pollers, self.plan.mapping.maximum_concurrency))
        self.presign_handler: Handler | str = presign_handler or str(
            self.plan.presign["inputs"]["handler"]
        )
        self.processor_handler: Handler | str = processor_handler or str(
            self.plan.processor["inputs"]["handler"]
        )
        self.presign_timeout_seconds: float = (
            presign_timeout_seconds
            if presign_timeout_seconds is not None
            else self.plan.function_timeout(self.plan.presign)
        )
        self.presign_memory_mb = (
            presign_memory_mb
            if presign_memory_mb is not None
            else self.plan.function_memory(self.plan.presign)
        )
        self.processor_timeout_seconds = self.plan.function_timeout(self.plan.processor)
        self.processor_memory_mb = self.plan.function_memory(self.plan.processor)
        self.functions: dict[str, FunctionSpec] = {}
        self.presign_concurrency = presign_concurrency
        self.prefix = prefix
        self.access_log = access_log
        self.processor_log = processor_log
        self.function_log = function_log
        # (namespace, name, dimensions, value) of every EMF metric the functions logged.
        self._metrics: list[tuple[str, str, dict[str, str], float]] = []
        self._metrics_lock = threading.Lock()
        self.env: DevEnv | None = None
        self.resources: Provisioned | None = None
        self.mapping: SqsEventSourceMapping | None = None
        self.presign: Function | None = None
        self.processor: Function | None = None
        # Audio/video on (mediaKinds): the media function and the poller of its queue.
        self.media: Function | None = None
        self.media_mapping: SqsEventSourceMapping | None = None
        self._moto: ThreadedMotoServer | None = None
        # malwareScanning on: the GuardDuty stand-in (emulator-only).
        self.malware_scanner: MalwareScanSimulator | None = None
        self._api: DevApiServer | None = None
        self._saved_environ: dict[str, str | None] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> DevEnv:
        """Start moto, provision, export the Lambda environment, serve the API, start polling."""
        with _running_lock:
            if _running:
                raise RuntimeError("another emulator is already running in this process")
            _running.append(self)
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> DevEnv:
        from botocore.config import Config

        from mediakit.local import moto_fidelity
        from mediakit.local.event_source import SqsEventSourceMapping
        from mediakit.local.gateway import DevApiServer, Gateway, compile_routes
        from mediakit.local.site import page_origins

        # A wrong --issuer fails here, before anything else starts.
        trusted = self._trusted_keys()

        # moto's werkzeug logs every request at INFO; the dev console has its own access log.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        moto_fidelity.install()
        # Its S3 verifies signatures as S3 does: only the dev key signs for this emulator.
        dev_key = _DEV_CREDENTIALS["AWS_ACCESS_KEY_ID"]
        self._moto = moto_fidelity.moto_server(
            self.host, keys={dev_key: _DEV_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}, region=self.region
        )
        self._moto.start()
        _, moto_port = self._moto.get_host_and_port()
        # Derivative URLs are presigned against this endpoint: it must be reachable from here.
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        endpoint = f"http://{shown}:{moto_port}"

        session = _dev_session(self.region)
        config = Config(retries={"max_attempts": 3, "mode": "standard"})

        def client(name: str) -> Any:
            return session.client(name, endpoint_url=endpoint, config=config)  # type: ignore[call-overload]

        # The API's socket is bound now, so its origin (the page's) is in the bucket's CORS.
        self._api = DevApiServer(None, self.host, self.port, access_log=self.access_log)
        self.page_origins = page_origins(self._api.url)
        allowed_origins = tuple(dict.fromkeys((*self.cors_origins, *self.page_origins)))
        res, rewrite = provision(
            self.plan,
            client,
            region=self.region,
            prefix=self.prefix,
            suffix=secrets.token_hex(4),
            visibility_timeout=self.visibility_timeout,
            extra_cors_origins=self.page_origins,
        )
        self.resources = res
        extra = self._emulator_environ(endpoint)
        self.functions = {
            "presign": function_spec(self.plan, self.plan.presign, rewrite, extra),
            "processor": function_spec(self.plan, self.plan.processor, rewrite, extra),
        }
        # Handlers running in this process (stand-ins) read os.environ, as the workers do theirs.
        self._export_environ(endpoint, res)
        self.presign = self._function(
            self.presign_handler,
            name=PRESIGN_FUNCTION,
            environ=self.functions["presign"].environment,
            timeout_seconds=self.presign_timeout_seconds,
            memory_mb=self.presign_memory_mb,
            concurrency=self.presign_concurrency,
            account_id=res.account_id,
        )
        # One environment per poller: the mapping's MaximumConcurrency.
        self.processor = self._function(
            self.processor_handler,
            name=PROCESSOR_FUNCTION,
            environ=self.functions["processor"].environment,
            timeout_seconds=self.processor_timeout_seconds,
            memory_mb=self.processor_memory_mb,
            concurrency=self.pollers,
            account_id=res.account_id,
        )

        if self.plan.media is not None:
            self.functions["media"] = function_spec(self.plan, self.plan.media, rewrite, extra)
            self.media = self._function(
                str(self.plan.media["inputs"]["handler"]),
                name=MEDIA_FUNCTION,
                environ=self.functions["media"].environment,
                timeout_seconds=self.plan.function_timeout(self.plan.media),
                memory_mb=self.plan.function_memory(self.plan.media),
                concurrency=self._media_pollers,
                account_id=res.account_id,
            )

        authorizer, site = self._authorizer(self._api, trusted)
        self._api.gateway = Gateway(
            handler=self.presign,
            authorizer=authorizer,
            routes=compile_routes(
                [key for key, _ in self.plan.api_routes],
                dict(self.plan.api_routes),
                public=self.plan.public_routes,
            ),
            cors=self._api_cors(allowed_origins),
            account_id=res.account_id,
            function_name=PRESIGN_FUNCTION,
            timeout_seconds=self.presign_timeout_seconds,
            region=self.region,
            site=site,
        )
        self.mapping = SqsEventSourceMapping(
            sqs=client("sqs"),
            queue_url=res.queue_url,
            queue_arn=res.queue_arn,
            handler=self.processor,
            region=self.region,
            batch_size=self.plan.mapping.batch_size,
            pollers=self.pollers,
            report=self.processor_log,
            faults=self.faults,
        )
        if self.media is not None and self.plan.media_mapping is not None:
            self.media_mapping = SqsEventSourceMapping(
                sqs=client("sqs"),
                queue_url=res.media_queue_url,
                queue_arn=res.media_queue_arn,
                handler=self.media,
                region=self.region,
                batch_size=self.plan.media_mapping.batch_size,
                pollers=self._media_pollers,
                report=self.processor_log,
            )
        if self.settings.malware_scanning:
            self.malware_scanner = self._malware_scanner(client, res)
        self._api.start()
        self.mapping.start()
        if self.media_mapping is not None:
            self.media_mapping.start()
        self.env = DevEnv(
            api_url=self._api.url,
            aws_endpoint_url=endpoint,
            region=self.region,
            bucket=res.bucket,
            table=res.table,
            queue_url=res.queue_url,
            dlq_url=res.dlq_url,
            event_bus=res.event_bus,
            jwt_signing_key=self.dev_issuer.private_pem() if self.dev_issuer else "",
            jwt_issuer=authorizer.issuer,
            jwt_audience=self.audiences[0],
            tenant_claim=self.settings.tenant_claim,
            events_queue_url=res.events_queue_url,
            kms_key_arn=res.kms_key_arn,
            scope_claim=self.settings.scope_claim,
            media_queue_url=res.media_queue_url,
            media_dlq_url=res.media_dlq_url,
            pid=os.getpid(),
            run_id=secrets.token_hex(8),
        )
        return self.env

    def _malware_scanner(
        self, client: Callable[[str], Any], res: Provisioned
    ) -> MalwareScanSimulator:
        """Emulator-only: GuardDuty Malware Protection simulated (mediakit/local/malware.py)."""
        from mediakit.local.malware import MalwareScanSimulator

        scanner = MalwareScanSimulator(
            s3=client("s3"),
            sqs=client("sqs"),
            events=client("events"),
            bucket=res.bucket,
            prefix=self.settings.originals_prefix,
            region=self.region,
            account_id=res.account_id,
            queue_name=f"{self.prefix}-malware-scan-{res.queue_url.rsplit('-', 1)[-1]}",
            max_bytes=self.settings.max_upload_bytes,
        )
        scanner.install()
        scanner.start()
        return scanner

    def _trusted_keys(self) -> RemoteKeys | None:
        """The real identity provider's keys (fetched now, over HTTPS), or None for dev tokens."""
        from mediakit.local.oidc import RemoteKeys

        if self.issuer is None:
            return None
        try:
            keys = RemoteKeys(self.issuer)
            keys.refresh()
        except (OSError, ValueError) as exc:
            raise OSError(f"cannot read the keys of issuer {self.issuer}: {exc}") from exc
        return keys

    def _api_cors(self, origins: tuple[str, ...]) -> CorsConfig:
        """The HTTP API's CORS as the graph declares it (allowed and exposed headers); a stack
        without corsOrigins has none, and the page's origin gets the front's defaults, which
        equal the stack's (tests/emulator/test_parity.py)."""
        from mediakit.local import gateway

        defaults = gateway.CorsConfig()
        return gateway.CorsConfig(
            allow_origins=origins,
            allow_headers=self.plan.api_cors_headers or defaults.allow_headers,
            # ETag too: the page's multipart upload reads it through the same origin.
            expose_headers=tuple(
                dict.fromkeys(
                    (*(self.plan.api_cors_expose_headers or defaults.expose_headers), "etag")
                )
            ),
        )

    def _authorizer(
        self, api: DevApiServer, trusted: RemoteKeys | None
    ) -> tuple[JwtAuthorizer, DevSite]:
        """The JWT authorizer and the emulator-only endpoints: a dev issuer at the API's origin
        with a key generated for this run, or the identity provider `trusted` reads."""
        from urllib.parse import urlsplit

        from mediakit.local.gateway import JwtAuthorizer
        from mediakit.local.oidc import DevIssuer
        from mediakit.local.site import DevSite, issuer_url

        keys: KeySource
        if trusted is None:
            self.dev_issuer = DevIssuer.generate(issuer_url(api.url))
            issuer, keys = self.dev_issuer.issuer, self.dev_issuer.keys()
        else:
            issuer, keys = trusted.issuer, trusted
        site = DevSite(
            issuer=self.dev_issuer,
            trusted_issuer=issuer,
            audience=self.audiences[0],
            tenant_claim=self.settings.tenant_claim,
            scope_claim=self.settings.scope_claim,
            hosts=frozenset(urlsplit(origin).netloc for origin in self.page_origins),
        )
        return JwtAuthorizer(keys, issuer, self.audiences), site

    def _function(
        self,
        handler: Handler | str,
        *,
        name: str,
        environ: Mapping[str, str],
        timeout_seconds: float,
        memory_mb: int,
        concurrency: int,
        account_id: str,
    ) -> Function:
        from mediakit.local.lambda_pool import InProcessFunction, LambdaPool

        if callable(handler):
            return InProcessFunction(
                handler,
                name=name,
                timeout_seconds=timeout_seconds,
                region=self.region,
                memory_mb=memory_mb,
            )
        return LambdaPool(
            handler,
            name=name,
            environ=environ,
            timeout_seconds=timeout_seconds,
            memory_mb=memory_mb,
            max_concurrency=concurrency,
            region=self.region,
            account_id=account_id,
            log_line=self._function_line,
        )

    def update_function_environment(self, function: str, values: Mapping[str, str]) -> None:
        """Change a running function's variables, as `aws lambda update-function-configuration`
        does (e.g. MEDIAKIT_DERIVATIVES before `mediakit reprocess`): environments started from
        now on read them; warm ones are retired."""
        from mediakit.local.lambda_pool import LambdaPool

        pool = {"presign": self.presign, "processor": self.processor, "media": self.media}[function]
        if not isinstance(pool, LambdaPool):
            raise TypeError(f"{function} runs in this process: its environment is os.environ")
        pool.update_environment(values)
        self.functions[function].environment.update(values)

    @property
    def _media_pollers(self) -> int:
        """The media mapping's pollers: as many as the image side's, within its concurrency."""
        spec = self.plan.media_mapping
        return max(1, min(self.pollers, spec.maximum_concurrency if spec else 1))

    def emitted_metrics(self) -> list[tuple[str, str, dict[str, str], float]]:
        """(namespace, name, dimensions, value) of every EMF metric the functions logged so far,
        as CloudWatch Logs would have extracted them."""
        with self._metrics_lock:
            return list(self._metrics)

    def _function_line(self, line: str) -> None:
        """A function's log line: its EMF metrics are extracted as CloudWatch Logs would."""
        from runtime.telemetry import emf_metrics

        start = line.find("{")
        if start >= 0:
            found = emf_metrics(line[start:])
            if found:
                with self._metrics_lock:
                    self._metrics.extend(found)
        if self.function_log is not None:
            self.function_log(line)

    def stop(self) -> None:
        """Stop polling, stop serving, stop the functions' workers, stop moto, and restore this
        process's environment."""
        # Closing the processor first kills an invocation under way (its batch stays queued,
        # as when Lambda loses an environment) instead of waiting up to its timeout. Also when
        # start() failed half way: no worker process may outlive the emulator.
        if self.processor is not None:
            self.processor.close()
            self.processor = None
        if self.mapping is not None:
            self.mapping.stop()
            self.mapping = None
        if self.media is not None:
            self.media.close()
            self.media = None
        if self.media_mapping is not None:
            self.media_mapping.stop()
            self.media_mapping = None
        if self._api is not None:
            self._api.stop()
            self._api = None
        if self.presign is not None:
            self.presign.close()
            self.presign = None
        if self.malware_scanner is not None:
            self.malware_scanner.stop()
            self.malware_scanner = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        self._restore_environ()
        with _running_lock:
            if self in _running:
                _running.remove(self)

    def __enter__(self) -> DevEnv:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the Lambda environment --------------------------------------------------------------

    def _emulator_environ(self, endpoint: str) -> dict[str, str]:
        """What the emulator adds to each function's own variables: its endpoint, region and
        dev credentials (Lambda's runtime would provide the last two)."""
        return {
            **_DEV_CREDENTIALS,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def lambda_environ(
        self, endpoint: str, res: Provisioned, function: str = "presign"
    ) -> dict[str, str]:
        """`function`'s environment: exactly the variables the graph gives it, pointed at the
        emulator's resources, plus the emulator's endpoint and dev credentials."""
        if function in self.functions:
            return dict(self.functions[function].environment)
        raise RuntimeError("the emulator has not provisioned its functions yet")

    def _export_environ(self, endpoint: str, res: Provisioned) -> None:
        # The handlers run in this process and read os.environ, exactly as in Lambda; a session
        # token or profile from the user's shell must not leak real credentials into them.
        values: dict[str, str | None] = {
            **self.lambda_environ(endpoint, res, "presign"),
            **self.lambda_environ(endpoint, res, "processor"),
            "AWS_SESSION_TOKEN": None,
            "AWS_PROFILE": None,
        }
        for name in values:
            self._saved_environ.setdefault(name, os.environ.get(name))
        _set_environ(values)

    def _restore_environ(self) -> None:
        _set_environ(self._saved_environ)
        self._saved_environ.clear()


class NoDevIssuer(RuntimeError):
    """The emulator trusts a real identity provider (`--issuer`): it mints no tokens."""


def mint_token(env: DevEnv, tenant: str, ttl: int = 3600, scopes: tuple[str, ...] = ()) -> str:
    """A dev token the emulator's authorizer accepts, naming `tenant` in the tenant claim: RS256,
    signed with the run's private key from the owner-only env file (no request to the API)."""
    from mediakit.local import oidc

    if not env.jwt_signing_key:
        raise NoDevIssuer(
            f"mediakit dev trusts the identity provider {env.jwt_issuer}: get a token from it "
            "and pass it with --token"
        )
    return oidc.issue(
        signing_key=env.jwt_signing_key,
        issuer=env.jwt_issuer,
        audience=env.jwt_audience,
        tenant_claim=env.tenant_claim,
        tenant=tenant,
        ttl_seconds=ttl,
        scopes=scopes,
        scope_claim=env.scope_claim,
    )


class ShutdownEvent(threading.Event):
    """Set by the first shutdown signal, which it keeps (`signum`)."""

    signum: int | None = None


@contextmanager
def shutdown_signals() -> Iterator[ShutdownEvent]:
    """Turn Ctrl-C, SIGTERM and SIGHUP (the terminal of `mediakit dev &` closed) into an event
    for the duration of the block (main thread only). A SIGHUP ignored on entry (`nohup`) stays
    ignored."""
    stop = ShutdownEvent()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.signum is None:
            stop.signum = signum
        stop.set()

    sigs = [signal.SIGINT, signal.SIGTERM]
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        sigs.append(signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in sigs}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def detach_terminal() -> None:
    """After SIGHUP the terminal is gone and every write to it fails: point stdout and stderr
    (their file descriptors, which the functions' workers share) at /dev/null, so shutting down
    and exiting cannot fail on a message nobody can read."""
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                fd = stream.fileno()
                # Only the terminal went away: a stream sent to a file (`2>dev.log`) keeps it.
                if _was_terminal(fd):
                    os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _was_terminal(fd: int) -> bool:
    """A character device: a hung-up terminal no longer passes isatty(), but it stays one
    (a file or a pipe never is; /dev/null is, and replacing it with itself is harmless)."""
    import stat

    try:
        return stat.S_ISCHR(os.fstat(fd).st_mode)
    except OSError:
        return True


def wait_for(stop: threading.Event) -> None:
    """Block until `stop` is set; short waits keep the main thread responsive to signals."""
    while not stop.wait(0.5):
        pass

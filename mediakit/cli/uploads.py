"""`mediakit token`, `mediakit upload` and `mediakit status`: talk to a running upload API,
the emulator's (via its env file) or a deployed one (via --api-url and --token)."""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from mediakit import upload_state
from mediakit.cli.options import env_file_option
from mediakit.errors import SetupError
from mediakit.local.emulator import (
    DEFAULT_ENV_FILE,
    DevEnv,
    EnvFileMissing,
    NoDevIssuer,
    StaleEnvFile,
    mint_token,
)
from runtime.scopes import SETTING_SCOPE

F = TypeVar("F", bound=Callable[..., Any])


dev_env_file_option = env_file_option(
    "Env file written by `mediakit dev` (API URL and dev JWT settings)."
)


# `upload` without --wait re-reads the record this long for S3's event to reach the processor.
SETTLE_SECONDS = 3.0
# Uploads whose status `upload --wait` polls at once (one thread each; the rest queue).
WAIT_PARALLEL = 8
# `upload --wait`: every upload sent, none failed, some not finished by --timeout (GNU timeout's).
EXIT_TIMED_OUT = 124


class WaitTimedOut(click.ClickException):
    """`upload --wait`: uploads still processing when --timeout ran out (exit 124)."""

    exit_code = EXIT_TIMED_OUT


def check_tenant(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: a usage error for a tenant the API would refuse in a token's tenant
    claim (`runtime.claims.check_tenant`, `runtime.keys.sanitise_tenant`)."""
    if value is None:
        return None
    from runtime import claims, keys
    from runtime.errors import MediakitError

    try:
        keys.sanitise_tenant(claims.check_tenant(value))
    except MediakitError as exc:
        raise click.BadParameter(
            f"{value!r} is not a tenant the API accepts ({exc.message})"
        ) from None
    return value


def check_upload_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Click callback: a usage error unless VALUE has the shape of the API's upload ids, so
    no argument can make the client request another path."""
    from runtime.keys import is_upload_id

    if not is_upload_id(value):
        raise click.BadParameter(
            f"{value!r} is not an upload id (26 lower-case Crockford base32 characters, "
            "as `mediakit upload` prints them)"
        )
    return value


def tenant_option(func: F) -> F:
    return click.option(
        "--tenant",
        default="dev",
        show_default=True,
        envvar="MEDIAKIT_TENANT",
        callback=check_tenant,
        help="Tenant the dev token is minted for.",
    )(func)


def check_api_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An http(s) URL with a host (and a port that is a number): `localhost:3000` would
    otherwise lose its host when paths are joined to it."""
    if value is None:
        return None
    from urllib.parse import urlsplit

    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise click.BadParameter(
            f"{value!r} is not an http(s) URL with a host, e.g. https://abc.execute-api."
            "eu-west-1.amazonaws.com or http://127.0.0.1:8000"
        )
    return value


def check_token(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A bearer token is one word of printable ASCII (a token file saved with CRLF, or pasted
    with a space, would fail as an HTTP header)."""
    if value is None:
        return None
    if not value or any(not ("!" <= c <= "~") for c in value):
        raise click.BadParameter(
            "a bearer token is printable ASCII without spaces or line breaks (a JWT: "
            "xxx.yyy.zzz); check for a trailing newline or carriage return"
        )
    return value


def api_options(func: F) -> F:
    """--api-url/--token: skip the env file and call any deployment with a real token."""
    func = click.option(
        "--token",
        envvar="MEDIAKIT_TOKEN",
        default=None,
        callback=check_token,
        help="Bearer token to use instead of minting a dev token from the env file.",
    )(func)
    return click.option(
        "--api-url",
        envvar="MEDIAKIT_API_URL",
        default=None,
        callback=check_api_url,
        help="API base URL to use instead of the env file's (e.g. the stack's api_url).",
    )(func)


def _client(env_file: Path, tenant: str, api_url: str | None, token: str | None) -> Any:
    from mediakit.client import ApiClient

    if api_url and token:
        return ApiClient(api_url, token)
    env = _dev_env(env_file, api_url)
    try:
        return ApiClient(api_url or env.api_url, token or mint_token(env, tenant))
    except NoDevIssuer as exc:
        raise SetupError(str(exc)) from None


def _dev_env(env_file: Path, api_url: str | None) -> DevEnv:
    """The running emulator's env file; with --api-url but no --token it only serves to mint a
    dev token for that same emulator's API, so anything else asks for a token."""
    if not api_url:
        return DevEnv.read(env_file)
    needed = (
        f"--api-url {api_url} needs a token: pass --token JWT (or set MEDIAKIT_TOKEN); for "
        "`mediakit dev`'s API, `mediakit token --tenant NAME` prints one"
    )
    try:
        env = DevEnv.read(env_file)
    except (EnvFileMissing, StaleEnvFile):
        raise SetupError(needed) from None
    if env.api_url.rstrip("/") != api_url.rstrip("/"):
        raise SetupError(f"{needed} (the emulator in {env_file} serves {env.api_url})")
    return env


def _fail(exc: Exception, api_url: str) -> click.ClickException:
    """Show the API's JSON error on stderr and exit non-zero; an API that does not answer is
    a setup error naming it (exit 2)."""
    from mediakit.client import ApiError
    from mediakit.errors import unreachable

    if isinstance(exc, ApiError):
        click.echo(json.dumps(exc.to_json(), indent=2), err=True)
        return click.ClickException(f"{exc.url or 'request'} failed with HTTP {exc.status}")
    if isinstance(exc, ConnectionError | TimeoutError):
        return SetupError(unreachable(api_url))
    return click.ClickException(str(exc))


@click.command("token")
@dev_env_file_option
@click.option(
    "--tenant", required=True, envvar="MEDIAKIT_TENANT", callback=check_tenant,
    help="Tenant to put in the token.",
)  # fmt: skip
@click.option(
    "--ttl", type=click.IntRange(1, 7 * 86400), default=3600, show_default=True,
    envvar="MEDIAKIT_TOKEN_TTL", help="Token lifetime in seconds.",
)  # fmt: skip
@click.option(
    "--scope", "scopes", multiple=True, metavar="SCOPE",
    help="Scope to grant (repeatable), e.g. media:admin for DELETE of a processed upload, "
    "restore and purge. It goes in the stack's scopeClaim as identity providers send it: a "
    "space-separated string in `scope`, an array in `scp` or a custom claim.",
)  # fmt: skip
def token_command(env_file: Path, tenant: str, ttl: int, scopes: tuple[str, ...]) -> None:
    """Print an RS256 bearer token for TENANT, signed by the running emulator's dev issuer."""
    for scope in scopes:
        if not SETTING_SCOPE.fullmatch(scope):
            raise click.BadParameter(
                f"{scope!r} is not a scope (printable ASCII without space, quote, backslash, "
                "comma or brackets)",
                param_hint="--scope",
            )
    try:
        click.echo(mint_token(DevEnv.read(env_file), tenant, ttl, scopes))
    except NoDevIssuer as exc:
        raise SetupError(str(exc)) from None


@click.command("upload")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@dev_env_file_option
@tenant_option
@api_options
@click.option(
    "--wait/--no-wait", default=False,
    help="Once every file is sent, wait for them to be processed (8 watched at a time).",
)  # fmt: skip
@click.option(
    "--timeout", type=click.FloatRange(0, min_open=True), default=120, show_default=True,
    envvar="MEDIAKIT_WAIT_TIMEOUT",
    help="With --wait: seconds, from the last file sent, to wait for every upload's final "
    "status (exit 124 if some are still processing then).",
)  # fmt: skip
@click.option(
    "--content-type", default=None, envvar="MEDIAKIT_CONTENT_TYPE",
    help="Declared content type (default: guessed from each file name).",
)  # fmt: skip
@click.option(
    "--method", type=click.Choice(["PUT", "POST"], case_sensitive=False), default=None,
    envvar="MEDIAKIT_UPLOAD_METHOD",
    help="Ask for a presigned PUT (default) or a browser-style form POST; files above the "
    "multipart threshold always go multipart.",
)  # fmt: skip
@click.option(
    "--meta", "metadata", multiple=True, metavar="KEY=VALUE",
    help="Metadata stored with the upload (repeatable).",
)  # fmt: skip
@click.option(
    "--resume/--no-resume", default=None,
    help="--resume: continue the interrupted multipart upload of each FILE from its state "
    "file (fails if there is none, or it is for another file); --no-resume: always start a "
    "new upload. Default: resume when a matching state file exists.",
)  # fmt: skip
@click.option(
    "--parallel", type=click.IntRange(1, 16), default=4, show_default=True,
    envvar="MEDIAKIT_UPLOAD_PARALLEL", help="Parts of a multipart upload sent at once.",
)  # fmt: skip
@click.option(
    "--part-size", "part_mib", type=click.IntRange(5, 5120), default=8, show_default=True,
    envvar="MEDIAKIT_PART_SIZE_MIB",
    help="Files of at least two parts go multipart with parts of this many MiB, each with a "
    "declared SHA-256 that S3 verifies (grown if the file would need more than 800 parts).",
)  # fmt: skip
@click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path),
    default=upload_state.DEFAULT_STATE_DIR, show_default=True, envvar="MEDIAKIT_STATE_DIR",
    help="Where multipart uploads keep their resume state (one small JSON file per file).",
)  # fmt: skip
def upload_command(
    files: tuple[Path, ...],
    env_file: Path,
    tenant: str,
    api_url: str | None,
    token: str | None,
    wait: bool,
    timeout: float,
    content_type: str | None,
    method: str | None,
    metadata: tuple[str, ...],
    resume: bool | None,
    parallel: int,
    part_mib: int,
    state_dir: Path,
) -> None:
    """Upload FILES through the API (presign, then send to S3) and print each status record.

    Large files go multipart, their parts in parallel; an interrupted one (Ctrl-C, a network
    failure) resumes with `mediakit upload --resume FILE` without sending finished parts again.
    Without --wait each record is re-read for a few seconds, until S3's event has reached the
    processor; with --wait, the records are printed as the uploads finish.

    Exit status: 0 all sent (with --wait: all completed); 1 a request failed or an upload did
    not complete; 124 with --wait, none failed but some were still processing at --timeout;
    2 usage errors or an API that does not answer; 130 interrupted.
    """
    from mediakit.client import ApiError, CannotResume, UploadInterrupted, guessed_content_type

    meta: dict[str, str] = {}
    for item in metadata:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--meta")
        meta[key] = value
    if content_type is None and resume is not True:
        for path in files:
            if guessed_content_type(path) is None:
                raise click.UsageError(
                    f"cannot tell the type of {path} from its name: pass --content-type, "
                    "e.g. --content-type image/jpeg"
                )
    client = _client(env_file, tenant, api_url, token)
    follow = _status_hint(env_file, tenant, api_url, token)
    failures = 0
    sent_uploads: list[tuple[Path, dict[str, Any]]] = []
    settling = 0.0  # the SETTLE_SECONDS budget is shared by all FILES
    for path in files:
        created: dict[str, Any] | None = None
        try:
            with click.progressbar(
                length=path.stat().st_size, label=path.name, file=sys.stderr
            ) as bar:
                sent = client.upload_resumable(
                    path,
                    content_type=content_type,
                    metadata=meta,
                    method=method.upper() if method else None,
                    progress=bar.update,
                    parallel=parallel,
                    part_size=part_mib * 1024 * 1024,
                    state_dir=state_dir,
                    resume=resume,
                )
            created = sent.created
            if sent.resumed:
                click.echo(
                    f"{path}: resumed upload {created['upload_id']}, sent {sent.bytes_sent} "
                    "bytes of parts S3 did not have",
                    err=True,
                )
            if wait:
                sent_uploads.append((path, created))
                continue
            started = time.monotonic()
            record = client.settle(created, seconds=max(0.0, SETTLE_SECONDS - settling))
            settling += time.monotonic() - started
        except UploadInterrupted as stopped:
            if not isinstance(stopped.cause, KeyboardInterrupt | ApiError | OSError):
                raise
            _interrupted(path, stopped, client.api_url)
            if isinstance(stopped.cause, KeyboardInterrupt):
                _still_processing(sent_uploads, follow)
                sys.exit(130)
            failures += 1
            continue
        except KeyboardInterrupt:
            if created is None:
                click.echo(f"\n{path}: interrupted before its bytes were sent", err=True)
            else:
                sent_uploads.append((path, created))
            _still_processing(sent_uploads, follow)
            sys.exit(130)
        except CannotResume as exc:
            failures += 1
            click.echo(f"{path}: cannot resume: {exc}", err=True)
            continue
        except (ApiError, OSError) as exc:
            if created is None and isinstance(exc, ConnectionError | TimeoutError):
                # The API itself does not answer: every other file would fail the same way.
                _still_processing(sent_uploads, follow)
                raise _fail(exc, client.api_url) from None
            failures += 1
            click.echo(f"{path}: upload failed", err=True)
            if isinstance(exc, ApiError):
                click.echo(json.dumps(exc.to_json(), indent=2), err=True)
                if exc.status == 415 and content_type is None:
                    click.echo(
                        f"{path}: its type was guessed from its name as "
                        f"{guessed_content_type(path)}; if that is wrong, pass --content-type",
                        err=True,
                    )
            else:
                click.echo(str(exc), err=True)
            continue
        click.echo(json.dumps(record, indent=2, sort_keys=True))
        if record.get("status") == "pending_upload":
            click.echo(
                f"{path}: sent to S3; its record says pending_upload until S3's event reaches "
                f"the processor. Follow it: {follow(str(record.get('upload_id')))}",
                err=True,
            )
    timed_out = 0
    if sent_uploads:
        failed, timed_out = _wait_all(client, sent_uploads, timeout, follow)
        failures += failed
    if failures:
        also = f", {timed_out} still processing after {timeout:g} s" if timed_out else ""
        raise click.ClickException(f"{failures} of {len(files)} upload(s) failed{also}")
    if timed_out:
        raise WaitTimedOut(
            f"timed out: {timed_out} of {len(files)} upload(s) still processing after "
            f"--timeout {timeout:g} s (see each one's `mediakit status` line above)"
        )


def _status_hint(
    env_file: Path, tenant: str, api_url: str | None, token: str | None
) -> Callable[[str], str]:
    """The `mediakit status` command that shows an upload to this same caller."""
    if api_url and token:
        where = f'--api-url {shlex.quote(api_url)} --token "$TOKEN"'
    else:
        where = f"--tenant {shlex.quote(tenant)}"
        if env_file != Path(DEFAULT_ENV_FILE):
            where += f" --env-file {shlex.quote(str(env_file))}"
        if api_url:
            where += f" --api-url {shlex.quote(api_url)}"
    return lambda upload_id: f"mediakit status {where} {upload_id}"


def _still_processing(
    sent_uploads: Sequence[tuple[Path, dict[str, Any]]], follow: Callable[[str], str]
) -> None:
    """On Ctrl-C: the uploads already sent are processed all the same; say how to follow them."""
    for path, created in sent_uploads:
        click.echo(
            f"\n{path}: upload {created['upload_id']} was sent and is being processed: "
            f"{follow(str(created['upload_id']))}",
            err=True,
        )


def _wait_all(
    client: Any,
    sent_uploads: Sequence[tuple[Path, dict[str, Any]]],
    timeout: float,
    follow: Callable[[str], str],
) -> tuple[int, int]:
    """Poll every sent upload at once until each is terminal or the one shared deadline
    (`timeout` from now) passes; print each record as it finishes. Returns (failed, timed out).
    Ctrl-C exits 130 naming the uploads still being processed."""
    from mediakit.client import TERMINAL_STATUSES, ApiError, in_parallel

    deadline = time.monotonic() + timeout
    click.echo(
        f"waiting for {len(sent_uploads)} upload(s) to be processed (--timeout {timeout:g} s)",
        err=True,
    )
    failed = timed_out = 0
    waiting = dict.fromkeys(range(len(sent_uploads)))
    jobs = list(enumerate(sent_uploads))

    def poll(job: tuple[int, tuple[Path, dict[str, Any]]], _emit: Any) -> Any:
        try:
            return client.wait(job[1][1], deadline=deadline)
        except (ApiError, OSError) as exc:  # reported for this file; the others go on
            return exc

    def finished(job: tuple[int, tuple[Path, dict[str, Any]]], result: Any) -> None:
        nonlocal failed, timed_out
        index, (path, created) = job
        waiting.pop(index, None)
        if isinstance(result, Exception):
            failed += 1
            click.echo(f"{path}: status check failed", err=True)
            if isinstance(result, ApiError):
                click.echo(json.dumps(result.to_json(), indent=2), err=True)
            else:
                click.echo(str(result), err=True)
            return
        click.echo(json.dumps(result, indent=2, sort_keys=True))
        status = result.get("status")
        if status == "completed":
            return
        if status in TERMINAL_STATUSES:
            failed += 1
            error = result.get("error") or {}
            reason = ": ".join(str(error[k]) for k in ("code", "message") if error.get(k))
            click.echo(f"{path}: {status}" + (f" ({reason})" if reason else ""), err=True)
            return
        timed_out += 1
        click.echo(
            f"{path}: timed out after {timeout:g} s, last status {status}; keep watching: "
            f"{follow(str(created['upload_id']))}",
            err=True,
        )

    try:
        in_parallel(jobs, poll, parallel=WAIT_PARALLEL, done=finished, name="mediakit-wait")
    except KeyboardInterrupt:
        _still_processing([sent_uploads[i] for i in waiting], follow)
        sys.exit(130)
    return failed, timed_out


def _interrupted(path: Path, stopped: Any, api_url: str) -> None:
    """Say what stopped, and how to resume or abort it: the upload id survives the process."""
    from mediakit.client import ApiError

    cause = stopped.cause
    why = "interrupted" if isinstance(cause, KeyboardInterrupt) else f"failed ({cause})"
    if isinstance(cause, ApiError):
        click.echo(json.dumps(cause.to_json(), indent=2), err=True)
    status_url = stopped.status_url
    if "://" not in status_url:
        status_url = api_url.rstrip("/") + status_url
    lines = [
        "",
        f"{path}: upload {stopped.upload_id} {why}; the parts S3 acknowledged are kept.",
        f"  resume it: mediakit upload --resume {shlex.quote(str(path))}  (same options)",
        f"  abort it:  mediakit abort {stopped.upload_id}",
        f'         or: curl -X DELETE -H "Authorization: Bearer $TOKEN" {status_url}',
    ]
    if stopped.state_file is not None:
        lines.insert(2, f"  state:     {stopped.state_file}")
    click.echo("\n".join(lines), err=True)


@click.command("abort")
@click.argument("upload_id", callback=check_upload_id)
@dev_env_file_option
@tenant_option
@api_options
@click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path),
    default=upload_state.DEFAULT_STATE_DIR, show_default=True, envvar="MEDIAKIT_STATE_DIR",
    help="Resume states of this upload found here are removed too.",
)  # fmt: skip
def abort_command(
    upload_id: str,
    env_file: Path,
    tenant: str,
    api_url: str | None,
    token: str | None,
    state_dir: Path,
) -> None:
    """Abort the pending upload UPLOAD_ID (DELETE, as its owner): S3 drops its parts and its
    URLs stop working. Prints the record, now deleted."""
    from mediakit.client import ApiError

    client = _client(env_file, tenant, api_url, token)
    try:
        record = client.delete_upload(upload_id)
    except (ApiError, OSError) as exc:
        raise _fail(exc, client.api_url) from None
    for found in sorted(state_dir.glob("*.json")) if state_dir.is_dir() else []:
        try:
            state = upload_state.load(found)
        except upload_state.StateError:
            continue
        if state is not None and state.upload_id == upload_id:
            state.remove()
    click.echo(json.dumps(record, indent=2, sort_keys=True))


@click.command("status")
@click.argument("upload_id", callback=check_upload_id)
@dev_env_file_option
@tenant_option
@api_options
def status_command(
    upload_id: str, env_file: Path, tenant: str, api_url: str | None, token: str | None
) -> None:
    """Print the status record of UPLOAD_ID as JSON (uploads are per tenant: another
    tenant's answers 404 like a missing one)."""
    from mediakit.client import ApiError

    client = _client(env_file, tenant, api_url, token)
    try:
        record = client.get_upload(upload_id)
    except ApiError as exc:
        if exc.status != 404:
            raise _fail(exc, client.api_url) from None
        click.echo(json.dumps(exc.to_json(), indent=2), err=True)
        if api_url and token:
            hint = "this token's tenant: uploads are per tenant, use a token of the one it was"
        else:
            hint = (
                f"tenant {tenant!r}: uploads are per tenant, pass the --tenant it was made "
                "with (the demo's is 'demo')"
            )
        raise click.ClickException(f"no upload {upload_id} for {hint}") from None
    except OSError as exc:
        raise _fail(exc, client.api_url) from None
    click.echo(json.dumps(record, indent=2, sort_keys=True))

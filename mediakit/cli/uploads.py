"""`mediakit token`, `mediakit upload` and `mediakit status`: talk to a running upload API,
the emulator's (via its env file) or a deployed one (via --api-url and --token)."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mediakit import upload_state
from mediakit.cli.options import env_file_option
from mediakit.local.emulator import DevEnv, NoDevIssuer, mint_token
from runtime.scopes import SETTING_SCOPE

F = TypeVar("F", bound=Callable[..., Any])


dev_env_file_option = env_file_option(
    "Env file written by `mediakit dev` (API URL and dev JWT settings)."
)


def tenant_option(func: F) -> F:
    return click.option(
        "--tenant",
        default="dev",
        show_default=True,
        envvar="MEDIAKIT_TENANT",
        help="Tenant the dev token is minted for.",
    )(func)


def api_options(func: F) -> F:
    """--api-url/--token: skip the env file and call any deployment with a real token."""
    func = click.option(
        "--token",
        envvar="MEDIAKIT_TOKEN",
        default=None,
        help="Bearer token to use instead of minting a dev token from the env file.",
    )(func)
    return click.option(
        "--api-url",
        envvar="MEDIAKIT_API_URL",
        default=None,
        help="API base URL to use instead of the env file's (e.g. the stack's api_url).",
    )(func)


def _client(env_file: Path, tenant: str, api_url: str | None, token: str | None) -> Any:
    from mediakit.client import ApiClient

    if api_url and token:
        return ApiClient(api_url, token)
    env = DevEnv.read(env_file)
    try:
        return ApiClient(api_url or env.api_url, token or mint_token(env, tenant))
    except NoDevIssuer as exc:
        raise click.ClickException(str(exc)) from None


def _fail(exc: Exception) -> click.ClickException:
    """Show the API's JSON error on stderr and exit non-zero."""
    from mediakit.client import ApiError

    if isinstance(exc, ApiError):
        click.echo(json.dumps(exc.to_json(), indent=2), err=True)
        return click.ClickException(f"{exc.url or 'request'} failed with HTTP {exc.status}")
    return click.ClickException(str(exc))


@click.command("token")
@dev_env_file_option
@click.option(
    "--tenant", required=True, envvar="MEDIAKIT_TENANT", help="Tenant to put in the token."
)
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
        raise click.ClickException(str(exc)) from None


@click.command("upload")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@dev_env_file_option
@tenant_option
@api_options
@click.option("--wait/--no-wait", default=False, help="Poll until each upload is processed.")
@click.option(
    "--timeout", type=float, default=120, show_default=True, envvar="MEDIAKIT_WAIT_TIMEOUT",
    help="Seconds to wait for processing with --wait.",
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
    Exits non-zero if any request fails or, with --wait, any upload does not complete; 130
    when interrupted.
    """
    from mediakit.client import ApiError, CannotResume, UploadInterrupted

    meta: dict[str, str] = {}
    for item in metadata:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--meta")
        meta[key] = value
    client = _client(env_file, tenant, api_url, token)
    failures = 0
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
            record = client.wait(created, timeout=timeout) if wait else client.status(created)
        except UploadInterrupted as stopped:
            if not isinstance(stopped.cause, KeyboardInterrupt | ApiError | OSError):
                raise
            _interrupted(path, stopped, client.api_url)
            if isinstance(stopped.cause, KeyboardInterrupt):
                sys.exit(130)
            failures += 1
            continue
        except KeyboardInterrupt:
            if created is None:
                click.echo(f"\n{path}: interrupted before its bytes were sent", err=True)
            else:
                upload_id = created["upload_id"]
                click.echo(
                    f"\n{path}: upload {upload_id} was sent and is being processed: "
                    f"mediakit status {upload_id}",
                    err=True,
                )
            sys.exit(130)
        except CannotResume as exc:
            failures += 1
            click.echo(f"{path}: cannot resume: {exc}", err=True)
            continue
        except (ApiError, OSError) as exc:
            failures += 1
            click.echo(f"{path}: upload failed", err=True)
            if isinstance(exc, ApiError):
                click.echo(json.dumps(exc.to_json(), indent=2), err=True)
            else:
                click.echo(str(exc), err=True)
            continue
        click.echo(json.dumps(record, indent=2, sort_keys=True))
        if wait and record.get("status") != "completed":
            failures += 1
            error = record.get("error") or {}
            reason = f"{error.get('code', '')} {error.get('message', '')}"
            click.echo(f"{path}: {record.get('status')} {reason}", err=True)
    if failures:
        raise click.ClickException(f"{failures} of {len(files)} upload(s) failed")


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
@click.argument("upload_id")
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
        record = client.call("DELETE", f"/v1/uploads/{upload_id}")
    except (ApiError, OSError) as exc:
        raise _fail(exc) from None
    for found in sorted(state_dir.glob("*.json")) if state_dir.is_dir() else []:
        try:
            state = upload_state.load(found)
        except upload_state.StateError:
            continue
        if state is not None and state.upload_id == upload_id:
            state.remove()
    click.echo(json.dumps(record, indent=2, sort_keys=True))


@click.command("status")
@click.argument("upload_id")
@dev_env_file_option
@tenant_option
@api_options
def status_command(
    upload_id: str, env_file: Path, tenant: str, api_url: str | None, token: str | None
) -> None:
    """Print the status record of UPLOAD_ID as JSON."""
    from mediakit.client import ApiError

    client = _client(env_file, tenant, api_url, token)
    try:
        record = client.get_upload(upload_id)
    except (ApiError, OSError) as exc:
        raise _fail(exc) from None
    click.echo(json.dumps(record, indent=2, sort_keys=True))

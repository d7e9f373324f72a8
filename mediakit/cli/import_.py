"""`mediakit import DIR`: upload a whole folder through the API (`mediakit.bulk_import` does
the work), resumable from its manifest."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from mediakit import upload_state
from mediakit.cli.uploads import _client, api_options, check_tenant, dev_env_file_option
from mediakit.errors import SetupError


@click.command("import")
@click.argument(
    "folder", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR"
)
@click.option(
    "--tenant", required=True, envvar="MEDIAKIT_TENANT", callback=check_tenant,
    help="Tenant to import into (the dev token's; with --token, the token's own tenant counts).",
)  # fmt: skip
@dev_env_file_option
@api_options
@click.option(
    "--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
    envvar="MEDIAKIT_IMPORT_MANIFEST",
    help="Manifest to write and resume from (path -> upload id -> status). Default: "
    ".mediakit/imports/<folder>-<hash>.json.",
)  # fmt: skip
@click.option(
    "--parallel", type=click.IntRange(1, 32), default=4, show_default=True,
    envvar="MEDIAKIT_IMPORT_PARALLEL", help="Files in flight at once.",
)  # fmt: skip
@click.option(
    "--timeout", type=float, default=300, show_default=True, envvar="MEDIAKIT_WAIT_TIMEOUT",
    help="Seconds to wait for each file's processing.",
)  # fmt: skip
@click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path),
    default=upload_state.DEFAULT_STATE_DIR, show_default=True, envvar="MEDIAKIT_STATE_DIR",
    help="Where large files' multipart uploads keep their resume state.",
)  # fmt: skip
def import_command(
    folder: Path,
    tenant: str,
    env_file: Path,
    api_url: str | None,
    token: str | None,
    manifest: Path | None,
    parallel: int,
    timeout: float,
    state_dir: Path,
) -> None:
    """Import every file under DIR (hidden files left out, links not followed) as uploads of
    TENANT: validated and processed like any upload, in parallel, honouring Retry-After, each
    carrying its relative path and timestamps in its metadata. Waits for every file's final
    status and prints a summary; run it again to resume (files already imported are skipped).
    Exits 1 if any file did not complete, 2 if it could not start (env file, manifest), 130
    when interrupted."""
    from mediakit import bulk_import

    client = _client(env_file, tenant, api_url, token)
    manifest_file = manifest or bulk_import.default_manifest(folder)
    try:
        book = bulk_import.Manifest.open(manifest_file, root=folder, api_url=client.api_url)
    except bulk_import.ManifestError as exc:
        # A manifest of another folder or API, or unreadable: nothing was imported (exit 2).
        raise SetupError(str(exc)) from None
    sources = bulk_import.scan(folder, skip=manifest_file)
    importer = bulk_import.Importer(client, folder, book, state_dir=state_dir, wait_timeout=timeout)
    with click.progressbar(length=len(sources), label="importing", file=sys.stderr) as bar:
        summary = importer.run(sources, parallel=parallel, on_done=lambda _: bar.update(1))
    skipped = sum(1 for o in summary.completed if o.skipped)
    click.echo(
        f"{folder}: {len(summary.outcomes)} of {len(sources)} files done: "
        f"{len(summary.completed)} completed ({skipped} already imported), "
        f"{len(summary.failed)} failed"
    )
    for line in bulk_import.iter_failures(summary):
        click.echo(line)
    click.echo(f"manifest: {summary.manifest}")
    if summary.interrupted:
        again = f"mediakit import {shlex.quote(str(folder))} --tenant {shlex.quote(tenant)}"
        click.echo(
            f"interrupted: {len(sources) - len(summary.outcomes)} files left; run "
            f"`{again}` (same options) to resume",
            err=True,
        )
        sys.exit(130)
    if summary.failed:
        sys.exit(1)

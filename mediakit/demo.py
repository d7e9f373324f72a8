"""`mediakit demo`: the whole pipeline on the embedded emulator, end to end, with a verdict.

Generates sample images, a short MP4 and a voice memo (valid and hostile; audio and video are
turned on for the demo's emulator), uploads them through the real API path (JWT ->
presign -> PUT to S3), lets the real processor run from the queue, then prints what happened,
downloads the derivatives, draws a contact sheet and lists the events put on the bus. Exits 0
only if every sample ended as its expectation says.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mediakit.local.emulator import (
    DEFAULT_ENV_FILE,
    Emulator,
    claim_env_file,
    release_env_file,
    shutdown_signals,
    wait_for,
)
from runtime.settings import Settings

if TYPE_CHECKING:
    from mediakit.corpus.samples import Sample

DEMO_TENANT = "demo"


@dataclass
class Outcome:
    """One sample's journey: what was expected, what the API and the processor said."""

    filename: str
    path: Path
    content_type: str
    expected_status: str
    expected_code: str | None
    description: str
    upload_id: str = ""
    record: dict[str, Any] = field(default_factory=dict)
    api_error: dict[str, Any] | None = None
    downloads: list[Path] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "rejected" if self.api_error else str(self.record.get("status", "?"))

    @property
    def code(self) -> str | None:
        if self.api_error:
            return str(self.api_error.get("code"))
        error = self.record.get("error") or {}
        return str(error["code"]) if error.get("code") else None

    def mismatch(self) -> str | None:
        """Why this outcome differs from the expectation, or None."""
        if self.expected_status == "completed":
            if self.status != "completed":
                return f"expected completed, got {self.status} ({self.code})"
            if not self.record.get("derivatives"):
                return "completed without derivatives"
            return None
        # An API rejection counts as a failure with the API's error code.
        if self.status not in ("failed", "rejected"):
            return f"expected failed ({self.expected_code}), got {self.status}"
        if self.expected_code and self.code != self.expected_code:
            return f"expected failure code {self.expected_code}, got {self.code}"
        return None


def _human(n: Any) -> str:
    if not isinstance(n, int):
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def _row(o: Outcome) -> list[str]:
    r = o.record
    dims = f"{r['width']}x{r['height']}" if r.get("width") and r.get("height") else "-"
    exif = r.get("exif") or {}
    camera = " ".join(str(exif[k]) for k in ("make", "model") if exif.get(k)) or "-"
    media = r.get("media") or {}
    if media.get("kind") in ("audio", "video"):
        # Audio/video: what the probe found stands in the camera's column.
        codecs = "/".join(str(media[k]) for k in ("video_codec", "audio_codec") if media.get(k))
        camera = f"{media['kind']} {media.get('duration_seconds', 0):g} s {codecs}".rstrip()
    if o.status == "completed":
        detail = ", ".join(
            f"{d.get('name')} {d.get('width')}x{d.get('height')}" for d in r.get("derivatives", [])
        )
    else:
        detail = o.code or "-"
    size = r.get("size") or o.path.stat().st_size
    return [o.filename, o.status, _human(size), dims, camera, detail]


def format_table(outcomes: Sequence[Outcome]) -> str:
    """A plain-text table: file, status, size, dimensions, camera, derivatives or failure."""
    header = ["file", "status", "size", "dimensions", "camera", "derivatives / failure"]
    rows = [header] + [_row(o) for o in outcomes]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def drain_events(
    sqs: Any, queue_url: str, *, expected: int, timeout: float = 5
) -> list[dict[str, Any]]:
    """Read the events tap until `expected` events arrived or `timeout` passed."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(seen) < expected and time.monotonic() < deadline:
        resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for m in resp.get("Messages", []):
            seen.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return seen


def _download_derivatives(o: Outcome, out: Path) -> list[tuple[str, bytes]]:
    from mediakit.client import download

    thumbs: list[tuple[str, bytes]] = []
    folder = out / o.filename
    for d in o.record.get("derivatives") or []:
        dest = folder / f"{d['name']}.{d.get('format', 'jpeg')}"
        download(str(d["url"]), dest)
        o.downloads.append(dest)
    if o.downloads:
        # The smallest derivative stands for the image on the contact sheet.
        smallest = min(o.downloads, key=lambda p: p.stat().st_size)
        thumbs.append((o.filename, smallest.read_bytes()))
    return thumbs


DEMO_KINDS = ("image", "audio", "video")


def demo_settings(settings: Settings) -> Settings:
    """The demo turns audio and video on (the media function, its queue) unless the caller chose
    the kinds (MEDIAKIT_MEDIA_KINDS)."""
    if os.environ.get("MEDIAKIT_MEDIA_KINDS"):
        return settings
    return dataclasses.replace(settings, media_kinds=DEMO_KINDS)


def env_media_enabled() -> bool:
    return demo_settings(Settings.from_env(os.environ)).media_enabled


def media_samples(folder: Path) -> list[Sample]:
    """The generated MP4, voice memo and hostile playlist (mediakit.corpus.media), on disk."""
    from mediakit.corpus.media import demo_media
    from mediakit.corpus.samples import Sample

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for entry in demo_media(str(folder / "not-there.ts")):
        path = folder / entry.filename
        path.write_bytes(entry.data)
        out.append(
            Sample(
                path,
                entry.filename,
                entry.declared_type,
                entry.expected_status,
                entry.expected_code,
                entry.description,
            )
        )
    return out


def follow_up(outcomes: Sequence[Outcome], env_file: Path) -> str:
    """How to look at the demo's uploads from another shell: they belong to DEMO_TENANT, which
    `mediakit status` does not use by default."""
    import shlex

    where = f"--tenant {DEMO_TENANT}"
    if env_file != Path(DEFAULT_ENV_FILE):
        where += f" --env-file {shlex.quote(str(env_file))}"
    example = next((o.upload_id for o in outcomes if o.upload_id), "UPLOAD_ID")
    return (
        f"the demo's uploads belong to tenant {DEMO_TENANT!r}; look at one with:\n"
        f"  mediakit status {where} {example}\n"
        f"and upload more with: mediakit upload {where} FILE --wait"
    )


def run_demo(
    out: Path,
    *,
    keep_running: bool = False,
    env_file: Path | None = None,
    echo: Callable[[str], None] = click.echo,
) -> int:
    """Run the demo; returns the process exit code (0 when every expectation held)."""
    from mediakit.client import ApiClient, ApiError, guess_content_type, sha256_hex
    from mediakit.corpus.samples import contact_sheet, generate_samples
    from mediakit.local.emulator import mint_token

    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    with Emulator(demo_settings(Settings.from_env(os.environ))) as env:
        echo(f"emulator up in {time.monotonic() - started:.1f}s: API {env.api_url}")
        echo(f"uploading as tenant {DEMO_TENANT!r}")
        samples = generate_samples(out / "samples")
        if env_media_enabled():
            samples += media_samples(out / "samples")
        client = ApiClient(env.api_url, mint_token(env, DEMO_TENANT))
        outcomes: list[Outcome] = []
        for s in samples:
            path = Path(s.path)
            o = Outcome(
                filename=s.filename,
                path=path,
                content_type=s.content_type or guess_content_type(path),
                expected_status=s.expected_status,
                expected_code=s.expected_code,
                description=s.description,
            )
            outcomes.append(o)
            try:
                created = client.create_upload(
                    filename=o.filename,
                    content_type=o.content_type,
                    size=path.stat().st_size,
                    sha256=sha256_hex(path),
                    metadata={"sample": o.filename},
                )
                o.upload_id = str(created["upload_id"])
                o.record = {"status_url": created.get("status_url"), "upload_id": o.upload_id}
                client.send(created, path)
            except ApiError as exc:
                # Rejected by the API, or S3 refused the bytes: either way nothing to wait for.
                o.api_error = exc.to_json()["error"]
                o.upload_id = ""
                o.record = {}
            echo(
                f"  uploaded {o.filename:28} {o.content_type:11} -> "
                + (o.upload_id or f"rejected {o.code}")
            )
        for o in outcomes:
            if o.upload_id:
                o.record = client.wait(o.record, timeout=60)
        echo("")
        echo(format_table(outcomes))

        thumbs: list[tuple[str, bytes]] = []
        for o in outcomes:
            if o.status == "completed":
                thumbs.extend(_download_derivatives(o, out))
        downloaded = sum(len(o.downloads) for o in outcomes)
        echo(f"\n{downloaded} derivatives downloaded to {out}/<file>/")
        if thumbs:
            sheet = out / "contact-sheet.png"
            contact_sheet(thumbs, sheet)
            echo(f"contact sheet: {sheet}")

        terminal = sum(1 for o in outcomes if o.status in ("completed", "failed"))
        events = drain_events(env.client("sqs"), env.events_queue_url, expected=terminal)
        echo(f"\nevents on bus {env.event_bus}:")
        for e in events:
            detail = e.get("detail") or {}
            extra = detail.get("error", {}).get("code") if detail.get("error") else ""
            echo(
                f"  {e.get('detail-type', '?'):24} {detail.get('upload_id', '')} "
                f"{detail.get('status', '')} {extra}".rstrip()
            )

        problems = [(o, m) for o in outcomes if (m := o.mismatch())]
        elapsed = time.monotonic() - started
        echo("")
        for o, why in problems:
            echo(f"MISMATCH {o.filename} ({o.description}): {why}")
        ok = not problems
        if ok:
            echo(
                f"demo OK: {len(outcomes)} samples behaved as expected "
                f"({sum(o.status == 'completed' for o in outcomes)} completed, "
                f"{sum(o.status != 'completed' for o in outcomes)} failed with the expected code) "
                f"in {elapsed:.1f}s"
            )
        else:
            echo(f"demo FAILED: {len(problems)} of {len(outcomes)} samples misbehaved")
        if keep_running:
            target = env_file or Path(DEFAULT_ENV_FILE)
            with shutdown_signals() as stop:
                # Never over a live `mediakit dev`'s file (EnvFileInUse says how to go on).
                claim_env_file(env, target)
                echo(f"\nemulator still running; env file {target}. Ctrl-C to stop.")
                echo(follow_up(outcomes, target))
                try:
                    wait_for(stop)
                finally:
                    release_env_file(env, target)
        return 0 if ok else 1

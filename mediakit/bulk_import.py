"""Bulk import of a folder through the upload API (the replaced system's migration script): every
file is created, sent and processed exactly like any upload, so it is validated the same way.

Files go in parallel; `Retry-After` on 429/503 (and on 409 `idempotency_in_progress`) is
honoured; a manifest (relative path -> upload id -> status) is written as files progress, so an
interrupted import resumes: files whose upload completed or failed on its own are skipped, after
the API confirms the manifest's claim (a manifest edited by hand cannot mark a file imported that
the API does not know), and a retried create carries an Idempotency-Key derived from the file, so
it never makes a second upload of the same file. Each upload's metadata carries the file's path
relative to the folder and its timestamps.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mediakit.client import (
    TERMINAL_STATUSES,
    ApiClient,
    ApiError,
    UploadInterrupted,
    in_parallel,
)
from runtime.keys import is_upload_id

MANIFEST_VERSION = 1
DEFAULT_MANIFEST_DIR = Path(".mediakit/imports")
# Statuses the API answers for a finished upload; `error` is the import's own (a request that
# kept failing, a timeout): such files are tried again by the next run.
DONE = frozenset({"completed", "failed"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# 409s that mean "not yet" rather than "no": the same Idempotency-Key's first request is still
# running (a resumed import racing its own earlier request); they carry Retry-After too.
RETRY_CONFLICT_CODES = frozenset({"idempotency_in_progress"})
MAX_ATTEMPTS = 8
MAX_WAIT_SECONDS = 60.0


class ManifestError(Exception):
    """A manifest that cannot be trusted to resume from (unreadable, or another folder's)."""


@dataclass(frozen=True)
class Source:
    """One file of the folder: its path relative to the folder (POSIX), size and mtime."""

    path: Path
    relative: str
    size: int
    mtime_ns: int

    def metadata(self) -> dict[str, str]:
        """What the upload carries about where it came from (the API bounds each value to 256
        characters; a longer relative path makes the API refuse the file, with that reason)."""
        stat = self.path.stat()
        meta = {
            "source_path": self.relative,
            "source_mtime": _iso(stat.st_mtime),
        }
        birth = getattr(stat, "st_birthtime", None)
        if birth is not None:
            meta["source_birthtime"] = _iso(birth)
        return meta

    def idempotency_key(self, root: str) -> str:
        """The same file of the same folder always asks for the same upload."""
        raw = f"{root}\0{self.relative}\0{self.size}\0{self.mtime_ns}"
        return "import-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def scan(root: Path, *, skip: Path | None = None) -> list[Source]:
    """Every regular file under `root`, sorted, not following symbolic links, leaving out hidden
    files and folders (`.git`, `.DS_Store`) and `skip` (the manifest, if it lives inside)."""
    found: list[Source] = []
    resolved_skip = skip.resolve() if skip is not None else None
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            if resolved_skip is not None and path.resolve() == resolved_skip:
                continue
            stat = path.stat()
            relative = path.relative_to(root).as_posix()
            found.append(Source(path, relative, stat.st_size, stat.st_mtime_ns))
    return found


def default_manifest(root: Path) -> Path:
    """`.mediakit/imports/<folder>-<hash of its absolute path>.json` in the working directory."""
    resolved = root.resolve()
    digest = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:12]
    return DEFAULT_MANIFEST_DIR / f"{resolved.name or 'root'}-{digest}.json"


@dataclass
class Manifest:
    """path -> {size, mtime_ns, upload_id, status, error}; saved atomically on every change."""

    file: Path
    root: str
    api_url: str
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, file: Path, *, root: Path, api_url: str) -> Manifest:
        """The manifest in `file` (a new one if there is none); `ManifestError` if it is
        unreadable or records another folder or API."""
        resolved = str(root.resolve())
        try:
            raw = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(file, resolved, api_url)
        except (OSError, ValueError) as exc:
            raise ManifestError(f"{file}: unreadable manifest ({exc}); fix or remove it") from None
        if not isinstance(raw, dict) or raw.get("version") != MANIFEST_VERSION:
            raise ManifestError(f"{file}: not a version {MANIFEST_VERSION} import manifest")
        if raw.get("root") != resolved:
            raise ManifestError(f"{file} is the manifest of {raw.get('root')!r}, not {resolved}")
        if raw.get("api_url") != api_url:
            raise ManifestError(f"{file} records imports through {raw.get('api_url')!r}")
        files = raw.get("files")
        if not isinstance(files, dict):
            raise ManifestError(f"{file}: files must be an object")
        entries: dict[str, dict[str, Any]] = {}
        for name, entry in files.items():
            if isinstance(name, str) and isinstance(entry, dict):
                entries[name] = entry
        return cls(file, resolved, api_url, entries)

    def save(self) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "version": MANIFEST_VERSION,
            "root": self.root,
            "api_url": self.api_url,
            "files": dict(sorted(self.entries.items())),
        }
        fd, tmp = tempfile.mkstemp(dir=self.file.parent, prefix=".manifest-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(body, fh, indent=1)
            os.replace(tmp, self.file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def finished(self, source: Source) -> dict[str, Any] | None:
        """The entry of a file whose upload ended (completed or failed), if it is this file
        (same size and mtime) and names an upload."""
        entry = self.entries.get(source.relative)
        if (
            entry is None
            or entry.get("status") not in DONE
            or entry.get("size") != source.size
            or entry.get("mtime_ns") != source.mtime_ns
            or not isinstance(entry.get("upload_id"), str)
        ):
            return None
        return entry


@dataclass
class Outcome:
    """One file's result: final status, upload id, failure reason, whether it was skipped."""

    relative: str
    status: str
    upload_id: str | None = None
    error: dict[str, str] | None = None
    skipped: bool = False


@dataclass
class Summary:
    outcomes: list[Outcome]
    manifest: Path
    interrupted: bool = False

    @property
    def completed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "completed"]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != "completed"]


Sleep = Callable[[float], None]


def _sleep(seconds: float) -> None:
    """How the import waits before a retry (one place, so tests can watch the waits)."""
    time.sleep(seconds)


def retryable(exc: ApiError) -> bool:
    """Whether an answer is worth the same request again: 429/502/503/504, or a 409
    `idempotency_in_progress` (the key's first request has not finished yet)."""
    return exc.status in RETRY_STATUSES or (exc.status == 409 and exc.code in RETRY_CONFLICT_CODES)


def call_with_retries(fn: Callable[[], Any], *, sleep: Sleep | None = None) -> Any:
    """`fn()`, again after `Retry-After` (or a backoff) while it answers 429/502/503/504 or 409
    `idempotency_in_progress`, or the connection fails; at most MAX_ATTEMPTS tries."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return fn()
        except ApiError as exc:
            if not retryable(exc) or attempt == MAX_ATTEMPTS:
                raise
            delay = exc.retry_after if exc.retry_after is not None else 0.5 * 2**attempt
        except OSError:
            if attempt == MAX_ATTEMPTS:
                raise
            delay = 0.5 * 2**attempt
        (sleep or _sleep)(min(delay, MAX_WAIT_SECONDS))
    raise AssertionError("unreachable")


@dataclass
class Importer:
    """Imports `root` through `client`; `state_dir` keeps multipart resume states."""

    client: ApiClient
    root: Path
    manifest: Manifest
    state_dir: Path
    wait_timeout: float = 300.0
    part_size: int = 8 * 1024 * 1024
    sleep: Sleep | None = None

    def import_one(self, source: Source, record: Callable[[dict[str, Any]], None]) -> Outcome:
        """Import one file (or confirm it was); `record` writes its manifest entry."""
        base = {"size": source.size, "mtime_ns": source.mtime_ns}
        entry = self.manifest.finished(source)
        if entry is not None:
            try:
                confirmed = self._confirm(source, entry)
            except (ApiError, OSError) as exc:
                return self._error(source, base, record, None, exc)
            if confirmed is not None:
                return confirmed
        in_flight = self._in_flight(source)
        if in_flight is not None:
            # Sent by an earlier run that stopped before its processing ended: wait for it.
            return self._finish(source, base, record, in_flight)
        try:
            sent = call_with_retries(
                lambda: self.client.upload_resumable(
                    source.path,
                    metadata=source.metadata(),
                    part_size=self.part_size,
                    state_dir=self.state_dir,
                    idempotency_key=source.idempotency_key(self.manifest.root),
                ),
                sleep=self.sleep,
            )
        except UploadInterrupted as exc:
            if isinstance(exc.cause, KeyboardInterrupt):
                raise exc.cause from None
            return self._error(source, base, record, exc.upload_id, exc.cause)
        except (ApiError, OSError) as exc:
            return self._error(source, base, record, None, exc)
        return self._finish(source, base, record, sent.created)

    def _finish(
        self,
        source: Source,
        base: dict[str, Any],
        record: Callable[[dict[str, Any]], None],
        created: Mapping[str, Any],
    ) -> Outcome:
        """Note the upload as sent, wait for its final status and note that."""
        upload_id = str(created["upload_id"])
        record({**base, "upload_id": upload_id, "status": "sent"})
        try:
            final = self._wait(created)
        except (ApiError, OSError) as exc:
            return self._error(source, base, record, upload_id, exc)
        status = str(final.get("status"))
        error = final.get("error") if status != "completed" else None
        if status not in TERMINAL_STATUSES:
            error = {"code": "timeout", "message": f"still {status} after {self.wait_timeout} s"}
            status = "error"
        record({**base, "upload_id": upload_id, "status": status, "error": error})
        return Outcome(source.relative, status, upload_id, error)

    def _in_flight(self, source: Source) -> dict[str, Any] | None:
        """The upload an earlier run sent for this file (same size, mtime and source path) and
        that the API has past pending_upload, else None (the file is uploaded again)."""
        entry = self.manifest.entries.get(source.relative)
        if (
            entry is None
            or entry.get("status") != "sent"
            or entry.get("size") != source.size
            or entry.get("mtime_ns") != source.mtime_ns
            or not is_upload_id(str(entry.get("upload_id")))
        ):
            return None
        try:
            found: dict[str, Any] = call_with_retries(
                lambda: self.client.get_upload(str(entry["upload_id"])), sleep=self.sleep
            )
        except (ApiError, OSError):
            return None
        meta = found.get("metadata") or {}
        if (
            found.get("status") == "pending_upload"
            or found.get("size") != source.size
            or meta.get("source_path") != source.relative
        ):
            return None
        return found

    def _confirm(self, source: Source, entry: Mapping[str, Any]) -> Outcome | None:
        """The manifest says this file is done: believe it only if the API has that upload, of
        this file (its size and source path), in that status."""
        upload_id = str(entry["upload_id"])
        if not is_upload_id(upload_id):
            return None  # not an id the API hands out: the entry was edited
        try:
            found = call_with_retries(lambda: self.client.get_upload(upload_id), sleep=self.sleep)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        meta = found.get("metadata") or {}
        if (
            found.get("status") != entry.get("status")
            or found.get("size") != source.size
            or meta.get("source_path") != source.relative
        ):
            return None
        return Outcome(source.relative, str(found["status"]), upload_id, found.get("error"), True)

    def _wait(self, created: Mapping[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + self.wait_timeout
        while True:
            record: dict[str, Any] = call_with_retries(
                lambda: self.client.status(created), sleep=self.sleep
            )
            if record.get("status") in TERMINAL_STATUSES or time.monotonic() >= deadline:
                return record
            time.sleep(0.25)

    def _error(
        self,
        source: Source,
        base: dict[str, Any],
        record: Callable[[dict[str, Any]], None],
        upload_id: str | None,
        exc: BaseException,
    ) -> Outcome:
        if isinstance(exc, ApiError):
            error = {"code": exc.code, "message": exc.message}
        else:
            error = {"code": "client_error", "message": str(exc) or type(exc).__name__}
        record({**base, "upload_id": upload_id, "status": "error", "error": error})
        return Outcome(source.relative, "error", upload_id, error)

    def run(
        self,
        sources: list[Source],
        *,
        parallel: int = 4,
        on_done: Callable[[Outcome], None] | None = None,
    ) -> Summary:
        """Import `sources`, `parallel` at once, in daemon threads; the manifest is written by
        this thread alone, after each change. Ctrl-C stops taking new files and returns what
        finished (`interrupted`); the manifest lets the next run resume."""
        outcomes: list[Outcome] = []

        def record(source: Source, entry: dict[str, Any]) -> None:
            self.manifest.entries[source.relative] = entry
            self.manifest.save()

        def finished(source: Source, outcome: Outcome) -> None:
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)

        interrupted = False
        try:
            in_parallel(
                sources,
                self.import_one,
                parallel=parallel,
                done=finished,
                note=record,
                name="mediakit-import",
            )
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self.manifest.save()
        outcomes.sort(key=lambda o: o.relative)
        return Summary(outcomes, self.manifest.file, interrupted)


def iter_failures(summary: Summary) -> Iterator[str]:
    """One line per file that did not complete: its path, status, code and message."""
    for outcome in summary.failed:
        error = outcome.error or {}
        reason = f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
        yield f"  {outcome.relative}  {outcome.status}  {reason}"

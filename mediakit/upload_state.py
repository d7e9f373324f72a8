"""The local state of a resumable multipart upload: one small JSON file per local file, so an
interrupted `mediakit upload` can pick up where it stopped without sending finished parts again.

The state only says which upload a file belongs to and which parts were acknowledged; what S3
actually holds is asked again on resume (`GET /v1/uploads/{id}/parts`), so a state file edited
by hand can at worst point at an upload the caller cannot see (a 404) or list ETags S3 ignores.
It never decides which bytes are sent: those always come from the file, whose identity (path,
size, mtime and a hash of its first MiB) must match the state's before it is resumed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = Path(".mediakit/uploads")
HEAD_BYTES = 1024 * 1024
VERSION = 1


class StateError(Exception):
    """A state file that cannot be used (unreadable, malformed, for another file)."""


@dataclass(frozen=True)
class FileIdentity:
    """What makes a local file the same file: absolute path, size, mtime, SHA-256 of its head."""

    path: str
    size: int
    mtime_ns: int
    head_sha256: str

    @classmethod
    def of(cls, path: Path) -> FileIdentity:
        resolved = path.resolve()
        stat = resolved.stat()
        with resolved.open("rb") as fh:
            head = hashlib.sha256(fh.read(HEAD_BYTES)).hexdigest()
        return cls(str(resolved), stat.st_size, stat.st_mtime_ns, head)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "head_sha256": self.head_sha256,
        }


@dataclass
class UploadState:
    """One multipart upload in flight: its id and URLs, the plan, the parts acknowledged."""

    file: Path
    upload_id: str
    api_url: str
    identity: FileIdentity
    status_url: str
    part_size: int
    part_count: int
    checksums: bool = False
    parts: dict[int, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "upload_id": self.upload_id,
            "api_url": self.api_url,
            "file": self.identity.to_json(),
            "status_url": self.status_url,
            "part_size": self.part_size,
            "part_count": self.part_count,
            "checksums": self.checksums,
            "parts": {str(n): dict(p) for n, p in sorted(self.parts.items())},
        }

    def save(self) -> None:
        """Write atomically (a reader never sees half a file), readable by the owner only."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.file.parent, prefix=".state-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.to_json(), fh, indent=1, sort_keys=True)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def remove(self) -> None:
        self.file.unlink(missing_ok=True)


def state_file(state_dir: Path, path: Path) -> Path:
    """Where the state of `path` lives: one file per absolute path."""
    name = hashlib.sha256(str(path.resolve()).encode("utf-8")).hexdigest()[:32]
    return state_dir / f"{name}.json"


def _int(value: Any, name: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise StateError(f"{name} must be an integer >= {low}")
    return value


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise StateError(f"{name} must be a non-empty string")
    return value


def load(file: Path) -> UploadState | None:
    """The state in `file`, None if there is none; `StateError` if it is not one we wrote."""
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StateError(f"{file}: unreadable upload state ({exc})") from None
    try:
        if not isinstance(raw, dict) or raw.get("version") != VERSION:
            raise StateError("not a version 1 upload state")
        ident = raw.get("file")
        if not isinstance(ident, dict):
            raise StateError("file must be an object")
        identity = FileIdentity(
            _str(ident.get("path"), "file.path"),
            _int(ident.get("size"), "file.size"),
            _int(ident.get("mtime_ns"), "file.mtime_ns"),
            _str(ident.get("head_sha256"), "file.head_sha256"),
        )
        parts_raw = raw.get("parts")
        if not isinstance(parts_raw, dict):
            raise StateError("parts must be an object")
        parts: dict[int, dict[str, str]] = {}
        for number, part in parts_raw.items():
            if not number.isdigit() or not isinstance(part, dict):
                raise StateError(f"parts[{number!r}] is not a part")
            parts[int(number)] = {str(k): str(v) for k, v in part.items()}
        return UploadState(
            file=file,
            upload_id=_str(raw.get("upload_id"), "upload_id"),
            api_url=_str(raw.get("api_url"), "api_url"),
            identity=identity,
            status_url=_str(raw.get("status_url"), "status_url"),
            part_size=_int(raw.get("part_size"), "part_size", 1),
            part_count=_int(raw.get("part_count"), "part_count", 1),
            checksums=bool(raw.get("checksums")),
            parts=parts,
        )
    except StateError as exc:
        raise StateError(f"{file}: {exc}") from None

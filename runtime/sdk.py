"""The AWS SDK a function runs with: the botocore the artifact bundles, checked at cold start.

Lambda's Python runtimes ship a boto3/botocore of their own, of no published version, and AWS
recommends bundling the SDK a function depends on. The runtime needs botocore >= 1.36
(`request_checksum_calculation` / `response_checksum_validation` in `runtime.aws`, `IfNoneMatch`
on PutObject and CompleteMultipartUpload); an older one fails every S3 client creation with a
`TypeError`, far from its cause. `mediakit build` therefore bundles the botocore pinned in
pyproject.toml and records it in the artifact's manifest; `verify()` fails the cold start when the
botocore Python imports is not that one (a layer or PYTHONPATH shadowing /var/task), or, outside
an artifact (tests, the local emulator), when it is older than `MINIMUM_BOTOCORE`.

Self-contained (standard library + botocore's own `__init__`). `runtime.aws` calls `verify()`
before it creates the process's first client: at the first invocation, which is when botocore is
imported at all (the handler modules import no SDK, to keep init short).
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

# Written by stacks.artifact at the root of the zip (/var/task on Lambda), beside `runtime/`.
MANIFEST_NAME = "mediakit-manifest.json"
MANIFEST_PATH = Path(__file__).resolve().parent.parent / MANIFEST_NAME
# The oldest botocore with request_checksum_calculation / response_checksum_validation.
MINIMUM_BOTOCORE = (1, 36, 0)

_verified: str | None = None
_lock = threading.Lock()


class SdkVersionError(RuntimeError):
    """The function would run with a botocore other than the one it was built and tested with."""


def parse_version(text: str) -> tuple[int, ...]:
    """`1.44.8` -> (1, 44, 8); pre-release and local suffixes are ignored."""
    match = re.match(r"^(\d+(?:\.\d+)*)", text.strip())
    if match is None:
        raise SdkVersionError(f"unreadable botocore version {text!r}")
    return tuple(int(part) for part in match.group(1).split("."))


def bundled_botocore(manifest_path: Path = MANIFEST_PATH) -> str | None:
    """The botocore version the artifact's manifest records, or None outside an artifact."""
    try:
        manifest: Any = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SdkVersionError(f"{manifest_path} is unreadable: {exc}") from None
    version = (
        manifest.get("distributions", {}).get("botocore") if isinstance(manifest, dict) else None
    )
    if not isinstance(version, str):
        raise SdkVersionError(f"{manifest_path} records no botocore version")
    return version


def check(running: str, bundled: str | None) -> None:
    """Raise `SdkVersionError` unless `running` is `bundled` (without a manifest: recent enough)."""
    floor = ".".join(map(str, MINIMUM_BOTOCORE))
    if bundled is not None and running != bundled:
        raise SdkVersionError(
            f"botocore {running} is running but this artifact bundles botocore {bundled} "
            f"({MANIFEST_NAME}): another botocore comes first on sys.path (a Lambda layer or "
            "PYTHONPATH shadows /var/task). Remove it, or rebuild the artifact with "
            "`mediakit build` after changing the pin in pyproject.toml."
        )
    if parse_version(running) < MINIMUM_BOTOCORE:
        raise SdkVersionError(
            f"botocore {running} is older than {floor}: the S3 client configuration "
            "(request_checksum_calculation, IfNoneMatch) needs botocore >= "
            f"{floor}. Install the version pinned in pyproject.toml."
        )


def verify(manifest_path: Path = MANIFEST_PATH) -> str:
    """Check the imported botocore once per process; returns its version."""
    global _verified
    with _lock:
        if _verified is None:
            import botocore

            running = str(botocore.__version__)
            check(running, bundled_botocore(manifest_path))
            _verified = running
        return _verified

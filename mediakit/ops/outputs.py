"""A deployed stack's outputs (`pulumi stack output --json` saved to a file), as the operator
tools read them: one error message per way the file can be wrong, and the region of its queues."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mediakit.errors import SetupError


def read_outputs(path: Path, required: Iterable[str]) -> dict[str, Any]:
    """The outputs in `path`; a clean error (exit 2) if it cannot be read, is not a JSON object of
    outputs, or lacks one of `required`."""
    try:
        outputs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SetupError(f"cannot read stack outputs {path}: {exc}") from None
    if not isinstance(outputs, dict):
        raise SetupError(f"{path} is not a JSON object of stack outputs")
    missing = [k for k in required if not outputs.get(k)]
    if missing:
        raise SetupError(f"{path} lacks {', '.join(missing)}")
    return outputs


def queue_region(queue_url: str) -> str | None:
    """`https://sqs.eu-west-1.amazonaws.com/...` (or the legacy
    `https://eu-west-1.queue.amazonaws.com/...`) -> `eu-west-1`; None for any other URL (the
    emulator's)."""
    host = queue_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    parts = host.split(".")
    if len(parts) > 3 and parts[0] == "sqs":
        return parts[1]
    if len(parts) > 3 and parts[1] == "queue":
        return parts[0]
    return None

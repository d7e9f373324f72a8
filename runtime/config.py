"""Settings and resource names, read from the environment once per process."""

from __future__ import annotations

import functools
import logging
import os

from runtime.registry import unknown_environ
from runtime.settings import Resources, Settings

log = logging.getLogger(__name__)


@functools.cache
def settings() -> Settings:
    """The validated pipeline settings (`MEDIAKIT_*` variables). A variable nothing reads is
    logged and left alone here, not refused: the CLI, the stack and the emulator refuse typos
    where a person sees them, and a running function must not fail every invocation over a
    variable it has no use for (added by hand, or by a newer release ahead of its code)."""
    unknown = unknown_environ(os.environ)
    if unknown:
        log.warning("ignoring MEDIAKIT_ variables nothing reads: %s", ", ".join(unknown))
    return Settings.from_env(os.environ, strict=False)


@functools.cache
def resources() -> Resources:
    """Bucket, table, bus, key and CDN names handed over by the stack or the emulator."""
    return Resources.from_env(os.environ)


def reset() -> None:
    settings.cache_clear()
    resources.cache_clear()

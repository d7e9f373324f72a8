"""Settings and resource names, read from the environment once per process."""

from __future__ import annotations

import functools
import os

from runtime.settings import Resources, Settings


@functools.cache
def settings() -> Settings:
    """The validated pipeline settings (`MEDIAKIT_*` variables)."""
    return Settings.from_env(os.environ)


@functools.cache
def resources() -> Resources:
    """Bucket, table, bus, key and CDN names handed over by the stack or the emulator."""
    return Resources.from_env(os.environ)


def reset() -> None:
    settings.cache_clear()
    resources.cache_clear()

"""The emulator's functions mirror the stack's: the same entry points, and the presign
function's default memory and timeout (the processor's come from the shared settings)."""

from __future__ import annotations

import pytest

from mediakit import emulator

compute = pytest.importorskip("stacks.compute")
config = pytest.importorskip("stacks.config")


def test_parity_function_handlers_match_the_stack() -> None:
    # GIVEN / WHEN / THEN the worker processes import the stack's Lambda entry points
    assert emulator.PRESIGN_HANDLER == compute.PRESIGN_HANDLER
    assert emulator.PROCESSOR_HANDLER == compute.PROCESSOR_HANDLER


def test_parity_presign_memory_and_timeout_match_the_stack_defaults() -> None:
    # GIVEN the stack's config defaults / THEN the emulator's presign function uses them
    defaults = {k.key: k.default for k in config.INFRA_KEYS}
    assert defaults["presignMemoryMb"] == emulator.PRESIGN_MEMORY_MB
    assert defaults["presignTimeoutSeconds"] == emulator.PRESIGN_TIMEOUT_SECONDS

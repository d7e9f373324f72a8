"""The emulator's functions are the stack's: the entry points, memory and timeouts are read from
the synthesized graph (no mirrored constants), so they follow the stack's config."""

from __future__ import annotations

import pytest

from mediakit.local.emulator import Emulator

compute = pytest.importorskip("stacks.compute")
config = pytest.importorskip("stacks.config")


def test_parity_function_handlers_match_the_stack() -> None:
    # GIVEN / WHEN / THEN the worker processes import the stack's Lambda entry points
    emulator = Emulator()
    assert emulator.presign_handler == compute.PRESIGN_HANDLER
    assert emulator.processor_handler == compute.PROCESSOR_HANDLER


def test_parity_presign_memory_and_timeout_match_the_stack_defaults() -> None:
    # GIVEN the stack's config defaults / THEN the emulator's presign function uses them
    defaults = {k.key: k.default for k in config.INFRA_KEYS}
    emulator = Emulator()
    assert emulator.presign_memory_mb == defaults["presignMemoryMb"]
    assert emulator.presign_timeout_seconds == defaults["presignTimeoutSeconds"]


def test_parity_presign_memory_and_timeout_follow_the_stack_config() -> None:
    # GIVEN a stack with other presign limits / THEN the emulator's function has them
    emulator = Emulator(config={"presignMemoryMb": 512, "presignTimeoutSeconds": 7})
    assert emulator.presign_memory_mb == 512
    assert emulator.presign_timeout_seconds == 7

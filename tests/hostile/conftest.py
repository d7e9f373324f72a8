"""Fixtures for the hostile-input tests: a moto stack running the real handlers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediakit.local.emulator import DevEnv, Emulator
from runtime.settings import Settings

# importlib mode puts no test folder on sys.path; the shared moto stack lives next to this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from moto_stack import HOSTILE_SETTINGS, MotoStack, moto_stack


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    """Every known type enabled, small derivatives, DLQ after three receives."""
    with moto_stack(HOSTILE_SETTINGS, monkeypatch) as provisioned:
        yield provisioned


@pytest.fixture(scope="module")
def dev() -> Iterator[DevEnv]:
    """`mediakit dev` in this process, real handlers behind the HTTP front and JWT authorizer."""
    with Emulator(Settings()) as env:
        yield env

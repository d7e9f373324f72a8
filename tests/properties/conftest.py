"""Fixtures for the property tests: the shared moto stack (see tests/hostile/moto_stack.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hostile"))
from moto_stack import HOSTILE_SETTINGS, MotoStack, moto_stack


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    with moto_stack(HOSTILE_SETTINGS, monkeypatch) as provisioned:
        yield provisioned

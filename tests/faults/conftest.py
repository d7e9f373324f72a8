"""Fixtures for fault injection: the moto stack and an injector on the runtime's clients."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hostile"))
from fault_injection import Injector
from moto_stack import HOSTILE_SETTINGS, MotoStack, moto_stack


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoStack]:
    with moto_stack(HOSTILE_SETTINGS, monkeypatch) as provisioned:
        yield provisioned


@pytest.fixture
def inject(stack: MotoStack) -> Iterator[Injector]:
    injector = Injector()
    yield injector
    injector.close()

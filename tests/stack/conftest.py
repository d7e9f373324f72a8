"""Fixtures: the real stacks/__main__.py synthesized offline for dev and prod, once per session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from policies.synth import synth

Resource = dict[str, Any]


class StackGraph:
    """The synth graph with lookups by logical name and type."""

    def __init__(self, graph: dict[str, Any]) -> None:
        self.raw = graph
        self.resources: list[Resource] = graph["resources"]
        self.options: dict[str, dict[str, Any]] = {r["urn"]: r["options"] for r in self.resources}
        self.by_name = {r["name"]: r for r in self.resources}
        self.by_urn = {r["urn"]: r for r in self.resources}
        self.outputs: dict[str, Any] = graph["outputs"]
        self.config: dict[str, Any] = graph["config"]

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def get(self, name: str) -> Resource:
        return self.by_name[name]

    def protected(self, name: str) -> bool:
        opts = self.options[self.by_name[name]["urn"]]
        return bool(opts["protect"] and opts["retain_on_delete"])

    def retained(self, name: str) -> bool:
        return bool(self.options[self.by_name[name]["urn"]]["retain_on_delete"])

    def created_after(self, name: str, dependency: str) -> bool:
        """Whether the engine creates `name` only once `dependency` exists: `dependency` is in
        the transitive closure of `name`'s recorded dependencies."""
        target, seen = self.urn(dependency), set()
        todo = list(self.by_name[name]["depends_on"])
        while todo:
            urn = todo.pop()
            if urn == target:
                return True
            if urn not in seen:
                seen.add(urn)
                todo.extend(self.by_urn[urn]["depends_on"])
        return False

    def urn(self, name: str) -> str:
        urn: str = self.by_name[name]["urn"]
        return urn

    def inputs(self, name: str) -> dict[str, Any]:
        inputs: dict[str, Any] = self.by_name[name]["inputs"]
        return inputs

    def state(self, name: str) -> dict[str, Any]:
        state: dict[str, Any] = self.by_name[name]["state"]
        return state

    def of_type(self, type_token: str) -> list[Resource]:
        return [r for r in self.resources if r["type"] == type_token]

    def policy(self, name: str, key: str = "policy") -> dict[str, Any]:
        """A policy input, parsed: the stack passes every policy as a JSON string."""
        text = self.inputs(name)[key]
        assert isinstance(text, str), f"{name}.{key} must be a JSON string"
        parsed: dict[str, Any] = json.loads(text)
        return parsed

    def statements(self, name: str, key: str = "policy") -> dict[str, dict[str, Any]]:
        """Statements by Sid (every statement has one)."""
        return {s["Sid"]: s for s in self.policy(name, key)["Statement"]}


def _synth(stack: str) -> StackGraph:
    return StackGraph(synth(stack))


@pytest.fixture(scope="session")
def dev() -> StackGraph:
    return _synth("dev")


@pytest.fixture(scope="session")
def prod() -> StackGraph:
    return _synth("prod")


@pytest.fixture(params=["dev", "prod"])
def stack(request: pytest.FixtureRequest) -> StackGraph:
    """Each assertion that holds in every environment runs against both."""
    graph: StackGraph = request.getfixturevalue(request.param)
    return graph


def pytest_configure(config: pytest.Config) -> None:
    # pulumi_aws warns about its own deprecated aliases on import; not about this stack.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:pulumi_aws")

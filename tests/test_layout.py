"""The layout design.md promises, as import rules read from the source: each room imports only
what sits below it, so a newcomer can trust the folders."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# room -> top-level modules (or dotted prefixes) its code must never import
FORBIDDEN = {
    "runtime": ("mediakit", "stacks", "policies", "pulumi", "pulumi_aws", "click", "moto"),
    "stacks": ("mediakit", "click", "moto"),
    "policies": ("mediakit.cli", "mediakit.local", "click"),
    "mediakit/local": ("mediakit.cli",),
    "mediakit/corpus": ("mediakit.cli", "mediakit.local", "stacks", "policies"),
    "mediakit/ops": ("mediakit.cli",),
}
ROOMS = ("cli", "local", "corpus", "ops")
# The client side of the API (its client, the upload state it resumes from, bulk import, the
# OpenAPI document's loader), the drivers behind `demo` and `loadtest`, and the exit codes and
# user-facing errors every room raises (errors.py).
TOP_LEVEL_MODULES = {
    "__init__.py",
    "apispec.py",
    "bulk_import.py",
    "client.py",
    "demo.py",
    "errors.py",
    "loadtest.py",
    "upload_state.py",
}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _violations(room: str, banned: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / room).rglob("*.py")):
        for name in imports(path):
            if any(name == b or name.startswith(f"{b}.") for b in banned):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_layout_room_imports_nothing_above_it(room: str) -> None:
    assert _violations(room, FORBIDDEN[room]) == []


def test_layout_rule_can_fail_on_a_real_import() -> None:
    # The rule itself is live: the CLI does import the emulator, so banning it there is caught.
    assert _violations("mediakit/cli", ("mediakit.local",))


def test_layout_mediakit_top_level_holds_only_the_rooms_and_their_glue() -> None:
    package = ROOT / "mediakit"
    rooms = {p.name for p in package.iterdir() if p.is_dir() and p.name != "__pycache__"}
    modules = {p.name for p in package.glob("*.py")}
    assert rooms == set(ROOMS)
    assert modules == TOP_LEVEL_MODULES


def test_layout_artifact_builder_sits_below_stack_and_cli() -> None:
    assert "stacks.artifact" in imports(ROOT / "stacks" / "__main__.py")
    assert "stacks.artifact" in imports(ROOT / "mediakit" / "cli" / "build.py")

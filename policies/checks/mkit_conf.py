"""Helpers shared by the MKIT checks: reading checkov's resource conf and the scan graph."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any


def first(conf: dict[str, Any], key: str, default: Any = None) -> Any:
    """checkov wraps every attribute value in a list; the value itself, or `default`."""
    value = conf.get(key)
    if isinstance(value, list):
        return value[0] if value else default
    return default if value is None else value


def blocks(conf: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The nested blocks under `key` (a block list, possibly wrapped once more)."""
    value = conf.get(key) or []
    if len(value) == 1 and isinstance(value[0], list):
        value = value[0]
    return [b for b in value if isinstance(b, dict)]


def document(value: Any) -> dict[str, Any] | None:
    """A policy document from a conf value: checkov parses some policies, others stay JSON."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def statements(doc: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [s for s in as_list((doc or {}).get("Statement")) if isinstance(s, dict)]


def file_of(conf: dict[str, Any]) -> str | None:
    """The scanned file a resource came from (one checkov run may scan several plans)."""
    return first(conf, "__file__")


def resources_in_file(
    graph: Any, file_path: str | None, resource_type: str
) -> Iterator[dict[str, Any]]:
    """checkov confs of every `resource_type` in the same plan file, from the scan graph."""
    if graph is None:
        return
    for _, node in graph.nodes():
        if node.get("resource_type") != resource_type or node.get("file_path_") != file_path:
            continue
        config = node.get("config_", {}).get(resource_type, {})
        yield from (c for c in config.values() if isinstance(c, dict))

"""What every policy tool reports, in one shape: a finding on one resource by one check."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


class PolicyToolError(RuntimeError):
    """A scanner could not run or returned something we cannot trust (not a policy failure)."""


@dataclass(frozen=True)
class Finding:
    """One failed check on one resource (a Terraform address in the exported plan)."""

    check_id: str
    title: str
    resource: str
    tool: str  # "checkov" or "parliament"
    detail: str = ""
    statement: str | None = None  # the Sid, for policy-document findings
    guideline: str | None = None
    severity: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


@dataclass(frozen=True)
class Passed:
    """One passed check on one resource."""

    check_id: str
    resource: str

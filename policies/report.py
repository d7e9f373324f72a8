"""Render a check run as text, JSON or SARIF 2.1.0 (for GitHub code scanning)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from policies.check import CheckRun, StackReport
from policies.findings import Finding
from policies.suppressions import Suppression

ROOT = Path(__file__).resolve().parent.parent
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_COMPONENT = re.compile(r"^mediakit:stack:(\w+)$")


def to_json(run: CheckRun) -> dict[str, Any]:
    """Machine-readable verdict: summary, findings, suppressions with reasons, census."""
    return {
        "ok": run.ok,
        "timings_seconds": {k: round(v, 2) for k, v in run.timings.items()},
        "stacks": [_stack_json(r) for r in run.reports],
    }


def _stack_json(r: StackReport) -> dict[str, Any]:
    return {
        "key": r.key,
        "stack": r.stack,
        "ok": r.ok,
        "summary": {
            "passed": len(r.passed),
            "failed": len(r.triage.failed),
            "suppressed": len(r.triage.suppressed),
            "unused_suppressions": len(r.triage.unused),
            "resources_exported": sum(r.exported.values()),
            "resources_scanned": sum(r.scanned.values()),
        },
        "failed": [f.to_json() for f in r.triage.failed],
        "suppressed": [{**f.to_json(), "reason": s.reason} for f, s in r.triage.suppressed],
        "unused_suppressions": [_suppression_json(s) for s in r.triage.unused],
        "suppression_errors": r.suppression_errors,
        "scanned_per_type": dict(sorted(r.scanned.items())),
        "passed_per_check": dict(sorted(Counter(p.check_id for p in r.passed).items())),
    }


def _suppression_json(s: Suppression) -> dict[str, Any]:
    out: dict[str, Any] = {"check": s.check, "resource": s.resource, "reason": s.reason}
    if s.statement:
        out["statement"] = s.statement
    return out


def to_text(run: CheckRun) -> str:
    """Human summary: what failed, what is suppressed and why, what is stale."""
    lines: list[str] = []
    for r in run.reports:
        status = "PASS" if r.ok else "FAIL"
        lines.append(
            f"== {r.key} (stack {r.stack}): {status} — {len(r.passed)} passed, "
            f"{len(r.triage.failed)} failed, {len(r.triage.suppressed)} suppressed, "
            f"{sum(r.scanned.values())}/{sum(r.exported.values())} resources scanned"
        )
        for f in sorted(r.triage.failed, key=_order):
            lines.append(f"  FAILED      {_label(f)}: {f.title}")
        for f, s in sorted(r.triage.suppressed, key=lambda p: _order(p[0])):
            lines.append(f"  suppressed  {_label(f)}: {s.reason}")
        for s in r.triage.unused:
            lines.append(f"  UNUSED      suppression {s.label()}: remove it or fix the entry")
        for e in r.suppression_errors:
            lines.append(f"  INVALID     {e}")
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in run.timings.items())
    lines.append(f"{'OK' if run.ok else 'FAILED'} ({timing})")
    return "\n".join(lines) + "\n"


def _order(f: Finding) -> tuple[str, str, str, str]:
    return (f.check_id, f.resource, f.statement or "", f.detail)


def _label(f: Finding) -> str:
    """Check, resource, Sid and detail: one statement can fail one check several times (a
    parliament issue per action), and only the detail tells those findings apart."""
    sid = f" [{f.statement}]" if f.statement else ""
    detail = f" ({f.detail})" if f.detail else ""
    return f"{f.check_id} {f.resource}{sid}{detail}"


def _source_location(r: StackReport, f: Finding) -> tuple[str, int]:
    """Where a fix goes: the policy document function for parliament findings, else the stack
    module of the component that owns the resource; the line that names it when found."""
    if f.tool == "parliament":
        path = "policies/documents.py"
        needle = f'"{f.statement}"' if f.statement else None
    else:
        path, needle = _component_module(r.addresses.get(f.resource, ""))
    file = ROOT / path
    if needle and file.is_file():
        for n, line in enumerate(file.read_text().splitlines(), 1):
            if needle in line:
                return path, n
    return path, 1


def _component_module(urn: str) -> tuple[str, str | None]:
    # urn:pulumi:<stack>::<project>::<parent types $-joined>$<type>::<name>
    parts = urn.split("::")
    if len(parts) < 4:
        return "stacks/__main__.py", None
    types, name = parts[2].split("$"), parts[3]
    for t in reversed(types[:-1]):
        match = _COMPONENT.match(t)
        if match:
            module = re.sub(r"(?<!^)(?=[A-Z])", "_", match.group(1)).lower()
            path = f"stacks/{module}.py"
            if (ROOT / path).is_file():
                # Children are named f"{name}-<role>": the role suffix is what the code spells.
                suffix = name.rsplit("-", 1)[-1]
                return path, f'-{suffix}"'
    return "stacks/__main__.py", None


def to_sarif(run: CheckRun) -> dict[str, Any]:
    """SARIF 2.1.0: one run per checked graph; suppressed findings carry their reason as an
    external suppression, so code scanning shows them as suppressed, not as open alerts."""
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [_sarif_run(r) for r in run.reports],
    }


def _sarif_run(r: StackReport) -> dict[str, Any]:
    findings: list[tuple[Finding, Suppression | None]] = [(f, None) for f in r.triage.failed]
    findings += [(f, s) for f, s in r.triage.suppressed]
    rules: dict[str, dict[str, Any]] = {}
    results = []
    for f, s in sorted(findings, key=lambda p: _order(p[0])):
        rules.setdefault(f.check_id, _rule(f))
        results.append(_result(r, f, s))
    for s in r.triage.unused:
        rules.setdefault("MKIT_SUPPRESSION_UNUSED", _unused_rule())
        results.append(
            {
                "ruleId": "MKIT_SUPPRESSION_UNUSED",
                "level": "error",
                "message": {"text": f"Unused suppression {s.label()}"},
                "locations": [_location("policies/suppressions.yaml", _yaml_line(s))],
            }
        )
    return {
        "tool": {
            "driver": {
                "name": "mediakit-check",
                "informationUri": "https://www.checkov.io/",
                "rules": list(rules.values()),
            }
        },
        "automationDetails": {"id": f"mediakit-check/{r.key}/"},
        "results": results,
    }


def _rule(f: Finding) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": f.check_id,
        "name": f.check_id.replace("/", "_"),
        "shortDescription": {"text": f.title},
        "properties": {"tool": f.tool},
    }
    if f.guideline:
        rule["helpUri"] = f.guideline
    return rule


def _unused_rule() -> dict[str, Any]:
    return {
        "id": "MKIT_SUPPRESSION_UNUSED",
        "name": "MKIT_SUPPRESSION_UNUSED",
        "shortDescription": {"text": "A suppression matched no finding"},
    }


def _result(r: StackReport, f: Finding, s: Suppression | None) -> dict[str, Any]:
    path, line = _source_location(r, f)
    sid = f" [{f.statement}]" if f.statement else ""
    text = f"{f.title} — {f.resource}{sid} (stack {r.stack})"
    if f.detail:
        text += f": {f.detail}"
    identity = f"{r.stack}|{f.check_id}|{f.resource}|{f.statement}"
    if f.tool == "parliament" and f.detail:
        # parliament reports an issue once per action of a statement; the detail names the
        # action. checkov reports a check once per resource, and its detail (the evaluated
        # keys) may change between checkov versions, so it stays out of the alert's identity.
        identity += f"|{f.detail}"
    fingerprint = hashlib.sha256(identity.encode()).hexdigest()
    result: dict[str, Any] = {
        "ruleId": f.check_id,
        "level": "error",
        "message": {"text": text},
        "locations": [_location(path, line, f.resource, r.addresses.get(f.resource))],
        "partialFingerprints": {"mediakitFinding/v1": fingerprint},
    }
    if s is not None:
        result["suppressions"] = [{"kind": "external", "justification": s.reason}]
    return result


def _location(
    path: str, line: int, logical: str | None = None, urn: str | None = None
) -> dict[str, Any]:
    loc: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": path},
            "region": {"startLine": line},
        }
    }
    if logical:
        loc["logicalLocations"] = [
            {"name": logical, "fullyQualifiedName": urn or logical, "kind": "resource"}
        ]
    return loc


def _yaml_line(s: Suppression) -> int:
    file = ROOT / "policies" / "suppressions.yaml"
    if file.is_file():
        lines = file.read_text().splitlines()
        for n, line in enumerate(lines, 1):
            if s.resource in line and any(s.check in x for x in lines[max(0, n - 3) : n + 2]):
                return n
    return 1


def render(run: CheckRun, fmt: str) -> str:
    """The run in `fmt` (cli, json or sarif) as text."""
    if fmt == "cli":
        return to_text(run)
    data = to_json(run) if fmt == "json" else to_sarif(run)
    return json.dumps(data, indent=2) + "\n"

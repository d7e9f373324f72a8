"""The reviewed suppression list (policies/suppressions.yaml): which check may fail on which
resource, and why. A suppression without a reason, or one that matched nothing, is an error:
the list must shrink when the stack improves, not linger as a blanket waiver.

An entry may hold only for some stacks (`stacks:`), only while the stack's effective config has
given values (`when:`, e.g. `{cdnDomainName: ""}` for findings a custom domain fixes) or only
while it does not (`unless:`, e.g. `{kmsKeyArn: ""}` for findings of an existing key), so a stack
that configures the fix is checked without the waiver, and the waiver is not reported unused.
A `resource` may end in `*` to cover resources a setting multiplies (the delivery key of each
generation, `aws_kms_key.media-delivery-key-*`); nothing else is a pattern."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from policies.findings import Finding

DEFAULT_FILE = Path(__file__).with_name("suppressions.yaml")
_MIN_REASON_WORDS = 5


@dataclass(frozen=True)
class Suppression:
    """Check `check` may fail on `resource` (a plan address), for `reason`."""

    check: str
    resource: str
    reason: str
    statement: str | None = None  # limit a policy-document finding to one Sid
    stacks: tuple[str, ...] = ()  # empty: every stack
    when: tuple[tuple[str, Any], ...] = ()  # effective config values it holds under
    unless: tuple[tuple[str, Any], ...] = ()  # effective config values it does not hold under

    def applies_to(self, stack: str, config: Mapping[str, Any] | None = None) -> bool:
        if self.stacks and stack not in self.stacks:
            return False
        settings = config or {}
        return all(key in settings and settings[key] == value for key, value in self.when) and (
            not any(key in settings and settings[key] == value for key, value in self.unless)
        )

    def matches(self, finding: Finding) -> bool:
        return (
            finding.check_id == self.check
            and (
                finding.resource == self.resource
                or (self.resource.endswith("*") and finding.resource.startswith(self.resource[:-1]))
            )
            and (self.statement is None or finding.statement == self.statement)
        )

    def label(self) -> str:
        sid = f" [{self.statement}]" if self.statement else ""
        return f"{self.check} on {self.resource}{sid}"


@dataclass
class Triage:
    """Findings split by the suppression list, plus what is wrong with the list itself."""

    failed: list[Finding] = field(default_factory=list)
    suppressed: list[tuple[Finding, Suppression]] = field(default_factory=list)
    unused: list[Suppression] = field(default_factory=list)


class SuppressionFileError(ValueError):
    """The suppression file is malformed (missing field, no reason, duplicate entry)."""


def load(path: Path = DEFAULT_FILE) -> list[Suppression]:
    """Parse and validate the suppression file; every entry needs a real reason."""
    data = yaml.safe_load(path.read_text()) or {}
    entries = data.get("suppressions") or []
    if not isinstance(entries, list):
        raise SuppressionFileError(f"{path}: `suppressions` must be a list")
    out: list[Suppression] = []
    problems: list[str] = []
    for n, entry in enumerate(entries, 1):
        where = f"{path.name} entry {n}"
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: not a mapping")
            continue
        check, resource = entry.get("check"), entry.get("resource")
        reason = " ".join(str(entry.get("reason") or "").split())
        if not check or not resource:
            problems.append(f"{where}: needs `check` and `resource`")
            continue
        if len(reason.split()) < _MIN_REASON_WORDS:
            problems.append(f"{where} ({check} on {resource}): needs a reason (a sentence)")
            continue
        stacks = entry.get("stacks") or ()
        when, unless = entry.get("when") or {}, entry.get("unless") or {}
        if not all(
            isinstance(c, Mapping) and all(isinstance(v, str | int | bool) for v in c.values())
            for c in (when, unless)
        ):
            problems.append(
                f"{where} ({check} on {resource}): `when`/`unless` map config keys to values"
            )
            continue
        out.append(
            Suppression(
                check=str(check),
                resource=str(resource),
                reason=reason,
                statement=str(entry["statement"]) if entry.get("statement") else None,
                stacks=tuple(str(s) for s in ([stacks] if isinstance(stacks, str) else stacks)),
                when=tuple(sorted((str(k), v) for k, v in when.items())),
                unless=tuple(sorted((str(k), v) for k, v in unless.items())),
            )
        )
    keys = [(s.check, s.resource, s.statement, s.stacks, s.when, s.unless) for s in out]
    problems += [f"duplicate suppression {k[0]} on {k[1]}" for k in set(keys) if keys.count(k) > 1]
    if problems:
        raise SuppressionFileError("; ".join(sorted(problems)))
    return out


def triage(
    findings: Iterable[Finding],
    suppressions: Sequence[Suppression],
    stack: str,
    config: Mapping[str, Any] | None = None,
) -> Triage:
    """Split findings into failed and suppressed; report suppressions that matched nothing.
    `config` is the stack's effective config (the graph's), for entries with `when`."""
    active = [s for s in suppressions if s.applies_to(stack, config)]
    used: set[Suppression] = set()
    result = Triage()
    for finding in findings:
        match = next((s for s in active if s.matches(finding)), None)
        if match is None:
            result.failed.append(finding)
        else:
            used.add(match)
            result.suppressed.append((finding, match))
    result.unused = [s for s in active if s not in used]
    return result


def checkov_baseline(
    suppressions: Sequence[Suppression],
    stack: str,
    plan_file: str,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The same waivers as a checkov `--baseline` file, for running checkov by hand.

    The runner does not pass it to checkov: with a baseline checkov drops every passing result
    that is not in it (checkov/common/output/baseline.py), which would hide the per-type scan
    census and the pass counts. A test proves both give the same verdict.
    """
    by_resource: dict[str, set[str]] = {}
    for s in suppressions:
        if s.applies_to(stack, config) and not s.check.startswith("parliament/"):
            by_resource.setdefault(s.resource, set()).add(s.check)
    findings = [{"resource": r, "check_ids": sorted(ids)} for r, ids in sorted(by_resource.items())]
    return {"failed_checks": [{"file": plan_file, "findings": findings}]}


def write_checkov_baseline(
    suppressions: Sequence[Suppression],
    stack: str,
    plan_file: str,
    out: Path,
    config: Mapping[str, Any] | None = None,
) -> Path:
    baseline = checkov_baseline(suppressions, stack, plan_file, config)
    out.write_text(json.dumps(baseline, indent=2) + "\n")
    return out

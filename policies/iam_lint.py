"""Lint every IAM and resource policy document of the stack with parliament (offline).

parliament knows every action, its resource types and its condition keys, so it catches what
checkov's pattern checks cannot: unknown actions (a typo grants nothing and fails at run time),
actions applied to resources they do not support, and condition keys that do not exist for an
action. It runs as a program from the checkov virtualenv; each statement is linted as its own
document so that a finding names the statement (Sid) it is about.

Trust policies (`assume_role_policy`) are not linted here: parliament reads them as identity
policies and reports their (correctly) missing Resource; checkov's CKV_AWS_60/61 cover them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policies.checkov_runner import tool_path
from policies.findings import Finding, PolicyToolError

# Terraform attributes holding a permission or resource policy, per resource type.
POLICY_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "aws_iam_policy": ("policy",),
    "aws_iam_role_policy": ("policy",),
    "aws_kms_key": ("policy",),
    "aws_kms_key_policy": ("policy",),
    "aws_s3_bucket_policy": ("policy",),
    "aws_sns_topic": ("policy",),
    "aws_sns_topic_policy": ("policy",),
    "aws_sqs_queue": ("policy",),
    "aws_sqs_queue_policy": ("policy",),
}
CHECK_PREFIX = "parliament/"


@dataclass(frozen=True)
class PolicyStatement:
    """One statement of one policy document, with where it came from."""

    resource: str  # plan address
    attribute: str
    sid: str | None
    version: str
    statement: dict[str, Any]

    def as_document(self) -> dict[str, Any]:
        return {"Version": self.version, "Statement": [self.statement]}


def _parse(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


def _documents(resource: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    values = resource.get("values") or {}
    for attribute in POLICY_ATTRIBUTES.get(resource["type"], ()):
        if values.get(attribute):
            yield attribute, values[attribute]
    if resource["type"] == "aws_iam_role":
        for n, inline in enumerate(values.get("inline_policy") or []):
            if isinstance(inline, Mapping) and inline.get("policy"):
                yield f"inline_policy.{n}.policy", inline["policy"]


def policy_statements(plan: Mapping[str, Any]) -> list[PolicyStatement]:
    """Every statement of every permission/resource policy in the exported plan."""
    out: list[PolicyStatement] = []
    for resource in plan["planned_values"]["root_module"]["resources"]:
        for attribute, raw in _documents(resource):
            doc = _parse(raw)
            if doc is None:
                raise PolicyToolError(f"{resource['address']}.{attribute} is not a JSON policy")
            statements = doc.get("Statement")
            for statement in statements if isinstance(statements, list) else [statements]:
                if isinstance(statement, dict):
                    out.append(
                        PolicyStatement(
                            resource=resource["address"],
                            attribute=attribute,
                            sid=statement.get("Sid"),
                            version=str(doc.get("Version", "2012-10-17")),
                            statement=statement,
                        )
                    )
    return out


def _detail(value: Any) -> str:
    if isinstance(value, list):
        shown = ", ".join(str(v) for v in value[:8])
        return shown + (f" (+{len(value) - 8} more)" if len(value) > 8 else "")
    return str(value or "")


def lint(plans: Mapping[str, Mapping[str, Any]], work_dir: Path) -> dict[str, list[Finding]]:
    """parliament findings per plan key, all plans in one parliament process."""
    work_dir.mkdir(parents=True, exist_ok=True)
    index: dict[str, tuple[str, PolicyStatement]] = {}
    for key, plan in plans.items():
        for statement in policy_statements(plan):
            name = f"{len(index):05d}.json"
            (work_dir / name).write_text(json.dumps(statement.as_document()))
            index[name] = (key, statement)
    results: dict[str, list[Finding]] = {key: [] for key in plans}
    if not index:
        return results
    proc = subprocess.run(  # noqa: S603 (fixed program, arguments are paths we wrote)
        [
            str(tool_path("parliament")),
            "--directory",
            str(work_dir),
            "--include_policy_extension",
            "json",
            "--json",
            "--minimum_severity",
            "LOW",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if proc.returncode not in (0, 1):
        raise PolicyToolError(f"parliament failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    for line in proc.stdout.splitlines():
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            key, statement = index[Path(raw["location"]["filepath"]).name]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise PolicyToolError(f"unexpected parliament output {line[:200]!r}") from exc
        results[key].append(
            Finding(
                check_id=f"{CHECK_PREFIX}{raw['issue']}",
                title=str(raw.get("title") or raw["issue"]).strip(),
                resource=statement.resource,
                tool="parliament",
                detail=_detail(raw.get("detail")),
                statement=statement.sid,
                severity=raw.get("severity"),
                guideline="https://github.com/duo-labs/parliament",
            )
        )
    return results


def lint_plan(plan: Mapping[str, Any], work_dir: Path) -> list[Finding]:
    """parliament findings for one plan."""
    return lint({"plan": plan}, work_dir)["plan"]

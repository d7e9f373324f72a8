"""Least privilege, proven: each role's grants in the synthesized graph against the permissions
its recorded calls need (`policies.callmap`).

A role passes when nothing it calls is missing from its grants, every grant (action x resource)
is exercised by at least one call, and no grant is broader than the scope the calls need (an
action wildcard, or `bucket/*` where only `bucket/originals/*` is used).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from policies.callmap import Environment, FunctionFacts, Need

Graph = Mapping[str, Any]


class UnprovablePolicy(ValueError):
    """A policy shape the comparison cannot reason about exactly (NotAction, managed policies)."""


@dataclass(frozen=True, order=True)
class Grant:
    """One allowed (action, resource pattern) pair of a role, with where it comes from; `prefix`
    is one `s3:prefix` pattern of a `StringLike` condition ("" without one)."""

    action: str
    resource: str
    sid: str = field(default="", compare=False)
    policy: str = field(default="", compare=False)
    prefix: str = ""


@dataclass(frozen=True)
class RoleGrants:
    allow: tuple[Grant, ...]
    deny: tuple[Grant, ...] = ()


@dataclass(frozen=True)
class RoleDiff:
    """Why one role is not least privilege; empty lists mean it is."""

    role: str
    missing: list[Need]
    unused: list[Grant]
    too_broad: list[tuple[Grant, list[Need]]]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unused or self.too_broad)


# --- reading the graph ----------------------------------------------------------------------------


def _custom(graph: Graph, token: str) -> list[Mapping[str, Any]]:
    return [r for r in graph["resources"] if r.get("custom") and r["type"] == token]


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


def role_names(graph: Graph) -> dict[str, str]:
    """Every way the graph refers to a role (name, id, ARN) -> the role's name."""
    out: dict[str, str] = {}
    for r in _custom(graph, "aws:iam/role:Role"):
        name = str(r["state"].get("name") or r["id"])
        for ref in (name, r["id"], r["state"].get("arn")):
            if ref:
                out[str(ref)] = name
    return out


def statements(document: str | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    doc = json.loads(document) if isinstance(document, str) else document
    found = doc["Statement"]
    return [found] if isinstance(found, Mapping) else list(found)


def _grants(document: str | Mapping[str, Any], policy: str) -> RoleGrants:
    allow: list[Grant] = []
    deny: list[Grant] = []
    for s in statements(document):
        if "NotAction" in s or "NotResource" in s or "NotPrincipal" in s:
            raise UnprovablePolicy(f"{policy}: statement {s.get('Sid', '?')} uses a Not* element")
        prefixes = _prefix_condition(s) or [""]
        pairs = [
            Grant(a, r, str(s.get("Sid", "")), policy, p)
            for a in _listed(s["Action"])
            for r in _listed(s["Resource"])
            for p in prefixes
        ]
        (allow if s["Effect"] == "Allow" else deny).extend(pairs)
    return RoleGrants(tuple(allow), tuple(deny))


def _prefix_condition(statement: Mapping[str, Any]) -> list[str]:
    """The `s3:prefix` patterns a statement's `StringLike` condition allows ([] without)."""
    condition = statement.get("Condition") or {}
    like = condition.get("StringLike") or {}
    return _listed(like.get("s3:prefix", []))


def role_grants(graph: Graph) -> dict[str, RoleGrants]:
    """Role name -> every identity-policy statement attached to it in the graph: inline role
    policies, `inlinePolicies` on the role, and customer policies attached by ARN."""
    names = role_names(graph)
    allow: dict[str, list[Grant]] = {name: [] for name in names.values()}
    deny: dict[str, list[Grant]] = {name: [] for name in names.values()}

    def add(role_ref: str, document: str | Mapping[str, Any], policy: str) -> None:
        role = names.get(role_ref)
        if role is None:
            raise UnprovablePolicy(f"{policy} is attached to an unknown role {role_ref!r}")
        found = _grants(document, policy)
        allow[role].extend(found.allow)
        deny[role].extend(found.deny)

    for r in _custom(graph, "aws:iam/rolePolicy:RolePolicy"):
        add(str(r["inputs"]["role"]), r["inputs"]["policy"], r["name"])
    for r in _custom(graph, "aws:iam/role:Role"):
        for inline in r["inputs"].get("inlinePolicies") or []:
            if inline.get("policy"):
                add(r["id"], inline["policy"], f"{r['name']}/{inline.get('name', 'inline')}")
        for arn in r["inputs"].get("managedPolicyArns") or []:
            raise UnprovablePolicy(f"{r['name']} attaches the managed policy {arn}")
    policies = {str(p["state"].get("arn")): p for p in _custom(graph, "aws:iam/policy:Policy")}
    for r in _custom(graph, "aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        arn = str(r["inputs"]["policyArn"])
        if arn not in policies:
            raise UnprovablePolicy(f"{r['name']} attaches {arn}, which the stack does not define")
        add(str(r["inputs"]["role"]), policies[arn]["inputs"]["policy"], policies[arn]["name"])
    return {
        role: RoleGrants(tuple(sorted(set(allow[role]))), tuple(sorted(set(deny[role]))))
        for role in allow
    }


def key_policy_grants(graph: Graph) -> dict[str, RoleGrants]:
    """Role name -> what KMS key policies grant it by name. A key policy's `Resource: "*"` is
    the key itself; the account-root statement (which lets IAM policies apply) names no role."""
    names = role_names(graph)
    keys: dict[str, str] = {}
    documents: list[tuple[str, str, str | Mapping[str, Any]]] = []
    for r in _custom(graph, "aws:kms/key:Key"):
        arn = str(r["state"]["arn"])
        keys.update({str(ref): arn for ref in (r["id"], r["state"].get("keyId"), arn) if ref})
        if r["inputs"].get("policy"):
            documents.append((arn, r["name"], r["inputs"]["policy"]))
    for r in _custom(graph, "aws:kms/keyPolicy:KeyPolicy"):
        documents.append((keys[str(r["inputs"]["keyId"])], r["name"], r["inputs"]["policy"]))
    allow: dict[str, list[Grant]] = {}
    deny: dict[str, list[Grant]] = {}
    for key_arn, policy, document in documents:
        for s in statements(document):
            principal = s.get("Principal")
            refs = _listed(principal.get("AWS", [])) if isinstance(principal, Mapping) else []
            for role in sorted({names[p] for p in refs if p in names}):
                target = allow if s["Effect"] == "Allow" else deny
                target.setdefault(role, []).extend(
                    Grant(a, key_arn if r == "*" else r, str(s.get("Sid", "")), policy)
                    for a in _listed(s["Action"])
                    for r in _listed(s.get("Resource", "*"))
                )
    return {
        role: RoleGrants(
            tuple(sorted(set(allow.get(role, [])))), tuple(sorted(set(deny.get(role, []))))
        )
        for role in sorted(set(allow) | set(deny))
    }


def lambda_functions(graph: Graph) -> dict[str, FunctionFacts]:
    """Lambda handler (`runtime.presign.handler`) -> the facts implicit calls depend on."""
    names = role_names(graph)
    mappings = _custom(graph, "aws:lambda/eventSourceMapping:EventSourceMapping")
    out: dict[str, FunctionFacts] = {}
    for r in _custom(graph, "aws:lambda/function:Function"):
        inputs, state = r["inputs"], r["state"]
        refs = {state.get("name"), state.get("arn"), r["id"]}
        sources = tuple(
            sorted(
                str(m["inputs"]["eventSourceArn"])
                for m in mappings
                if m["inputs"].get("functionName") in refs
                and ":sqs:" in str(m["inputs"].get("eventSourceArn", ""))
            )
        )
        logging_config = inputs.get("loggingConfig") or {}
        out[str(inputs["handler"])] = FunctionFacts(
            name=str(state.get("name") or r["id"]),
            handler=str(inputs["handler"]),
            role=names[str(inputs["role"])],
            log_group=str(logging_config.get("logGroup") or f"/aws/lambda/{state.get('name')}"),
            tracing_active=(inputs.get("tracingConfig") or {}).get("mode") == "Active",
            sqs_sources=sources,
        )
    return out


def environment(graph: Graph, *, partition: str, region: str, account_id: str) -> Environment:
    """Which KMS key encrypts each bucket's objects and each queue's messages, per the graph."""
    env = Environment(partition=partition, region=region, account_id=account_id)
    bucket_keys: dict[str, str] = {}
    for token in (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    ):
        for r in _custom(graph, token):
            for rule in r["inputs"].get("rules") or []:
                default = rule.get("applyServerSideEncryptionByDefault") or {}
                if str(default.get("sseAlgorithm", "")).startswith("aws:kms"):
                    key = str(default.get("kmsMasterKeyId") or "alias/aws/s3")
                    bucket_keys[str(r["inputs"]["bucket"])] = env.key_arn(key)
    queue_keys = {
        str(r["state"]["arn"]): env.key_arn(str(r["inputs"]["kmsMasterKeyId"]))
        for r in _custom(graph, "aws:sqs/queue:Queue")
        if r["inputs"].get("kmsMasterKeyId")
    }
    return Environment(partition, region, account_id, bucket_keys, queue_keys)


# --- comparing ------------------------------------------------------------------------------------


@cache
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards: `*` any run of characters (including `/` and `:`), `?` one character.
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, re.IGNORECASE if ignore_case else 0)


def matches(grant: Grant, need: Need) -> bool:
    """IAM evaluation of one grant against one need: actions case-insensitive, resources not."""
    return bool(
        _pattern(grant.action, True).fullmatch(need.action)
        and _pattern(grant.resource, False).fullmatch(need.resource)
        and (not grant.prefix or _pattern(grant.prefix, False).fullmatch(need.prefix))
    )


def compare_role(role: str, grants: RoleGrants, needed: Iterable[Need]) -> RoleDiff:
    """Missing (needed, not allowed), unused (allowed, never needed) and too broad grants."""
    needs = sorted(set(needed))
    missing = [
        n
        for n in needs
        if not any(matches(g, n) for g in grants.allow) or any(matches(g, n) for g in grants.deny)
    ]
    scopes = {(n.action.lower(), n.scope, n.prefix_scope) for n in needs}
    unused: list[Grant] = []
    too_broad: list[tuple[Grant, list[Need]]] = []
    for grant in grants.allow:
        used = [n for n in needs if matches(grant, n)]
        if not used:
            unused.append(grant)
        elif (grant.action.lower(), grant.resource, grant.prefix) not in scopes:
            too_broad.append((grant, used))
    return RoleDiff(role, missing, unused, too_broad)


def compare(
    granted: Mapping[str, RoleGrants], needed: Mapping[str, Iterable[Need]]
) -> list[RoleDiff]:
    """One diff per role that has grants or needs, sorted by role name."""
    roles = sorted(set(granted) | set(needed))
    return [compare_role(r, granted.get(r, RoleGrants(())), needed.get(r, ())) for r in roles]


def format_diffs(diffs: Sequence[RoleDiff]) -> str:
    """A readable report: per role, what is missing, unused or too broad ('' when all pass)."""
    lines: list[str] = []
    for d in diffs:
        if d.ok:
            continue
        lines.append(f"role {d.role}:")
        for n in d.missing:
            lines.append(
                f"  MISSING   {n.action} on {n.resource}{_like(n.prefix)} "
                f"(grant it on {n.scope}{_like(n.prefix_scope)})"
            )
        for g in d.unused:
            lines.append(
                f"  UNUSED    {g.action} on {g.resource}{_like(g.prefix)} ({g.policy}/{g.sid})"
            )
        for g, used in d.too_broad:
            scopes = ", ".join(
                sorted({f"{n.action} on {n.scope}{_like(n.prefix_scope)}" for n in used})
            )
            lines.append(
                f"  TOO BROAD {g.action} on {g.resource}{_like(g.prefix)} ({g.policy}/{g.sid}); "
                f"calls need {scopes}"
            )
    return "\n".join(lines)


def _like(prefix: str) -> str:
    return f" with s3:prefix {prefix!r}" if prefix else ""


def needs_table(needed: Mapping[str, Iterable[Need]]) -> str:
    """Role -> (action, scope) as recorded, one line each: the proof's evidence, for humans."""
    lines = []
    for role in sorted(needed):
        lines.append(f"role {role}:")
        scopes = sorted({(n.action, n.scope, n.prefix_scope) for n in needed[role]})
        lines.extend(f"  {action:32} {scope}{_like(prefix)}" for action, scope, prefix in scopes)
    return "\n".join(lines)

"""Identity-policy documents of a resource, for the MKIT IAM checks."""

from __future__ import annotations

from typing import Any

import mkit_conf as mc

IDENTITY_POLICY_TYPES = ("aws_iam_policy", "aws_iam_role", "aws_iam_role_policy")


def identity_documents(conf: dict[str, Any]) -> list[dict[str, Any]]:
    """Permission policies a resource grants (a role's inline policies, a policy's document);
    trust policies are not permissions and are left out."""
    docs = [mc.document(conf.get("policy"))]
    docs += [mc.document(p.get("policy")) for p in mc.blocks(conf, "inline_policy")]
    return [d for d in docs if d]


def allow_statements(conf: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        s
        for doc in identity_documents(conf)
        for s in mc.statements(doc)
        if s.get("Effect") == "Allow"
    ]

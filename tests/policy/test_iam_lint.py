"""Policy documents extracted for parliament, and parliament's findings mapped to statements."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from policies import iam_lint, tfplan

# checkov and parliament must be installed: fail with the make target, never skip.
pytestmark = pytest.mark.usefixtures("checkov_venv")

Graph = dict[str, Any]


def test_iam_lint_extracts_permission_and_resource_policies(dev_graph: Graph) -> None:
    statements = iam_lint.policy_statements(tfplan.graph_to_plan(dev_graph))
    types = {s.resource.split(".")[0] for s in statements}
    assert types == {
        "aws_iam_role_policy",
        "aws_kms_key",  # private delivery's signing key carries its policy inline
        "aws_kms_key_policy",
        "aws_s3_bucket_policy",
        "aws_sqs_queue_policy",
    }
    # trust policies are left to checkov (parliament reads them as identity policies)
    assert not any(s.attribute == "assume_role_policy" for s in statements)
    assert all(s.sid for s in statements)


def test_iam_lint_inline_role_policies_are_included() -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    plan = {
        "planned_values": {
            "root_module": {
                "resources": [
                    {
                        "address": "aws_iam_role.r",
                        "type": "aws_iam_role",
                        "values": {"inline_policy": [{"name": "p", "policy": json.dumps(doc)}]},
                    }
                ]
            }
        }
    }
    [statement] = iam_lint.policy_statements(plan)
    assert (statement.resource, statement.attribute, statement.sid) == (
        "aws_iam_role.r",
        "inline_policy.0.policy",
        "A",
    )


def test_iam_lint_finding_names_resource_and_statement(tmp_path: Path) -> None:
    # GIVEN a role policy with a misspelt action WHEN parliament lints it
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Fine",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::b/*",
            },
            {
                "Sid": "Typo",
                "Effect": "Allow",
                "Action": "s3:GetObjects",
                "Resource": "arn:aws:s3:::b/*",
            },
        ],
    }
    plan = {
        "planned_values": {
            "root_module": {
                "resources": [
                    {
                        "address": "aws_iam_role_policy.p",
                        "type": "aws_iam_role_policy",
                        "values": {"policy": json.dumps(doc)},
                    }
                ]
            }
        }
    }
    findings = iam_lint.lint_plan(plan, tmp_path)
    # THEN the finding is on that resource and statement, under a parliament/ id
    assert [(f.check_id, f.resource, f.statement) for f in findings] == [
        ("parliament/UNKNOWN_ACTION", "aws_iam_role_policy.p", "Typo")
    ]

"""MKIT_AWS_007: no identity policy grants a wildcard action (`*`, `s3:*`, `s3:Get*`) or uses
NotAction: every action granted must be one the runtime calls, named in full."""

import mkit_conf as mc
import mkit_iam
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class IamNoWildcardAction(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="IAM policy statements name every action in full (no wildcard, no NotAction)",
            id="MKIT_AWS_007",
            categories=(CheckCategories.IAM,),
            supported_resources=mkit_iam.IDENTITY_POLICY_TYPES,
        )

    def scan_resource_conf(self, conf):
        statements = mkit_iam.allow_statements(conf)
        if not mkit_iam.identity_documents(conf):
            return CheckResult.UNKNOWN  # a role without inline policies grants nothing itself
        for s in statements:
            if "NotAction" in s or any("*" in a for a in mc.as_list(s.get("Action"))):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = IamNoWildcardAction()

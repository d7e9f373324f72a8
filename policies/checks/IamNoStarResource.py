"""MKIT_AWS_008: no identity policy grants on `Resource: "*"` (or NotResource) unless every action
in the statement has no resource-level permissions at all (a short, reviewed list)."""

import mkit_conf as mc
import mkit_iam
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

# Actions that AWS authorises only against "*" (Service Authorization Reference: no resource
# types). Add one only with that reference in the review.
UNSCOPABLE_ACTIONS = frozenset({"xray:PutTelemetryRecords", "xray:PutTraceSegments"})


class IamNoStarResource(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name='IAM statements scope resources ("*" only for actions that cannot be scoped)',
            id="MKIT_AWS_008",
            categories=(CheckCategories.IAM,),
            supported_resources=mkit_iam.IDENTITY_POLICY_TYPES,
        )

    def scan_resource_conf(self, conf):
        if not mkit_iam.identity_documents(conf):
            return CheckResult.UNKNOWN
        for s in mkit_iam.allow_statements(conf):
            if "NotResource" in s:
                return CheckResult.FAILED
            star = "*" in mc.as_list(s.get("Resource"))
            if star and not set(mc.as_list(s.get("Action"))) <= UNSCOPABLE_ACTIONS:
                return CheckResult.FAILED
        return CheckResult.PASSED


check = IamNoStarResource()

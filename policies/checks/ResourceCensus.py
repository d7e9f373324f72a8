"""MKIT_000: records that checkov parsed a resource, so the runner can prove nothing was dropped.

checkov silently skips a plan resource it cannot read (no `mode`, an unknown shape). This check
applies to every resource type and always passes; the runner compares its per-type count with
the resources exported, and fails the run on any difference. It is an inventory, not a control.
"""

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class ResourceCensus(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Resource parsed by checkov (inventory; compared with the export)",
            id="MKIT_000",
            categories=(CheckCategories.GENERAL_SECURITY,),
            supported_resources=("*",),
        )

    def scan_resource_conf(self, conf):
        return CheckResult.PASSED


check = ResourceCensus()

"""MKIT_AWS_010: in private delivery mode (the default) the derivatives behaviour serves only
signed requests: it names trusted key groups, each a key group of this plan holding at least one
public key, and no legacy trusted signers (account key pairs).

The mode is what the plan's functions are configured with (`MEDIAKIT_DELIVERY_MODE`, absent means
private): only a stack whose functions issue plain URLs (`public`, an explicit setting) may serve
derivatives unsigned. A distribution with no derivatives behaviour at all fails too.
"""

import mkit_conf as mc
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

MODE_VARIABLE = "MEDIAKIT_DELIVERY_MODE"
PREFIX_VARIABLE = "MEDIAKIT_DERIVATIVES_PREFIX"


def _variables(function):
    for environment in mc.blocks(function, "environment"):
        variables = environment.get("variables")
        if isinstance(variables, list):
            variables = variables[0] if variables else None
        if isinstance(variables, dict):
            return variables
    return {}


def _flat(value):
    out = []
    for item in mc.as_list(value):
        out.extend(_flat(item) if isinstance(item, list) else [item])
    return out


def _delivery(graph, file_path):
    """(mode, derivatives prefix) the plan's functions are configured with."""
    modes, prefix = set(), "derivatives/"
    for function in mc.resources_in_file(graph, file_path, "aws_lambda_function"):
        variables = _variables(function)
        modes.add(str(mc.first(variables, MODE_VARIABLE) or "private"))
        prefix = str(mc.first(variables, PREFIX_VARIABLE) or prefix)
    # Any function not saying public keeps the distribution private.
    return ("public" if modes == {"public"} else "private"), prefix


def _key_groups_with_keys(graph, file_path):
    return {
        mc.first(group, "id")
        for group in mc.resources_in_file(graph, file_path, "aws_cloudfront_key_group")
        if _flat(group.get("items"))
    }


class CloudFrontPrivateDerivatives(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Private delivery: CloudFront serves derivatives only to signed requests",
            id="MKIT_AWS_010",
            categories=(CheckCategories.NETWORKING,),
            supported_resources=("aws_cloudfront_distribution",),
        )

    def scan_resource_conf(self, conf):
        file_path = mc.file_of(conf)
        mode, prefix = _delivery(self.graph, file_path)
        if mode == "public":
            return CheckResult.PASSED
        trusted = _key_groups_with_keys(self.graph, file_path)
        derivatives = [
            b
            for b in mc.blocks(conf, "ordered_cache_behavior")
            if str(mc.first(b, "path_pattern", "")).startswith(prefix)
        ]
        if not derivatives:
            return CheckResult.FAILED
        for behaviour in derivatives:
            groups = _flat(behaviour.get("trusted_key_groups"))
            if not groups or not set(groups) <= trusted:
                return CheckResult.FAILED
            if _flat(behaviour.get("trusted_signers")):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = CloudFrontPrivateDerivatives()

"""Inputs AWS rewrites, ignores or rejects: the normalizations the kit knows and avoids.

Synthesizing twice cannot catch a perpetual diff: it comes from AWS reporting back something other
than what was set (the provider then plans the same update on every `pulumi up`). Each rule below
is one such behaviour, with its source, and says which inputs of which resource type would trip
it. tests/stack/test_normalizations.py runs every rule over every shipped graph (none may fire)
and docs/deploy.md's table lists every rule by id.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.settings import LOG_RETENTION_DAYS

Inputs = Mapping[str, Any]
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")


@dataclass(frozen=True)
class Normalization:
    """One AWS behaviour: `trips(inputs)` says whether a resource's inputs would meet it."""

    id: str
    resource_type: str
    inputs: str  # the inputs concerned, as docs/deploy.md names them
    aws_does: str
    kit_does: str
    source: str
    trips: Callable[[Inputs], bool]


def _default_certificate(inputs: Inputs) -> Mapping[str, Any] | None:
    certificate = inputs.get("viewerCertificate") or {}
    return certificate if certificate.get("cloudfrontDefaultCertificate") else None


def _tls_with_default_certificate(inputs: Inputs) -> bool:
    certificate = _default_certificate(inputs)
    return certificate is not None and certificate.get("minimumProtocolVersion") not in (
        None,
        "TLSv1",
    )


def _sni_with_default_certificate(inputs: Inputs) -> bool:
    certificate = _default_certificate(inputs)
    return certificate is not None and "sslSupportMethod" in certificate


def _table_key_not_an_arn(inputs: Inputs) -> bool:
    sse = inputs.get("serverSideEncryption") or {}
    key = sse.get("kmsKeyArn")
    return bool(sse.get("enabled")) and key is not None and not _KEY_ARN.match(str(key))


def _code_hash_not_lambdas(inputs: Inputs) -> bool:
    code = inputs.get("code") or {}
    path = code.get("path") if isinstance(code, Mapping) else None
    if path is None or not Path(path).is_file():
        return False  # no local zip to compare with (an S3 or image package)
    digest = hashlib.sha256(Path(path).read_bytes()).digest()
    return inputs.get("sourceCodeHash") != base64.b64encode(digest).decode()


def _retention_not_allowed(inputs: Inputs) -> bool:
    days = inputs.get("retentionInDays")
    return days is not None and int(days) not in LOG_RETENTION_DAYS


RULES: tuple[Normalization, ...] = (
    Normalization(
        id="cloudfront-default-certificate-tls",
        resource_type="aws:cloudfront/distribution:Distribution",
        inputs="viewerCertificate.minimumProtocolVersion with cloudfrontDefaultCertificate",
        aws_does="applies and reports TLSv1 whatever minimum is set",
        kit_does="sets no minimum without a custom domain; TLSv1.2_2021 with one",
        source="CloudFront API Reference, ViewerCertificate (MinimumProtocolVersion); pulumi-aws "
        "DistributionViewerCertificate: 'If you have specified cloudfront_default_certificate, "
        "TLSv1 must be specified'",
        trips=_tls_with_default_certificate,
    ),
    Normalization(
        id="cloudfront-default-certificate-sni",
        resource_type="aws:cloudfront/distribution:Distribution",
        inputs="viewerCertificate.sslSupportMethod with cloudfrontDefaultCertificate",
        aws_does="ignores it: the *.cloudfront.net certificate has no SSL support method",
        kit_does="sets sni-only only with a custom certificate",
        source="CloudFront API Reference, ViewerCertificate (SSLSupportMethod: with the "
        "CloudFront domain name, don't set a value)",
        trips=_sni_with_default_certificate,
    ),
    Normalization(
        id="dynamodb-sse-key-arn",
        resource_type="aws:dynamodb/table:Table",
        inputs="serverSideEncryption.kmsKeyArn",
        aws_does="reports the key's ARN (SSEDescription.KMSMasterKeyArn) whether an id, alias "
        "or ARN was given",
        kit_does="passes key ARNs only (kmsKeyArn must be a key ARN)",
        source="DynamoDB API Reference, SSEDescription (KMSMasterKeyArn)",
        trips=_table_key_not_an_arn,
    ),
    Normalization(
        id="lambda-code-sha256",
        resource_type="aws:lambda/function:Function",
        inputs="sourceCodeHash",
        aws_does="reports CodeSha256, the base64 SHA-256 of the deployed zip",
        kit_does="sets sourceCodeHash to exactly that, from a reproducible zip",
        source="Lambda API Reference, FunctionConfiguration (CodeSha256)",
        trips=_code_hash_not_lambdas,
    ),
    Normalization(
        id="log-group-retention",
        resource_type="aws:cloudwatch/logGroup:LogGroup",
        inputs="retentionInDays",
        aws_does="rejects any value outside its fixed list (InvalidParameterException)",
        kit_does="refuses a logRetentionDays outside that list (runtime/settings.py)",
        source="CloudWatch Logs API Reference, PutRetentionPolicy (retentionInDays)",
        trips=_retention_not_allowed,
    ),
)


def violations(resources: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(rule id, resource name) for every input of a synthesized graph that a rule trips on."""
    found = []
    for resource in resources:
        for rule in RULES:
            if resource.get("type") == rule.resource_type and rule.trips(resource["inputs"]):
                found.append((rule.id, str(resource.get("name"))))
    return found

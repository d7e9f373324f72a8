"""Tags: the estate's own (`tags` config) and the kit's (project, stack) on every taggable resource.

Passed explicitly to each taggable resource rather than through provider `default_tags` or a
transform: mocks see neither (the provider applies default tags, the engine runs transforms), so
the stack tests could not prove that nothing is left untagged. `TAGGABLE_TYPES` lists, among the
pulumi-aws types the stack uses, those that take `tags`; tests/stack/test_tags.py checks it
against pulumi-aws itself and walks the synthesized graph.
"""

from __future__ import annotations

from collections.abc import Iterable

from stacks.config import KIT_TAG_PREFIX

PROJECT_TAG = f"{KIT_TAG_PREFIX}project"
STACK_TAG = f"{KIT_TAG_PREFIX}stack"

# Every pulumi-aws type the stack creates that accepts `tags`.
TAGGABLE_TYPES = frozenset(
    {
        "aws:apigatewayv2/api:Api",
        "aws:apigatewayv2/domainName:DomainName",
        "aws:apigatewayv2/stage:Stage",
        "aws:cloudfront/distribution:Distribution",
        "aws:cloudfront/function:Function",
        "aws:cloudwatch/eventBus:EventBus",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:dynamodb/table:Table",
        "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan",
        "aws:iam/role:Role",
        "aws:kms/key:Key",
        "aws:lambda/eventSourceMapping:EventSourceMapping",
        "aws:lambda/function:Function",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketObjectv2:BucketObjectv2",
        "aws:sns/topic:Topic",
        "aws:sqs/queue:Queue",
    }
)
# Every pulumi-aws type the stack creates that has no `tags` (policies, attachments, routes, ...).
UNTAGGABLE_TYPES = frozenset(
    {
        "aws:apigatewayv2/apiMapping:ApiMapping",
        "aws:apigatewayv2/authorizer:Authorizer",
        "aws:apigatewayv2/integration:Integration",
        "aws:apigatewayv2/route:Route",
        "aws:cloudfront/cachePolicy:CachePolicy",
        "aws:cloudfront/keyGroup:KeyGroup",
        "aws:cloudfront/originAccessControl:OriginAccessControl",
        "aws:cloudfront/publicKey:PublicKey",
        "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy",
        "aws:cloudwatch/dashboard:Dashboard",
        "aws:cloudwatch/eventArchive:EventArchive",
        "aws:cloudwatch/eventTarget:EventTarget",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:kms/alias:Alias",
        "aws:kms/keyPolicy:KeyPolicy",
        "aws:lambda/permission:Permission",
        "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketLogging:BucketLogging",
        "aws:s3/bucketNotification:BucketNotification",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:sns/topicSubscription:TopicSubscription",
        "aws:sqs/queuePolicy:QueuePolicy",
        "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy",
    }
)


def stack_tags(project: str, stack: str, extra: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The tags of every taggable resource: the configured ones plus the kit's two, which the
    config cannot override (stacks.config refuses the `mediakit:` prefix)."""
    return {**dict(extra), PROJECT_TAG: project, STACK_TAG: stack}

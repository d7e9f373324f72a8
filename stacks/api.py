"""API: the HTTP API (JWT-authorised) in front of the presign Lambda."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from runtime import scopes
from runtime.settings import Settings

# The route keys come from the runtime's one table of route -> operations (runtime/scopes.py),
# which the emulator's gateway reads too.
ROUTES = tuple(scopes.ROUTE_OPERATIONS)
# Routes without the JWT authorizer: `GET /v1/health` (runtime/health.py answers with component
# names only), throttled on its own at the stage so an open route cannot eat the API's budget.
PUBLIC_ROUTES = scopes.PUBLIC_ROUTES
HEALTH_THROTTLE_RATE_LIMIT = 10
HEALTH_THROTTLE_BURST_LIMIT = 20
CORS_METHODS = ("DELETE", "GET", "OPTIONS", "POST")
CORS_HEADERS = ("authorization", "content-type", "idempotency-key")
# Readable by browser code: when to retry a 429 or a 409 idempotency_in_progress.
CORS_EXPOSE_HEADERS = ("retry-after",)
# One JSON line per request; fields documented for HTTP APIs ($context variables).
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
    },
    separators=(",", ":"),
)
# Access logs go to a log group under /aws/vendedlogs/: for any other name, API Gateway appends
# the group to the account's CloudWatch Logs resource policy (5,120 characters, never cleaned on
# delete) until stage creation fails with "Policy document length breaking Cloudwatch Logs
# Constraints"; /aws/vendedlogs/* is covered by one wildcard entry ("Log group resource policy
# size limit considerations", CloudWatch Logs User Guide; serverless/serverless#10469).
VENDED_LOGS_PREFIX = "/aws/vendedlogs/"
# HTTP API custom domains: regional endpoint, TLS 1.2 (the only policy they support).
DOMAIN_ENDPOINT_TYPE = "REGIONAL"
DOMAIN_SECURITY_POLICY = "TLS_1_2"


@dataclass(frozen=True)
class ApiArgs:
    function_arn: pulumi.Input[str]
    function_name: pulumi.Input[str]
    jwt_issuer: str
    jwt_audience: tuple[str, ...]
    cors_origins: tuple[str, ...]
    throttle_rate_limit: int
    throttle_burst_limit: int
    log_retention_days: int
    key_arn: pulumi.Input[str]
    key_policy: pulumi.Resource | None  # None for an existing key
    tags: Mapping[str, str]
    log_group_prefix: str  # under VENDED_LOGS_PREFIX; the provider adds a unique suffix
    domain_name: str = ""  # custom domain, with certificate_arn in the stack's region
    certificate_arn: str = ""
    # Route key -> API Gateway authorization scopes (`route_scopes`); routes not listed: none.
    route_scopes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class Api(pulumi.ComponentResource):
    """HTTP API, JWT authorizer, Lambda proxy integration (payload 2.0), routes, $default stage
    with access logs and throttling, the invoke permission scoped to this API and, when
    configured, a custom domain mapped to the stage (DNS stays the user's)."""

    def __init__(
        self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:Api", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        cors: aws.apigatewayv2.ApiCorsConfigurationArgsDict | None = None
        if args.cors_origins:
            cors = {
                "allow_origins": list(args.cors_origins),
                "allow_methods": list(CORS_METHODS),
                "allow_headers": list(CORS_HEADERS),
                "expose_headers": list(CORS_EXPOSE_HEADERS),
                "max_age": 3600,
            }
        self.api = aws.apigatewayv2.Api(
            f"{name}-http",
            protocol_type="HTTP",
            description="mediakit upload API",
            cors_configuration=cors,
            tags=tags,
            opts=child,
        )
        authorizer = aws.apigatewayv2.Authorizer(
            f"{name}-jwt",
            api_id=self.api.id,
            authorizer_type="JWT",
            identity_sources=["$request.header.Authorization"],
            jwt_configuration={
                "issuer": args.jwt_issuer,
                "audiences": list(args.jwt_audience),
            },
            opts=child,
        )
        integration = aws.apigatewayv2.Integration(
            f"{name}-presign-integration",
            api_id=self.api.id,
            integration_type="AWS_PROXY",
            integration_uri=args.function_arn,
            integration_method="POST",
            payload_format_version="2.0",
            opts=child,
        )
        for route_key in ROUTES:
            aws.apigatewayv2.Route(
                f"{name}-route-{_slug(route_key)}",
                api_id=self.api.id,
                route_key=route_key,
                target=integration.id.apply(lambda i: f"integrations/{i}"),
                authorization_type="JWT",
                authorizer_id=authorizer.id,
                authorization_scopes=list(args.route_scopes.get(route_key, ())) or None,
                opts=child,
            )
        public_routes = [
            aws.apigatewayv2.Route(
                f"{name}-route-{_slug(route_key)}",
                api_id=self.api.id,
                route_key=route_key,
                target=integration.id.apply(lambda i: f"integrations/{i}"),
                authorization_type="NONE",
                opts=child,
            )
            for route_key in PUBLIC_ROUTES
        ]
        key_policy = [args.key_policy] if args.key_policy is not None else []
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name_prefix=args.log_group_prefix,
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=key_policy),
        )
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=self.api.id,
            name="$default",
            auto_deploy=True,
            access_log_settings={
                "destination_arn": access_logs.arn,
                "format": ACCESS_LOG_FORMAT,
            },
            default_route_settings={
                "throttling_rate_limit": args.throttle_rate_limit,
                "throttling_burst_limit": args.throttle_burst_limit,
                "detailed_metrics_enabled": True,
            },
            route_settings=[
                {
                    "route_key": route_key,
                    "throttling_rate_limit": min(
                        HEALTH_THROTTLE_RATE_LIMIT, args.throttle_rate_limit
                    ),
                    "throttling_burst_limit": min(
                        HEALTH_THROTTLE_BURST_LIMIT, args.throttle_burst_limit
                    ),
                    "detailed_metrics_enabled": True,
                }
                for route_key in PUBLIC_ROUTES
            ],
            tags=tags,
            # A stage's route settings must name routes that exist.
            opts=pulumi.ResourceOptions(parent=self, depends_on=public_routes),
        )
        aws.lambda_.Permission(
            f"{name}-invoke-presign",
            action="lambda:InvokeFunction",
            function=args.function_name,
            principal="apigateway.amazonaws.com",
            source_arn=self.api.execution_arn.apply(lambda arn: f"{arn}/*/*"),
            opts=child,
        )
        self.url: pulumi.Output[str] = self.api.api_endpoint
        # Where the user's DNS record for the custom domain must point (alias/CNAME target).
        self.dns_target: pulumi.Output[str] | None = None
        if args.domain_name:
            domain = aws.apigatewayv2.DomainName(
                f"{name}-domain",
                domain_name=args.domain_name,
                domain_name_configuration={
                    "certificate_arn": args.certificate_arn,
                    "endpoint_type": DOMAIN_ENDPOINT_TYPE,
                    "security_policy": DOMAIN_SECURITY_POLICY,
                },
                tags=tags,
                opts=child,
            )
            aws.apigatewayv2.ApiMapping(
                f"{name}-domain-mapping",
                api_id=self.api.id,
                domain_name=domain.id,
                stage=self.stage.id,
                opts=child,
            )
            self.url = pulumi.Output.from_input(f"https://{args.domain_name}")
            self.dns_target = domain.domain_name_configuration.target_domain_name
        self.register_outputs({"api_url": self.url, "api_id": self.api.id})


def route_scopes(settings: Settings) -> dict[str, tuple[str, ...]]:
    """Each route's authorization scopes: defence in depth in front of the runtime's own check
    (`runtime.scopes.route_scopes`: only for a `scope`/`scp` claim, only on routes where every
    call needs a scope). A refusal there is API Gateway's 403 body, not our JSON error."""
    return {key: found for key in ROUTES if (found := scopes.route_scopes(settings, key))}


def _slug(route_key: str) -> str:
    """`POST /v1/uploads/{id}/complete` -> `post-uploads-id-complete` (a resource name)."""
    method, path = route_key.split(" ", 1)
    parts = [p.strip("{}") for p in path.split("/") if p and p != "v1"]
    return "-".join([method.lower(), *parts])

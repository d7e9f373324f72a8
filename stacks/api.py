"""API: the HTTP API (JWT-authorised) in front of the presign Lambda."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

ROUTES = (
    "POST /v1/uploads",
    "GET /v1/uploads",
    "GET /v1/uploads/{id}",
    "DELETE /v1/uploads/{id}",
    "POST /v1/uploads/{id}/complete",
)
CORS_METHODS = ("DELETE", "GET", "OPTIONS", "POST")
CORS_HEADERS = ("authorization", "content-type")
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
    key_policy: pulumi.Resource


class Api(pulumi.ComponentResource):
    """HTTP API, JWT authorizer, Lambda proxy integration (payload 2.0), routes, $default stage
    with access logs and throttling, and the invoke permission scoped to this API."""

    def __init__(
        self, name: str, args: ApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:Api", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        cors: aws.apigatewayv2.ApiCorsConfigurationArgsDict | None = None
        if args.cors_origins:
            cors = {
                "allow_origins": list(args.cors_origins),
                "allow_methods": list(CORS_METHODS),
                "allow_headers": list(CORS_HEADERS),
                "max_age": 3600,
            }
        self.api = aws.apigatewayv2.Api(
            f"{name}-http",
            protocol_type="HTTP",
            description="mediakit upload API",
            cors_configuration=cors,
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
                opts=child,
            )
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.key_arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.key_policy]),
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
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-invoke-presign",
            action="lambda:InvokeFunction",
            function=args.function_name,
            principal="apigateway.amazonaws.com",
            source_arn=self.api.execution_arn.apply(lambda arn: f"{arn}/*/*"),
            opts=child,
        )
        self.register_outputs({"api_url": self.api.api_endpoint, "api_id": self.api.id})


def _slug(route_key: str) -> str:
    """`POST /v1/uploads/{id}/complete` -> `post-uploads-id-complete` (a resource name)."""
    method, path = route_key.split(" ", 1)
    parts = [p.strip("{}") for p in path.split("/") if p and p != "v1"]
    return "-".join([method.lower(), *parts])

"""Cursor keys: the KMS HMAC keys that make and check the MACs of `GET /v1/uploads` cursors
(runtime/cursors.py). The key material never leaves KMS (nothing secret in Pulumi state or the
function's environment, which carries only `name=arn` pairs); the presign role may only
`kms:GenerateMac` with them. KMS does not rotate HMAC keys, so rotation is by named generation
(`cursorKeyGenerations`): the last one makes new cursors, every listed one checks them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from policies import documents

KEY_SPEC = "HMAC_256"
KEY_USAGE = "GENERATE_VERIFY_MAC"


@dataclass(frozen=True)
class CursorKeysArgs:
    generations: Sequence[str]
    account_id: str
    partition: str
    role_arn: pulumi.Input[str]  # the presign role: GenerateMac only
    tags: Mapping[str, str]


class CursorKeys(pulumi.ComponentResource):
    """One KMS HMAC_256 key per generation; `env` is MEDIAKIT_CURSOR_KEYS (`name=arn,...`)."""

    def __init__(
        self, name: str, args: CursorKeysArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:CursorKeys", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.keys: dict[str, aws.kms.Key] = {}
        role = pulumi.Output.from_input(args.role_arn)
        for generation in args.generations:
            self.keys[generation] = aws.kms.Key(
                f"{name}-{generation}",
                description=f"mediakit {pulumi.get_stack()}: listing cursor MACs, {generation}",
                key_usage=KEY_USAGE,
                customer_master_key_spec=KEY_SPEC,
                deletion_window_in_days=30,
                policy=role.apply(
                    lambda arn: json.dumps(
                        documents.cursor_key_policy(
                            account_id=args.account_id, partition=args.partition, role_arn=arn
                        )
                    )
                ),
                tags=dict(args.tags),
                opts=child,
            )
        generations = list(args.generations)
        self.arns: pulumi.Output[list[str]] = pulumi.Output.all(
            *(self.keys[g].arn for g in generations)
        ).apply(lambda arns: [str(a) for a in arns])
        self.env: pulumi.Output[str] = self.arns.apply(
            lambda arns: ",".join(f"{g}={a}" for g, a in zip(generations, arns, strict=True))
        )
        self.register_outputs({"cursor_keys": self.env})

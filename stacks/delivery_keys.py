"""Delivery keys (private mode): the KMS keys that sign CloudFront URLs, their public keys in
CloudFront, and the key group the derivatives behaviour trusts.

The private keys never leave KMS (SIGN_VERIFY, RSA_2048: CloudFront takes RSA 2048 or ECDSA
P-256; RSA with `Hash-Algorithm=SHA256`), so nothing secret reaches Pulumi state: only each
key's public half, read from KMS (`kms:GetPublicKey` at deploy time, by the deployer). KMS does
not rotate asymmetric keys, so rotation is by generation: every listed generation is trusted,
one signs (`deliverySigningGeneration`, default the last), and a retired generation is removed
once the URLs it signed expired (docs/deploy.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from policies import documents

KEY_SPEC = "RSA_2048"


@dataclass(frozen=True)
class DeliveryKeysArgs:
    generations: Sequence[str]
    signing_generation: str
    account_id: str
    partition: str
    signer_role_arn: pulumi.Input[str]  # the presign role: Sign with the signing generation
    tags: Mapping[str, str]


class DeliveryKeys(pulumi.ComponentResource):
    """One KMS key and CloudFront public key per generation, and the key group of them all."""

    def __init__(
        self, name: str, args: DeliveryKeysArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediakit:stack:DeliveryKeys", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        public_keys: dict[str, aws.cloudfront.PublicKey] = {}
        self.keys: dict[str, aws.kms.Key] = {}
        for generation in args.generations:
            signs = generation == args.signing_generation
            signer = pulumi.Output.from_input(args.signer_role_arn if signs else "")
            key = aws.kms.Key(
                f"{name}-{generation}",
                description=f"mediakit {pulumi.get_stack()}: CloudFront URL signing, {generation}",
                key_usage="SIGN_VERIFY",
                customer_master_key_spec=KEY_SPEC,
                deletion_window_in_days=30,
                policy=signer.apply(
                    lambda role: json.dumps(
                        documents.delivery_key_policy(
                            account_id=args.account_id,
                            partition=args.partition,
                            signer_role_arn=role,
                        )
                    )
                ),
                tags=dict(args.tags),
                opts=child,
            )
            pem = aws.kms.get_public_key_output(
                key_id=key.arn, opts=pulumi.InvokeOutputOptions(parent=self)
            ).public_key_pem
            public_keys[generation] = aws.cloudfront.PublicKey(
                f"{name}-{generation}-public",
                comment=f"mediakit delivery key {generation} (KMS {KEY_SPEC})",
                encoded_key=pem,
                opts=child,
            )
            self.keys[generation] = key
        self.key_group = aws.cloudfront.KeyGroup(
            f"{name}-group",
            comment="mediakit: keys trusted for signed derivative URLs",
            items=[public_keys[g].id for g in args.generations],
            opts=child,
        )
        self.signing_key_arn: pulumi.Output[str] = self.keys[args.signing_generation].arn
        # The function starts signing with a key only once the key group trusts it: its
        # Key-Pair-Id is read through the group.
        self.signing_key_pair_id: pulumi.Output[str] = pulumi.Output.all(
            self.key_group.id, public_keys[args.signing_generation].id
        ).apply(lambda ids: str(ids[1]))
        self.register_outputs(
            {
                "key_group_id": self.key_group.id,
                "signing_key_arn": self.signing_key_arn,
                "signing_key_pair_id": self.signing_key_pair_id,
            }
        )

"""The listing cursors' KMS HMAC keys (stacks/cursor_keys.py): one per generation, GenerateMac for
the presign role only, named in the functions' environment; bad generation lists refused."""

from __future__ import annotations

import json

import pytest

from policies.synth import load_stack_config, synth
from runtime import cursors
from tests.stack.conftest import StackGraph

PRESIGN_FN = "media-compute-presign"


@pytest.fixture(scope="module")
def rotating() -> StackGraph:
    return StackGraph(
        synth("dev", {**load_stack_config("dev"), "cursorKeyGenerations": ["1", "2"]})
    )


def test_cursor_keys_one_hmac_key_per_generation_named_in_the_environment(
    rotating: StackGraph,
) -> None:
    arns = [rotating.state(f"media-cursor-key-{g}")["arn"] for g in ("1", "2")]
    for generation in ("1", "2"):
        key = rotating.inputs(f"media-cursor-key-{generation}")
        assert (key["customerMasterKeySpec"], key["keyUsage"]) == (
            "HMAC_256",
            "GENERATE_VERIFY_MAC",
        )
    variables = rotating.inputs(PRESIGN_FN)["environment"]["variables"]
    assert cursors.parse_keys(variables["MEDIAKIT_CURSOR_KEYS"]) == {"1": arns[0], "2": arns[1]}
    (grant,) = [
        s
        for s in rotating.policy("media-compute-presign-policy")["Statement"]
        if s["Sid"] == "MacListCursors"
    ]
    assert grant["Action"] == ["kms:GenerateMac"]
    assert sorted(grant["Resource"]) == sorted(arns)


def test_cursor_key_policy_admits_only_generate_mac_for_the_presign_role(
    rotating: StackGraph,
) -> None:
    role = rotating.state("media-compute-presign-role")["arn"]
    policy = json.loads(rotating.inputs("media-cursor-key-1")["policy"])
    uses = [s for s in policy["Statement"] if s["Sid"] != "AccountRootFullAccess"]
    assert uses == [
        {
            "Sid": "PresignRoleMacCursors",
            "Effect": "Allow",
            "Principal": {"AWS": role},
            "Action": ["kms:GenerateMac"],
            "Resource": "*",
        }
    ]


@pytest.mark.parametrize(
    "generations", [[], ["1", "1"], ["A"], ["x" * 17], [str(i) for i in range(6)], ["1,2"]]
)
def test_cursor_key_generations_refuse_bad_config(generations: list[str]) -> None:
    from runtime.errors import SettingsError
    from stacks.config import StackConfig

    values = {**load_stack_config("dev"), "cursorKeyGenerations": generations}

    def get(k: str) -> object:
        v = values.get(k)
        return json.dumps(v) if isinstance(v, list) else v

    with pytest.raises(SettingsError, match=r"^mediakit:cursorKeyGenerations: "):
        StackConfig.from_config(get, "dev")


@pytest.mark.parametrize(
    "hostile", ["1", "1=", "=arn:aws:kms:x", "A=arn:aws:kms:x", "1=x", "1=arn:a,1=arn:b"]
)
def test_cursor_keys_environment_refuses_malformed_values(hostile: str) -> None:
    from runtime.errors import SettingsError

    with pytest.raises(SettingsError):
        cursors.parse_keys(hostile)
